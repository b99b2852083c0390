//! How much memory a bench may take before it stops early.
//!
//! The nodes keep their whole logs in memory (nothing compacts them in a
//! bench), so a long run grows without bound: batched at ten million values
//! a second, about 250 MB a second. A user who asks for `--seconds 600`
//! expects a report, not a machine out of memory, so [`measure`] checks
//! the process's resident memory as it waits and stops the run once it
//! passes a budget: by default half of what the machine had available when
//! the run started, on top of what the process already held. The report
//! says the run stopped early and why, and its rates are over the time it
//! actually ran.
//!
//! Read from Linux's `/proc`; where that is missing, no budget applies.
//!
//! [`measure`]: super::measure

/// This process's resident memory, in bytes (`VmRSS`).
pub fn resident_bytes() -> Option<u64> {
    kib_field(
        &std::fs::read_to_string("/proc/self/status").ok()?,
        "VmRSS:",
    )
}

/// Memory the machine can still give without swapping (`MemAvailable`).
fn available_bytes() -> Option<u64> {
    kib_field(
        &std::fs::read_to_string("/proc/meminfo").ok()?,
        "MemAvailable:",
    )
}

/// The value of a `Name:   1234 kB` line, in bytes.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kib: u64 = line[name.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

/// The resident size past which a run stops early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    pub bytes: u64,
}

impl Budget {
    /// `mib` MiB if given, else what the process holds now plus half of
    /// what the machine has available; `None` where neither can be read.
    pub fn new(mib: Option<u64>) -> Option<Budget> {
        let bytes = match mib {
            Some(m) => m.saturating_mul(1 << 20),
            None => resident_bytes()?.saturating_add(available_bytes()? / 2),
        };
        Some(Budget { bytes })
    }

    /// The resident size now, if it is past the budget.
    pub fn exceeded(&self) -> Option<u64> {
        resident_bytes().filter(|&r| r > self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kib_line_reads_as_bytes() {
        let status = "Name:\tpaxos\nVmRSS:\t  146992 kB\nThreads:\t3\n";
        assert_eq!(kib_field(status, "VmRSS:"), Some(146_992 * 1024));
        assert_eq!(kib_field(status, "VmSwap:"), None);
        assert_eq!(kib_field("VmRSS: lots kB", "VmRSS:"), None);
    }

    #[test]
    fn this_process_is_over_a_one_mib_budget_and_under_a_huge_one() {
        // Linux only, as the budget is: elsewhere there is nothing to read.
        if !std::path::Path::new("/proc/self/status").exists() {
            assert_eq!(Budget::new(None), None);
            return;
        }
        assert!(Budget::new(Some(1)).unwrap().exceeded().is_some());
        assert_eq!(Budget::new(Some(1 << 30)).unwrap().exceeded(), None);
        let default = Budget::new(None).unwrap();
        assert!(default.bytes > resident_bytes().unwrap());
    }
}

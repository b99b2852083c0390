//! The middleware's proofs in a node's data directory: `proofs.log`, beside
//! the replica's write-ahead log.
//!
//! A node running the middleware holds, beside its replica's state, what
//! proves that state to others: the certificate of each commit and the
//! signed Propose behind each accepted value and, in BFT mode, the prepared
//! certificate of each accepted value ([`crate::middleware::ShieldDurable`]).
//! Without them a restarted node answers for its decided positions with
//! bare Commits nobody applies, and when the nodes that learnt a position
//! all restarted, nobody can learn it again.
//!
//! Losing proofs never breaks safety, only that node's ability to prove
//! (a liveness risk), so this file is simpler than the replica's log: each
//! record (framed like the log's, `[len][crc][payload]`, the payload a
//! postcard [`ShieldDurable`] delta) is appended and fdatasync'd, and at open
//! every valid record is merged; from the first bad one on (a torn tail, or
//! damage) the file is cut off with a warning instead of refusing to start.

use super::{frame, io_err, unframe, StoreError};
use crate::middleware::ShieldDurable;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write as _};
use std::path::{Path, PathBuf};

const PROOFS: &str = "proofs.log";
const PROOFS_TMP: &str = "proofs.log.tmp";

/// `proofs.log`, open for appending.
#[derive(Debug)]
pub struct ProofLog {
    file: File,
    path: PathBuf,
}

impl ProofLog {
    /// Open (or create) `dir/proofs.log` and return what it holds. The
    /// directory must exist and be held by an open [`super::Store`].
    pub fn open(dir: &Path) -> Result<(ProofLog, ShieldDurable), StoreError> {
        let path = dir.join(PROOFS);
        let mut buf = Vec::new();
        match File::open(&path) {
            Ok(mut f) => {
                f.read_to_end(&mut buf).map_err(io_err("read", &path))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("open", &path)(e)),
        }
        let mut state = ShieldDurable::default();
        let mut off = 0;
        while off < buf.len() {
            let Some((d, n)) = read_record(&buf[off..]) else {
                break;
            };
            state.merge(d);
            off += n;
        }
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(&path).map_err(io_err("open", &path))?;
        if off < buf.len() {
            log::warn!(
                "{}: bad record at byte offset {off}; dropping the {} bytes from there \
                 (proofs only: this node may be unable to prove some commits)",
                path.display(),
                buf.len() - off
            );
            file.set_len(off as u64)
                .and_then(|()| file.sync_all())
                .map_err(io_err("truncate", &path))?;
        }
        Ok((ProofLog { file, path }, state))
    }

    /// Replace the whole file by one record of `all` (what the shield keeps
    /// after forgetting what a snapshot covers), atomically: a crash leaves
    /// the old file or the new one. So the file stays as small as what the
    /// shield keeps, however long the node runs.
    pub fn rewrite(&mut self, all: &ShieldDurable) -> Result<(), StoreError> {
        let payload = postcard::to_allocvec(all).map_err(|source| StoreError::Encode {
            path: self.path.clone(),
            source,
        })?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        super::write_atomically(dir, PROOFS_TMP, PROOFS, &payload)?;
        self.file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(io_err("open", &self.path))?;
        Ok(())
    }

    /// Append one delta and fdatasync it.
    pub fn append(&mut self, delta: &ShieldDurable) -> Result<(), StoreError> {
        let payload = postcard::to_allocvec(delta).map_err(|source| StoreError::Encode {
            path: self.path.clone(),
            source,
        })?;
        let mut buf = Vec::with_capacity(payload.len() + 8);
        frame(&payload, &mut buf).map_err(|what| StoreError::Invalid {
            path: self.path.clone(),
            what,
        })?;
        self.file
            .write_all(&buf)
            .and_then(|()| self.file.sync_data())
            .map_err(io_err("append to", &self.path))
    }
}

fn read_record(buf: &[u8]) -> Option<(ShieldDurable, usize)> {
    let (payload, n) = unframe(buf)?;
    match postcard::take_from_bytes::<ShieldDurable>(payload) {
        Ok((d, [])) => Some((d, n)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Identity;
    use crate::core::{Ballot, Message};
    use crate::storage::tests::TestDir;

    fn delta(pos: u64, value: &str) -> ShieldDurable {
        let accept = Identity::from_seed(1, 2).sign_message(
            2,
            Message::Accept {
                pos,
                ballot: Ballot::new(1, 0),
                value: value.into(),
            },
        );
        let propose = Identity::from_seed(1, 0).sign_message(
            0,
            Message::Propose {
                pos,
                ballot: Ballot::new(1, 0),
                value: value.into(),
            },
        );
        let mut d = ShieldDurable::default();
        d.certificates.insert(pos, (value.into(), vec![accept]));
        d.accepted
            .entry(pos)
            .or_default()
            .insert(Ballot::new(1, 0), propose);
        d
    }

    #[test]
    fn deltas_survive_a_reopen_merged() {
        let dir = TestDir::new("proofs-reopen");
        std::fs::create_dir_all(&dir.0).expect("mkdir");
        let (mut log, got) = ProofLog::open(&dir.0).expect("opens");
        assert!(got.is_empty());
        log.append(&delta(0, "a")).expect("append");
        log.append(&delta(1, "b")).expect("append");
        drop(log);
        let (_, got) = ProofLog::open(&dir.0).expect("reopens");
        let mut want = delta(0, "a");
        want.merge(delta(1, "b"));
        assert_eq!(got, want);
    }

    #[test]
    fn a_torn_tail_is_cut_and_appends_continue_after_it() {
        let dir = TestDir::new("proofs-torn");
        std::fs::create_dir_all(&dir.0).expect("mkdir");
        let (mut log, _) = ProofLog::open(&dir.0).expect("opens");
        log.append(&delta(0, "a")).expect("append");
        drop(log);
        let path = dir.0.join(PROOFS);
        let mut bytes = std::fs::read(&path).expect("read");
        let whole = bytes.len();
        bytes.extend_from_slice(&[9, 0, 0, 0, 1, 2]);
        std::fs::write(&path, &bytes).expect("write");
        let (mut log, got) = ProofLog::open(&dir.0).expect("reopens");
        assert_eq!(got, delta(0, "a"));
        assert_eq!(
            std::fs::metadata(&path).expect("stat").len() as usize,
            whole
        );
        log.append(&delta(1, "b")).expect("append");
        drop(log);
        let (_, got) = ProofLog::open(&dir.0).expect("reopens");
        assert_eq!(got.certificates.len(), 2);
    }
}

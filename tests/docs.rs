//! Every command README.md and docs/ show is run, so no example can go
//! stale: each fenced `sh` block runs as one bash script in a fresh
//! directory with the test's `paxos` first on the PATH, and a command's
//! trailing `# => TEXT` must appear in what it printed. Lines starting with
//! `cargo run --release --` run as `paxos`; `cargo test` must be what
//! `.ci/run` runs; other `cargo` lines (builds, long searches) are not run.
//! Everything a block starts is killed when it ends, also on failure.
//!
//! Also here: README.md stays a front door (at most 16 KB), every chapter
//! is in the book's table of contents, and a full command in inline code
//! is one some `sh` block runs.

use std::io::Read as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The longest one block may take (a debug build, two at a time).
const BLOCK_TIMEOUT: Duration = Duration::from_secs(120);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every docs/*.md, by path relative to the repository.
fn documents() -> Vec<(String, String)> {
    let mut files = vec!["README.md".to_string()];
    let mut chapters: Vec<String> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .map(|n| format!("docs/{n}"))
        .collect();
    chapters.sort();
    files.extend(chapters);
    files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(root().join(&f)).expect("readable");
            (f, text)
        })
        .collect()
}

/// A fenced block: its language, first line number, and lines.
struct Block {
    lang: String,
    line: usize,
    lines: Vec<String>,
}

fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, l) in text.lines().enumerate() {
        let t = l.trim_start();
        match (&mut open, t.strip_prefix("```")) {
            (None, Some(lang)) => {
                open = Some(Block {
                    lang: lang.trim().to_string(),
                    line: i + 1,
                    lines: Vec::new(),
                })
            }
            (Some(_), Some(_)) => out.extend(open.take()),
            (Some(b), None) => b.lines.push(l.to_string()),
            (None, None) => {}
        }
    }
    out
}

/// A block's commands, continuation lines joined.
fn commands(b: &Block) -> Vec<String> {
    let mut out = Vec::new();
    let mut acc = String::new();
    for l in &b.lines {
        let l = l.trim();
        if acc.is_empty() && (l.is_empty() || l.starts_with('#')) {
            continue;
        }
        match l.strip_suffix('\\') {
            Some(part) => acc.push_str(&format!("{} ", part.trim_end())),
            None => {
                acc.push_str(l);
                out.push(std::mem::take(&mut acc));
            }
        }
    }
    out
}

/// The bash lines that run `cmd` and check its `# => TEXT`, or `None` for
/// a build step that is not run.
fn script_for(cmd: &str, ci: &str) -> Option<String> {
    let (cmd, expect) = match cmd.split_once("# =>") {
        Some((c, e)) => (c.trim(), Some(e.trim())),
        None => (cmd, None),
    };
    let cmd = match cmd.strip_prefix("cargo run --release --") {
        Some(rest) => format!("paxos{rest}"),
        None if cmd.split('#').next().unwrap_or("").trim() == "cargo test" => {
            let first = "cargo test";
            assert!(
                ci.lines().any(|l| l.trim() == first),
                "the documented test command `{first}` is not what .ci/run runs"
            );
            return None;
        }
        None if cmd.starts_with("cargo ") || cmd.starts_with("mdbook ") => return None,
        None => cmd.to_string(),
    };
    let bare = cmd.split(" # ").next().unwrap_or(&cmd).trim().to_string();
    if bare.ends_with('&') {
        return Some(format!("{bare}\n"));
    }
    let quoted = bare.replace('\'', r"'\''");
    let mut s = format!(
        "echo '$ {quoted}'\n{{ {bare}\n}} >.docs-out 2>&1; rc=$?; cat .docs-out\n\
         [ $rc -eq 0 ] || {{ echo 'FAILED (exit '$rc'): {quoted}'; exit 1; }}\n"
    );
    if let Some(e) = expect {
        let e = e.replace('\'', r"'\''");
        s += &format!("grep -qF -- '{e}' .docs-out || {{ echo 'MISSING: {e}'; exit 1; }}\n");
    }
    Some(s)
}

/// Run one block; `Err` with its output when a command failed.
fn run_block(file: &str, b: &Block, bin_dir: &Path, ci: &str) -> Result<(), String> {
    let body: String = commands(b)
        .iter()
        .filter_map(|c| script_for(c, ci))
        .collect();
    if body.is_empty() {
        return Ok(());
    }
    let dir = std::env::temp_dir().join(format!("paxos-docs-{}-{}", std::process::id(), b.line));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("output.log");
    let script = format!("set -u\nexport NO_COLOR=1\n{body}echo DOCS-BLOCK-OK\n");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&dir)
        .env("PATH", path)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("stderr.log")).unwrap(),
        ))
        .process_group(0)
        .spawn()
        .expect("bash runs");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if start.elapsed() > BLOCK_TIMEOUT {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // The block's background processes too.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
    let _ = child.wait();
    let mut output = String::new();
    for f in ["output.log", "stderr.log"] {
        let _ = std::fs::File::open(dir.join(f)).map(|mut h| h.read_to_string(&mut output));
    }
    let _ = std::fs::remove_dir_all(&dir);
    let ok = status.is_some_and(|s| s.success()) && output.contains("DOCS-BLOCK-OK");
    match (ok, status) {
        (true, _) => Ok(()),
        (false, None) => Err(format!("{file}:{}: timed out\n{output}", b.line)),
        (false, Some(_)) => Err(format!("{file}:{}:\n{output}", b.line)),
    }
}

#[test]
fn every_sh_block_in_the_readme_and_docs_runs_as_it_says() {
    let bin_dir = std::env::temp_dir().join(format!("paxos-docs-bin-{}", std::process::id()));
    std::fs::create_dir_all(&bin_dir).unwrap();
    let link = bin_dir.join("paxos");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_paxos"), &link).unwrap();
    let ci = std::fs::read_to_string(root().join(".ci/run")).expect(".ci/run");
    let docs = documents();
    let all: Vec<(String, Vec<Block>)> = docs
        .iter()
        .map(|(f, t)| {
            (
                f.clone(),
                blocks(t).into_iter().filter(|b| b.lang == "sh").collect(),
            )
        })
        .collect();
    let mut work: Vec<(&str, &Block)> = Vec::new();
    for (f, bs) in &all {
        work.extend(bs.iter().map(|b| (f.as_str(), b)));
    }
    assert!(work.len() >= 5, "the docs show commands");
    let failures = std::sync::Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some((f, b)) = work.get(i) else { break };
                if let Err(e) = run_block(f, b, &bin_dir, &ci) {
                    failures.lock().unwrap().push(e);
                }
            });
        }
    });
    let _ = std::fs::remove_dir_all(&bin_dir);
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} block(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn the_readme_is_a_front_door_and_the_book_lists_every_chapter() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(
        readme.len() <= 16 * 1024,
        "README.md is {} bytes",
        readme.len()
    );
    assert!(
        readme.contains("cargo test"),
        "README shows the test command"
    );
    let summary = std::fs::read_to_string(root().join("docs/SUMMARY.md")).expect("docs/SUMMARY.md");
    assert!(root().join("docs/book.toml").exists(), "docs/book.toml");
    for (f, _) in documents().iter().filter(|(f, _)| f.starts_with("docs/")) {
        let name = f.trim_start_matches("docs/");
        if name != "SUMMARY.md" {
            assert!(
                summary.contains(&format!("({name})")),
                "{name} is not in docs/SUMMARY.md"
            );
        }
        assert!(
            name == "SUMMARY.md" || readme.contains(f.as_str()) || summary.contains(name),
            "{f} is linked"
        );
    }
}

#[test]
fn a_full_command_in_inline_code_is_one_a_block_runs() {
    for (file, text) in documents() {
        let shown: Vec<String> = blocks(&text)
            .iter()
            .filter(|b| b.lang == "sh")
            .flat_map(commands)
            .collect();
        let mut in_block = false;
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                in_block = !in_block;
                continue;
            }
            if in_block {
                continue;
            }
            for (i, span) in line.split('`').enumerate() {
                let full = i % 2 == 1 && span.starts_with("paxos ") && span.contains(" --");
                if full {
                    assert!(
                        shown.iter().any(|c| c.contains(span)),
                        "{file}: `{span}` is shown but no sh block runs it"
                    );
                }
            }
        }
    }
}

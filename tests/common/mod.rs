//! What the process-level tests share: the built binary, and a child
//! process that is killed when its guard drops (also when a test fails),
//! optionally started inside a network namespace.
#![allow(dead_code)] // each test crate uses its own part

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_paxos");

/// The cluster key's file in a cluster's scratch directory (the
/// coordinator creates it on its first start).
pub const KEY: &str = "cluster.key";

/// A child process, killed on drop. Its stdout lines arrive on `lines`.
pub struct Proc {
    pub name: String,
    pub child: Child,
    lines: Receiver<String>,
}

impl Proc {
    /// `paxos ARGS`, its stderr in `DIR/NAME.err`, sharing the directory's
    /// cluster key unless it is given another.
    pub fn spawn(name: &str, dir: &Path, args: &[&str]) -> Proc {
        Proc::spawn_in(None, name, dir, args)
    }

    /// [`Proc::spawn`] inside network namespace `netns`, if given.
    pub fn spawn_in(netns: Option<&str>, name: &str, dir: &Path, args: &[&str]) -> Proc {
        let err = std::fs::File::create(dir.join(format!("{name}.err"))).expect("stderr file");
        let key = dir.join(KEY).display().to_string();
        let key_arg: &[&str] = if args.contains(&"--cluster-key") {
            &[]
        } else {
            &["--cluster-key", &key]
        };
        let mut cmd = match netns {
            // `ip netns exec` execs the program: the child is paxos itself.
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, BIN]);
                c
            }
            None => Command::new(BIN),
        };
        let mut child = cmd
            .args(args)
            .args(key_arg)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .expect("the paxos binary starts");
        let out = child.stdout.take().expect("piped stdout");
        let (tx, lines) = channel();
        // Drain stdout for the whole life of the child, so it never blocks
        // on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Proc {
            name: name.to_string(),
            child,
            lines,
        }
    }

    /// The first stdout line containing `needle`.
    pub fn wait_line(&self, needle: &str) -> String {
        self.wait_for(needle, |l| l.contains(needle))
    }

    /// The first stdout line (from now on) for which `wanted` holds, within
    /// 20 s; `what` says what was awaited if none comes.
    pub fn wait_for(&self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if wanted(&line) => return line,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        panic!("{} never printed {what}", self.name)
    }

    /// Send `sig` (as `kill` takes it: `-STOP`, `-CONT`) with the shell's
    /// own kill, so no procps is needed.
    pub fn signal(&self, sig: &str) {
        let pid = self.child.id();
        let out = Command::new("sh")
            .args(["-c", &format!("kill {sig} {pid}")])
            .output()
            .expect("sh runs");
        assert!(out.status.success(), "kill {sig} {pid}: {}", stderr(&out));
    }

    /// Still running?
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill(); // SIGKILL on unix
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

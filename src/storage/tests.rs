//! Unit tests of the store: round trips, crash leftovers (torn tails, a
//! compaction cut short), damage, and the metadata file.

use super::*;
use crate::core::{AcceptorSlot, Ballot, Pos};
use std::sync::atomic::{AtomicU32, Ordering};

/// A fresh directory under the system temp dir, removed when dropped (also
/// when the test fails), so tests can run in parallel without colliding.
pub(super) struct TestDir(pub(super) PathBuf);

impl TestDir {
    pub(super) fn new(name: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "paxos-store-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        TestDir(path)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn promise(pos: Pos, round: u64, accepted: Option<&str>) -> Write {
    Write::Promise {
        pos,
        slot: AcceptorSlot {
            promised: Ballot::new(round, 1),
            promised_at: round * 10,
            accepted: accepted.map(|v| (Ballot::new(round, 1), v.into())),
        },
    }
}

fn commit(pos: Pos, value: &str) -> Write {
    Write::Commit {
        pos,
        value: value.into(),
    }
}

/// Batches shaped like a replica's steps: promise, accept, commit, with the
/// acceptor state of later positions left open.
fn batches(n: u64) -> Vec<Vec<Write>> {
    (0..n)
        .map(|i| match i % 3 {
            0 => vec![promise(i, i + 1, None)],
            1 => vec![promise(i - 1, i + 1, Some("value")), promise(i, 2, None)],
            _ => vec![
                commit(i - 2, &format!("value-{i}")),
                promise(i, i, Some("x")),
            ],
        })
        .collect()
}

fn applied(batches: &[Vec<Write>]) -> Durable {
    let mut d = Durable::default();
    for w in batches.iter().flatten() {
        d.apply(w.clone());
    }
    d
}

fn write_all(store: &mut Store, batches: &[Vec<Write>]) {
    for b in batches {
        store.append(b).unwrap();
    }
}

fn only_wal(dir: &Path) -> PathBuf {
    let wals = wal_files(dir).unwrap();
    assert_eq!(wals.len(), 1, "expected one live log, found {wals:?}");
    wals[0].1.clone()
}

#[test]
fn round_trip_reopen_gives_the_applied_state() {
    let dir = TestDir::new("round-trip");
    let (mut store, rec) = Store::open(&dir.0).unwrap();
    assert_eq!(rec.durable, Durable::default());
    assert!(rec.meta.is_none());

    let bs = batches(30);
    write_all(&mut store, &bs);
    let len = fs::metadata(only_wal(&dir.0)).unwrap().len();
    store.append(&[]).unwrap();
    assert_eq!(
        fs::metadata(only_wal(&dir.0)).unwrap().len(),
        len,
        "empty append wrote"
    );
    assert_eq!(store.state(), &applied(&bs));
    drop(store);

    let (mut store, rec) = Store::open(&dir.0).unwrap();
    assert_eq!(rec.durable, applied(&bs));
    assert!(!rec.durable.acceptor.is_empty() && !rec.durable.log.is_empty());

    // Appending after a reopen continues the same log.
    let more = vec![vec![commit(100, "late")]];
    store.append(&more[0]).unwrap();
    drop(store);
    let (_store, rec) = Store::open(&dir.0).unwrap();
    let all: Vec<_> = bs.into_iter().chain(more).collect();
    assert_eq!(rec.durable, applied(&all));
}

#[test]
fn torn_tail_is_cut_off_and_everything_before_it_kept() {
    let dir = TestDir::new("torn");
    let (mut store, _) = Store::open(&dir.0).unwrap();
    let bs = batches(10);
    write_all(&mut store, &bs);
    drop(store);

    // A crash in the middle of the last append: its record is cut short and
    // followed by whatever the disk had there.
    let wal = only_wal(&dir.0);
    let full = fs::metadata(&wal).unwrap().len();
    let f = OpenOptions::new().write(true).open(&wal).unwrap();
    f.set_len(full - 3).unwrap();
    drop(f);
    let mut f = OpenOptions::new().append(true).open(&wal).unwrap();
    f.write_all(&[0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04, 0x05])
        .unwrap();
    drop(f);

    let (mut store, rec) = Store::open(&dir.0).unwrap();
    // The last batch's last record is gone; everything before it is there.
    let mut kept = bs.clone();
    kept.last_mut().unwrap().pop();
    assert_eq!(rec.durable, applied(&kept));
    let cut = fs::metadata(&wal).unwrap().len();
    assert!(cut < full - 3, "the torn record was not truncated");

    // New appends land right after the last good record, so the next open
    // sees no damage.
    store.append(&[commit(50, "after")]).unwrap();
    drop(store);
    let (_store, rec) = Store::open(&dir.0).unwrap();
    kept.push(vec![commit(50, "after")]);
    assert_eq!(rec.durable, applied(&kept));
}

#[test]
fn zero_filled_tail_is_torn_not_a_record() {
    // Some filesystems extend a file before its data reaches the disk, so a
    // crash can leave zeros: an empty payload whose CRC is also zero.
    let dir = TestDir::new("zeros");
    let (mut store, _) = Store::open(&dir.0).unwrap();
    let bs = batches(4);
    write_all(&mut store, &bs);
    drop(store);
    let wal = only_wal(&dir.0);
    let len = fs::metadata(&wal).unwrap().len();
    let mut f = OpenOptions::new().append(true).open(&wal).unwrap();
    f.write_all(&[0; 4096]).unwrap();
    drop(f);

    let (_store, rec) = Store::open(&dir.0).unwrap();
    assert_eq!(rec.durable, applied(&bs));
    assert_eq!(fs::metadata(&wal).unwrap().len(), len);
}

#[test]
fn corruption_in_the_middle_is_an_error_not_a_loss() {
    let dir = TestDir::new("corrupt");
    let (mut store, _) = Store::open(&dir.0).unwrap();
    write_all(&mut store, &batches(10));
    drop(store);

    // Flip one payload byte of the second record.
    let wal = only_wal(&dir.0);
    let mut bytes = fs::read(&wal).unwrap();
    let at = super::WAL_MAGIC.len();
    let first = at + HEADER + u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    bytes[first + HEADER] ^= 0xff;
    fs::write(&wal, &bytes).unwrap();

    match Store::open(&dir.0) {
        Err(StoreError::Corrupt { path, offset }) => {
            assert_eq!(offset, first as u64);
            assert_eq!(path, wal);
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // Nothing was truncated: the records after the damage are still there
    // for someone to rescue.
    assert_eq!(fs::read(&wal).unwrap(), bytes);
    let msg = Store::open(&dir.0).unwrap_err().to_string();
    assert!(msg.contains("offset") && msg.contains("wal-"), "{msg}");
}

#[test]
fn metadata_round_trip_owner_only() {
    let dir = TestDir::new("meta");
    let (mut store, rec) = Store::open(&dir.0).unwrap();
    assert!(rec.meta.is_none());
    let meta = NodeMeta {
        id: 7,
        secret: [0x5a; 32],
    };
    store.save_meta(&meta).unwrap();
    let replaced = NodeMeta {
        id: 8,
        secret: [0x11; 32],
    };
    store.save_meta(&replaced).unwrap();
    drop(store);

    let (_store, rec) = Store::open(&dir.0).unwrap();
    assert_eq!(rec.meta, Some(replaced));
    assert!(!dir.0.join(META_TMP).exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir.0.join(META)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(
        !format!("{meta:?}").contains("90"),
        "Debug leaks the secret"
    );
}

#[test]
fn damaged_metadata_is_an_error() {
    let dir = TestDir::new("meta-bad");
    let (mut store, _) = Store::open(&dir.0).unwrap();
    store
        .save_meta(&NodeMeta {
            id: 1,
            secret: [1; 32],
        })
        .unwrap();
    drop(store);
    let path = dir.0.join(META);
    let mut bytes = fs::read(&path).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    fs::write(&path, bytes).unwrap();
    let err = Store::open(&dir.0).unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
    assert!(err.to_string().contains("node.meta"), "{err}");
}

#[test]
fn compaction_preserves_state_across_reopen() {
    let dir = TestDir::new("compact");
    let opts = Options { compact_after: 512 };
    let (mut store, _) = Store::open_with(&dir.0, opts).unwrap();
    let bs = batches(200);
    write_all(&mut store, &bs);
    assert!(store.gen > 0, "never compacted");
    assert!(dir.0.join(SNAPSHOT).exists());
    let live = only_wal(&dir.0);
    assert_eq!(live, dir.0.join(wal_name(store.gen)));
    drop(store);

    let (mut store, rec) = Store::open_with(&dir.0, opts).unwrap();
    assert_eq!(rec.durable, applied(&bs));
    // And it keeps working after a compaction and a reopen.
    store.compact().unwrap();
    store.append(&[commit(999, "end")]).unwrap();
    drop(store);
    let (_store, rec) = Store::open_with(&dir.0, opts).unwrap();
    let all: Vec<_> = bs.into_iter().chain([vec![commit(999, "end")]]).collect();
    assert_eq!(rec.durable, applied(&all));
}

#[test]
fn crash_after_snapshot_rename_before_log_reset_recovers() {
    let dir = TestDir::new("compact-crash");
    let (mut store, _) = Store::open(&dir.0).unwrap();
    let bs = batches(20);
    write_all(&mut store, &bs);
    // Steps 1 and 2 of compaction only: both the new snapshot and the old,
    // full log are left behind, and the new log does not exist.
    write_snapshot(&dir.0, store.gen + 1, store.state()).unwrap();
    let old = store.wal_path.clone();
    drop(store);
    assert!(old.exists());

    let (mut store, rec) = Store::open(&dir.0).unwrap();
    assert_eq!(rec.durable, applied(&bs));
    assert!(!old.exists(), "the superseded log was not removed");
    assert_eq!(only_wal(&dir.0), dir.0.join(wal_name(1)));
    store.append(&[commit(77, "next")]).unwrap();
    drop(store);
    let (_store, rec) = Store::open(&dir.0).unwrap();
    let all: Vec<_> = bs.into_iter().chain([vec![commit(77, "next")]]).collect();
    assert_eq!(rec.durable, applied(&all));
}

#[test]
fn crash_before_snapshot_rename_recovers_from_the_log() {
    let dir = TestDir::new("compact-tmp");
    let (mut store, _) = Store::open(&dir.0).unwrap();
    let bs = batches(20);
    write_all(&mut store, &bs);
    drop(store);
    // A half-written temp snapshot claiming a later generation.
    fs::write(dir.0.join(SNAPSHOT_TMP), b"half a snapsh").unwrap();
    let (_store, rec) = Store::open(&dir.0).unwrap();
    assert_eq!(rec.durable, applied(&bs));
    assert!(!dir.0.join(SNAPSHOT_TMP).exists());
}

#[test]
fn a_log_newer_than_the_snapshot_is_refused() {
    let dir = TestDir::new("lost-snapshot");
    let (mut store, _) = Store::open_with(&dir.0, Options { compact_after: 256 }).unwrap();
    write_all(&mut store, &batches(50));
    assert!(store.gen > 0);
    drop(store);
    // The snapshot is gone: replaying the log alone would lose promises.
    fs::remove_file(dir.0.join(SNAPSHOT)).unwrap();
    let err = Store::open(&dir.0).unwrap_err();
    assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let dir = TestDir::new("lock");
    let (_store, _) = Store::open(&dir.0).unwrap();
    let err = Store::open(&dir.0).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
}

#[test]
fn a_failed_append_poisons_the_store_and_reopen_recovers() {
    let dir = TestDir::new("poison");
    let (mut store, _) = Store::open(&dir.0).unwrap();
    let bs = batches(5);
    write_all(&mut store, &bs);
    // Make the next write fail, as a full or failing disk would.
    store.wal = File::open(&store.wal_path).unwrap();
    let err = store.append(&[commit(40, "lost")]).unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
    // Later appends are refused even though the cause is gone: after a
    // failed write or fsync nothing says what reached the disk.
    store.wal = OpenOptions::new()
        .append(true)
        .open(&store.wal_path)
        .unwrap();
    let err = store.append(&[commit(41, "also lost")]).unwrap_err();
    assert!(matches!(err, StoreError::Poisoned { .. }), "{err:?}");
    drop(store);
    let (_store, rec) = Store::open(&dir.0).unwrap();
    assert_eq!(rec.durable, applied(&bs));
}

#[test]
fn an_identity_without_its_log_refuses_to_start() {
    let meta = NodeMeta {
        id: 2,
        secret: [9; 32],
    };
    for how in ["missing", "emptied"] {
        let dir = TestDir::new(how);
        let (mut store, _) = Store::open(&dir.0).unwrap();
        store.save_meta(&meta).unwrap();
        write_all(&mut store, &batches(3));
        drop(store);
        let wal = only_wal(&dir.0);
        if how == "missing" {
            fs::remove_file(&wal).unwrap();
        } else {
            fs::write(&wal, b"").unwrap();
        }
        let msg = Store::open(&dir.0).unwrap_err().to_string();
        assert!(
            msg.contains(&format!("node 2's identity is here but its log is {how}")),
            "{msg}"
        );
    }
    // A node that registered and never wrote a thing starts as it was.
    let dir = TestDir::new("never-wrote");
    let (mut store, _) = Store::open(&dir.0).unwrap();
    store.save_meta(&meta).unwrap();
    drop(store);
    let (_, got) = Store::open(&dir.0).unwrap();
    assert_eq!(got.meta, Some(meta));
}

/// Bytes in `dir`, all files.
fn dir_bytes(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

/// A long run's writes, a store snapshot replacing the log every 50
/// positions: the data directory never holds more than the log's
/// compaction threshold plus twice the state (the state file and, while
/// it is rewritten, its new copy), however many positions commit. Without
/// snapshots it grows with the run.
#[test]
fn with_snapshots_the_data_directory_stays_bounded_however_long_the_run() {
    let opts = Options {
        compact_after: 8 << 10,
    };
    let run = |snapshots: bool| {
        let dir = TestDir::new(if snapshots { "bounded" } else { "unbounded" });
        let (mut store, _) = Store::open_with(&dir.0, opts).unwrap();
        let mut peak = 0;
        for pos in 0..3_000u64 {
            store
                .append(&[promise(pos, 1, Some("v")), commit(pos, "a-value")])
                .unwrap();
            if snapshots && (pos + 1).is_multiple_of(50) {
                let snap = crate::core::Snapshot {
                    upto: pos + 1,
                    state: "s".repeat(200),
                };
                store.append(&[Write::Snapshot(snap)]).unwrap();
            }
            peak = peak.max(dir_bytes(&dir.0));
        }
        let kept = store.state().log.len();
        (peak, kept)
    };
    let (peak, kept) = run(true);
    assert!(kept < 50, "{kept} positions kept");
    assert!(
        peak < 2 * (8 << 10) + 4096,
        "the directory reached {peak} bytes"
    );
    let (peak, kept) = run(false);
    assert_eq!(kept, 3_000);
    assert!(peak > 4 * (8 << 10), "without snapshots: {peak} bytes");
}

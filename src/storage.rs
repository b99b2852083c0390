//! The node's durable store for `--data-dir`: what a replica must not forget
//! across a crash (its promises, accepted values and committed log) and the
//! node's identity (the id the coordinator assigned and its signing key).
//!
//! The core hands the driver [`Write`]s (`Output::Persist`) and requires that
//! every write of a step is on disk before any message of that step is sent:
//! an acceptor that forgets a promise it answered can let two different
//! values be chosen. The pattern is therefore many tiny batches (one step's
//! writes, usually 1–3 records of well under 200 bytes), each of which must
//! be fsync'd before the node answers, and reads only at startup. An
//! append-only log with one `fdatasync` per batch is the cheapest thing that
//! does exactly that, so that is what this is.
//!
//! # Files in the data directory
//!
//! - `wal-<gen>.log`: the write-ahead log, records framed as
//!   `[len: u32 LE][crc32 of payload: u32 LE][payload]`, the payload a
//!   postcard-encoded [`Write`]. Exactly one generation is live.
//! - `snapshot`: one framed record holding the whole [`Durable`] state and
//!   the generation of the log that continues it. Absent until the first
//!   compaction.
//! - `node.meta`: one framed record holding [`NodeMeta`]; mode 0600.
//! - `LOCK`: held (advisory lock) while a [`Store`] is open, so two
//!   processes never share one acceptor's state.
//! - `proofs.log`: the middleware's proofs (commit certificates, the signed
//!   Proposes behind accepted values, BFT prepared certificates), see
//!   [`ProofLog`]: not needed for safety, so kept with simpler rules.
//!
//! # Recovery
//!
//! Load the snapshot (or start empty at generation 0), then replay
//! `wal-<gen>.log` for the snapshot's generation. A record that fails to
//! parse is either a torn tail (a crash in the middle of an append: nothing
//! valid follows it) and is cut off with a warning, or damage in the middle
//! of the log (valid records follow it), which is reported as
//! [`StoreError::Corrupt`]: dropping those later records could drop a
//! promise the node already answered, so we refuse to guess.
//!
//! # Compaction, and why a crash at any point is safe
//!
//! When the live log has grown past both [`Options::compact_after`] and the
//! size of the last snapshot (so the work stays linear in what was written),
//! the store:
//!
//! 1. writes the full state, tagged with generation `g + 1`, to
//!    `snapshot.tmp` and fsyncs it;
//! 2. renames it over `snapshot` and fsyncs the directory. This is the
//!    commit point: from here on recovery starts from the new snapshot and
//!    ignores `wal-<g>.log`, whose every record the snapshot already holds;
//! 3. creates the empty `wal-<g+1>.log` and fsyncs the directory;
//! 4. deletes `wal-<g>.log`.
//!
//! A crash before step 2 leaves the old snapshot (if any) and the old log,
//! which together are the full state; the stray `snapshot.tmp` is removed on
//! open. A crash after step 2 leaves a snapshot that is the full state; a
//! missing `wal-<g+1>.log` is created on open and a leftover older log is
//! deleted. A log *newer* than the snapshot cannot arise from this sequence,
//! so it means the snapshot was lost, and open fails rather than start from a
//! partial state.
//!
//! # Errors are fatal to the store
//!
//! After any failed write or fsync the store refuses further writes
//! ([`StoreError::Poisoned`]): after a failed fsync the kernel may have
//! dropped the dirty pages, so nothing in memory can say what is on disk.
//! The driver must not send the step's messages and should stop the node;
//! reopening the directory recovers whatever did reach the disk, which is
//! safe because nothing written after the last successful append was ever
//! acknowledged to a peer.

use crate::core::{Durable, NodeId, Write};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write as _};
use std::path::{Path, PathBuf};

const SNAPSHOT: &str = "snapshot";
const SNAPSHOT_TMP: &str = "snapshot.tmp";
const META: &str = "node.meta";
const META_TMP: &str = "node.meta.tmp";
const LOCK: &str = "LOCK";
/// Bytes before each payload: its length and its CRC32.
const HEADER: usize = 8;
/// Bumped when the layout of the snapshot or metadata payload changes, so an
/// old binary refuses a newer directory instead of misreading it.
/// Version 2: the state carries the state machine's snapshot
/// ([`Durable::snapshot`]); the metadata is unchanged since version 1.
const FORMAT_VERSION: u32 = 2;

/// The node's identity, saved once it is known so a restarted node comes
/// back as the same member of the cluster.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeMeta {
    /// The id the coordinator assigned.
    pub id: NodeId,
    /// The node's ed25519 secret key bytes.
    pub secret: [u8; 32],
}

// Hand-written so a `{:?}` in a log line never leaks the key.
impl fmt::Debug for NodeMeta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeMeta")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// What [`Store::open`] found on disk.
#[derive(Debug, Default)]
pub struct Recovered {
    /// The replica's durable state: hand it to `Replica::restore`.
    pub durable: Durable,
    /// The node's identity, if it was ever saved.
    pub meta: Option<NodeMeta>,
}

/// Tuning for a [`Store`].
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Compact once the live log is at least this many bytes (and at least
    /// as large as the last snapshot).
    pub compact_after: u64,
}

impl Default for Options {
    fn default() -> Self {
        // Big enough that compaction is rare at ~50 bytes a record, small
        // enough that replay at startup is instant.
        Options {
            compact_after: 4 << 20,
        }
    }
}

/// Why the store could not do what was asked. Every variant names the file
/// or directory involved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{}: corrupt record at byte offset {offset} with valid records after it; \
         refusing to drop them (restore the file, or remove the data directory to start afresh)",
        path.display()
    )]
    Corrupt { path: PathBuf, offset: u64 },
    #[error("{}: {what}", path.display())]
    Invalid { path: PathBuf, what: String },
    #[error("{} is locked: another process is using this data directory", path.display())]
    Locked { path: PathBuf },
    #[error(
        "the store in {} failed an earlier write and accepts no more; restart the node to recover from disk",
        dir.display()
    )]
    Poisoned { dir: PathBuf },
    #[error("cannot encode a record for {}: {source}", path.display())]
    Encode {
        path: PathBuf,
        #[source]
        source: postcard::Error,
    },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// The snapshot file's payload, borrowed for writing.
#[derive(Serialize)]
struct SnapshotOut<'a> {
    version: u32,
    /// The log generation that continues this snapshot.
    gen: u64,
    durable: &'a Durable,
}

#[derive(Deserialize)]
struct SnapshotIn {
    version: u32,
    gen: u64,
    durable: Durable,
}

#[derive(Serialize, Deserialize)]
struct MetaFile {
    version: u32,
    meta: NodeMeta,
}

/// An open data directory. See the module docs for the layout and the
/// crash-safety argument.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    opts: Options,
    /// The live log, opened for appending.
    wal: File,
    wal_path: PathBuf,
    gen: u64,
    wal_len: u64,
    snapshot_len: u64,
    /// A mirror of what is on disk, so compaction can write a snapshot
    /// without trusting the caller to hand back exactly the same state.
    state: Durable,
    poisoned: bool,
    /// Held for the store's lifetime; the OS releases the lock on close.
    _lock: File,
}

/// fdatasyncs every store of this process made (what `paxos bench
/// --data-dir` counts per position).
static SYNCS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many log fsyncs this process's stores made so far.
pub fn syncs_done() -> u64 {
    SYNCS.load(std::sync::atomic::Ordering::Relaxed)
}

impl Store {
    /// Opens (creating if missing) the data directory `dir` with default
    /// [`Options`], and returns what it holds.
    pub fn open(dir: &Path) -> Result<(Store, Recovered), StoreError> {
        Store::open_with(dir, Options::default())
    }

    /// [`Store::open`] with explicit [`Options`].
    pub fn open_with(dir: &Path, opts: Options) -> Result<(Store, Recovered), StoreError> {
        create_dir(dir)?;
        let lock = lock_dir(dir)?;

        // Leftovers of a crash before a rename: never the live copy.
        for tmp in [SNAPSHOT_TMP, META_TMP] {
            remove_if_exists(&dir.join(tmp))?;
        }

        let meta = load_meta(&dir.join(META))?;
        let (gen, mut state, snapshot_len) = load_snapshot(&dir.join(SNAPSHOT))?;

        let mut live = None;
        for (g, path) in wal_files(dir)? {
            if g < gen {
                // Compaction committed (step 2) but crashed before step 4.
                log::info!("removing {}: superseded by the snapshot", path.display());
                fs::remove_file(&path).map_err(io_err("remove", &path))?;
            } else if g > gen {
                return Err(StoreError::Invalid {
                    path: path.clone(),
                    what: format!(
                        "log generation {g} is newer than the snapshot's ({gen}); \
                         the snapshot is missing or stale, so the state would be incomplete"
                    ),
                });
            } else {
                live = Some(path);
            }
        }

        let (wal_path, wal_len) = open_live_wal(dir, gen, live, &meta, &mut state)?;
        let wal = OpenOptions::new()
            .append(true)
            .open(&wal_path)
            .map_err(io_err("open", &wal_path))?;

        let store = Store {
            dir: dir.to_path_buf(),
            opts,
            wal,
            wal_path,
            gen,
            wal_len,
            snapshot_len,
            state: state.clone(),
            poisoned: false,
            _lock: lock,
        };
        Ok((
            store,
            Recovered {
                durable: state,
                meta,
            },
        ))
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Everything written so far, as [`Durable::apply`] would build it.
    pub fn state(&self) -> &Durable {
        &self.state
    }

    /// Appends one step's writes and fsyncs them, once for the whole slice.
    /// When this returns `Ok`, the writes survive a crash. An empty slice
    /// touches nothing. May compact the log afterwards.
    pub fn append(&mut self, writes: &[Write]) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        self.check()?;
        let mut buf = Vec::with_capacity(64 * writes.len());
        for w in writes {
            let payload = postcard::to_allocvec(w).map_err(|source| StoreError::Encode {
                path: self.wal_path.clone(),
                source,
            })?;
            frame(&payload, &mut buf).map_err(|what| StoreError::Invalid {
                path: self.wal_path.clone(),
                what,
            })?;
        }
        // One write and one fdatasync per batch: the fdatasync also covers
        // the file's new length, which is all the metadata an append needs.
        let res = self
            .wal
            .write_all(&buf)
            .map_err(io_err("append to", &self.wal_path))
            .and_then(|()| {
                SYNCS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.wal
                    .sync_data()
                    .map_err(io_err("fsync", &self.wal_path))
            });
        self.poison_on_err(res)?;
        self.wal_len += buf.len() as u64;
        for w in writes {
            self.state.apply(w.clone());
        }

        if self.wal_len >= self.opts.compact_after.max(self.snapshot_len) {
            let res = self.compact();
            self.poison_on_err(res)?;
        }
        Ok(())
    }

    /// Writes a snapshot of the whole state and starts a new, empty log.
    /// [`Store::append`] calls this when the log has grown; it is public so
    /// a driver can compact at a quiet moment.
    pub fn compact(&mut self) -> Result<(), StoreError> {
        self.check()?;
        let next = self.gen + 1;
        // Steps 1 and 2 (see the module docs): the rename is the commit point.
        let snapshot_len = write_snapshot(&self.dir, next, &self.state);
        let snapshot_len = self.poison_on_err(snapshot_len)?;
        // Step 3.
        let new_path = self.dir.join(wal_name(next));
        let res = create_wal(&new_path).and_then(|()| sync_dir(&self.dir));
        self.poison_on_err(res)?;
        let wal = OpenOptions::new()
            .append(true)
            .open(&new_path)
            .map_err(io_err("open", &new_path));
        let wal = self.poison_on_err(wal)?;
        let old = std::mem::replace(&mut self.wal_path, new_path);
        self.wal = wal;
        self.gen = next;
        self.wal_len = WAL_MAGIC.len() as u64;
        self.snapshot_len = snapshot_len;
        // Step 4. A failure here is harmless (open deletes the stale log), so
        // it is only logged.
        if let Err(e) = fs::remove_file(&old) {
            log::warn!("cannot remove old log {}: {e}", old.display());
        }
        Ok(())
    }

    /// Saves the node's identity atomically: a crash leaves either the old
    /// file or the new one, never a mix. Readable by the owner only.
    pub fn save_meta(&mut self, meta: &NodeMeta) -> Result<(), StoreError> {
        let path = self.dir.join(META);
        let payload = postcard::to_allocvec(&MetaFile {
            version: FORMAT_VERSION,
            meta: meta.clone(),
        })
        .map_err(|source| StoreError::Encode {
            path: path.clone(),
            source,
        })?;
        write_atomically(&self.dir, META_TMP, META, &payload)?;
        Ok(())
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.poisoned {
            return Err(StoreError::Poisoned {
                dir: self.dir.clone(),
            });
        }
        Ok(())
    }

    fn poison_on_err<T>(&mut self, res: Result<T, StoreError>) -> Result<T, StoreError> {
        if res.is_err() {
            self.poisoned = true;
        }
        res
    }
}

fn wal_name(gen: u64) -> String {
    format!("wal-{gen:020}.log")
}

/// The log files in `dir`, by generation.
fn wal_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("list", dir))? {
        let entry = entry.map_err(io_err("list", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let gen = name
            .strip_prefix("wal-")
            .and_then(|s| s.strip_suffix(".log"))
            .and_then(|s| s.parse::<u64>().ok());
        if let Some(gen) = gen {
            out.push((gen, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Appends `[len][crc][payload]` to `out`.
fn frame(payload: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let len = u32::try_from(payload.len())
        .map_err(|_| format!("record of {} bytes is too large", payload.len()))?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// The payload of the frame at the start of `buf` and the frame's length, if
/// the frame is complete and its checksum matches.
fn unframe(buf: &[u8]) -> Option<(&[u8], usize)> {
    let len = u32::from_le_bytes(buf.get(0..4)?.try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(buf.get(4..8)?.try_into().ok()?);
    // An empty payload is never written (every encoding is at least a byte),
    // and must be refused: a zero-filled tail, which some filesystems leave
    // after a crash, would otherwise read as valid records (crc32("") == 0).
    if len == 0 {
        return None;
    }
    let payload = buf.get(HEADER..HEADER.checked_add(len)?)?;
    (crc32fast::hash(payload) == crc).then_some((payload, HEADER + len))
}

/// A `Write` from the frame at the start of `buf`, and the frame's length.
fn read_record(buf: &[u8]) -> Option<(Write, usize)> {
    let (payload, n) = unframe(buf)?;
    match postcard::take_from_bytes::<Write>(payload) {
        // Trailing bytes inside a checksummed frame mean a different encoding.
        Ok((w, [])) => Some((w, n)),
        _ => None,
    }
}

/// Replays the log at `path` into `state`, cutting off a torn tail. Returns
/// the length of the valid log.
/// Replay the live log of generation `gen` into `state` (or make it, in a
/// fresh directory), refusing a log that is gone or emptied beside an
/// identity. Returns its path and length.
fn open_live_wal(
    dir: &Path,
    gen: u64,
    live: Option<PathBuf>,
    meta: &Option<NodeMeta>,
    state: &mut Durable,
) -> Result<(PathBuf, u64), StoreError> {
    let wal_path = dir.join(wal_name(gen));
    let wal_len = match live {
        Some(path) => match replay(&path, state)? {
            Replayed::Headless if meta.is_none() => {
                // A crash while the log was made, before the node had an
                // identity: nothing was ever written. Start it afresh.
                create_wal(&wal_path)?;
                WAL_MAGIC.len() as u64
            }
            Replayed::Headless => return Err(forgotten(dir, meta, "emptied")),
            Replayed::Len(len) => len,
        },
        // A crash between compaction steps 2 and 3: the snapshot holds it all.
        None if gen > 0 => {
            create_wal(&wal_path)?;
            sync_dir(dir)?;
            WAL_MAGIC.len() as u64
        }
        None if meta.is_some() => return Err(forgotten(dir, meta, "missing")),
        None => {
            // A fresh directory.
            create_wal(&wal_path)?;
            sync_dir(dir)?;
            WAL_MAGIC.len() as u64
        }
    };
    Ok((wal_path, wal_len))
}

/// What replaying a log found.
enum Replayed {
    /// Its length, once any torn tail is cut off.
    Len(u64),
    /// Not even a whole header: emptied, or a crash while it was created.
    Headless,
}

/// Why a directory with an identity but no log must not start.
fn forgotten(dir: &Path, meta: &Option<NodeMeta>, how: &str) -> StoreError {
    let id = meta.as_ref().map_or(0, |m| m.id);
    StoreError::Invalid {
        path: dir.to_path_buf(),
        what: format!(
            "node {id}'s identity is here but its log is {how}: started, it would have \
             forgotten every promise it made, which Paxos forbids. Restore the directory \
             from a backup; a node that lost its log cannot rejoin under its old id"
        ),
    }
}

fn replay(path: &Path, state: &mut Durable) -> Result<Replayed, StoreError> {
    let mut buf = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut buf))
        .map_err(io_err("read", path))?;

    // Logs made before the header existed start with a record.
    let mut off = match buf.strip_prefix(WAL_MAGIC.as_slice()) {
        Some(_) => WAL_MAGIC.len(),
        None if WAL_MAGIC.starts_with(&buf) => return Ok(Replayed::Headless),
        None => 0,
    };
    while off < buf.len() {
        match read_record(&buf[off..]) {
            Some((w, n)) => {
                state.apply(w);
                off += n;
            }
            None => break,
        }
    }
    if off == buf.len() {
        return Ok(Replayed::Len(off as u64));
    }

    // A bad record. If any valid record starts after it, this is damage in
    // the middle, not an interrupted append. Trying every byte offset is
    // slow only on this error path, and a random match needs a 32-bit CRC
    // collision and a well-formed encoding.
    if (off + 1..buf.len()).any(|p| read_record(&buf[p..]).is_some()) {
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            offset: off as u64,
        });
    }
    log::warn!(
        "{}: torn record at byte offset {off} (crash during an append?); \
         truncating {} trailing bytes",
        path.display(),
        buf.len() - off
    );
    // Truncate (and sync) now, so the next append does not land behind the
    // garbage and turn a torn tail into corruption in the middle.
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| {
            f.set_len(off as u64)?;
            f.sync_all()
        })
        .map_err(io_err("truncate", path))?;
    Ok(Replayed::Len(off as u64))
}

/// Reads a file holding exactly one frame; `None` if it does not exist.
fn read_single(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    let buf = match fs::read(path) {
        Ok(buf) => buf,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("read", path)(e)),
    };
    // Written atomically, so any damage is real damage, not a torn write.
    match unframe(&buf) {
        Some((payload, n)) if n == buf.len() => Ok(Some(payload.to_vec())),
        _ => Err(StoreError::Invalid {
            path: path.to_path_buf(),
            what: "damaged file (bad length or checksum)".into(),
        }),
    }
}

fn decode<T: for<'de> Deserialize<'de>>(path: &Path, payload: &[u8]) -> Result<T, StoreError> {
    postcard::from_bytes(payload).map_err(|e| StoreError::Invalid {
        path: path.to_path_buf(),
        what: format!("cannot decode: {e}"),
    })
}

fn check_version(path: &Path, version: u32) -> Result<(), StoreError> {
    check_versions(path, version, FORMAT_VERSION..=FORMAT_VERSION)
}

fn check_versions(
    path: &Path,
    version: u32,
    reads: std::ops::RangeInclusive<u32>,
) -> Result<(), StoreError> {
    if !reads.contains(&version) {
        return Err(StoreError::Invalid {
            path: path.to_path_buf(),
            what: format!("format version {version}, this build reads {FORMAT_VERSION}"),
        });
    }
    Ok(())
}

fn load_meta(path: &Path) -> Result<Option<NodeMeta>, StoreError> {
    let Some(payload) = read_single(path)? else {
        return Ok(None);
    };
    let file: MetaFile = decode(path, &payload)?;
    check_versions(path, file.version, 1..=FORMAT_VERSION)?;
    Ok(Some(file.meta))
}

/// The snapshot's log generation, state and file size; generation 0 and an
/// empty state when there is none yet.
fn load_snapshot(path: &Path) -> Result<(u64, Durable, u64), StoreError> {
    let Some(payload) = read_single(path)? else {
        return Ok((0, Durable::default(), 0));
    };
    let snap: SnapshotIn = decode(path, &payload)?;
    check_version(path, snap.version)?;
    Ok((snap.gen, snap.durable, (HEADER + payload.len()) as u64))
}

/// Compaction steps 1 and 2. Returns the snapshot's size.
fn write_snapshot(dir: &Path, gen: u64, state: &Durable) -> Result<u64, StoreError> {
    let path = dir.join(SNAPSHOT);
    let payload = postcard::to_allocvec(&SnapshotOut {
        version: FORMAT_VERSION,
        gen,
        durable: state,
    })
    .map_err(|source| StoreError::Encode { path, source })?;
    write_atomically(dir, SNAPSHOT_TMP, SNAPSHOT, &payload)
}

/// Writes one frame to `dir/tmp`, fsyncs it, renames it to `dir/name` and
/// fsyncs the directory so the rename itself is durable. Returns the size.
pub(crate) fn write_atomically(
    dir: &Path,
    tmp: &str,
    name: &str,
    payload: &[u8],
) -> Result<u64, StoreError> {
    let tmp_path = dir.join(tmp);
    let path = dir.join(name);
    let mut buf = Vec::with_capacity(HEADER + payload.len());
    frame(payload, &mut buf).map_err(|what| StoreError::Invalid {
        path: path.clone(),
        what,
    })?;
    // A stale temp file may carry other permissions; start from nothing.
    remove_if_exists(&tmp_path)?;
    let mut f = create_options()
        .open(&tmp_path)
        .map_err(io_err("create", &tmp_path))?;
    f.write_all(&buf)
        .and_then(|()| f.sync_all())
        .map_err(io_err("write", &tmp_path))?;
    drop(f);
    fs::rename(&tmp_path, &path).map_err(io_err("rename into place", &path))?;
    sync_dir(dir)?;
    Ok(buf.len() as u64)
}

/// New files are created owner-only: the metadata holds a secret key, and
/// the acceptor state is nobody else's business either.
fn create_options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o
}

/// The first bytes of every log: a log that lacks them while the directory
/// holds an identity was emptied, not freshly made.
const WAL_MAGIC: &[u8; 8] = b"PAXWAL\x00\x01";

/// A new, empty log: its header only, synced.
fn create_wal(path: &Path) -> Result<(), StoreError> {
    remove_if_exists(path)?;
    create_options()
        .open(path)
        .and_then(|mut f| {
            f.write_all(WAL_MAGIC)?;
            f.sync_all()
        })
        .map_err(io_err("create", path))
}

fn create_dir(dir: &Path) -> Result<(), StoreError> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(io_err("create directory", dir))
}

fn lock_dir(dir: &Path) -> Result<File, StoreError> {
    let path = dir.join(LOCK);
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err("open", &path))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(fs::TryLockError::WouldBlock) => Err(StoreError::Locked { path }),
        Err(fs::TryLockError::Error(e)) => Err(io_err("lock", &path)(e)),
    }
}

fn remove_if_exists(path: &Path) -> Result<(), StoreError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err("remove", path)(e)),
        _ => Ok(()),
    }
}

/// Makes creations, renames and deletions in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync directory", dir))?;
    // Elsewhere a directory cannot be opened as a file; renames are as
    // durable as the platform makes them.
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

mod proofs;
pub use proofs::ProofLog;

#[cfg(test)]
mod tests;

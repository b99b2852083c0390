//! Plumbing shared by every bridge connection: dialing with a deadline,
//! reading one frame with a deadline, and a writer that drains a queue.
//!
//! Each connection's write half is owned by one task fed through a bounded
//! queue. When the queue is full the newest frame is dropped: the protocol
//! retries what matters, and a slow peer must not make its senders grow
//! without bound.

use super::frame::{Frame, FrameCodec};
use super::BridgeError;
use futures::StreamExt;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::bytes::BytesMut;
use tokio_util::codec::{Encoder, FramedRead};

/// Frames waiting to be written on one connection.
pub const QUEUE: usize = 4096;

/// How long a handshake step may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// The read half of a connection, yielding frames.
pub type Reader = FramedRead<OwnedReadHalf, FrameCodec>;

/// Connect to `addr`, giving up after `timeout`.
pub async fn dial(addr: &str, timeout: Duration) -> Result<TcpStream, BridgeError> {
    let unreachable = |source| BridgeError::Unreachable {
        addr: addr.to_string(),
        source,
    };
    let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| {
            unreachable(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {timeout:?}"),
            ))
        })?
        .map_err(unreachable)?;
    // Protocol messages are small and latency-bound.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Reach the coordinator, retrying with backoff until `timeout`: nodes are
/// often started in the same breath as their coordinator.
pub async fn dial_retrying(
    addr: &str,
    timeout: Duration,
) -> Result<tokio::net::TcpStream, BridgeError> {
    let give_up = tokio::time::Instant::now() + timeout;
    let mut wait = Duration::from_millis(20);
    loop {
        match dial(addr, Duration::from_secs(2)).await {
            Ok(s) => return Ok(s),
            Err(e) if tokio::time::Instant::now() + wait >= give_up => return Err(e),
            Err(e) => log::debug!("{e}; retrying in {wait:?}"),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_millis(500));
    }
}

/// Split a stream into a frame reader and its write half. The reader takes
/// only handshake-sized frames until [`trust`] says the other side proved
/// who it is.
pub fn split(stream: TcpStream) -> (Reader, OwnedWriteHalf) {
    let (r, w) = stream.into_split();
    (FramedRead::new(r, FrameCodec::handshake()), w)
}

/// The handshake succeeded: accept frames of any allowed size.
pub fn trust(reader: &mut Reader) {
    reader.decoder_mut().trust();
}

/// The next frame, or an error if the peer closed, sent garbage or was
/// silent for `timeout`.
pub async fn next_frame(reader: &mut Reader, timeout: Duration) -> Result<Frame, BridgeError> {
    match tokio::time::timeout(timeout, reader.next()).await {
        Err(_) => Err(BridgeError::Timeout(timeout)),
        Ok(None) => Err(BridgeError::Closed),
        Ok(Some(frame)) => Ok(frame?),
    }
}

/// Write one frame now (handshakes and client requests).
pub async fn write_frame(w: &mut OwnedWriteHalf, frame: Frame) -> Result<(), BridgeError> {
    let mut buf = BytesMut::new();
    FrameCodec::default().encode(frame, &mut buf)?;
    w.write_all(&buf).await?;
    Ok(())
}

/// Write whatever arrives on `rx` to `w`, batching what is already queued
/// into one write. Returns when `rx` closes or a write fails.
pub async fn drain(
    rx: &mut mpsc::Receiver<Frame>,
    w: &mut OwnedWriteHalf,
) -> Result<(), BridgeError> {
    let mut codec = FrameCodec::default();
    let mut buf = BytesMut::new();
    while let Some(frame) = rx.recv().await {
        encode_or_log(&mut codec, frame, &mut buf);
        while buf.len() < 64 * 1024 {
            match rx.try_recv() {
                Ok(frame) => encode_or_log(&mut codec, frame, &mut buf),
                Err(_) => break,
            }
        }
        w.write_all(&buf).await?;
        buf.clear();
    }
    Ok(())
}

fn encode_or_log(codec: &mut FrameCodec, frame: Frame, buf: &mut BytesMut) {
    if let Err(e) = codec.encode(frame, buf) {
        log::error!("a frame could not be encoded and was dropped: {e}");
    }
}

/// A task writing everything sent into the returned queue to `w`.
pub fn spawn_writer(mut w: OwnedWriteHalf) -> mpsc::Sender<Frame> {
    let (tx, mut rx) = mpsc::channel(QUEUE);
    actix_rt::spawn(async move {
        if let Err(e) = drain(&mut rx, &mut w).await {
            log::debug!("writer stopped: {e}");
        }
    });
    tx
}

/// Queue `frame` on `tx`, dropping it (with a debug line) if the queue is
/// full or the connection is gone.
pub fn enqueue(tx: &mpsc::Sender<Frame>, frame: Frame, to: &str) {
    if let Err(e) = tx.try_send(frame) {
        log::debug!("dropped a frame for {to}: {e}");
    }
}

/// 32 random bytes for a handshake challenge.
pub fn nonce() -> [u8; 32] {
    let mut n = [0u8; 32];
    if getrandom::getrandom(&mut n).is_err() {
        // No OS randomness: fall back to the clock. A predictable nonce only
        // weakens replay protection of the handshake, never the packets.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        n[..16].copy_from_slice(&t.to_le_bytes());
    }
    n
}

/// Warnings about dropped connections, at most one per second: a flood of
/// bad connections (a fuzzer, a port scan) must not become a flood of log
/// lines. What was held back is counted in the next line.
#[derive(Debug)]
pub struct Throttled {
    start: std::time::Instant,
    /// Milliseconds since `start` of the last line written (+1; 0 = never).
    last: std::sync::atomic::AtomicU64,
    held: std::sync::atomic::AtomicU64,
}

impl Default for Throttled {
    fn default() -> Self {
        Throttled {
            start: std::time::Instant::now(),
            last: 0.into(),
            held: 0.into(),
        }
    }
}

impl Throttled {
    /// Log `line` as a warning unless one was logged less than a second
    /// ago. Returns whether it was logged.
    pub fn warn(&self, line: &str) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let now = self.start.elapsed().as_millis() as u64 + 1;
        let last = self.last.load(Relaxed);
        if last != 0 && now < last + 1000 {
            self.held.fetch_add(1, Relaxed);
            return false;
        }
        if self
            .last
            .compare_exchange(last, now, Relaxed, Relaxed)
            .is_err()
        {
            self.held.fetch_add(1, Relaxed);
            return false;
        }
        match self.held.swap(0, Relaxed) {
            0 => log::warn!("{line}"),
            n => log::warn!("{line} (and {n} more like it in the last second)"),
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strangers_are_evicted_oldest_first_and_members_keep_their_place() {
        let gate = Gate::new(3, 2);
        let member = gate.enter().expect("room");
        member.proven();
        let a = gate.enter().expect("room");
        let b = gate.enter().expect("room");
        assert_eq!(gate.open(), 3);
        // Full: the newcomer takes the oldest stranger's place.
        let c = gate.enter().expect("evicts a");
        assert_eq!(gate.open(), 3);
        drop(a); // the evicted task ends: nothing is given back twice
        assert_eq!(gate.open(), 3);
        c.proven();
        b.proven();
        assert!(gate.enter().is_none(), "only members hold places now");
        drop(member);
        assert_eq!(gate.open(), 2);
        assert!(gate.enter().is_some());
    }

    #[test]
    fn a_flood_of_warnings_becomes_one_line_a_second() {
        let t = Throttled::default();
        assert!(t.warn("first"));
        let logged = (0..10_000).filter(|_| t.warn("again")).count();
        assert_eq!(logged, 0, "held back within the second");
        assert_eq!(t.held.load(std::sync::atomic::Ordering::Relaxed), 10_000);
    }
}

/// Admission of connections to a listener: at most `max_open` at once, of
/// which at most `max_unproven` have not yet proven who they are. A new
/// connection that finds either limit reached evicts the oldest unproven one
/// rather than being refused: strangers that connect and say nothing cannot
/// lock members out, as a member's handshake takes milliseconds.
#[derive(Debug)]
pub struct Gate {
    max_open: usize,
    max_unproven: usize,
    inner: std::sync::Mutex<GateInner>,
}

#[derive(Debug, Default)]
struct GateInner {
    next: u64,
    open: usize,
    /// Unproven connections by age, with the handle that ends each (once
    /// its task is known).
    unproven: BTreeMap<u64, Option<tokio::task::AbortHandle>>,
    /// Evicted connections whose tickets are not dropped yet.
    evicted: std::collections::BTreeSet<u64>,
}

/// One admitted connection; dropping it (the task ends or is aborted)
/// frees its place.
#[derive(Debug)]
pub struct Ticket {
    gate: std::sync::Arc<Gate>,
    seq: u64,
}

impl Gate {
    pub fn new(max_open: usize, max_unproven: usize) -> std::sync::Arc<Gate> {
        std::sync::Arc::new(Gate {
            max_open,
            max_unproven: max_unproven.min(max_open),
            inner: Default::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateInner> {
        // A poisoned lock only means a panic elsewhere; the counts are whole.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for a new connection, evicting the oldest unproven one if
    /// need be; `None` when every place is held by proven connections.
    pub fn enter(self: &std::sync::Arc<Self>) -> Option<Ticket> {
        let mut g = self.lock();
        while g.open >= self.max_open || g.unproven.len() >= self.max_unproven {
            let (old, handle) = g.unproven.pop_first()?;
            g.open -= 1;
            g.evicted.insert(old);
            if let Some(h) = handle {
                h.abort();
            }
        }
        g.open += 1;
        let seq = g.next;
        g.next += 1;
        g.unproven.insert(seq, None);
        Some(Ticket {
            gate: self.clone(),
            seq,
        })
    }

    /// How many connections hold a place.
    pub fn open(&self) -> usize {
        self.lock().open
    }
}

/// Serve a new connection under `gate`: `serve` gets its ticket (to say
/// when the other side proved itself) and runs as its own task, which an
/// eviction aborts. `false` when the gate is full of proven connections.
pub fn spawn_admitted<Fut>(
    gate: &std::sync::Arc<Gate>,
    serve: impl FnOnce(Ticket) -> Fut + 'static,
) -> bool
where
    Fut: std::future::Future<Output = ()> + 'static,
{
    let Some(ticket) = gate.enter() else {
        return false;
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<Ticket>();
    let task = actix_rt::spawn(async move {
        // The ticket lives (and is dropped) with this task.
        if let Ok(ticket) = rx.await {
            serve(ticket).await;
        }
    });
    ticket.arm(task.abort_handle());
    let _ = tx.send(ticket);
    true
}

impl Ticket {
    /// The task serving this connection, so that eviction can end it.
    pub fn arm(&self, handle: tokio::task::AbortHandle) {
        if let Some(slot) = self.gate.lock().unproven.get_mut(&self.seq) {
            *slot = Some(handle);
        }
    }

    /// The connection proved who it is: never evicted from now on.
    pub fn proven(&self) {
        self.gate.lock().unproven.remove(&self.seq);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut g = self.gate.lock();
        // Evicted: its place was already given back by `enter`.
        if !g.evicted.remove(&self.seq) {
            g.unproven.remove(&self.seq);
            g.open = g.open.saturating_sub(1);
        }
    }
}

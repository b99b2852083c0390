//! Cluster admission: the cluster key, and the mutual challenge that opens
//! every control-plane connection.
//!
//! A cluster has one secret, the *cluster key*: 32 random bytes in a file
//! (`paxos-cluster.key` by default) that the first coordinator creates and
//! every node and client of the cluster is given. Each connection to the
//! coordinator opens with both sides proving they hold it, before anything
//! is served — registration, `propose`, `status`, `shutdown`:
//!
//! 1. coordinator → dialer: `Challenge { nonce: Nc }` (fresh per connection);
//! 2. dialer → coordinator: `Hello { nonce: Nd, mac: HMAC(k, dialer‖Nc‖Nd) }`;
//! 3. coordinator → dialer: `Admitted { mac: HMAC(k, coordinator‖Nd‖Nc) }`.
//!
//! Each side's MAC covers the other's fresh nonce, so neither can be
//! replayed, and the roles are bound in, so the coordinator's answer is no
//! dialer's proof. A stranger learns nothing but a refusal; a process that
//! takes over the coordinator's address cannot answer step 3, and nodes and
//! clients refuse it. HMAC-SHA256 (the `hmac` crate) is the MAC; comparison
//! is constant-time. Integrity of the frames after the handshake against an
//! on-path attacker is not this layer's: packets between nodes are signed,
//! and a link that crosses an untrusted network belongs in a VPN or TLS.

use super::conn::{self, Reader, HANDSHAKE_TIMEOUT};
use super::frame::Frame;
use super::BridgeError;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use tokio::net::tcp::OwnedWriteHalf;

/// Where a cluster key is kept when no path is given.
pub const DEFAULT_KEY_FILE: &str = "paxos-cluster.key";

/// Separates these MACs from any other use of the key.
const DOMAIN: &[u8] = b"paxos/admission/v1";

/// The cluster's shared secret.
#[derive(Clone)]
pub struct ClusterKey([u8; 32]);

impl std::fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterKey(..)")
    }
}

/// Which side of the handshake a MAC speaks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Dialer,
    Coordinator,
}

impl ClusterKey {
    /// A fresh random key (a cluster that lives in one process, a bench).
    pub fn random() -> Result<ClusterKey, BridgeError> {
        let mut k = [0u8; 32];
        getrandom::getrandom(&mut k)
            .map_err(|e| BridgeError::Key(format!("no randomness for a cluster key: {e}")))?;
        Ok(ClusterKey(k))
    }

    /// Read the key in `path`.
    pub fn load(path: &Path) -> Result<ClusterKey, BridgeError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            BridgeError::Key(format!(
                "cannot read the cluster key {}: {e} (the coordinator creates it on its first start; \
                 give every node and client the same file)",
                path.display()
            ))
        })?;
        Self::parse(text.trim()).ok_or_else(|| {
            BridgeError::Key(format!(
                "{} is not a cluster key (64 hex digits)",
                path.display()
            ))
        })
    }

    /// Read the key in `path`, or create one there if there is no file.
    /// Returns the key and whether it was created.
    pub fn load_or_create(path: &Path) -> Result<(ClusterKey, bool), BridgeError> {
        if path.exists() {
            return Ok((Self::load(path)?, false));
        }
        let key = Self::random()?;
        key.save(path)?;
        Ok((key, true))
    }

    /// Write the key, readable by its owner only, never over another file,
    /// and all at once: it is written aside and linked into place, so a
    /// node reading it while the coordinator starts sees no file or the
    /// whole key, never half of it.
    fn save(&self, path: &Path) -> Result<(), BridgeError> {
        let aside = path.with_extension(format!("new-{}", std::process::id()));
        let _ = std::fs::remove_file(&aside);
        let written = self.write_new(&aside, path).and_then(|()| {
            std::fs::hard_link(&aside, path).map_err(|e| {
                BridgeError::Key(format!(
                    "cannot create the cluster key {}: {e}",
                    path.display()
                ))
            })
        });
        let _ = std::fs::remove_file(&aside);
        written
    }

    /// Write the key to `path`, a new file standing in for `named` (the
    /// name errors give).
    fn write_new(&self, path: &Path, named: &Path) -> Result<(), BridgeError> {
        let fail = |e: std::io::Error| {
            BridgeError::Key(format!(
                "cannot create the cluster key {}: {e}",
                named.display()
            ))
        };
        let mut open = std::fs::OpenOptions::new();
        open.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            open.mode(0o600);
        }
        let mut file = open.open(path).map_err(fail)?;
        writeln!(file, "{}", hex(&self.0)).map_err(fail)?;
        file.sync_all().map_err(fail)
    }

    fn parse(text: &str) -> Option<ClusterKey> {
        if text.len() != 64 || !text.is_ascii() {
            return None;
        }
        let mut k = [0u8; 32];
        for (i, byte) in k.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(ClusterKey(k))
    }

    fn hmac(&self, side: Side, theirs: &[u8; 32], mine: &[u8; 32]) -> Hmac<Sha256> {
        // A key of any length is valid for HMAC.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("any key length");
        mac.update(DOMAIN);
        mac.update(match side {
            Side::Dialer => b"dialer",
            Side::Coordinator => b"coordinator",
        });
        mac.update(theirs);
        mac.update(mine);
        mac
    }

    fn prove(&self, side: Side, theirs: &[u8; 32], mine: &[u8; 32]) -> Vec<u8> {
        self.hmac(side, theirs, mine)
            .finalize()
            .into_bytes()
            .to_vec()
    }

    fn holds(&self, side: Side, theirs: &[u8; 32], mine: &[u8; 32], mac: &[u8]) -> bool {
        self.hmac(side, theirs, mine).verify_slice(mac).is_ok()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The key file a command uses: the one given, else [`DEFAULT_KEY_FILE`].
pub fn key_path(given: Option<&Path>) -> PathBuf {
    given.map_or_else(|| PathBuf::from(DEFAULT_KEY_FILE), Path::to_path_buf)
}

/// The dialer's side, right after connecting to `addr`: answer the
/// coordinator's challenge and check that it holds the key too. Returns the
/// coordinator's nonce (a node signs its registration over it).
pub async fn dial(
    key: &ClusterKey,
    addr: &str,
    reader: &mut Reader,
    writer: &mut OwnedWriteHalf,
) -> Result<[u8; 32], BridgeError> {
    let Frame::Challenge { nonce: theirs } = conn::next_frame(reader, HANDSHAKE_TIMEOUT).await?
    else {
        return Err(BridgeError::Unexpected(format!(
            "{addr} did not open with a challenge: is it a paxos coordinator?"
        )));
    };
    let mine = conn::nonce();
    let mac = key.prove(Side::Dialer, &theirs, &mine);
    conn::write_frame(writer, Frame::Hello { nonce: mine, mac }).await?;
    match conn::next_frame(reader, HANDSHAKE_TIMEOUT).await? {
        Frame::Admitted { mac } if key.holds(Side::Coordinator, &mine, &theirs, &mac) => Ok(theirs),
        Frame::Admitted { .. } => Err(BridgeError::Refused(format!(
            "{addr} does not hold this cluster's key: it is not this cluster's coordinator"
        ))),
        Frame::Refused { reason } => Err(BridgeError::Refused(format!(
            "{addr} refused this cluster key ({reason}): it is another cluster's \
             coordinator, or the key file is not this cluster's"
        ))),
        other => Err(BridgeError::Unexpected(format!(
            "{addr} answered the admission with {}",
            frame_kind(&other)
        ))),
    }
}

/// The coordinator's side, on a new connection: challenge, check the
/// dialer's proof, prove ours. Nothing else is read or served before this
/// succeeds. Returns the challenge nonce.
pub async fn admit(
    key: &ClusterKey,
    reader: &mut Reader,
    writer: &mut OwnedWriteHalf,
) -> Result<[u8; 32], BridgeError> {
    let nonce = conn::nonce();
    conn::write_frame(writer, Frame::Challenge { nonce }).await?;
    let proof = conn::next_frame(reader, HANDSHAKE_TIMEOUT).await?;
    let Frame::Hello { nonce: theirs, mac } = proof else {
        return Err(refuse(
            writer,
            "the connection did not open with the cluster handshake",
        )
        .await);
    };
    if !key.holds(Side::Dialer, &nonce, &theirs, &mac) {
        return Err(refuse(
            writer,
            "not a member of this cluster: the cluster key does not match",
        )
        .await);
    }
    let mac = key.prove(Side::Coordinator, &theirs, &nonce);
    conn::write_frame(writer, Frame::Admitted { mac }).await?;
    Ok(nonce)
}

async fn refuse(writer: &mut OwnedWriteHalf, reason: &str) -> BridgeError {
    let _ = conn::write_frame(
        writer,
        Frame::Refused {
            reason: reason.to_string(),
        },
    )
    .await;
    BridgeError::Refused(reason.to_string())
}

/// A frame's variant name, for messages (never its contents).
pub fn frame_kind(f: &Frame) -> String {
    format!("{f:?}")
        .split([' ', '(', '{'])
        .next()
        .unwrap_or("?")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mac_binds_the_key_both_nonces_and_the_side() {
        let k = ClusterKey([7; 32]);
        let (a, b) = ([1; 32], [2; 32]);
        let mac = k.prove(Side::Dialer, &a, &b);
        assert!(k.holds(Side::Dialer, &a, &b, &mac));
        assert!(
            !k.holds(Side::Coordinator, &a, &b, &mac),
            "a dialer's proof is no coordinator's"
        );
        assert!(
            !k.holds(Side::Dialer, &b, &a, &mac),
            "nonces are not interchangeable"
        );
        assert!(!ClusterKey([8; 32]).holds(Side::Dialer, &a, &b, &mac));
        assert!(!k.holds(Side::Dialer, &a, &b, &mac[..31]));
    }

    #[test]
    fn a_key_file_is_created_once_private_and_read_back() {
        let dir = std::env::temp_dir().join(format!("paxos-key-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("k");
        let (k, created) = ClusterKey::load_or_create(&path).unwrap();
        assert!(created);
        let (again, created) = ClusterKey::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(k.0, again.0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "readable by others: {mode:o}");
        }
        std::fs::write(&path, "not a key\n").unwrap();
        let e = ClusterKey::load(&path).unwrap_err().to_string();
        assert!(e.contains("is not a cluster key"), "{e}");
        let e = ClusterKey::load(&dir.join("missing"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read the cluster key"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! The coordinator's registry on disk: which verifying key holds which node
//! id, so that a restarted coordinator can never hand an id to a new key.
//!
//! One line per node, `ID HEX-KEY`, in `DIR/registry`. Every change is
//! written to a temporary file, synced, and renamed over the old one (then
//! the directory is synced): a crash leaves the old registry or the new one,
//! never half of either. A file that does not parse is refused, not
//! guessed at: the coordinator would otherwise forget who is who.

use super::BridgeError;
use crate::core::NodeId;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Node id → verifying key.
pub type Keys = BTreeMap<NodeId, [u8; 32]>;

/// The registry file of a coordinator's data directory.
#[derive(Clone, Debug)]
pub struct RegistryFile {
    dir: PathBuf,
}

impl RegistryFile {
    /// The registry in `dir`, created if it does not exist.
    pub fn open(dir: &Path) -> Result<RegistryFile, BridgeError> {
        if dir.exists() && !dir.is_dir() {
            return Err(BridgeError::Storage(format!(
                "{} is a file, not a directory",
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir).map_err(|e| storage(dir, "create", &e))?;
        Ok(RegistryFile {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self) -> PathBuf {
        self.dir.join("registry")
    }

    /// What the file holds (nothing if there is no file yet).
    pub fn load(&self) -> Result<Keys, BridgeError> {
        let path = self.path();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Keys::new()),
            Err(e) => return Err(storage(&path, "read", &e)),
        };
        parse(&text).map_err(|line| {
            BridgeError::Storage(format!(
                "{} line {line} is not 'ID KEY': the registry is damaged; \
                 restore it rather than let ids change hands",
                path.display()
            ))
        })
    }

    /// Replace the file with `keys`, atomically.
    pub fn save(&self, keys: &Keys) -> Result<(), BridgeError> {
        let path = self.path();
        let tmp = self.dir.join("registry.tmp");
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            for (id, key) in keys {
                let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
                writeln!(f, "{id} {hex}")?;
            }
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(&self.dir)?.sync_all()
        };
        write().map_err(|e| storage(&path, "write", &e))
    }
}

fn storage(path: &Path, what: &str, e: &std::io::Error) -> BridgeError {
    BridgeError::Storage(format!("cannot {what} {}: {e}", path.display()))
}

/// The keys in `text`, or the number of the first line that is not one.
fn parse(text: &str) -> Result<Keys, usize> {
    let mut keys = Keys::new();
    for (i, line) in text.lines().enumerate() {
        let bad = || i + 1;
        let (id, hex) = line.split_once(' ').ok_or_else(bad)?;
        let id: NodeId = id.parse().map_err(|_| bad())?;
        if hex.len() != 64 || !hex.is_ascii() {
            return Err(bad());
        }
        let mut key = [0u8; 32];
        for (j, b) in key.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * j..2 * j + 2], 16).map_err(|_| bad())?;
        }
        if keys.insert(id, key).is_some() {
            return Err(bad());
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_survives_a_round_trip_and_refuses_damage() {
        let dir = std::env::temp_dir().join(format!("paxos-registry-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let file = RegistryFile::open(&dir).unwrap();
        assert!(file.load().unwrap().is_empty());
        let keys = Keys::from([(0, [1; 32]), (2, [0xab; 32])]);
        file.save(&keys).unwrap();
        assert_eq!(file.load().unwrap(), keys);
        for damage in ["0 abc\n", "x 0101\n", "garbage\n"] {
            std::fs::write(dir.join("registry"), damage).unwrap();
            let e = file.load().unwrap_err().to_string();
            assert!(e.contains("line 1"), "{e}");
        }
        let twice = format!("1 {}\n1 {}\n", "00".repeat(32), "11".repeat(32));
        std::fs::write(dir.join("registry"), twice).unwrap();
        assert!(file.load().is_err(), "one id, two keys");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

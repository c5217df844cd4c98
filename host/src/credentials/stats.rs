//! The vault's counters (`stats.json`, 0600, next to the vault, changed only under its lock):
//! accesses granted and denied, credentials expired and purged. `ghmesh creds stats` adds the
//! number of active credentials. Counts only: no names, no values.

use super::permissions;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// The counters file's name inside the vault directory.
pub const STATS_FILE: &str = "stats.json";

/// Counters kept across runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counters {
    /// Accesses granted (`get`, `inject`).
    pub granted: u64,
    /// Accesses denied, by the component or the host's rules.
    pub denied: u64,
    /// Credentials removed by `purge-expired`.
    pub expired: u64,
    /// `store` calls.
    pub stored: u64,
    /// `rotate` calls.
    pub rotated: u64,
    /// `delete` calls that removed a credential.
    pub deleted: u64,
}

impl Counters {
    /// Reads the counters of the vault in `dir` (zero when none were written yet).
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(STATS_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => {
                permissions::check_file(&path)?;
                serde_json::from_slice(&bytes)
                    .with_context(|| format!("{} is corrupt", path.display()))
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Applies `change` and writes the counters back. Call with the vault's lock held.
    pub fn update(dir: &Path, change: impl FnOnce(&mut Self)) -> anyhow::Result<Self> {
        let mut counters = Self::load(dir)?;
        change(&mut counters);
        let path = dir.join(STATS_FILE);
        let text = serde_json::to_vec_pretty(&counters)?;
        replace_unsynced(&path, &text).with_context(|| format!("writing {}", path.display()))?;
        Ok(counters)
    }
}

/// Replaces `path` atomically (0600 temporary file, rename) but without an fsync: the counters
/// are bookkeeping, the audit log is the durable record, and a sync here cost every `get` a
/// few milliseconds. A crash may lose the last counts, never leave half a file.
fn replace_unsynced(path: &Path, text: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(text)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

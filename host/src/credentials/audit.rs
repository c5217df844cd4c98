//! The credential audit log: append-only JSONL, one record a line, each record hash-chained to
//! the one before it, so an edited, removed, reordered or cut record is found by [`verify`].
//!
//! # Format
//!
//! Each line is an [`AuditRecord`] as a compact JSON object. `hash` is the lowercase hex sha256
//! of the record's canonical form ([`AuditRecord::canonical`]: every other field, in a fixed
//! order, compact, `context` keys sorted); `prev` is the previous record's `hash`, 64 zeros for
//! the first. Records carry no value field, so a secret cannot be logged by mistake.
//!
//! # What the chain can and cannot prove
//!
//! The chain proves every record up to the last one is unchanged and in place. It cannot, alone,
//! tell a log whose last records were removed from a shorter log. So every append also replaces
//! an *anchor*, `<log>.head` (0600, atomic), holding the last sequence number and hash written;
//! [`verify`] checks the log reaches it. Whoever can write both files (the same user) can still
//! rewrite history consistently: the log is evidence against accidents and against tampering by
//! anyone who cannot also replace the anchor, not a substitute for shipping records off the host.
//! A crash in the middle of an append leaves a cut last line, which verification reports as
//! [`TamperKind::Truncated`]: the log then fails closed until an operator moves it aside.

mod chain;
mod record;

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub use chain::{Tamper, TamperKind, anchor_path};
pub use record::{Action, AuditEvent, AuditRecord, Decision, GENESIS};

use chain::{Anchor, ChainHead, walk};

/// Why the audit log could not be opened, written or read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A file operation failed.
    #[error("cannot {op} audit log {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The log (or its anchor).
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The log fails verification: nothing more is appended to it.
    #[error(
        "audit log {} failed verification, refusing to append: {tamper}; keep it as evidence \
         and move it (and its .head) aside to start a new log",
        path.display()
    )]
    Tampered {
        /// The log.
        path: PathBuf,
        /// The first problem found.
        tamper: Tamper,
    },
    /// A line could not be read as a record (by [`read_all`]).
    #[error("audit log {} line {line} is not an audit record: {why}", path.display())]
    Unreadable {
        /// The log.
        path: PathBuf,
        /// The 1-based line.
        line: u64,
        /// The parser's complaint.
        why: String,
    },
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Good records before the first problem (all of them when intact).
    pub records: u64,
    /// Sequence number of the last good record (0 when none).
    pub last_seq: u64,
    /// Hash of the last good record ([`GENESIS`] when none).
    pub last_hash: String,
    /// Sequence number the anchor file pins, when there is one.
    pub anchor_seq: Option<u64>,
    /// The first problem, `None` when the log is intact.
    pub tamper: Option<Tamper>,
}

impl VerifyReport {
    /// Whether the log verified without a problem.
    pub fn is_intact(&self) -> bool {
        self.tamper.is_none()
    }
}

/// Verifies the log at `path` and its anchor: the whole chain, the line end after the last
/// record, and that the log reaches the record the anchor saw written, with that hash. Records
/// past the anchor are accepted (an append whose anchor update failed); they are chained like the
/// rest. A missing log counts as empty, so a deleted log whose anchor is left is reported as its
/// tail removed.
pub fn verify(path: &Path) -> Result<VerifyReport, AuditError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(source) => return Err(io("read", path, source)),
    };
    Ok(check(path, &bytes))
}

/// Every record of the log at `path`, in order, without verifying the chain (for `audit show`;
/// run [`verify`] to trust them). A missing log has no records.
pub fn read_all(path: &Path) -> Result<Vec<AuditRecord>, AuditError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(io("read", path, source)),
    };
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| AuditError::Unreadable {
                path: path.to_path_buf(),
                line: i as u64 + 1,
                why: e.to_string(),
            })
        })
        .collect()
}

/// Walks `bytes` (the log at `path`) and checks the anchor.
fn check(path: &Path, bytes: &[u8]) -> VerifyReport {
    let mut head = ChainHead::genesis();
    let (anchor, anchor_problem) = match Anchor::read(path) {
        Ok(anchor) => (anchor, None),
        Err(why) => (None, Some(why)),
    };
    let mut at_anchor = None;
    let walked = walk(
        bytes,
        &mut head,
        anchor.as_ref().map(|a| (a.seq, &mut at_anchor)),
    );
    let tamper = match (walked, anchor_problem, &anchor) {
        (Err(tamper), _, _) => Some(tamper),
        (Ok(()), Some(why), _) => Some(Tamper {
            seq: head.seq,
            line: 0,
            kind: TamperKind::AnchorUnreadable(why),
        }),
        (Ok(()), None, Some(anchor)) => anchor.check(&head, at_anchor.as_deref()).err(),
        (Ok(()), None, None) => None,
    };
    VerifyReport {
        records: head.seq,
        last_seq: head.seq,
        last_hash: head.hash,
        anchor_seq: anchor.map(|a| a.seq),
        tamper,
    }
}

/// An open audit log that appends records.
///
/// Appends from several processes interleave safely: each holds an exclusive lock on the file
/// while it reads what others appended since, chains its record to the true last one, writes
/// and syncs it, and updates the anchor.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: File,
    /// The last record this handle knows of.
    head: ChainHead,
    /// The file length that `head` accounts for.
    len: u64,
}

impl AuditLog {
    /// Opens (creating it 0600, in a 0700 directory, when missing) the log at `path` and
    /// verifies it; a log that fails verification is refused with [`AuditError::Tampered`].
    pub fn open(path: &Path) -> Result<Self, AuditError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::private_fs::create_private_dir(dir).map_err(|e| io("create", dir, e))?;
        }
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| io("open", path, e))?;
        let mut log = Self {
            path: path.to_path_buf(),
            file,
            head: ChainHead::genesis(),
            len: 0,
        };
        let lock = FileLock::take(&log.file, &log.path)?;
        log.reload()?;
        drop(lock);
        Ok(log)
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sequence number of the last record this handle has seen (0 for an empty log).
    pub fn last_seq(&self) -> u64 {
        self.head.seq
    }

    /// Appends `event` as the next record, durably (fsync), and returns its sequence number.
    pub fn append(&mut self, event: AuditEvent) -> Result<u64, AuditError> {
        self.append_all(vec![event])
    }

    /// Appends `events` as consecutive records in one write, made durable by one fsync (one
    /// anchor update), and returns the last sequence number. An `inject` of ten credentials
    /// records ten decisions; syncing each alone cost more than everything else it does.
    pub fn append_all(&mut self, events: Vec<AuditEvent>) -> Result<u64, AuditError> {
        if events.is_empty() {
            return Ok(self.head.seq);
        }
        let _lock = FileLock::take(&self.file, &self.path)?;
        self.catch_up()?;
        let now = crate::clock::unix_now();
        let mut head = self.head.clone();
        let mut lines = String::new();
        for event in events {
            let record = AuditRecord::new(head.seq + 1, now, event, head.hash.clone());
            lines.push_str(&record.to_line());
            head = ChainHead {
                seq: record.seq,
                hash: record.hash,
                lines: head.lines + 1,
            };
        }
        (&self.file)
            .write_all(lines.as_bytes())
            .and_then(|()| self.file.sync_data())
            .map_err(|e| io("append to", &self.path, e))?;
        self.head = head;
        self.len += lines.len() as u64;
        // The records are durable already; a stale anchor only weakens tail detection (a log may
        // run past its anchor), so a failure here is reported, not turned into a failed append.
        let anchor = Anchor {
            seq: self.head.seq,
            hash: self.head.hash.clone(),
        };
        if let Err(e) = anchor.write(&self.path) {
            tracing::warn!(log = %self.path.display(), error = %e, "cannot update the audit log's anchor");
        }
        Ok(self.head.seq)
    }

    /// Brings `head` up to the end of the file (others may have appended since), verifying what
    /// it reads. Called with the lock held.
    fn catch_up(&mut self) -> Result<(), AuditError> {
        let len = self
            .file
            .metadata()
            .map_err(|e| io("stat", &self.path, e))?
            .len();
        if len < self.len {
            // Shrunk under us: only a full check can say what happened.
            return self.reload();
        }
        let mut fresh = vec![0; (len - self.len) as usize];
        std::os::unix::fs::FileExt::read_exact_at(&self.file, &mut fresh, self.len)
            .map_err(|e| io("read", &self.path, e))?;
        walk(&fresh, &mut self.head, None).map_err(|tamper| self.tampered(tamper))?;
        self.len = len;
        Ok(())
    }

    /// Reads and verifies the whole log (and its anchor). Called with the lock held.
    fn reload(&mut self) -> Result<(), AuditError> {
        let mut bytes = Vec::new();
        let mut reader = &self.file;
        std::io::Seek::rewind(&mut reader).map_err(|e| io("read", &self.path, e))?;
        reader
            .read_to_end(&mut bytes)
            .map_err(|e| io("read", &self.path, e))?;
        let report = check(&self.path, &bytes);
        if let Some(tamper) = report.tamper {
            return Err(self.tampered(tamper));
        }
        self.head = ChainHead {
            seq: report.last_seq,
            hash: report.last_hash,
            lines: report.records,
        };
        self.len = bytes.len() as u64;
        Ok(())
    }

    fn tampered(&self, tamper: Tamper) -> AuditError {
        AuditError::Tampered {
            path: self.path.clone(),
            tamper,
        }
    }
}

/// An exclusive lock on the log file, released on drop (also on every error path). It holds a
/// duplicate of the file's descriptor: the lock belongs to the shared open file description, and
/// the log stays free to be borrowed mutably while locked.
struct FileLock(File);

impl FileLock {
    fn take(file: &File, path: &Path) -> Result<Self, AuditError> {
        let dup = file.try_clone().map_err(|e| io("lock", path, e))?;
        dup.lock().map_err(|e| io("lock", path, e))?;
        Ok(Self(dup))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

fn io(op: &'static str, path: &Path, source: std::io::Error) -> AuditError {
    AuditError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests;

//! Walking the chain: every line parses, numbers run 1, 2, 3 …, each `prev` is the hash before
//! it, each `hash` is its record's canonical hash, and the file ends with a line end. Also the
//! anchor file that pins the last record written.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::record::{AuditRecord, GENESIS};

/// The first problem found in a log, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tamper {
    /// The sequence number expected where the problem was found (the first bad one).
    pub seq: u64,
    /// The 1-based line of the file where it was found (0 for a problem with the anchor).
    pub line: u64,
    /// What is wrong.
    pub kind: TamperKind,
}

/// What is wrong with a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TamperKind {
    /// The line is not an audit record (not JSON, a missing or unknown field).
    Unreadable(String),
    /// The file does not end with a line end: the last record was cut short (a crash while
    /// writing, or a truncated file).
    Truncated,
    /// A record carries another sequence number: records were removed, reordered or repeated.
    OutOfSequence {
        /// The number the line carries.
        found: u64,
    },
    /// `prev` is not the previous record's hash: a record before it was removed or replaced.
    BrokenChain,
    /// The record's content does not match its hash: it was edited.
    Edited,
    /// The anchor names a later record than the log holds: its tail was removed.
    TailRemoved {
        /// The last sequence number the anchor saw written.
        anchor_seq: u64,
        /// The last sequence number in the log.
        last_seq: u64,
    },
    /// The record the anchor names has another hash: the log was rewritten from there on.
    AnchorMismatch,
    /// The anchor file exists but cannot be read.
    AnchorUnreadable(String),
}

impl fmt::Display for Tamper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self { seq, line, kind } = self;
        match kind {
            TamperKind::Unreadable(why) => {
                write!(
                    f,
                    "record {seq} (line {line}) is not an audit record: {why}"
                )
            }
            TamperKind::Truncated => write!(
                f,
                "record {seq} (line {line}) is cut short: the file does not end with a line end"
            ),
            TamperKind::OutOfSequence { found } => write!(
                f,
                "line {line} holds record {found} where record {seq} belongs: records were \
                 removed, reordered or repeated"
            ),
            TamperKind::BrokenChain => write!(
                f,
                "record {seq} (line {line}) does not chain to the record before it: an earlier \
                 record was removed or replaced"
            ),
            TamperKind::Edited => write!(
                f,
                "record {seq} (line {line}) does not match its hash: it was edited"
            ),
            TamperKind::TailRemoved {
                anchor_seq,
                last_seq,
            } => write!(
                f,
                "the log ends at record {last_seq} but its anchor saw record {anchor_seq} \
                 written: records from {seq} on were removed"
            ),
            TamperKind::AnchorMismatch => write!(
                f,
                "record {seq} differs from the one its anchor saw written: the log was rewritten"
            ),
            TamperKind::AnchorUnreadable(why) => write!(f, "the anchor file is unreadable: {why}"),
        }
    }
}

/// Where a walk stands: the last good record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ChainHead {
    /// Sequence number of the last record (0 for an empty log).
    pub seq: u64,
    /// Its hash ([`GENESIS`] for an empty log).
    pub hash: String,
    /// Lines read so far.
    pub lines: u64,
}

impl ChainHead {
    /// The head of an empty log.
    pub fn genesis() -> Self {
        Self {
            seq: 0,
            hash: GENESIS.to_string(),
            lines: 0,
        }
    }
}

/// Continues the chain from `head` over `bytes` (whole lines following it), advancing `head`
/// past every good record. `watch` asks for the hash of one sequence number on the way.
pub(super) fn walk(
    bytes: &[u8],
    head: &mut ChainHead,
    mut watch: Option<(u64, &mut Option<String>)>,
) -> Result<(), Tamper> {
    let mut rest = bytes;
    while !rest.is_empty() {
        let expected = head.seq + 1;
        let line_no = head.lines + 1;
        let tamper = |kind| Tamper {
            seq: expected,
            line: line_no,
            kind,
        };
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            return Err(tamper(TamperKind::Truncated));
        };
        let (line, tail) = (&rest[..end], &rest[end + 1..]);
        rest = tail;
        let record: AuditRecord = serde_json::from_slice(line)
            .map_err(|e| tamper(TamperKind::Unreadable(e.to_string())))?;
        if record.seq != expected {
            return Err(tamper(TamperKind::OutOfSequence { found: record.seq }));
        }
        if record.prev != head.hash {
            return Err(tamper(TamperKind::BrokenChain));
        }
        if record.compute_hash() != record.hash {
            return Err(tamper(TamperKind::Edited));
        }
        if let Some((seq, slot)) = watch.as_mut()
            && *seq == record.seq
        {
            **slot = Some(record.hash.clone());
        }
        head.seq = record.seq;
        head.hash = record.hash;
        head.lines = line_no;
    }
    Ok(())
}

/// The last record written, as the anchor file `<log>.head` keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Anchor {
    /// Sequence number of the last record appended.
    pub seq: u64,
    /// Its hash.
    pub hash: String,
}

/// `<log>.head`: the anchor's path for the log at `log`.
pub fn anchor_path(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_os_string();
    name.push(".head");
    PathBuf::from(name)
}

impl Anchor {
    /// Reads the anchor of `log`; `Ok(None)` when there is none.
    pub fn read(log: &Path) -> Result<Option<Self>, String> {
        match std::fs::read(anchor_path(log)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| e.to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Replaces the anchor of `log` atomically (0600).
    pub fn write(&self, log: &Path) -> std::io::Result<()> {
        let mut json = serde_json::to_vec(self).expect("an anchor serializes");
        json.push(b'\n');
        crate::private_fs::write_private_atomic(&anchor_path(log), &[&json])
    }

    /// Checks a fully walked log against this anchor; `hash_at_anchor` is the hash the walk saw
    /// at `self.seq`.
    pub fn check(&self, head: &ChainHead, hash_at_anchor: Option<&str>) -> Result<(), Tamper> {
        if head.seq < self.seq {
            return Err(Tamper {
                seq: head.seq + 1,
                line: 0,
                kind: TamperKind::TailRemoved {
                    anchor_seq: self.seq,
                    last_seq: head.seq,
                },
            });
        }
        // An empty anchor (seq 0) pins nothing but the genesis.
        let matches = match self.seq {
            0 => self.hash == GENESIS,
            _ => hash_at_anchor == Some(self.hash.as_str()),
        };
        if !matches {
            return Err(Tamper {
                seq: self.seq,
                line: 0,
                kind: TamperKind::AnchorMismatch,
            });
        }
        Ok(())
    }
}

//! A full check of the store for operators (`ghmesh cache verify`): every blob against its CID,
//! every entry against the blob it names. Read-only; the serving path removes what it finds bad
//! on its own (see [`super::Store::get`]).

use super::cid;
use super::entry::EntryMeta;
use super::error::Fault;
use super::tables::{BLOBS, ENTRIES};
use redb::{ReadTransaction, ReadableTable};
use serde::Serialize;
use std::collections::BTreeMap;

/// What [`super::Store::verify_all`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Blobs hashed.
    pub blobs_checked: u64,
    /// Bytes hashed.
    pub bytes_checked: u64,
    /// Blobs whose bytes do not hash to their CID, with the entries that use them.
    pub corrupt: Vec<CorruptBlob>,
    /// Entries naming a blob the store does not hold.
    pub missing_blobs: Vec<String>,
    /// Entries whose index row does not decode.
    pub unreadable_entries: Vec<String>,
}

/// A blob that failed its CID check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CorruptBlob {
    /// The CID it is stored under.
    pub cid: String,
    /// Keys of the entries that use it.
    pub keys: Vec<String>,
}

impl VerifyReport {
    /// Whether nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.corrupt.is_empty()
            && self.missing_blobs.is_empty()
            && self.unreadable_entries.is_empty()
    }
}

/// Checks everything visible in `txn` (one snapshot: writers are not blocked meanwhile).
pub(super) fn verify(txn: &ReadTransaction) -> Result<VerifyReport, Fault> {
    let mut report = VerifyReport::default();
    let mut users: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in txn.open_table(ENTRIES)?.iter()? {
        let (key, value) = row?;
        let key = key.value().to_owned();
        match EntryMeta::decode(value.value()) {
            Some(meta) => users.entry(meta.cid).or_default().push(key),
            None => report.unreadable_entries.push(key),
        }
    }
    let blobs = txn.open_table(BLOBS)?;
    for row in blobs.iter()? {
        let (cid, body) = row?;
        let (cid, body) = (cid.value(), body.value());
        report.blobs_checked += 1;
        report.bytes_checked += body.len() as u64;
        if !cid::verify(cid, body) {
            report.corrupt.push(CorruptBlob {
                cid: cid.to_owned(),
                keys: users.get(cid).cloned().unwrap_or_default(),
            });
        }
    }
    for (cid, keys) in &users {
        if blobs.get(cid.as_str())?.is_none() {
            report.missing_blobs.extend(keys.iter().cloned());
        }
    }
    Ok(report)
}

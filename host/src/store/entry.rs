//! One index entry: what the proxy needs to answer a request from the store without the body
//! (status, headers, freshness, validators, sharing scope) plus the CID that names the body.
//!
//! Rows are encoded with postcard: compact (varints, no field names, which matters at 100 000
//! entries with a dozen headers each) and fast, through plain serde derives. It is not
//! self-describing, so any change to these types must bump [`super::tables::FORMAT_VERSION`]; a
//! store written in another format is emptied on open (it is only a cache). bincode is avoided
//! as unmaintained; serde_json would store every field name in every row.

use serde::{Deserialize, Serialize};

/// Who may be served an entry, as decided by the cache policy when it was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Share {
    /// Only requests made with the same token (same `token_partition`).
    Token,
    /// Any token, but only after a conditional revalidation with the requester's own token.
    Revalidate,
    /// Anyone in the fleet, as stored.
    Fleet,
}

/// A stored response as the index knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryMeta {
    /// Opaque request key chosen by the caller (the proxy).
    pub key: String,
    /// HTTP method of the request.
    pub method: String,
    /// Lowercase API path without a trailing `/`, e.g. `/repos/o/r/issues`; writes invalidate by
    /// it (see [`super::Store::invalidate`]).
    pub path: String,
    /// Query string of the request, as the caller normalised it.
    pub query: String,
    /// HTTP status of the stored response.
    pub status: u16,
    /// Response headers worth replaying (the proxy strips anything credential-bearing).
    pub headers: Vec<(String, String)>,
    /// Text form of the body's CID (see [`super::body_cid`]).
    pub cid: String,
    /// Body length in bytes.
    pub size: u64,
    /// Unix seconds when the response was fetched or last revalidated.
    pub fetched_at: u64,
    /// Freshness lifetime from `fetched_at`, in seconds.
    pub ttl_secs: u32,
    /// `ETag` validator, if upstream sent one.
    pub etag: Option<String>,
    /// `Last-Modified` validator, if upstream sent one.
    pub last_modified: Option<String>,
    /// Hash identifying the token the response was fetched with; never the credential itself.
    pub token_partition: String,
    /// Who may be served this entry.
    pub share: Share,
    /// Operation class the policy assigned (e.g. `workflow-runs`), for stats and TTLs.
    pub operation: String,
    /// Unix seconds of the last use, kept to a minute's precision (see [`super::Store::get`]).
    pub last_access: u64,
}

/// An entry to store: [`EntryMeta`] without what the store derives itself (CID, size, access
/// time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// See [`EntryMeta::key`].
    pub key: String,
    /// See [`EntryMeta::method`].
    pub method: String,
    /// See [`EntryMeta::path`]; lowercased and stripped of a trailing `/` when stored.
    pub path: String,
    /// See [`EntryMeta::query`].
    pub query: String,
    /// See [`EntryMeta::status`].
    pub status: u16,
    /// See [`EntryMeta::headers`].
    pub headers: Vec<(String, String)>,
    /// See [`EntryMeta::fetched_at`].
    pub fetched_at: u64,
    /// See [`EntryMeta::ttl_secs`].
    pub ttl_secs: u32,
    /// See [`EntryMeta::etag`].
    pub etag: Option<String>,
    /// See [`EntryMeta::last_modified`].
    pub last_modified: Option<String>,
    /// See [`EntryMeta::token_partition`].
    pub token_partition: String,
    /// See [`EntryMeta::share`].
    pub share: Share,
    /// See [`EntryMeta::operation`].
    pub operation: String,
}

impl EntryMeta {
    /// Completes a [`NewEntry`] with what the store derived from the body and the clock.
    pub(super) fn from_new(new: NewEntry, cid: String, size: u64, last_access: u64) -> Self {
        EntryMeta {
            key: new.key,
            method: new.method,
            path: new.path,
            query: new.query,
            status: new.status,
            headers: new.headers,
            cid,
            size,
            fetched_at: new.fetched_at,
            ttl_secs: new.ttl_secs,
            etag: new.etag,
            last_modified: new.last_modified,
            token_partition: new.token_partition,
            share: new.share,
            operation: new.operation,
            last_access,
        }
    }

    /// Unix second after which the entry is stale.
    pub fn expires_at(&self) -> u64 {
        self.fetched_at.saturating_add(u64::from(self.ttl_secs))
    }

    /// Whether the entry is still within its TTL at `now`.
    pub fn is_fresh(&self, now: u64) -> bool {
        now < self.expires_at()
    }

    /// The index row.
    pub(super) fn encode(&self) -> Result<Vec<u8>, postcard::Error> {
        postcard::to_allocvec(self)
    }

    /// Reads an index row; `None` for a row this version cannot read.
    pub(super) fn decode(bytes: &[u8]) -> Option<Self> {
        postcard::from_bytes(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_round_trips_and_garbage_is_refused() {
        let meta = EntryMeta {
            key: "k".into(),
            method: "GET".into(),
            path: "/repos/o/r".into(),
            query: "per_page=100".into(),
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            cid: "bafk".into(),
            size: 3,
            fetched_at: 1_700_000_000,
            ttl_secs: 300,
            etag: Some("\"abc\"".into()),
            last_modified: None,
            token_partition: "p".into(),
            share: Share::Revalidate,
            operation: "repo".into(),
            last_access: 1_700_000_001,
        };
        let row = meta.encode().unwrap();
        assert_eq!(EntryMeta::decode(&row), Some(meta.clone()));
        assert_eq!(EntryMeta::decode(&[0xff; 3]), None);
        assert!(meta.is_fresh(1_700_000_299));
        assert!(!meta.is_fresh(1_700_000_300));
    }
}

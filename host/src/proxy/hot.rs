//! The memory layer in front of the store (lookup order: memory -> store -> upstream). A hit here
//! costs no blocking task, no database transaction and no re-hash: bodies enter only after the
//! store verified them against their CID, or straight from GitHub.
//!
//! Writes invalidate by path, which this layer has no index for, so any invalidation empties it
//! (writes are rare next to reads). A generation number keeps a request that read the store
//! before an invalidation from putting the old entry back afterwards.
//!
//! A fetched response enters here before its write-behind put is committed to the store, so
//! the requests right after it hit; if that put fails, [`HotCache::forget`] takes it back out.

use crate::store::EntryMeta;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes of bodies and headers kept in memory.
const HOT_BYTES: u64 = 64 << 20;

/// A verified entry ready to serve.
pub struct HotEntry {
    /// Its index metadata.
    pub meta: EntryMeta,
    /// Its body.
    pub body: Bytes,
    /// `meta.headers` parsed once, so a hit clones a map instead of re-parsing every header.
    pub headers: HeaderMap,
    /// The last access time recorded in the store for this entry (Unix seconds): hits from
    /// memory tell the store about themselves once a granule, so eviction sees them.
    pub recorded_access: AtomicU64,
}

impl HotEntry {
    /// An entry with its headers parsed.
    pub fn new(meta: EntryMeta, body: Bytes) -> Self {
        let headers = header_map(&meta.headers);
        Self {
            recorded_access: AtomicU64::new(meta.last_access),
            meta,
            body,
            headers,
        }
    }
}

/// Stored headers as a map; a name or value that does not parse (never one GitHub sent) is left
/// out.
pub fn header_map(stored: &[(String, String)]) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(stored.len() + 3);
    for (name, value) in stored {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(name, value);
        }
    }
    headers
}

/// The memory layer.
pub struct HotCache {
    entries: moka::sync::Cache<String, Arc<HotEntry>>,
    generation: AtomicU64,
}

impl Default for HotCache {
    fn default() -> Self {
        let entries = moka::sync::Cache::builder()
            .max_capacity(HOT_BYTES)
            .weigher(|key: &String, entry: &Arc<HotEntry>| {
                let headers: usize = entry
                    .meta
                    .headers
                    .iter()
                    .map(|(n, v)| n.len() + v.len())
                    .sum();
                u32::try_from(key.len() + entry.body.len() + headers).unwrap_or(u32::MAX)
            })
            .build();
        Self {
            entries,
            generation: AtomicU64::new(0),
        }
    }
}

impl HotCache {
    /// The current generation; pass it back to [`HotCache::insert`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The entry for `key`, if held.
    pub fn get(&self, key: &str) -> Option<Arc<HotEntry>> {
        self.entries.get(key)
    }

    /// Keeps an entry, unless an invalidation happened since `generation` was read.
    pub fn insert(&self, generation: u64, meta: EntryMeta, body: Bytes) {
        self.insert_entry(generation, Arc::new(HotEntry::new(meta, body)));
    }

    /// [`HotCache::insert`] for an entry already built.
    pub fn insert_entry(&self, generation: u64, entry: Arc<HotEntry>) {
        if self.generation() == generation {
            self.entries.insert(entry.meta.key.clone(), entry);
        }
    }

    /// Drops `key` if it still holds body `cid`: a write-behind put that failed, which memory
    /// must not go on serving. A newer entry under the key (another body) is kept.
    pub fn forget(&self, key: &str, cid: &str) {
        if self
            .entries
            .get(key)
            .is_some_and(|held| held.meta.cid == cid)
        {
            self.entries.invalidate(key);
        }
    }

    /// Drops whatever memory holds under `key` (the store evicted it).
    pub fn forget_key(&self, key: &str) {
        self.entries.invalidate(key);
    }

    /// Forgets everything (after a write invalidated entries in the store).
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.entries.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Share;

    fn meta(key: &str) -> EntryMeta {
        EntryMeta {
            key: key.into(),
            method: "GET".into(),
            path: "/repos/o/r".into(),
            query: String::new(),
            status: 200,
            headers: vec![],
            cid: String::new(),
            size: 2,
            fetched_at: 0,
            ttl_secs: 60,
            etag: None,
            last_modified: None,
            token_partition: "p".into(),
            share: Share::Revalidate,
            operation: "repo".into(),
            last_access: 0,
        }
    }

    #[test]
    fn an_insert_that_raced_an_invalidation_is_dropped() {
        let hot = HotCache::default();
        let before = hot.generation();
        hot.clear();
        hot.insert(before, meta("k"), Bytes::from_static(b"{}"));
        assert!(hot.get("k").is_none());
        hot.insert(hot.generation(), meta("k"), Bytes::from_static(b"{}"));
        assert_eq!(hot.get("k").unwrap().body, Bytes::from_static(b"{}"));
        hot.clear();
        assert!(hot.get("k").is_none());
    }

    #[test]
    fn forget_drops_only_the_body_that_failed_to_store() {
        let hot = HotCache::default();
        let stored = EntryMeta {
            cid: "new".into(),
            ..meta("k")
        };
        hot.insert(hot.generation(), stored, Bytes::from_static(b"{}"));
        hot.forget("k", "old");
        assert!(hot.get("k").is_some(), "a newer body stays");
        hot.forget("k", "new");
        assert!(hot.get("k").is_none());
    }
}

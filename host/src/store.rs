//! Content-addressed response store: bodies under their CID (sha2-256, raw codec), stored once
//! however many entries share them, and an index (request key -> status, headers, CID,
//! freshness, validators, token partition) in one embedded ACID database (redb).
//!
//! - **Integrity**: `get` rehashes every body it returns; a body that no longer matches its CID
//!   is removed with every entry using it and reported as a miss, so it is refetched, never
//!   served.
//! - **Durability**: every change goes through one writer thread (`store/writer.rs`) that commits
//!   all writes waiting at that moment in one transaction with [`redb::Durability::Immediate`]
//!   (group commit: one fsync per batch, not per write). A synchronous call (`put`, `refresh`,
//!   `invalidate`, ...) returns only after the commit holding its write, so an entry `put` returned
//!   for survives `kill -9` and power loss, and a crash mid-burst leaves the last committed state,
//!   never a torn one. [`Store::enqueue_put`] returns at once (write-behind); its [`Ticket`] says
//!   when the entry is durable. Access-time updates, which may be lost harmlessly, are queued
//!   without waiting and skip the fsync when alone in a batch.
//! - **Bounds**: entries and distinct body bytes, enforced in the same transaction as the `put`
//!   that exceeded them by evicting least recently used entries ([`StoreLimits`]).
//! - **Concurrency**: [`Store`] is `Send + Sync` and a cheap `Clone` (an `Arc` inside); reads run
//!   in parallel on their own snapshots, writes land in the order they were queued. Calls block
//!   on disk I/O: async callers use `tokio::task::spawn_blocking` for anything that writes (a
//!   write waited for on an async worker thread panics rather than stall it), or
//!   [`Ticket::done`]. The writer stops, after committing everything queued, when the last clone
//!   drops.
//!
//! The store knows nothing of HTTP servers, the mesh or wasmtime: keys are opaque strings and
//! freshness is arithmetic on the values the caller stored.

mod cid;
mod entry;
mod error;
mod eviction;
mod index;
mod paths;
mod queue;
mod tables;
#[cfg(test)]
mod tests;
mod ticket;
mod verify;
mod writer;

pub use self::cid::{RAW_CODEC, SHA2_256, body_cid, verify};
pub use entry::{EntryMeta, NewEntry, Share};
pub use error::StoreError;
pub use eviction::StoreLimits;
pub use ticket::Ticket;
pub use verify::{CorruptBlob, VerifyReport};
pub use writer::WriteStats;

use crate::clock::unix_now;
use bytes::Bytes;
use error::Fault;
use index::{Index, Row};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tables::{BLOBS, ENTRIES, INFO, INFO_BLOB_BYTES, LRU, Prepared};
use writer::Writer;

/// Name of the database file inside the store directory.
pub const DB_FILE: &str = "store.redb";

/// A hit rewrites `last_access` only when the stored value is at least this old, so a hot entry
/// costs one small write a minute instead of one per request. LRU order is therefore coarse:
/// entries used within the same minute count as equally recent.
pub const ACCESS_GRANULARITY_SECS: u64 = 60;

/// Counts for `ghmesh cache stats` and the proxy's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct StoreStats {
    /// Index entries (request keys).
    pub entries: u64,
    /// Distinct bodies.
    pub blobs: u64,
    /// Bytes of distinct bodies (what `max_bytes` bounds).
    pub bytes: u64,
    /// Size of the database file; `None` for an in-memory store.
    pub db_file_bytes: Option<u64>,
}

/// A put queued by [`Store::enqueue_put`]: the entry as it will be stored, and the ticket that
/// resolves once it is durable.
#[derive(Debug)]
pub struct QueuedPut {
    /// The entry, complete with CID, size and access time, computed before queueing.
    pub meta: EntryMeta,
    /// Resolves once the commit holding the entry is durable — with the keys that put evicted
    /// to stay within the limits — or with the error that stopped it.
    pub ticket: Ticket<Vec<String>>,
}

/// The response store. Clones share one database and one writer.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    /// Every write goes through it. Declared first so it is dropped (flushed and joined) first.
    writer: Writer,
    /// Shared with the writer thread; reads use it directly.
    db: Arc<Database>,
    /// The database file, or `<memory>`: named in every error.
    path: Arc<Path>,
    persistent: bool,
    limits: StoreLimits,
    /// Unix seconds; replaceable so tests can age entries.
    clock: Box<dyn Fn() -> u64 + Send + Sync>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) the store in `dir`: the directory is created 0700, the database file
    /// `dir/store.redb` is 0600 (bodies may come from private repositories). A damaged file is
    /// [`StoreError::Corrupt`], a database that is not a store [`StoreError::NotAStore`], one
    /// held by another process [`StoreError::Locked`]. A store of another format version is
    /// emptied (it is only a cache).
    pub fn open(dir: &Path, limits: StoreLimits) -> Result<Store, StoreError> {
        Self::open_with_clock(dir, limits, Box::new(unix_now))
    }

    /// A store in memory only (`cache.persistence: false`), gone when the last clone drops.
    pub fn in_memory(limits: StoreLimits) -> Result<Store, StoreError> {
        Self::in_memory_with_clock(limits, Box::new(unix_now))
    }

    fn open_with_clock(
        dir: &Path,
        limits: StoreLimits,
        clock: Box<dyn Fn() -> u64 + Send + Sync>,
    ) -> Result<Store, StoreError> {
        limits.validate()?;
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io { path, source }
        };
        create_private_dir(dir).map_err(io(dir))?;
        let path = dir.join(DB_FILE);
        create_private_file(&path).map_err(io(&path))?;
        // A file damaged outside redb (disk fault, a bad cache restore) can make a plain open
        // panic; the check turns that into `Corrupt`. It reads the whole file once per open:
        // ~0.1 s for a 200 MB store (release build), paid at proxy start, not per request.
        let db = redb::Builder::new()
            .set_check_integrity_on_open(true)
            .create(&path)
            .map_err(|e| Fault::from(e).at(&path))?;
        Self::prepare(db, path, true, limits, clock)
    }

    fn in_memory_with_clock(
        limits: StoreLimits,
        clock: Box<dyn Fn() -> u64 + Send + Sync>,
    ) -> Result<Store, StoreError> {
        limits.validate()?;
        let path = PathBuf::from("<memory>");
        let db = redb::Builder::new()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|e| Fault::from(e).at(&path))?;
        Self::prepare(db, path, false, limits, clock)
    }

    fn prepare(
        db: Database,
        path: PathBuf,
        persistent: bool,
        limits: StoreLimits,
        clock: Box<dyn Fn() -> u64 + Send + Sync>,
    ) -> Result<Store, StoreError> {
        let prepared = (|| -> Result<Prepared, Fault> {
            let txn = db.begin_write()?;
            let prepared = tables::prepare(&txn)?;
            match prepared {
                // Leave a foreign file exactly as it was.
                Prepared::Foreign { .. } => txn.abort()?,
                _ => txn.commit()?,
            }
            Ok(prepared)
        })()
        .map_err(|e| e.at(&path))?;
        match prepared {
            Prepared::Foreign { tables } => {
                return Err(StoreError::NotAStore {
                    reason: format!("it holds tables {tables:?} and no store format marker"),
                    path,
                });
            }
            Prepared::Reset { found } => tracing::warn!(
                path = %path.display(),
                found,
                expected = tables::FORMAT_VERSION,
                "store written in another format: emptied"
            ),
            Prepared::Ready => {}
        }
        let db = Arc::new(db);
        let path: Arc<Path> = path.into();
        Ok(Store {
            inner: Arc::new(Inner {
                writer: Writer::spawn(db.clone(), path.clone())?,
                db,
                path,
                persistent,
                limits,
                clock,
            }),
        })
    }

    /// The database file (or `<memory>`).
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The bounds this store was opened with.
    pub fn limits(&self) -> StoreLimits {
        self.inner.limits
    }

    fn now(&self) -> u64 {
        (self.inner.clock)()
    }

    /// Queues `f` to the writer and waits until the commit holding it is durable. `f` may run
    /// twice (a failed batch is redone write by write), each time in a fresh transaction.
    fn write<T: Send + 'static>(
        &self,
        what: &'static str,
        f: impl FnMut(&mut Index<'_>) -> Result<T, Fault> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.inner.writer.submit(what, true, 0, f).wait()
    }

    /// Runs `f` on one read snapshot.
    fn read<T>(
        &self,
        f: impl FnOnce(&redb::ReadTransaction) -> Result<T, Fault>,
    ) -> Result<T, StoreError> {
        (|| f(&self.inner.db.begin_read()?))().map_err(|e: Fault| e.at(&self.inner.path))
    }

    /// Stores a response: the body under its CID (once, however many entries share it), the
    /// entry under `new.key` (replacing and releasing any previous one), then evicts least
    /// recently used entries while over a bound — all in one transaction, and returns once that
    /// is durable. A body larger than `max_bytes` is refused with [`StoreError::TooLarge`], an
    /// unindexable path with [`StoreError::InvalidEntry`], leaving the store unchanged.
    pub fn put(&self, new: NewEntry, body: &[u8]) -> Result<EntryMeta, StoreError> {
        let queued = self.enqueue_put(new, Bytes::copy_from_slice(body))?;
        queued.ticket.wait()?;
        Ok(queued.meta)
    }

    /// Queues a [`Store::put`] and returns at once (write-behind) with the entry as it will be
    /// stored. The entry is readable once the ticket resolves `Ok`; until then [`Store::get`]
    /// may still miss it. A crash before then loses it (the store keeps its last committed
    /// state). The same checks as `put` run before queueing, so their errors come back here;
    /// only database failures come through the ticket. Waits only while the write queue is full.
    pub fn enqueue_put(&self, new: NewEntry, body: Bytes) -> Result<QueuedPut, StoreError> {
        let size = body.len() as u64;
        let max = self.inner.limits.max_bytes;
        if size > max {
            return Err(StoreError::TooLarge { size, max });
        }
        let new = NewEntry {
            path: paths::normalize(&new.path),
            ..new
        };
        paths::check(&new.path).map_err(|reason| StoreError::InvalidEntry { reason })?;
        let cid = body_cid(&body).to_string();
        let meta = EntryMeta::from_new(new, cid, size, self.now());
        let (stored, limits) = (meta.clone(), self.inner.limits);
        let weight = body.len();
        let ticket = self.inner.writer.submit("put", true, weight, move |ix| {
            ix.insert(&stored, &body)?;
            let evicted = eviction::evict(ix, &limits, &stored.key)?;
            if !evicted.is_empty() {
                tracing::debug!(
                    evicted = evicted.len(),
                    "store over its limits: evicted least recently used"
                );
            }
            Ok(evicted)
        });
        Ok(QueuedPut { meta, ticket })
    }

    /// Waits until every write queued before this call is durable (including access times).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.write("flush", |_| Ok(()))
    }

    /// What the writer has done so far: commits against writes shows the batching.
    pub fn write_stats(&self) -> WriteStats {
        self.inner.writer.stats()
    }

    /// The entry under `key` with its body, after checking the body against its CID. A body
    /// that fails the check (or is missing, or an entry that does not decode) is logged, removed
    /// and reported as `Ok(None)` so the caller refetches: a corrupt body is never served.
    ///
    /// A hit records its access time only when the stored one is older than
    /// [`ACCESS_GRANULARITY_SECS`], queued without waiting for it (and skipped when the write
    /// queue is full): losing it in a crash only makes LRU order slightly older, and most hits
    /// stay read-only. The returned entry carries the new access time.
    pub fn get(&self, key: &str) -> Result<Option<(EntryMeta, Vec<u8>)>, StoreError> {
        let (mut meta, body) = match self.lookup(key)? {
            Lookup::Absent => return Ok(None),
            Lookup::Unservable(why) => {
                tracing::warn!(key, "store entry {why}: removed");
                let key = key.to_owned();
                self.write("remove unservable", move |ix| ix.remove_if_unservable(&key))?;
                return Ok(None);
            }
            Lookup::Found(meta, body) => (*meta, body),
        };
        if !verify(&meta.cid, &body) {
            tracing::warn!(key, cid = %meta.cid, "stored body does not match its CID: removed");
            let cid = meta.cid;
            self.write("purge corrupt", move |ix| ix.purge_if_corrupt(&cid))?;
            return Ok(None);
        }
        let now = self.now();
        if now.saturating_sub(meta.last_access) >= ACCESS_GRANULARITY_SECS {
            if self.touch(key, &meta.cid, now) {
                meta.last_access = now;
            } else {
                // A lost access time only ages the entry; the hit itself is fine.
                tracing::debug!(key, "store write queue full: access time not recorded");
            }
        }
        Ok(Some((meta, body)))
    }

    /// Reads an entry and its body in one snapshot.
    fn lookup(&self, key: &str) -> Result<Lookup, StoreError> {
        self.read(|txn| {
            let entries = txn.open_table(ENTRIES)?;
            let Some(row) = entries.get(key)? else {
                return Ok(Lookup::Absent);
            };
            let Some(meta) = EntryMeta::decode(row.value()) else {
                return Ok(Lookup::Unservable("does not decode"));
            };
            let body = txn.open_table(BLOBS)?.get(meta.cid.as_str())?;
            Ok(match body {
                Some(body) => Lookup::Found(Box::new(meta), body.value().to_vec()),
                None => Lookup::Unservable("names a missing body"),
            })
        })
    }

    /// The body named `cid`, if held and intact (a body failing its CID check is never returned;
    /// [`Store::get`] of an entry naming it removes it).
    pub fn body(&self, cid: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let body = self.read(|txn| {
            let blobs = txn.open_table(BLOBS)?;
            Ok(blobs.get(cid)?.map(|body| body.value().to_vec()))
        })?;
        Ok(body.filter(|body| verify(cid, body)))
    }

    /// Records a use of `key` (holding body `cid`) that did not go through [`Store::get`] — a
    /// hit answered from a memory layer — so least-recently-used eviction sees it. Queued
    /// without waiting or fsync; `last_access` is the access time the caller last recorded, and
    /// nothing is queued within [`ACCESS_GRANULARITY_SECS`] of it. Returns the access time now
    /// recorded, if one was queued.
    pub fn record_access(&self, key: &str, cid: &str, last_access: u64) -> Option<u64> {
        let now = self.now();
        (now.saturating_sub(last_access) >= ACCESS_GRANULARITY_SECS && self.touch(key, cid, now))
            .then_some(now)
    }

    /// Queues moving `key` to the recent end of the LRU order, if it still holds body `cid`,
    /// without waiting and without fsync of its own; whether it was queued (a failure is logged
    /// by the writer).
    fn touch(&self, key: &str, cid: &str, now: u64) -> bool {
        let (key, cid) = (key.to_owned(), cid.to_owned());
        self.inner
            .writer
            .try_submit("access time", false, move |ix| {
                if let Some(Row::Meta(mut meta)) = ix.row(&key)?
                    && meta.cid == cid
                    && now.saturating_sub(meta.last_access) >= ACCESS_GRANULARITY_SECS
                {
                    let previous = meta.last_access;
                    meta.last_access = now;
                    ix.rewrite(&meta, previous)?;
                }
                Ok(())
            })
    }

    /// The entry under `key` without its body (no CID check, no access-time update): for
    /// deciding whether to revalidate, or for listings.
    pub fn get_meta(&self, key: &str) -> Result<Option<EntryMeta>, StoreError> {
        self.read(|txn| {
            let table = txn.open_table(ENTRIES)?;
            Ok(table.get(key)?.and_then(|v| EntryMeta::decode(v.value())))
        })
    }

    /// Records a successful revalidation (`304 Not Modified`): the body is unchanged; the
    /// fetch time, replayed headers and validators are replaced, and the entry counts as used.
    /// `Ok(None)` if the entry is gone (evicted or invalidated meanwhile).
    pub fn refresh(
        &self,
        key: &str,
        fetched_at: u64,
        headers: Vec<(String, String)>,
        etag: Option<String>,
        last_modified: Option<String>,
    ) -> Result<Option<EntryMeta>, StoreError> {
        let (now, key) = (self.now(), key.to_owned());
        self.write("refresh", move |ix| {
            let Some(Row::Meta(mut meta)) = ix.row(&key)? else {
                return Ok(None);
            };
            let previous = meta.last_access;
            meta.fetched_at = fetched_at;
            meta.headers.clone_from(&headers);
            meta.etag.clone_from(&etag);
            meta.last_modified.clone_from(&last_modified);
            meta.last_access = now;
            ix.rewrite(&meta, previous)?;
            Ok(Some(*meta))
        })
    }

    /// Removes the entries whose path is `path` and, with `include_descendants`, those below
    /// `path/` (never a sibling such as `path2`). `path` is normalised as when storing
    /// (lowercase, no trailing `/`). Returns the number of entries removed.
    pub fn invalidate(&self, path: &str, include_descendants: bool) -> Result<usize, StoreError> {
        let path = paths::normalize(path);
        self.write("invalidate", move |ix| {
            let rows = ix.rows_at(&path, include_descendants)?;
            ix.remove_path_rows(&rows)
        })
    }

    /// Removes the entry under `key`; whether there was one.
    pub fn remove(&self, key: &str) -> Result<bool, StoreError> {
        let key = key.to_owned();
        self.write("remove", move |ix| ix.remove(&key))
    }

    /// Removes every entry and body; returns the number of entries removed.
    pub fn clear(&self) -> Result<usize, StoreError> {
        self.write("clear", |ix| ix.clear())
    }

    /// Removes entries stale by more than `grace_secs` at `now` (`now > fetched_at + ttl +
    /// grace`), which even a stale-if-error answer would no longer use; returns how many.
    pub fn prune(&self, now: u64, grace_secs: u64) -> Result<usize, StoreError> {
        self.write("prune", move |ix| {
            let keys = ix.select(|meta| now > meta.expires_at().saturating_add(grace_secs))?;
            for key in &keys {
                ix.remove(key)?;
            }
            Ok(keys.len())
        })
    }

    /// Up to `limit` entries, most recently used first.
    pub fn list(&self, limit: usize) -> Result<Vec<EntryMeta>, StoreError> {
        self.read(|txn| {
            let entries = txn.open_table(ENTRIES)?;
            let mut out = Vec::new();
            for row in txn.open_table(LRU)?.iter()?.rev() {
                if out.len() >= limit {
                    break;
                }
                let (lru_key, _) = row?;
                let (at, key) = lru_key.value();
                // Skip rows left over from an older access time of the same entry.
                if let Some(meta) = entries.get(key)?.and_then(|v| EntryMeta::decode(v.value()))
                    && meta.last_access == at
                {
                    out.push(meta);
                }
            }
            Ok(out)
        })
    }

    /// Entry, blob and byte counts, and the database file's size.
    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let (entries, blobs, bytes) = self.read(|txn| {
            let bytes = txn
                .open_table(INFO)?
                .get(INFO_BLOB_BYTES)?
                .map_or(0, |v| v.value());
            Ok((
                txn.open_table(ENTRIES)?.len()?,
                txn.open_table(BLOBS)?.len()?,
                bytes,
            ))
        })?;
        let db_file_bytes = if self.inner.persistent {
            let meta = std::fs::metadata(&self.inner.path).map_err(|source| StoreError::Io {
                path: self.inner.path.to_path_buf(),
                source,
            })?;
            Some(meta.len())
        } else {
            None
        };
        Ok(StoreStats {
            entries,
            blobs,
            bytes,
            db_file_bytes,
        })
    }

    /// Hashes every blob against its CID and checks every entry's blob exists (one snapshot;
    /// reads the whole store). Changes nothing.
    pub fn verify_all(&self) -> Result<VerifyReport, StoreError> {
        self.read(verify::verify)
    }
}

/// What a read of one key found.
enum Lookup {
    /// No entry under the key.
    Absent,
    /// An entry that can never be served, and why.
    Unservable(&'static str),
    /// Boxed: the metadata dwarfs the other variants.
    Found(Box<EntryMeta>, Vec<u8>),
}

/// Creates `dir` (and missing parents) readable only by the user. An existing directory keeps
/// its mode: it may be one the user chose and shares (`--cache-dir /tmp`), and the 0600 file
/// already protects the data.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Creates the database file 0600 before redb opens it, and tightens an existing one: the
/// store holds API responses that may come from private repositories.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
}

//! Every change to the store, made through the tables of one write transaction so the index,
//! the blobs, their reference counts, the path and LRU tables and the byte total move together:
//! a crash (even `kill -9` mid-burst) leaves the last committed state, never a half-applied one.

use super::cid;
use super::entry::EntryMeta;
use super::error::Fault;
use super::paths;
use super::tables::{BLOB_REFS, BLOBS, ENTRIES, INFO, INFO_BLOB_BYTES, LRU, PATHS};
use redb::{ReadableTable, ReadableTableMetadata, Table, WriteTransaction};

/// An index row as read back.
pub(super) enum Row {
    /// A row this version understands (boxed: it dwarfs the other variant).
    Meta(Box<EntryMeta>),
    /// A row that does not decode (damaged): it is dropped rather than trusted.
    Unreadable,
}

/// The store's tables, open for writing within one transaction (redb lets a table be opened
/// for writing only once per transaction, hence one struct holding them all).
pub(super) struct Index<'t> {
    entries: Table<'t, &'static str, &'static [u8]>,
    blobs: Table<'t, &'static str, &'static [u8]>,
    refs: Table<'t, &'static str, u64>,
    paths: Table<'t, &'static str, ()>,
    lru: Table<'t, (u64, &'static str), ()>,
    info: Table<'t, &'static str, u64>,
}

impl<'t> Index<'t> {
    /// Opens every table in `txn`.
    pub(super) fn open(txn: &'t WriteTransaction) -> Result<Self, Fault> {
        Ok(Index {
            entries: txn.open_table(ENTRIES)?,
            blobs: txn.open_table(BLOBS)?,
            refs: txn.open_table(BLOB_REFS)?,
            paths: txn.open_table(PATHS)?,
            lru: txn.open_table(LRU)?,
            info: txn.open_table(INFO)?,
        })
    }

    /// Number of entries.
    pub(super) fn entry_count(&self) -> Result<u64, Fault> {
        Ok(self.entries.len()?)
    }

    /// Bytes of all distinct bodies.
    pub(super) fn blob_bytes(&self) -> Result<u64, Fault> {
        Ok(self.info.get(INFO_BLOB_BYTES)?.map_or(0, |v| v.value()))
    }

    fn set_blob_bytes(&mut self, bytes: u64) -> Result<(), Fault> {
        self.info.insert(INFO_BLOB_BYTES, bytes)?;
        Ok(())
    }

    /// The entry stored under `key`.
    pub(super) fn row(&self, key: &str) -> Result<Option<Row>, Fault> {
        Ok(self
            .entries
            .get(key)?
            .map(|v| match EntryMeta::decode(v.value()) {
                Some(meta) => Row::Meta(Box::new(meta)),
                None => Row::Unreadable,
            }))
    }

    /// Stores `meta` (whose `cid` names `body`), replacing any entry under the same key.
    pub(super) fn insert(&mut self, meta: &EntryMeta, body: &[u8]) -> Result<(), Fault> {
        // Take the new reference before dropping the old entry: re-storing an unchanged body
        // then never deletes and rewrites the blob.
        self.retain_blob(&meta.cid, body)?;
        self.remove(&meta.key)?;
        self.entries
            .insert(meta.key.as_str(), meta.encode()?.as_slice())?;
        self.paths
            .insert(paths::row(&meta.path, &meta.key).as_str(), ())?;
        self.lru.insert((meta.last_access, meta.key.as_str()), ())?;
        Ok(())
    }

    /// Rewrites an existing entry whose body and path are unchanged (revalidation, access time),
    /// moving its LRU row from `previous_access` to `meta.last_access`.
    pub(super) fn rewrite(&mut self, meta: &EntryMeta, previous_access: u64) -> Result<(), Fault> {
        self.entries
            .insert(meta.key.as_str(), meta.encode()?.as_slice())?;
        self.lru.remove((previous_access, meta.key.as_str()))?;
        self.lru.insert((meta.last_access, meta.key.as_str()), ())?;
        Ok(())
    }

    /// Removes the entry under `key` with its path and LRU rows, and releases its blob.
    /// Returns whether there was one.
    pub(super) fn remove(&mut self, key: &str) -> Result<bool, Fault> {
        let Some(row) = self
            .entries
            .remove(key)?
            .map(|v| EntryMeta::decode(v.value()))
        else {
            return Ok(false);
        };
        // An unreadable row cannot say which path, LRU and blob rows are its own; those are
        // dropped when a scan next meets them pointing at a missing entry.
        if let Some(meta) = row {
            self.paths.remove(paths::row(&meta.path, key).as_str())?;
            self.lru.remove((meta.last_access, key))?;
            self.release_blob(&meta.cid)?;
        }
        Ok(true)
    }

    /// Removes the entry under `key` if it still cannot be served (its row does not decode or
    /// its blob is missing): re-checked here, as a concurrent `put` may have replaced it.
    pub(super) fn remove_if_unservable(&mut self, key: &str) -> Result<bool, Fault> {
        let unservable = match self.row(key)? {
            None => false,
            Some(Row::Unreadable) => true,
            Some(Row::Meta(meta)) => self.blobs.get(meta.cid.as_str())?.is_none(),
        };
        if unservable {
            self.remove(key)
        } else {
            Ok(false)
        }
    }

    /// Adds one reference to the blob `cid`, storing `body` if it is not there yet.
    fn retain_blob(&mut self, cid: &str, body: &[u8]) -> Result<(), Fault> {
        let refs = self.refs.get(cid)?.map_or(0, |v| v.value());
        if self.blobs.get(cid)?.is_none() {
            self.blobs.insert(cid, body)?;
            let bytes = self.blob_bytes()?;
            self.set_blob_bytes(bytes + body.len() as u64)?;
        }
        self.refs.insert(cid, refs + 1)?;
        Ok(())
    }

    /// Drops one reference to the blob `cid`, deleting the blob with its last reference.
    fn release_blob(&mut self, cid: &str) -> Result<(), Fault> {
        let refs = self.refs.get(cid)?.map_or(0, |v| v.value());
        if refs > 1 {
            self.refs.insert(cid, refs - 1)?;
        } else {
            self.refs.remove(cid)?;
            self.delete_blob(cid)?;
        }
        Ok(())
    }

    /// Deletes the blob `cid` whatever references it, keeping the byte total exact.
    fn delete_blob(&mut self, cid: &str) -> Result<(), Fault> {
        let removed = self.blobs.remove(cid)?.map(|v| v.value().len() as u64);
        if let Some(len) = removed {
            let bytes = self.blob_bytes()?;
            self.set_blob_bytes(bytes.saturating_sub(len))?;
        }
        Ok(())
    }

    /// If the blob `cid` does not match its CID, removes it and every entry that uses it: a
    /// refetch of the same body must store fresh bytes rather than find the bad ones "present".
    /// Checked again here because a concurrent caller may have purged and restored it already.
    /// Returns the number of entries removed. Scans the index: corruption is rare.
    pub(super) fn purge_if_corrupt(&mut self, cid: &str) -> Result<usize, Fault> {
        let intact = self
            .blobs
            .get(cid)?
            .is_some_and(|v| cid::verify(cid, v.value()));
        if intact {
            return Ok(0);
        }
        let mut keys = Vec::new();
        for row in self.entries.iter()? {
            let (key, value) = row?;
            if EntryMeta::decode(value.value()).is_some_and(|m| m.cid == cid) {
                keys.push(key.value().to_owned());
            }
        }
        for key in &keys {
            self.remove(key)?;
        }
        self.refs.remove(cid)?;
        self.delete_blob(cid)?;
        Ok(keys.len())
    }

    /// Path rows of the entries at `path` (normalised), and below it when asked.
    pub(super) fn rows_at(
        &self,
        path: &str,
        include_descendants: bool,
    ) -> Result<Vec<String>, Fault> {
        let mut rows = Vec::new();
        for prefix in paths::prefixes(path, include_descendants) {
            for row in self.paths.range(prefix.as_str()..)? {
                let (row, ()) = row.map(|(k, v)| (k.value().to_owned(), v.value()))?;
                if !row.starts_with(&prefix) {
                    break;
                }
                rows.push(row);
            }
        }
        // The root's descendant prefix `/` also covers its own rows.
        rows.sort();
        rows.dedup();
        Ok(rows)
    }

    /// Removes path rows (as returned by [`Self::rows_at`]) and their entries; returns how many
    /// entries existed. A row whose entry is gone is a leftover and is just dropped.
    pub(super) fn remove_path_rows(&mut self, rows: &[String]) -> Result<usize, Fault> {
        let mut removed = 0;
        for row in rows {
            self.paths.remove(row.as_str())?;
            if self.remove(paths::key_of(row))? {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// The least recently used entry other than `keep`, as its LRU row.
    pub(super) fn oldest_except(&self, keep: &str) -> Result<Option<(u64, String)>, Fault> {
        for row in self.lru.iter()? {
            let (at, key) = {
                let (k, _) = row?;
                let (at, key) = k.value();
                (at, key.to_owned())
            };
            if key != keep {
                return Ok(Some((at, key)));
            }
        }
        Ok(None)
    }

    /// Evicts the entry an LRU row points at; a row left over from an older access time (or
    /// from an unreadable entry) is only dropped. Returns whether an entry went.
    pub(super) fn evict(&mut self, at: u64, key: &str) -> Result<bool, Fault> {
        self.lru.remove((at, key))?;
        match self.row(key)? {
            Some(Row::Meta(meta)) if meta.last_access != at => Ok(false),
            Some(_) => self.remove(key),
            None => Ok(false),
        }
    }

    /// Empties every table except `info`'s format marker; returns the number of entries.
    pub(super) fn clear(&mut self) -> Result<usize, Fault> {
        let entries = self.entry_count()?;
        self.entries.retain(|_, _| false)?;
        self.blobs.retain(|_, _| false)?;
        self.refs.retain(|_, _| false)?;
        self.paths.retain(|_, _| false)?;
        self.lru.retain(|_, _| false)?;
        self.set_blob_bytes(0)?;
        Ok(usize::try_from(entries).unwrap_or(usize::MAX))
    }

    /// Keys of entries that `expired` selects, plus unreadable ones (which can never be served).
    pub(super) fn select(
        &self,
        expired: impl Fn(&EntryMeta) -> bool,
    ) -> Result<Vec<String>, Fault> {
        let mut keys = Vec::new();
        for row in self.entries.iter()? {
            let (key, value) = row?;
            if EntryMeta::decode(value.value()).is_none_or(|meta| expired(&meta)) {
                keys.push(key.value().to_owned());
            }
        }
        Ok(keys)
    }

    /// Overwrites a blob's bytes without touching its CID: the on-disk corruption the store
    /// must detect, produced through redb so the file itself stays valid.
    #[cfg(test)]
    pub(super) fn corrupt_blob(&mut self, cid: &str, bytes: &[u8]) -> Result<(), Fault> {
        self.blobs.insert(cid, bytes)?;
        Ok(())
    }

    /// Deletes a blob row behind the index's back (a lost body).
    #[cfg(test)]
    pub(super) fn lose_blob(&mut self, cid: &str) -> Result<(), Fault> {
        self.blobs.remove(cid)?;
        Ok(())
    }

    /// Overwrites an index row with bytes that do not decode.
    #[cfg(test)]
    pub(super) fn garble_row(&mut self, key: &str) -> Result<(), Fault> {
        self.entries.insert(key, [0xff_u8; 4].as_slice())?;
        Ok(())
    }
}

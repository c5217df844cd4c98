//! The redb tables of a store and the format check made when one is opened.
//!
//! ```text
//! entries    key                      -> postcard EntryMeta
//! blobs      CID text                 -> body bytes          (one row per distinct body)
//! blob_refs  CID text                 -> entries using it     (apart from blobs: a count
//!                                                              changes without rewriting a body)
//! paths      path ‖ "\0" ‖ key        -> ()                   (invalidation: range scans)
//! lru        (last_access, key)       -> ()                   (eviction: oldest first)
//! info       "format" | "blob_bytes"  -> u64
//! ```

use redb::{ReadableTable, TableDefinition, TableHandle, WriteTransaction};

/// Index rows by request key.
pub(super) const ENTRIES: TableDefinition<&str, &[u8]> = TableDefinition::new("entries");
/// Bodies by CID.
pub(super) const BLOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("blobs");
/// How many entries reference each blob; the blob goes when this reaches zero.
pub(super) const BLOB_REFS: TableDefinition<&str, u64> = TableDefinition::new("blob_refs");
/// `path + "\0" + key`: entries at a path sort together, and those below it (`path + "/"`)
/// form one contiguous range, so invalidation never scans the whole index.
pub(super) const PATHS: TableDefinition<&str, ()> = TableDefinition::new("paths");
/// Least recently used first.
pub(super) const LRU: TableDefinition<(u64, &str), ()> = TableDefinition::new("lru");
/// Store-wide values under the `INFO_*` keys.
pub(super) const INFO: TableDefinition<&str, u64> = TableDefinition::new("info");

/// `info` key: the layout version of every table and row.
pub(super) const INFO_FORMAT: &str = "format";
/// `info` key: sum of the sizes of all blobs, kept in step inside each transaction so the byte
/// limit is checked without scanning.
pub(super) const INFO_BLOB_BYTES: &str = "blob_bytes";

/// Bump on any change to the tables or to the serde shape of [`super::EntryMeta`]: an older
/// or newer store is then emptied on open instead of misread.
pub(super) const FORMAT_VERSION: u64 = 1;

const NAMES: [&str; 6] = ["entries", "blobs", "blob_refs", "paths", "lru", "info"];

/// What opening found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Prepared {
    /// New or current store, tables ready.
    Ready,
    /// A store of another format version was emptied.
    Reset {
        /// The version found.
        found: u64,
    },
    /// A redb file holding tables that are not ours; nothing was changed.
    Foreign {
        /// Names of the tables found.
        tables: Vec<String>,
    },
}

/// Creates the tables of a new store, or checks the format of an existing one (in the caller's
/// write transaction, so a crash leaves either the old or the prepared state).
pub(super) fn prepare(txn: &WriteTransaction) -> Result<Prepared, redb::Error> {
    let existing: Vec<String> = txn.list_tables()?.map(|t| t.name().to_owned()).collect();
    let found = if existing.iter().any(|name| name == "info") {
        txn.open_table(INFO)?.get(INFO_FORMAT)?.map(|v| v.value())
    } else {
        None
    };
    if found.is_none() && !existing.is_empty() {
        // A file with tables but no format marker was not written by us: leave it alone.
        return Ok(Prepared::Foreign { tables: existing });
    }
    let result = match found {
        Some(v) if v != FORMAT_VERSION => {
            for name in NAMES {
                // Deletion goes by name; the key and value types are not checked.
                txn.delete_table(TableDefinition::<&str, ()>::new(name))?;
            }
            Prepared::Reset { found: v }
        }
        _ => Prepared::Ready,
    };
    open_all(txn)?;
    txn.open_table(INFO)?.insert(INFO_FORMAT, FORMAT_VERSION)?;
    Ok(result)
}

/// Creates every table that does not exist yet, so readers never meet a missing one.
fn open_all(txn: &WriteTransaction) -> Result<(), redb::Error> {
    txn.open_table(ENTRIES)?;
    txn.open_table(BLOBS)?;
    txn.open_table(BLOB_REFS)?;
    txn.open_table(PATHS)?;
    txn.open_table(LRU)?;
    txn.open_table(INFO)?;
    Ok(())
}

//! What can go wrong with the store, split by what a caller does about it: a corrupt file may be
//! moved aside and recreated, a file that is not a store must be left alone, a locked one means
//! another ghmesh is running.

use std::path::PathBuf;

/// A store operation failed. Every variant about the database names its file (or `<memory>`).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file is damaged (bad header, checksum, or a structure redb cannot read).
    /// Holding only a cache, it may be deleted and recreated; the store never does that itself.
    #[error("store {path} is corrupt: {reason}")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What redb found wrong.
        reason: String,
    },
    /// The file is a healthy redb database, but not a ghmesh store: deleting it could destroy
    /// someone else's data, so it is refused and left untouched.
    #[error("{path} is not a ghmesh store: {reason}")]
    NotAStore {
        /// The database file.
        path: PathBuf,
        /// Why it was not recognised.
        reason: String,
    },
    /// Another process holds the database open for writing (redb locks the whole file).
    #[error("store {path} is in use by another process (is a ghmesh proxy running?)")]
    Locked {
        /// The database file.
        path: PathBuf,
    },
    /// Reading or writing the file, or creating its directory, failed.
    #[error("store {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Any other database failure (for example a file written by a newer redb format).
    #[error("store {path}: {source}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// redb's error.
        #[source]
        source: redb::Error,
    },
    /// A body larger than the whole byte budget; storing it would evict everything else.
    /// The store is left unchanged.
    #[error("body of {size} bytes exceeds the store's byte limit of {max}")]
    TooLarge {
        /// Size of the rejected body.
        size: u64,
        /// The configured `max_bytes`.
        max: u64,
    },
    /// An entry the store cannot index (for example a path containing NUL).
    #[error("invalid store entry: {reason}")]
    InvalidEntry {
        /// What is wrong with it.
        reason: String,
    },
    /// The store's writer thread is gone (it panicked), so the write was not confirmed and
    /// nothing more can be written. Reads still work; reopening the store starts a new writer.
    #[error("store {path}: its writer has stopped, the write was not confirmed")]
    WriterStopped {
        /// The database file.
        path: PathBuf,
    },
    /// Limits that would make the store useless (zero entries or zero bytes).
    #[error("invalid store limits: {reason}")]
    InvalidLimits {
        /// What is wrong with them.
        reason: String,
    },
}

/// Failures inside one transaction, before the store knows which file to name: the public
/// methods turn a `Fault` into a [`StoreError`] with [`Fault::at`].
#[derive(Debug)]
pub(super) enum Fault {
    /// redb failed.
    Db(redb::Error),
    /// An index row could not be encoded.
    Encode(postcard::Error),
}

impl Fault {
    /// Attaches the database file to the failure and sorts it into a [`StoreError`] variant.
    pub(super) fn at(self, path: &std::path::Path) -> StoreError {
        let path = path.to_path_buf();
        match self {
            Fault::Db(redb::Error::Corrupted(reason)) => StoreError::Corrupt { path, reason },
            // redb reports a file that does not start like a redb database this way.
            Fault::Db(redb::Error::Io(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                StoreError::Corrupt {
                    path,
                    reason: e.to_string(),
                }
            }
            Fault::Db(redb::Error::Io(source)) => StoreError::Io { path, source },
            Fault::Db(redb::Error::DatabaseAlreadyOpen) => StoreError::Locked { path },
            Fault::Db(source) => StoreError::Database { path, source },
            Fault::Encode(e) => StoreError::InvalidEntry {
                reason: format!("cannot encode index row: {e}"),
            },
        }
    }
}

impl From<postcard::Error> for Fault {
    fn from(e: postcard::Error) -> Self {
        Fault::Encode(e)
    }
}

// Each redb operation has its own error type; `?` converts one step only, so every one of them
// goes through redb's umbrella `Error`.
macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for Fault {
            fn from(e: $t) -> Self {
                Fault::Db(e.into())
            }
        }
    )*};
}
from_redb!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

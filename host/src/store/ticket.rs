//! The caller's side of a queued write: the result the writer sends once the write's transaction
//! committed (durably, for every write but access times), or failed.

use super::error::StoreError;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::oneshot;

/// A write queued to the store's writer. Wait on it for the result; drop it to let the write
/// land on its own (the writer then logs a failure, since nobody else will see it).
#[must_use = "a dropped ticket leaves the write queued, but its result is only logged"]
pub struct Ticket<T> {
    reply: oneshot::Receiver<Result<T, StoreError>>,
    /// The database file, for the error if the writer is gone.
    path: Arc<Path>,
}

impl<T> std::fmt::Debug for Ticket<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticket")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl<T> Ticket<T> {
    pub(super) fn new(reply: oneshot::Receiver<Result<T, StoreError>>, path: Arc<Path>) -> Self {
        Ticket { reply, path }
    }

    /// Blocks until the write committed (or failed).
    ///
    /// # Panics
    ///
    /// On a thread driving an async runtime, as any blocking wait there would stall it
    /// (tokio refuses): async code uses [`Ticket::done`] or `tokio::task::spawn_blocking`.
    pub fn wait(self) -> Result<T, StoreError> {
        let path = self.path;
        self.reply
            .blocking_recv()
            .unwrap_or_else(|_| Err(stopped(&path)))
    }

    /// Resolves when the write committed (or failed); for async callers.
    pub async fn done(self) -> Result<T, StoreError> {
        let path = self.path;
        self.reply.await.unwrap_or_else(|_| Err(stopped(&path)))
    }
}

/// The writer dropped the reply unanswered: it stopped (it panicked, or the store closed while
/// the write was being queued).
fn stopped(path: &Path) -> StoreError {
    StoreError::WriterStopped {
        path: path.to_path_buf(),
    }
}

//! Group commit: the store's one writer thread. Callers queue writes (put, refresh, invalidate,
//! remove, access times, ...) and the writer applies every write waiting at that moment in ONE
//! redb transaction committed with [`Durability::Immediate`], then answers each caller. An fsync
//! costs tens of milliseconds on ordinary disks; shared by a whole batch, it no longer bounds
//! how many responses a second can be stored.
//!
//! - **Order**: one FIFO and one thread, so writes land in the order they were queued; an
//!   invalidation can never be undone by a put queued before it.
//! - **Isolation**: if anything in a batch fails (an operation or the commit), the batch is
//!   aborted and its writes are redone one transaction each, so each caller gets its own result
//!   and one bad write never fails the others.
//! - **Durability**: a write is acknowledged only after the commit that contains it. A batch of
//!   access-time updates alone commits without fsync ([`Durability::None`]); the next durable
//!   commit (or closing the store) persists it.
//! - **Shutdown**: dropping the [`Writer`] (with the last `Store` clone) closes the queue; the
//!   thread commits everything still queued, then exits, and the drop waits for it.

use super::error::{Fault, StoreError};
use super::index::Index;
use super::queue::{Queue, Refused, Weighed};
use super::ticket::Ticket;
use redb::{Database, Durability};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use tokio::sync::oneshot;

#[cfg(test)]
mod tests;

/// What the writer has done so far, for tests and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct WriteStats {
    /// Write transactions committed (a batch is one; a batch redone write by write is one per
    /// write).
    pub commits: u64,
    /// Writes committed.
    pub writes: u64,
    /// Writes that failed.
    pub failed: u64,
    /// Writes waiting in the queue right now.
    pub queued: u64,
}

/// A queued write as the writer sees it.
trait Job: Send {
    /// Applies the write to the batch's tables, keeping its result for [`Job::finish`].
    fn apply(&mut self, ix: &mut Index<'_>) -> Result<(), Fault>;
    /// Whether its commit must be fsynced before the caller hears of it.
    fn durable(&self) -> bool;
    /// Body bytes it holds (queue and batch bounds).
    fn weight(&self) -> usize;
    /// Tells the caller: `Ok` once the transaction holding the write committed.
    fn finish(self: Box<Self>, commit: Result<(), StoreError>);
}

impl Weighed for Box<dyn Job> {
    fn weight(&self) -> usize {
        (**self).weight()
    }
}

/// A write: a closure over the batch's tables and the channel its result goes back on. `FnMut`
/// because a failed batch runs it again in a transaction of its own.
struct Write<T, F> {
    /// What it is, for the log line when nobody waits for a failure.
    what: &'static str,
    durable: bool,
    weight: usize,
    op: F,
    out: Option<T>,
    reply: oneshot::Sender<Result<T, StoreError>>,
    path: Arc<Path>,
}

impl<T, F> Job for Write<T, F>
where
    T: Send,
    F: FnMut(&mut Index<'_>) -> Result<T, Fault> + Send,
{
    fn apply(&mut self, ix: &mut Index<'_>) -> Result<(), Fault> {
        // A result from an aborted attempt must not survive into the redo.
        self.out = None;
        self.out = Some((self.op)(ix)?);
        Ok(())
    }

    fn durable(&self) -> bool {
        self.durable
    }

    fn weight(&self) -> usize {
        self.weight
    }

    fn finish(self: Box<Self>, commit: Result<(), StoreError>) {
        let Write {
            what,
            out,
            reply,
            path,
            ..
        } = *self;
        let result = commit.and_then(|()| {
            // The writer reports a commit only for writes applied in that transaction.
            out.ok_or(StoreError::WriterStopped {
                path: path.to_path_buf(),
            })
        });
        if let Err(Err(e)) = reply.send(result) {
            // Nobody waits for this write (a write-behind put, an access time): say it here.
            tracing::warn!(write = what, "queued store write failed: {e}");
        }
    }
}

/// Counters shared by the writer thread and [`Writer::stats`].
#[derive(Default)]
struct Counters {
    commits: AtomicU64,
    writes: AtomicU64,
    failed: AtomicU64,
}

/// The handle the store keeps: the queue and the thread draining it.
pub(super) struct Writer {
    queue: Arc<Queue<Box<dyn Job>>>,
    counters: Arc<Counters>,
    path: Arc<Path>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer thread for `db`.
    pub(super) fn spawn(db: Arc<Database>, path: Arc<Path>) -> Result<Writer, StoreError> {
        let queue = Arc::new(Queue::new());
        let counters = Arc::new(Counters::default());
        let thread = {
            let (queue, counters, thread_path) = (queue.clone(), counters.clone(), path.clone());
            std::thread::Builder::new()
                .name("ghmesh-store-writer".into())
                .spawn(move || run(&db, &thread_path, &queue, &counters))
                .map_err(|source| StoreError::Io {
                    path: path.to_path_buf(),
                    source,
                })?
        };
        Ok(Writer {
            queue,
            counters,
            path,
            thread: Some(thread),
        })
    }

    /// Queues `op`, waiting while the queue is full. `weight` is the body bytes it holds.
    pub(super) fn submit<T, F>(
        &self,
        what: &'static str,
        durable: bool,
        weight: usize,
        op: F,
    ) -> Ticket<T>
    where
        T: Send + 'static,
        F: FnMut(&mut Index<'_>) -> Result<T, Fault> + Send + 'static,
    {
        let (job, ticket) = self.job(what, durable, weight, op);
        // A refused job is dropped with its reply channel: the ticket then reports the writer
        // as stopped.
        let _ = self.queue.push(job);
        ticket
    }

    /// Queues `op` unless the queue is full; for writes that may be skipped (access times).
    pub(super) fn try_submit<T, F>(&self, what: &'static str, durable: bool, op: F) -> bool
    where
        T: Send + 'static,
        F: FnMut(&mut Index<'_>) -> Result<T, Fault> + Send + 'static,
    {
        let (job, _ticket) = self.job(what, durable, 0, op);
        match self.queue.try_push(job) {
            Ok(()) => true,
            Err(Refused::Full(_) | Refused::Closed(_)) => false,
        }
    }

    fn job<T, F>(
        &self,
        what: &'static str,
        durable: bool,
        weight: usize,
        op: F,
    ) -> (Box<dyn Job>, Ticket<T>)
    where
        T: Send + 'static,
        F: FnMut(&mut Index<'_>) -> Result<T, Fault> + Send + 'static,
    {
        let (reply, receiver) = oneshot::channel();
        let job = Box::new(Write {
            what,
            durable,
            weight,
            op,
            out: None,
            reply,
            path: self.path.clone(),
        });
        (job, Ticket::new(receiver, self.path.clone()))
    }

    /// The counters so far.
    pub(super) fn stats(&self) -> WriteStats {
        WriteStats {
            commits: self.counters.commits.load(Ordering::Relaxed),
            writes: self.counters.writes.load(Ordering::Relaxed),
            failed: self.counters.failed.load(Ordering::Relaxed),
            queued: self.queue.len() as u64,
        }
    }
}

impl Drop for Writer {
    /// Closes the queue and waits until everything queued is committed and the thread is gone,
    /// so the database file is released when the last `Store` clone has dropped.
    fn drop(&mut self) {
        self.queue.close();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::warn!(path = %self.path.display(), "store writer thread had panicked");
        }
    }
}

/// The writer thread: batch after batch until the queue is closed and empty.
fn run(db: &Database, path: &Path, queue: &Queue<Box<dyn Job>>, counters: &Counters) {
    // However the loop ends (even by a panic), queued callers are answered, not left waiting.
    let _answer_leftovers = CloseOnExit(queue);
    // A non-durable commit (access times only) is persisted by the next durable one.
    let mut unsynced = false;
    while let Some(mut batch) = queue.take_batch() {
        let durable = batch.iter().any(|job| job.durable());
        match commit(db, &mut batch, durable) {
            Ok(()) => {
                counters.commits.fetch_add(1, Ordering::Relaxed);
                counters
                    .writes
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                unsynced = !durable;
                for job in batch {
                    job.finish(Ok(()));
                }
            }
            Err(fault) => {
                let error = fault.at(path);
                if batch.len() > 1 {
                    tracing::warn!(
                        writes = batch.len(),
                        "store group commit failed, redoing its writes one by one: {error}"
                    );
                    redo_one_by_one(db, path, batch, counters, &mut unsynced);
                } else {
                    counters.failed.fetch_add(1, Ordering::Relaxed);
                    if let Some(job) = batch.pop() {
                        job.finish(Err(error));
                    }
                }
            }
        }
    }
    if unsynced && let Err(fault) = commit(db, &mut [], true) {
        tracing::warn!(
            "persisting access times on close failed: {}",
            fault.at(path)
        );
    }
}

/// Commits each write of a failed batch in its own transaction, in order, and answers each with
/// its own result. `unsynced` follows the last commit made: whether it skipped the fsync.
fn redo_one_by_one(
    db: &Database,
    path: &Path,
    batch: Vec<Box<dyn Job>>,
    counters: &Counters,
    unsynced: &mut bool,
) {
    for mut job in batch {
        let durable = job.durable();
        let result = commit(db, std::slice::from_mut(&mut job), durable).map_err(|f| f.at(path));
        if result.is_ok() {
            counters.commits.fetch_add(1, Ordering::Relaxed);
            counters.writes.fetch_add(1, Ordering::Relaxed);
            *unsynced = !durable;
        } else {
            counters.failed.fetch_add(1, Ordering::Relaxed);
        }
        job.finish(result);
    }
}

/// Applies `jobs` in order in one write transaction and commits it; any error aborts it whole
/// (redb rolls back a transaction dropped uncommitted).
fn commit(db: &Database, jobs: &mut [Box<dyn Job>], durable: bool) -> Result<(), Fault> {
    let mut txn = db.begin_write()?;
    txn.set_durability(if durable {
        Durability::Immediate
    } else {
        Durability::None
    })?;
    {
        let mut ix = Index::open(&txn)?;
        for job in jobs.iter_mut() {
            job.apply(&mut ix)?;
        }
    }
    txn.commit()?;
    Ok(())
}

/// Closes the queue when the writer thread ends; whatever is still queued is dropped unanswered,
/// which its tickets report as [`StoreError::WriterStopped`].
struct CloseOnExit<'q>(&'q Queue<Box<dyn Job>>);

impl Drop for CloseOnExit<'_> {
    fn drop(&mut self) {
        drop(self.0.close_and_drain());
    }
}

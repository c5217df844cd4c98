//! The FIFO between the store's callers and its one writer thread, bounded by operations and by
//! queued body bytes so a burst of misses faster than the disk cannot grow memory without limit:
//! past the bound, a caller queueing a write blocks until the writer catches up.
//!
//! A hand-rolled `Mutex` + `Condvar` rather than `std::sync::mpsc`: the bound is in bytes as well
//! as in items, and the writer drains everything waiting in one step (the group commit).

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// Most operations waiting in the queue.
const MAX_QUEUED_OPS: usize = 8192;
/// Most body bytes waiting in the queue (one larger body is still admitted into an empty queue).
const MAX_QUEUED_BYTES: usize = 64 << 20;
/// Most operations in one transaction.
const MAX_BATCH_OPS: usize = 2048;
/// Most body bytes in one transaction: a batch holds its bodies in memory until it commits.
const MAX_BATCH_BYTES: usize = 32 << 20;

/// Something queued, with what it weighs against the byte bounds.
pub(super) trait Weighed {
    /// Body bytes it holds.
    fn weight(&self) -> usize;
}

/// Why an item was not queued.
pub(super) enum Refused<T> {
    /// The writer has stopped; the item comes back unqueued.
    Closed(T),
    /// The queue is full (only from [`Queue::try_push`]).
    Full(T),
}

struct State<T> {
    items: VecDeque<T>,
    bytes: usize,
    closed: bool,
}

/// A bounded multi-producer, single-consumer FIFO.
pub(super) struct Queue<T> {
    state: Mutex<State<T>>,
    /// Signalled when items arrive or the queue closes.
    filled: Condvar,
    /// Signalled when the writer takes items or the queue closes.
    drained: Condvar,
}

impl<T: Weighed> Queue<T> {
    pub(super) fn new() -> Self {
        Queue {
            state: Mutex::new(State {
                items: VecDeque::new(),
                bytes: 0,
                closed: false,
            }),
            filled: Condvar::new(),
            drained: Condvar::new(),
        }
    }

    /// The lock; a panic elsewhere while holding it leaves consistent state (every critical
    /// section only moves items), so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends `item`, waiting while the queue is full.
    pub(super) fn push(&self, item: T) -> Result<(), Refused<T>> {
        let mut state = self.lock();
        while !state.closed && over_bound(&state, item.weight()) {
            state = self
                .drained
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        Self::append(state, item).map(|()| self.filled.notify_one())
    }

    /// Appends `item` unless the queue is full or closed; never waits.
    pub(super) fn try_push(&self, item: T) -> Result<(), Refused<T>> {
        let state = self.lock();
        if !state.closed && over_bound(&state, item.weight()) {
            return Err(Refused::Full(item));
        }
        Self::append(state, item).map(|()| self.filled.notify_one())
    }

    fn append(mut state: MutexGuard<'_, State<T>>, item: T) -> Result<(), Refused<T>> {
        if state.closed {
            return Err(Refused::Closed(item));
        }
        state.bytes += item.weight();
        state.items.push_back(item);
        Ok(())
    }

    /// Waits for items and takes every one waiting, in order, up to the batch bounds (at least
    /// one). `None` once the queue is closed and empty.
    pub(super) fn take_batch(&self) -> Option<Vec<T>> {
        let mut state = self.lock();
        while state.items.is_empty() && !state.closed {
            state = self
                .filled
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let mut batch = Vec::new();
        let mut bytes = 0;
        while let Some(item) = state.items.front() {
            let weight = item.weight();
            let full = batch.len() >= MAX_BATCH_OPS || bytes + weight > MAX_BATCH_BYTES;
            if !batch.is_empty() && full {
                break;
            }
            bytes += weight;
            state.bytes -= weight;
            batch.extend(state.items.pop_front());
        }
        self.drained.notify_all();
        (!batch.is_empty()).then_some(batch)
    }

    /// Refuses further items and wakes everyone; items already queued are still taken.
    pub(super) fn close(&self) {
        self.lock().closed = true;
        self.filled.notify_all();
        self.drained.notify_all();
    }

    /// Closes the queue and returns what was still waiting (the writer is gone: nobody will
    /// take it).
    pub(super) fn close_and_drain(&self) -> Vec<T> {
        let mut state = self.lock();
        state.closed = true;
        state.bytes = 0;
        let left = state.items.drain(..).collect();
        drop(state);
        self.filled.notify_all();
        self.drained.notify_all();
        left
    }

    /// Operations waiting.
    pub(super) fn len(&self) -> usize {
        self.lock().items.len()
    }
}

/// Whether adding an item of `weight` would exceed a bound. An empty queue admits anything, so
/// a body larger than the byte bound still gets through.
fn over_bound<T>(state: &State<T>, weight: usize) -> bool {
    !state.items.is_empty()
        && (state.items.len() >= MAX_QUEUED_OPS || state.bytes + weight > MAX_QUEUED_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Item(usize);
    impl Weighed for Item {
        fn weight(&self) -> usize {
            self.0
        }
    }

    #[test]
    fn batches_keep_order_and_respect_the_byte_bound() {
        let queue = Queue::new();
        for weight in [1, 2, MAX_BATCH_BYTES, 3] {
            assert!(queue.push(Item(weight)).is_ok());
        }
        let weights = |b: Vec<Item>| b.into_iter().map(|i| i.0).collect::<Vec<_>>();
        assert_eq!(weights(queue.take_batch().unwrap()), [1, 2]);
        assert_eq!(weights(queue.take_batch().unwrap()), [MAX_BATCH_BYTES]);
        assert_eq!(weights(queue.take_batch().unwrap()), [3]);
        queue.close();
        assert!(queue.take_batch().is_none());
        assert!(matches!(queue.push(Item(1)), Err(Refused::Closed(_))));
    }

    #[test]
    fn a_full_queue_refuses_try_push_and_admits_one_huge_item_when_empty() {
        let queue = Queue::new();
        assert!(queue.try_push(Item(MAX_QUEUED_BYTES * 2)).is_ok());
        assert!(matches!(queue.try_push(Item(1)), Err(Refused::Full(_))));
        assert_eq!(queue.take_batch().map(|b| b.len()), Some(1));
        assert!(queue.try_push(Item(1)).is_ok());
        assert_eq!(queue.close_and_drain().len(), 1);
        assert_eq!(queue.len(), 0);
    }
}

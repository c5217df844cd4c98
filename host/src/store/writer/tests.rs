//! Group commit as the store's callers rely on it: batching, isolation of a bad write, ordering,
//! flushing on drop, and no hang when the writer dies. A "gate" write holds the writer inside a
//! transaction so the test decides what queues up behind it, whatever the disk's speed.

use super::super::tests::entry;
use super::super::{Store, StoreError, StoreLimits};
use super::Fault;
use bytes::Bytes;
use std::sync::mpsc;

fn roomy() -> StoreLimits {
    StoreLimits {
        max_entries: 10_000,
        max_bytes: 1 << 24,
    }
}

/// Holds the writer in a transaction until the returned sender is dropped or sent to.
fn hold_writer(store: &Store) -> mpsc::Sender<()> {
    let (open, gate) = mpsc::channel::<()>();
    let (entered, inside) = mpsc::channel();
    let _ticket = store.inner.writer.submit("gate", true, 0, move |_| {
        let _ = entered.send(());
        let _ = gate.recv();
        Ok(())
    });
    inside.recv().expect("the writer entered the gate");
    open
}

/// Waits until `n` writes are queued behind the gate.
fn wait_queued(store: &Store, n: u64) {
    while store.write_stats().queued < n {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

#[test]
fn concurrent_puts_all_land_in_few_commits() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), roomy()).unwrap();
    let gate = hold_writer(&store);
    let before = store.write_stats();
    let (threads, per_thread) = (8, 50);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let store = store.clone();
                s.spawn(move || {
                    let tickets: Vec<_> = (0..per_thread)
                        .map(|i| {
                            let key = format!("t{t}-{i}");
                            let body = Bytes::from(key.clone().into_bytes());
                            store.enqueue_put(entry(&key, "/x"), body).unwrap().ticket
                        })
                        .collect();
                    tickets.into_iter().map(|t| t.wait()).collect::<Vec<_>>()
                })
            })
            .collect();
        wait_queued(&store, threads * per_thread);
        drop(gate);
        for worker in workers {
            assert!(worker.join().unwrap().iter().all(Result::is_ok));
        }
    });
    let after = store.write_stats();
    assert_eq!(store.stats().unwrap().entries, threads * per_thread);
    assert_eq!(after.writes - before.writes, threads * per_thread + 1);
    assert!(
        after.commits - before.commits <= 2,
        "the gate, then one batch: {before:?} -> {after:?}"
    );
    // Synchronous puts from many threads land too, each returning once durable.
    std::thread::scope(|s| {
        for t in 0..4 {
            let store = store.clone();
            s.spawn(move || {
                for i in 0..10 {
                    let key = format!("sync-{t}-{i}");
                    store.put(entry(&key, "/y"), key.as_bytes()).unwrap();
                    assert!(store.get(&key).unwrap().is_some(), "durable and readable");
                }
            });
        }
    });
    assert_eq!(store.stats().unwrap().entries, threads * per_thread + 40);
}

#[test]
fn a_failing_write_fails_alone_and_the_rest_of_its_batch_lands() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), roomy()).unwrap();
    let gate = hold_writer(&store);
    let first = store
        .enqueue_put(entry("first", "/a"), Bytes::from_static(b"1"))
        .unwrap();
    let bad = store
        .inner
        .writer
        .submit("bad", true, 0, |_| -> Result<(), Fault> {
            Err(Fault::Encode(postcard::Error::SerializeBufferFull))
        });
    // Checked before queueing: refused at once, nothing queued.
    let refused = store.enqueue_put(entry("nul", "/a\0b"), Bytes::from_static(b"x"));
    assert!(matches!(refused, Err(StoreError::InvalidEntry { .. })));
    let last = store
        .enqueue_put(entry("last", "/b"), Bytes::from_static(b"2"))
        .unwrap();
    wait_queued(&store, 3);
    let failed_before = store.write_stats().failed;
    drop(gate);
    first.ticket.wait().unwrap();
    last.ticket.wait().unwrap();
    let err = bad.wait().unwrap_err();
    assert!(matches!(err, StoreError::InvalidEntry { .. }), "{err:?}");
    assert_eq!(store.write_stats().failed - failed_before, 1);
    assert!(store.get("first").unwrap().is_some());
    assert!(store.get("last").unwrap().is_some());
    assert_eq!(store.stats().unwrap().entries, 2);
}

#[test]
fn an_invalidation_queued_after_a_put_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), roomy()).unwrap();
    let gate = hold_writer(&store);
    let queued = store
        .enqueue_put(entry("k", "/repos/o/r"), Bytes::from_static(b"old"))
        .unwrap();
    assert_eq!(queued.meta.path, "/repos/o/r");
    assert!(
        store.get("k").unwrap().is_none(),
        "write-behind: not readable before its commit"
    );
    let invalidation = std::thread::scope(|s| {
        let clone = store.clone();
        let invalidation = s.spawn(move || clone.invalidate("/repos/o/r", false));
        wait_queued(&store, 2);
        drop(gate);
        invalidation.join().unwrap()
    });
    assert_eq!(invalidation.unwrap(), 1, "the put landed first");
    queued.ticket.wait().unwrap();
    assert!(store.get("k").unwrap().is_none());
    // And a put queued after the invalidation stays.
    store.put(entry("k", "/repos/o/r"), b"new").unwrap();
    assert_eq!(store.get("k").unwrap().unwrap().1, b"new");
}

#[test]
fn dropping_the_last_clone_commits_everything_queued() {
    let dir = tempfile::tempdir().unwrap();
    let tickets = {
        let store = Store::open(dir.path(), roomy()).unwrap();
        let clone = store.clone();
        let gate = hold_writer(&store);
        let tickets: Vec<_> = (0..100)
            .map(|i| {
                let key = format!("k{i}");
                let body = Bytes::from(key.clone().into_bytes());
                clone.enqueue_put(entry(&key, "/x"), body).unwrap().ticket
            })
            .collect();
        drop(clone);
        drop(gate);
        tickets
        // `store` drops here: the writer drains its queue, then the file is released.
    };
    assert!(tickets.into_iter().all(|t| t.wait().is_ok()));
    let store = Store::open(dir.path(), roomy()).unwrap();
    assert_eq!(store.stats().unwrap().entries, 100);
}

#[test]
fn flush_waits_for_earlier_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), roomy()).unwrap();
    let queued = store
        .enqueue_put(entry("k", "/x"), Bytes::from_static(b"body"))
        .unwrap();
    store.flush().unwrap();
    assert!(store.get("k").unwrap().is_some());
    queued.ticket.wait().unwrap();
}

#[test]
fn a_dead_writer_fails_writes_instead_of_hanging() {
    let store = Store::in_memory(roomy()).unwrap();
    store.put(entry("before", "/x"), b"kept").unwrap();
    let crash = store
        .inner
        .writer
        .submit("crash", true, 0, |_| -> Result<(), Fault> {
            panic!("simulated writer crash")
        });
    assert!(matches!(
        crash.wait(),
        Err(StoreError::WriterStopped { .. })
    ));
    let err = store.put(entry("after", "/x"), b"lost").unwrap_err();
    assert!(matches!(err, StoreError::WriterStopped { .. }), "{err:?}");
    assert!(err.to_string().contains("<memory>"), "{err}");
    assert!(store.get("before").unwrap().is_some(), "reads still work");
    // Dropping the store must not hang on the dead thread.
    drop(store);
}

//! Coalescing: while one upstream fetch for a key is in flight, identical requests wait for its
//! answer instead of sending their own. The key always includes the token partition, so a request
//! is never answered with a response fetched under another credential.

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

type InFlight<T> = Shared<BoxFuture<'static, T>>;

/// In-flight fetches by key.
pub struct Coalescer<T: Clone + Send + Sync + 'static> {
    in_flight: Mutex<HashMap<String, InFlight<T>>>,
}

/// Whether this caller did the fetch or joined one already running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// This caller's request went upstream.
    Leader,
    /// This caller waited for another caller's fetch.
    Follower,
}

impl<T: Clone + Send + Sync + 'static> Default for Coalescer<T> {
    fn default() -> Self {
        Self {
            in_flight: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Clone + Send + Sync + 'static> Coalescer<T> {
    /// Runs `fetch` for `key`, unless a fetch for `key` is already running, in which case its
    /// result is shared. The entry is removed when the leader's fetch completes.
    pub async fn run<F>(self: &Arc<Self>, key: String, fetch: F) -> (T, Role)
    where
        F: Future<Output = T> + Send + 'static,
    {
        let (shared, role) = {
            let mut in_flight = self.in_flight.lock().expect("coalescer lock");
            match in_flight.get(&key) {
                Some(existing) => (existing.clone(), Role::Follower),
                None => {
                    let this = Arc::clone(self);
                    let cleanup_key = key.clone();
                    let future = async move {
                        let result = fetch.await;
                        this.in_flight
                            .lock()
                            .expect("coalescer lock")
                            .remove(&cleanup_key);
                        result
                    }
                    .boxed()
                    .shared();
                    in_flight.insert(key, future.clone());
                    (future, Role::Leader)
                }
            }
        };
        (shared.await, role)
    }

    /// Fetches currently in flight.
    #[cfg(test)]
    pub fn in_flight(&self) -> usize {
        self.in_flight.lock().expect("coalescer lock").len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn concurrent_identical_fetches_run_once() {
        let coalescer = Arc::new(Coalescer::<u32>::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let coalescer = coalescer.clone();
            let calls = calls.clone();
            tasks.push(tokio::spawn(async move {
                coalescer
                    .run("k".into(), async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        7
                    })
                    .await
            }));
        }
        let mut leaders = 0;
        for task in tasks {
            let (value, role) = task.await.unwrap();
            assert_eq!(value, 7);
            leaders += usize::from(role == Role::Leader);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(leaders, 1);
        assert_eq!(coalescer.in_flight(), 0);
    }

    #[tokio::test]
    async fn different_keys_do_not_wait_for_each_other() {
        let coalescer = Arc::new(Coalescer::<&'static str>::default());
        let (a, b) = tokio::join!(
            coalescer.run("a".into(), async { "a" }),
            coalescer.run("b".into(), async { "b" })
        );
        assert_eq!((a.0, b.0), ("a", "b"));
        assert_eq!((a.1, b.1), (Role::Leader, Role::Leader));
    }
}

//! What survives a stop. Stored misses are written behind (the client is answered before the
//! group commit's fsync), so `kill -9` may lose the last answered entries; what it must never do
//! is leave a store that fails to open, holds a torn entry, or lost a committed one. A graceful
//! stop (SIGTERM) loses nothing answered as stored.

use ghmesh_system_tests::Sandbox;
use ghmesh_system_tests::rig::{EchoUpstream, Serve, curl};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Concurrent clients in a burst.
const WORKERS: usize = 4;

/// Clients requesting distinct paths (all misses) until stopped; collects the paths answered
/// `200` and `stored`.
struct Burst {
    stored: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

impl Burst {
    fn start(base: &str, tag: &str) -> Self {
        let stored = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let workers = (0..WORKERS)
            .map(|worker| {
                let (base, stored, stop) = (base.to_owned(), stored.clone(), stop.clone());
                let tag = tag.to_owned();
                std::thread::spawn(move || {
                    for i in 0.. {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let path = format!("/repos/{tag}/w{worker}-{i}");
                        let exchange = curl(&format!("{base}{path}"), &["--max-time", "5"]);
                        if exchange.status == 200
                            && exchange
                                .header("cache-status")
                                .is_some_and(|s| s.contains("stored"))
                        {
                            stored.lock().unwrap().push(path);
                        }
                    }
                })
            })
            .collect();
        Burst {
            stored,
            stop,
            workers,
        }
    }

    /// Paths answered as stored so far.
    fn stored(&self) -> Vec<String> {
        self.stored.lock().unwrap().clone()
    }

    fn wait_for(&self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.stored.lock().unwrap().len() < count {
            assert!(Instant::now() < deadline, "the burst stalled");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn finish(self) -> Vec<String> {
        self.stop.store(true, Ordering::SeqCst);
        for worker in self.workers {
            worker.join().unwrap();
        }
        self.stored.lock().unwrap().clone()
    }
}

/// Entries committed to the store of a running serve (`cache_size` reads the store itself).
fn committed(serve: &Serve) -> u64 {
    let stats = curl(&format!("{}/_ghmesh/stats", serve.url), &[]);
    let doc: serde_json::Value = serde_json::from_str(&stats.body).unwrap_or_default();
    doc["cache_size"].as_u64().unwrap_or(0)
}

fn signal(serve: &Serve, name: &str) {
    let sent = std::process::Command::new("kill")
        .args([name, &serve.pid().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// Waits until the process has exited (a zombie until the rig reaps it).
fn wait_exited(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let exited = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        });
        if exited {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `path` is served after the restart with its own body; whether from the store.
fn served_from_store(serve: &Serve, path: &str) -> bool {
    let again = curl(&format!("{}{path}", serve.url), &[]);
    assert_eq!(again.status, 200, "{path}");
    assert!(again.body.contains(path), "{path} answered another body");
    again.header("x-cache") == Some("HIT")
}

#[test]
fn kill_9_mid_burst_keeps_every_committed_entry_and_tears_none() {
    let upstream = EchoUpstream::start();
    let sandbox = Sandbox::new();
    let serve = Serve::start(&sandbox, &upstream.url, &[]);
    let burst = Burst::start(&serve.url, "crash");
    burst.wait_for(40);
    // Commits land in queue order, and each answered path was queued before it was answered;
    // at most one more per client was queued and not yet answered. So once the store holds that
    // many entries, every path answered so far is committed.
    let answered = burst.stored();
    let deadline = Instant::now() + Duration::from_secs(60);
    while committed(&serve) < (answered.len() + WORKERS) as u64 {
        assert!(Instant::now() < deadline, "the writer never caught up");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Keep the burst going, then kill without warning while writes are queued and in flight.
    burst.wait_for(answered.len() + 40);
    signal(&serve, "-9");
    let all = burst.finish();
    drop(serve);

    let verify = sandbox.run(&["cache", "verify"], &[]);
    assert!(
        verify.status.success(),
        "the store left by kill -9 does not verify: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    let restarted = Serve::start(&sandbox, &upstream.url, &[]);
    for path in &answered {
        assert!(
            served_from_store(&restarted, path),
            "{path} was committed before kill -9 but is gone"
        );
    }
    let late = &all[answered.len()..];
    let survived = late
        .iter()
        .filter(|path| served_from_store(&restarted, path))
        .count();
    eprintln!(
        "{} entries committed before kill -9, all served after restart; of {} answered later \
         (write-behind), {survived} had been committed",
        answered.len(),
        late.len()
    );
}

#[test]
fn sigterm_mid_burst_commits_every_answered_entry() {
    let upstream = EchoUpstream::start();
    let sandbox = Sandbox::new();
    let serve = Serve::start(&sandbox, &upstream.url, &[]);
    let burst = Burst::start(&serve.url, "term");
    burst.wait_for(40);
    signal(&serve, "-TERM");
    wait_exited(serve.pid());
    let answered = burst.finish();
    drop(serve);

    let restarted = Serve::start(&sandbox, &upstream.url, &[]);
    for path in &answered {
        assert!(
            served_from_store(&restarted, path),
            "{path} was answered as stored before SIGTERM but is gone"
        );
    }
    eprintln!(
        "{} entries answered before SIGTERM, all served after restart",
        answered.len()
    );
}

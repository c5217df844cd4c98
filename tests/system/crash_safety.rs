//! `kill -9` during a burst of stores leaves a store that opens and serves every entry whose
//! response had already been sent as stored.

use ghmesh_system_tests::Sandbox;
use ghmesh_system_tests::rig::{EchoUpstream, Serve, curl};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

#[test]
fn kill_9_mid_burst_keeps_every_committed_entry() {
    let upstream = EchoUpstream::start();
    let sandbox = Sandbox::new();
    let serve = Serve::start(&sandbox, &upstream.url, &[]);
    let stored = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let (base, stored, stop) = (serve.url.clone(), stored.clone(), stop.clone());
            std::thread::spawn(move || {
                for i in 0.. {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let path = format!("/repos/crash/w{worker}-{i}");
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
    // Let the burst run, then kill without warning while requests are in flight.
    while stored.lock().unwrap().len() < 40 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let killed = std::process::Command::new("kill")
        .args(["-9", &serve.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.join().unwrap();
    }
    drop(serve);

    let committed = stored.lock().unwrap().clone();
    let restarted = Serve::start(&sandbox, &upstream.url, &[]);
    for path in &committed {
        let again = curl(&format!("{}{path}", restarted.url), &[]);
        assert_eq!(again.status, 200);
        assert_eq!(
            again.header("x-cache"),
            Some("HIT"),
            "{path} was acknowledged as stored but is gone"
        );
        assert!(again.body.contains(path.as_str()));
    }
    eprintln!(
        "{} entries acknowledged before kill -9, all served after restart",
        committed.len()
    );
}

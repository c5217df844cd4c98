//! `ghmesh serve` against recorded GitHub responses (@octokit/fixtures-server): hits, revalidation,
//! invalidation on writes, pagination through the proxy, and refusals.

use ghmesh_system_tests::Sandbox;
use ghmesh_system_tests::rig::{FixtureServer, Serve, curl};
use serde_json::Value;
use std::path::Path;

fn custom_fixtures() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/api/*.json")
        .display()
        .to_string()
}

fn stats(serve: &Serve) -> Value {
    serde_json::from_str(&curl(&format!("{}/_ghmesh/stats", serve.url), &[]).body)
        .expect("stats JSON")
}

#[test]
fn repeated_get_is_a_hit_and_upstream_sees_it_once() {
    let fixtures = FixtureServer::start(None);
    let upstream = fixtures.scenario("get-repository");
    let sandbox = Sandbox::new();
    let serve = Serve::start(&sandbox, &upstream, &[]);
    let url = format!("{}/repos/octokit-fixture-org/hello-world", serve.url);

    let first = curl(&url, &[]);
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.header("x-cache"), Some("MISS"));
    let repo: Value = serde_json::from_str(&first.body).unwrap();
    assert_eq!(repo["full_name"], "octokit-fixture-org/hello-world");

    // The scenario holds one recorded response: a second upstream call would fail.
    for _ in 0..3 {
        let again = curl(&url, &[]);
        assert_eq!(again.status, 200);
        assert_eq!(again.header("x-cache"), Some("HIT"));
        assert!(
            again
                .header("cache-status")
                .unwrap()
                .starts_with("ghmesh; hit")
        );
        assert_eq!(again.body, first.body);
    }
    let stats = stats(&serve);
    assert_eq!(stats["upstream_requests"], 1, "{stats}");
    assert_eq!(stats["local_hits"], 3);
    assert_eq!(stats["api_calls_saved"], 3);
    assert_eq!(stats["cache_size"], 1);
}

#[test]
fn entries_survive_a_restart() {
    let fixtures = FixtureServer::start(None);
    let upstream = fixtures.scenario("get-repository");
    let sandbox = Sandbox::new();
    let url_path = "/repos/octokit-fixture-org/hello-world";
    let body = {
        let serve = Serve::start(&sandbox, &upstream, &[]);
        let body = curl(&format!("{}{url_path}", serve.url), &[]).body;
        // A graceful stop commits the write-behind queue (a kill -9 may lose the last answered
        // misses; crash_safety covers that case).
        assert!(serve.stop().success());
        body
    };
    let serve = Serve::start(&sandbox, &upstream, &[]);
    let again = curl(&format!("{}{url_path}", serve.url), &[]);
    assert_eq!(again.header("x-cache"), Some("HIT"), "{}", again.body);
    assert_eq!(again.body, body);
}

#[test]
fn a_304_revalidation_serves_the_cached_body() {
    let fixtures = FixtureServer::start(Some(&custom_fixtures()));
    let upstream = fixtures.scenario("revalidate-304");
    let sandbox = Sandbox::new();
    // TTL 0 for the repo class: every request revalidates.
    sandbox.write_config("cache-config.yml", "operation_ttls:\n  repo: 0\n");
    let serve = Serve::start(&sandbox, &upstream, &[]);
    let url = format!("{}/repos/octo-org/fleet", serve.url);
    let first = curl(&url, &[]);
    assert_eq!(first.header("x-cache"), Some("MISS"), "{}", first.body);
    let second = curl(&url, &[]);
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.header("x-cache"), Some("REVALIDATED"));
    assert_eq!(second.body, first.body);
    assert_eq!(stats(&serve)["revalidations"], 1);
}

#[test]
fn a_write_invalidates_the_collection() {
    let fixtures = FixtureServer::start(Some(&custom_fixtures()));
    let upstream = fixtures.scenario("write-invalidates");
    let sandbox = Sandbox::new();
    let serve = Serve::start(&sandbox, &upstream, &[]);
    let issues = format!("{}/repos/octo-org/fleet/issues", serve.url);
    assert_eq!(curl(&issues, &[]).header("x-cache"), Some("MISS"));
    assert_eq!(curl(&issues, &[]).header("x-cache"), Some("HIT"));
    let created = curl(
        &issues,
        &[
            "-X",
            "POST",
            "-H",
            "content-type: application/json",
            "-d",
            r#"{"title":"second"}"#,
        ],
    );
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.header("x-cache"), Some("BYPASS"));
    let after = curl(&issues, &[]);
    assert_eq!(
        after.header("x-cache"),
        Some("MISS"),
        "the write must have invalidated the list"
    );
    let list: Value = serde_json::from_str(&after.body).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
}

#[test]
fn pagination_links_point_back_at_the_proxy() {
    let fixtures = FixtureServer::start(None);
    let upstream = fixtures.scenario("paginate-issues");
    let sandbox = Sandbox::new();
    let serve = Serve::start(&sandbox, &upstream, &[]);
    let page = curl(
        &format!(
            "{}/repos/octokit-fixture-org/paginate-issues/issues?per_page=3",
            serve.url
        ),
        &[],
    );
    assert_eq!(page.status, 200, "{}", page.body);
    let link = page.header("link").expect("link header");
    assert!(link.contains(&serve.url), "{link}");
    assert!(!link.contains(&fixtures.url), "{link}");
}

#[test]
fn not_an_open_proxy_and_bad_targets_get_clear_errors() {
    let fixtures = FixtureServer::start(None);
    let upstream = fixtures.scenario("get-repository");
    let sandbox = Sandbox::new();
    let serve = Serve::start(&sandbox, &upstream, &[]);
    let foreign = curl("http://example.com/", &["--proxy", &serve.url]);
    assert_eq!(foreign.status, 403);
    assert!(
        foreign.body.contains("not an open proxy"),
        "{}",
        foreign.body
    );
    // Forward-proxy requests for the GitHub host are served (how gh talks through HTTP_PROXY).
    let forward = curl(
        "http://api.github.localhost/repos/octokit-fixture-org/hello-world",
        &["--proxy", &serve.url],
    );
    assert_eq!(forward.status, 200, "{}", forward.body);
    // The daemon keeps serving after refusals.
    assert_eq!(
        curl(&format!("{}/_ghmesh/health", serve.url), &[]).body,
        "ok"
    );
}

#[test]
fn the_unix_socket_speaks_the_same_http() {
    let upstream = ghmesh_system_tests::rig::EchoUpstream::start();
    let sandbox = Sandbox::new();
    let socket = sandbox.path("ghmesh.sock");
    let socket = socket.to_str().unwrap();
    let serve = Serve::start(&sandbox, &upstream.url, &["--unix-socket", socket]);
    let first = curl("http://localhost/repos/o/r", &["--unix-socket", socket]);
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.header("x-cache"), Some("MISS"));
    let again = curl("http://localhost/repos/o/r", &["--unix-socket", socket]);
    assert_eq!(again.header("x-cache"), Some("HIT"));
    // One cache behind both front ends.
    assert_eq!(
        curl(&format!("{}/repos/o/r", serve.url), &[]).header("x-cache"),
        Some("HIT")
    );
}

#[test]
fn a_rate_limited_upstream_gets_a_stale_entry_instead_of_an_error() {
    let fixtures = FixtureServer::start(Some(&custom_fixtures()));
    let upstream = fixtures.scenario("stale-on-rate-limit");
    let sandbox = Sandbox::new();
    // TTL 0: every request after the first asks GitHub again.
    sandbox.write_config("cache-config.yml", "operation_ttls:\n  runners: 0\n");
    let serve = Serve::start(&sandbox, &upstream, &[]);
    let url = format!("{}/repos/octo-org/fleet/actions/runners", serve.url);
    let first = curl(&url, &[]);
    assert_eq!(
        (first.status, first.header("x-cache")),
        (200, Some("MISS")),
        "{}",
        first.body
    );
    // GitHub answers the revalidation with a rate-limit 403: the stored entry is served, marked.
    let limited = curl(&url, &[]);
    assert_eq!(limited.status, 200, "{}", limited.body);
    assert_eq!(limited.header("x-cache"), Some("STALE"));
    assert!(
        limited
            .header("cache-status")
            .unwrap()
            .contains("detail=stale")
    );
    assert_eq!(limited.body, first.body);
    // Now known to be rate-limited until the reset: served stale without asking GitHub (the
    // recording has no third answer, so asking would fail).
    let again = curl(&url, &[]);
    assert_eq!(
        (again.status, again.header("x-cache")),
        (200, Some("STALE")),
        "{}",
        again.body
    );
    let stats = stats(&serve);
    assert_eq!(stats["upstream_requests"], 2, "{stats}");
    assert_eq!(stats["stale_served"], 2);
    assert_eq!(
        stats["rate_limits"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()["remaining"],
        0
    );
}

#[test]
fn concurrent_identical_misses_reach_upstream_once() {
    use std::io::{BufRead, BufReader, Write};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    // An upstream that takes half a second, so the misses overlap, and counts what it is asked.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = format!("http://{}", listener.local_addr().unwrap());
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(&stream);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                counter.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(500));
                let body = r#"{"id":1}"#;
                let _ = (&stream).write_all(
                    format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len()).as_bytes(),
                );
            });
        }
    });
    let sandbox = Sandbox::new();
    let serve = Serve::start(&sandbox, &upstream, &[]);
    let url = format!("{}/repos/o/slow", serve.url);
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || curl(&url, &[]))
        })
        .collect();
    let answers: Vec<_> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    assert!(
        answers
            .iter()
            .all(|a| a.status == 200 && a.body == r#"{"id":1}"#)
    );
    let coalesced = answers
        .iter()
        .filter(|a| a.header("x-cache") == Some("COALESCED"))
        .count();
    assert_eq!(
        asked.load(Ordering::SeqCst),
        1,
        "upstream must be asked once"
    );
    assert_eq!(coalesced, 7, "all but the leader waited for its fetch");
}

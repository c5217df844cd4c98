//! `ghmesh cache stats|ls|verify|prune|clear` while `ghmesh serve` holds the store: the commands
//! find the serve through its discovery file and use its admin API, which answers only to the
//! admin token from that file.

use ghmesh_system_tests::rig::{EchoUpstream, Serve, curl};
use ghmesh_system_tests::{Sandbox, stderr, stdout};
use serde_json::Value;
use std::process::Command;

/// A serve that has stored two entries.
fn serve_with_two_entries(sandbox: &Sandbox) -> (EchoUpstream, Serve) {
    let upstream = EchoUpstream::start();
    let serve = Serve::start(sandbox, &upstream.url, &[]);
    for path in ["/repos/o/one", "/repos/o/two"] {
        let answer = curl(&format!("{}{path}", serve.url), &[]);
        assert_eq!(answer.header("x-cache"), Some("MISS"), "{}", answer.body);
    }
    (upstream, serve)
}

/// Runs `ghmesh cache ARGS` in the sandbox and expects success.
fn cache(sandbox: &Sandbox, args: &[&str]) -> String {
    let mut all = vec!["cache"];
    all.extend_from_slice(args);
    let output = sandbox.run(&all, &[]);
    assert!(
        output.status.success(),
        "cache {args:?}: {}{}",
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

/// The admin token `serve` wrote into its discovery file.
fn admin_token(sandbox: &Sandbox) -> String {
    let record: Value = serde_json::from_str(
        &std::fs::read_to_string(sandbox.path("cache/serve.json")).expect("discovery file"),
    )
    .expect("discovery JSON");
    record["admin_token"].as_str().expect("token").to_string()
}

/// Status code of an admin call made with exactly the given extra curl arguments.
fn admin_status(method: &str, url: &str, args: &[&str]) -> u16 {
    let output = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", method])
        .args(args)
        .arg(url)
        .output()
        .expect("curl");
    String::from_utf8_lossy(&output.stdout)
        .parse()
        .expect("status code")
}

#[test]
fn every_cache_command_works_through_a_running_serve() {
    let sandbox = Sandbox::new();
    let (upstream, serve) = serve_with_two_entries(&sandbox);

    let stats: Value = serde_json::from_str(&cache(&sandbox, &["stats", "--json"])).unwrap();
    assert_eq!(stats["entries"], 2, "{stats}");
    assert_eq!(stats["blobs"], 2, "{stats}");
    assert!(
        stats["path"]
            .as_str()
            .unwrap()
            .ends_with("cache/store.redb"),
        "{stats}"
    );
    let table = cache(&sandbox, &["stats"]);
    assert!(table.contains("entries:       2 (max "), "{table}");

    let listing = cache(&sandbox, &["ls"]);
    assert!(listing.starts_with("KEY"), "{listing}");
    assert!(listing.contains("/repos/o/one"), "{listing}");
    assert!(listing.contains("/repos/o/two"), "{listing}");
    let rows: Value =
        serde_json::from_str(&cache(&sandbox, &["ls", "--json", "--limit", "1"])).expect("ls JSON");
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{rows}");
    assert_eq!(rows[0]["share"], "revalidate", "{rows}");
    assert_eq!(rows[0]["fresh"], true, "{rows}");

    let verified = cache(&sandbox, &["verify"]);
    assert!(verified.contains("checked 2 bodies"), "{verified}");
    assert!(verified.trim_end().ends_with("ok"), "{verified}");

    assert_eq!(
        cache(&sandbox, &["prune"]).trim(),
        "pruned 0 expired entries"
    );
    let cleared = cache(&sandbox, &["clear", "--yes"]);
    assert!(cleared.starts_with("cleared 2 entries from "), "{cleared}");
    let stats: Value = serde_json::from_str(&cache(&sandbox, &["stats", "--json"])).unwrap();
    assert_eq!(stats["entries"], 0, "{stats}");

    // Cleared from memory too: the next request goes to upstream again.
    let again = curl(&format!("{}/repos/o/one", serve.url), &[]);
    assert_eq!(again.header("x-cache"), Some("MISS"));
    assert_eq!(upstream.requests(), 3);
}

#[test]
fn the_admin_api_refuses_requests_without_the_token_and_changes_nothing() {
    let sandbox = Sandbox::new();
    let (upstream, serve) = serve_with_two_entries(&sandbox);
    let token = admin_token(&sandbox);
    let clear = format!("{}/_ghmesh/cache/clear", serve.url);
    let stats = format!("{}/_ghmesh/cache/stats", serve.url);
    let wrong = format!("Authorization: Bearer {}", "0".repeat(64));
    let right = format!("Authorization: Bearer {token}");
    let in_query = format!("{clear}?token={token}&access_token={token}");
    assert_eq!(admin_status("POST", &clear, &[]), 401);
    assert_eq!(admin_status("POST", &clear, &["-H", &wrong]), 401);
    assert_eq!(
        admin_status("POST", &clear, &["-H", "Authorization: Bearer"]),
        401
    );
    assert_eq!(
        admin_status(
            "POST",
            &clear,
            &["-H", &format!("Authorization: token {token}")]
        ),
        401,
        "only the Bearer scheme"
    );
    assert_eq!(
        admin_status("POST", &in_query, &[]),
        401,
        "never from the query"
    );
    assert_eq!(admin_status("GET", &stats, &["-H", &wrong]), 401);

    // Nothing was cleared: both entries are still served from the cache.
    for path in ["/repos/o/one", "/repos/o/two"] {
        let answer = curl(&format!("{}{path}", serve.url), &[]);
        assert_eq!(answer.header("x-cache"), Some("HIT"));
    }
    assert_eq!(upstream.requests(), 2);
    let listing: Value = serde_json::from_str(&cache(&sandbox, &["ls", "--json"])).unwrap();
    assert_eq!(listing.as_array().map(Vec::len), Some(2));

    // The same call with the token works, and a mistyped admin path is not proxied upstream.
    assert_eq!(admin_status("GET", &stats, &["-H", &right]), 200);
    let typo = format!("{}/_ghmesh/cache/stat", serve.url);
    assert_eq!(admin_status("GET", &typo, &["-H", &right]), 404);
    assert_eq!(upstream.requests(), 2);
}

#[test]
fn the_discovery_file_lives_as_long_as_the_serve() {
    let sandbox = Sandbox::new();
    let upstream = EchoUpstream::start();
    let serve = Serve::start(&sandbox, &upstream.url, &[]);
    let file = sandbox.path("cache/serve.json");
    assert!(file.exists());
    let stopped = Command::new("kill")
        .args(["-TERM", &serve.pid().to_string()])
        .status()
        .expect("kill");
    assert!(stopped.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while file.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "serve.json outlived a clean shutdown"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // With the serve gone the store is free again: the commands open it directly.
    let stats = cache(&sandbox, &["stats", "--json"]);
    assert!(stats.contains("\"entries\": 0"), "{stats}");
}

#[test]
fn stats_finds_the_running_serve_through_its_discovery_file() {
    let sandbox = Sandbox::new();
    let (_upstream, _serve) = serve_with_two_entries(&sandbox);
    // No --url: the serve listens on a random port, so only serve.json can lead there.
    let output = sandbox.run(&["stats", "--json"], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let stats: Value = serde_json::from_str(&stdout(&output)).expect("stats JSON");
    assert_eq!(stats["misses"], 2, "{stats}");
    // Not in a mesh: `ghmesh peers` says so instead of printing an empty list.
    let output = sandbox.run(&["peers"], &[]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("not in a fleet mesh"),
        "{}",
        stderr(&output)
    );
}

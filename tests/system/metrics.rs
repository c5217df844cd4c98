//! What `ghmesh serve` reports about itself: Prometheus `/metrics` and the `ghmesh stats` command
//! reading `/_ghmesh/stats` from a running proxy.

use ghmesh_system_tests::rig::{EchoUpstream, Serve, curl};
use ghmesh_system_tests::{Sandbox, stderr, stdout};
use serde_json::Value;

/// A proxy that has answered one miss and one hit for the same resource.
fn serve_after_miss_and_hit(sandbox: &Sandbox) -> (EchoUpstream, Serve) {
    let upstream = EchoUpstream::start();
    let serve = Serve::start(sandbox, &upstream.url, &[]);
    let url = format!("{}/repos/octo-org/fleet", serve.url);
    assert_eq!(curl(&url, &[]).header("x-cache"), Some("MISS"));
    assert_eq!(curl(&url, &[]).header("x-cache"), Some("HIT"));
    (upstream, serve)
}

#[test]
fn metrics_count_outcomes_and_time_requests() {
    let sandbox = Sandbox::new();
    let (_upstream, serve) = serve_after_miss_and_hit(&sandbox);

    let metrics = curl(&format!("{}/metrics", serve.url), &[]);
    assert_eq!(metrics.status, 200, "{}", metrics.body);
    assert!(
        metrics
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/openmetrics-text")),
        "{:?}",
        metrics.headers
    );
    let text = &metrics.body;
    for line in [
        "ghmesh_requests_total{outcome=\"hit\"} 1",
        "ghmesh_requests_total{outcome=\"miss\"} 1",
        "ghmesh_requests_total{outcome=\"stale\"} 0",
        "ghmesh_upstream_requests_total 1",
        "ghmesh_cache_entries 1",
        "ghmesh_request_duration_seconds_count{outcome=\"hit\"} 1",
        "# TYPE ghmesh_request_duration_seconds histogram",
        "# EOF",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "`{line}` missing from:\n{text}"
        );
    }
    assert!(
        text.lines().any(|l| l
            .starts_with("ghmesh_request_duration_seconds_bucket{le=\"+Inf\",outcome=\"hit\"} 1")),
        "{text}"
    );
    assert!(
        !text.contains("0000000000000000000000000000000000000001"),
        "the token never appears in metrics"
    );
}

#[test]
fn stats_command_reads_a_running_serve() {
    let sandbox = Sandbox::new();
    let (_upstream, serve) = serve_after_miss_and_hit(&sandbox);

    let json = sandbox.run(&["stats", "--json", "--url", &serve.url], &[]);
    assert!(json.status.success(), "{}", stderr(&json));
    let doc: Value = serde_json::from_str(&stdout(&json)).expect("stats JSON");
    assert_eq!(doc["local_hits"], 1, "{doc}");
    assert_eq!(doc["misses"], 1, "{doc}");
    assert_eq!(doc["hit_rate"], 0.5, "{doc}");

    // GHMESH_URL stands in for --url.
    let table = sandbox.run(&["stats"], &[("GHMESH_URL", &serve.url)]);
    assert!(table.status.success(), "{}", stderr(&table));
    let text = stdout(&table);
    let first: Vec<&str> = text.lines().take(4).collect();
    assert!(
        first[0].starts_with("local_hits") && first[0].ends_with(" 1"),
        "{text}"
    );
    assert!(
        first[3].starts_with("hit_rate") && first[3].ends_with(" 50.0%"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with("upstream_requests")),
        "{text}"
    );
}

#[test]
fn stats_command_without_a_serve_fails_clearly() {
    let sandbox = Sandbox::new();
    // Port 9 (discard) has no listener here: the connection is refused at once.
    let output = sandbox.run(&["stats", "--url", "http://127.0.0.1:9"], &[]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains("no ghmesh serve answering at http://127.0.0.1:9"),
        "{message}"
    );
    assert!(stdout(&output).is_empty());
}

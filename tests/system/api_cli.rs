//! `ghmesh api` through a running `ghmesh serve` (named by --url or found through the discovery
//! file) and in-process from its own store: pagination merged into one array, repeats answered
//! from the cache, writes invalidating, and clear errors when no serve answers.

use ghmesh_system_tests::rig::{
    EchoUpstream, FIXTURE_ACCEPT, FIXTURE_TOKEN, FixtureServer, Serve, curl,
};
use ghmesh_system_tests::{Sandbox, stderr, stdout};
use serde_json::Value;

#[test]
fn paginate_merges_all_pages_and_a_second_run_is_served_from_cache() {
    let fixtures = FixtureServer::start(None);
    let upstream = fixtures.scenario("paginate-issues");
    let sandbox = Sandbox::new();
    let serve = Serve::start(&sandbox, &upstream, &[]);
    let authorization = format!("Authorization: {FIXTURE_TOKEN}");
    let accept = format!("Accept: {FIXTURE_ACCEPT}");
    let path = "repos/octokit-fixture-org/paginate-issues/issues?per_page=3";

    let first = sandbox.run(
        &[
            "api",
            "--url",
            &serve.url,
            "--paginate",
            "-H",
            &authorization,
            "-H",
            &accept,
            path,
        ],
        &[],
    );
    assert!(first.status.success(), "{}", stderr(&first));
    let issues: Value = serde_json::from_str(&stdout(&first)).expect("one JSON array");
    let issues = issues.as_array().expect("array");
    assert_eq!(issues.len(), 13, "{issues:?}");
    let mut numbers: Vec<u64> = issues.iter().filter_map(|i| i["number"].as_u64()).collect();
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(numbers.len(), 13, "{numbers:?}");

    // The scenario's recorded responses are used up: this run can only come from the cache.
    let second = sandbox.run(
        &[
            "api",
            "--url",
            &serve.url,
            "--paginate",
            "-i",
            "-H",
            &authorization,
            "-H",
            &accept,
            &format!("/{path}"),
        ],
        &[],
    );
    assert!(second.status.success(), "{}", stderr(&second));
    let text = stdout(&second);
    let (first_head, _) = text.split_once("\n\n").expect("headers, then a blank line");
    assert!(first_head.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(first_head.lines().any(|l| l == "x-cache: HIT"), "{text}");
    let body = text.lines().last().expect("body line");
    let again: Value = serde_json::from_str(body).expect("merged array last");
    assert_eq!(again.as_array().map(Vec::len), Some(13), "{text}");
}

#[test]
fn an_http_error_prints_the_body_and_exits_1() {
    let fixtures = FixtureServer::start(None);
    let upstream = fixtures.scenario("get-repository");
    let sandbox = Sandbox::new();
    let serve = Serve::start(&sandbox, &upstream, &[]);
    // /rate_limit is not in the scenario: fixtures-server answers with an error status.
    let output = sandbox.run(
        &["api", "--url", &serve.url, "rate_limit"],
        &[("GH_TOKEN", "0000000000000000000000000000000000000001")],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let err = stderr(&output);
    assert!(err.contains("error: HTTP "), "{err}");
    assert!(
        !err.contains("0000000000000000000000000000000000000001"),
        "{err}"
    );
    assert!(!stdout(&output).contains("0000000000000000000000000000000000000001"));
}

#[test]
fn nothing_listening_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let sandbox = Sandbox::new();
    let output = sandbox.run(
        &["api", "--url", &url, "repos/o/r"],
        &[("GH_TOKEN", "sekrit-token")],
    );
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains(&format!("no ghmesh serve answering at {url}")),
        "{err}"
    );
    assert!(err.contains("ghmesh serve"), "{err}");
    assert!(!err.contains("sekrit-token"), "{err}");
    assert!(stdout(&output).is_empty());
}

/// `ghmesh api` with no serve named or running, so it answers in-process from its own store.
fn api_in_process(sandbox: &Sandbox, upstream: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec!["api", "--upstream", upstream];
    all.extend_from_slice(args);
    sandbox.run(
        &all,
        &[("GH_TOKEN", "0000000000000000000000000000000000000001")],
    )
}

#[test]
fn without_a_serve_a_repeat_is_answered_from_the_store() {
    let upstream = EchoUpstream::start();
    let sandbox = Sandbox::new();
    let first = api_in_process(&sandbox, &upstream.url, &["-i", "repos/o/r"]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stdout(&first).contains("x-cache: MISS"),
        "{}",
        stdout(&first)
    );
    // A second process: only the store on disk connects the two runs.
    let second = api_in_process(&sandbox, &upstream.url, &["-i", "/repos/o/r"]);
    assert!(second.status.success(), "{}", stderr(&second));
    let text = stdout(&second);
    assert!(text.contains("x-cache: HIT"), "{text}");
    let body: Value = serde_json::from_str(text.lines().last().unwrap()).expect("JSON body");
    assert_eq!(body["path"], "/repos/o/r");
    assert_eq!(
        upstream.requests(),
        1,
        "the second run must not reach upstream"
    );
    assert!(!sandbox.path("cache/serve.json").exists());
}

#[test]
fn paginate_in_process_follows_links_through_the_store() {
    let fixtures = FixtureServer::start(None);
    let upstream = fixtures.scenario("paginate-issues");
    let sandbox = Sandbox::new();
    let accept = format!("Accept: {FIXTURE_ACCEPT}");
    let path = "repos/octokit-fixture-org/paginate-issues/issues?per_page=3";
    let args = ["--paginate", "-H", &accept, path];
    let first = api_in_process(&sandbox, &upstream, &args);
    assert!(first.status.success(), "{}", stderr(&first));
    let issues: Value = serde_json::from_str(&stdout(&first)).expect("one JSON array");
    assert_eq!(issues.as_array().map(Vec::len), Some(13), "{issues}");

    // The recordings are used up: every page of this run comes from the store.
    let second = api_in_process(
        &sandbox,
        &upstream,
        &["-i", args[0], args[1], args[2], path],
    );
    assert!(second.status.success(), "{}", stderr(&second));
    let text = stdout(&second);
    assert_eq!(text.matches("x-cache: HIT").count(), 5, "{text}");
    assert!(
        text.contains("link: <http://ghmesh.invalid/"),
        "links point at the in-process origin: {text}"
    );
    let again: Value = serde_json::from_str(text.lines().last().unwrap()).expect("merged array");
    assert_eq!(again, issues);
}

#[test]
fn a_write_in_process_invalidates_the_collection() {
    let fixtures = FixtureServer::start(Some(
        &ghmesh_system_tests::repo_root()
            .join("tests/fixtures/api/*.json")
            .display()
            .to_string(),
    ));
    let upstream = fixtures.scenario("write-invalidates");
    let sandbox = Sandbox::new();
    let accept = format!("Accept: {FIXTURE_ACCEPT}");
    let list = |expected: &str| {
        let output = api_in_process(
            &sandbox,
            &upstream,
            &["-i", "-H", &accept, "repos/octo-org/fleet/issues"],
        );
        assert!(output.status.success(), "{}", stderr(&output));
        let text = stdout(&output);
        assert!(text.contains(&format!("x-cache: {expected}")), "{text}");
        serde_json::from_str::<Value>(text.lines().last().unwrap()).expect("JSON list")
    };
    assert_eq!(list("MISS").as_array().map(Vec::len), Some(1));
    assert_eq!(list("HIT").as_array().map(Vec::len), Some(1));
    let created = api_in_process(
        &sandbox,
        &upstream,
        &[
            "-H",
            &accept,
            "repos/octo-org/fleet/issues",
            "-f",
            "title=second",
        ],
    );
    assert!(created.status.success(), "{}", stderr(&created));
    assert_eq!(
        list("MISS").as_array().map(Vec::len),
        Some(2),
        "the write must have invalidated the stored list"
    );
}

#[test]
fn api_finds_a_running_serve_through_the_discovery_file() {
    let upstream = EchoUpstream::start();
    let sandbox = Sandbox::new();
    let serve = Serve::start(&sandbox, &upstream.url, &[]);
    let record: Value = serde_json::from_str(
        &std::fs::read_to_string(sandbox.path("cache/serve.json")).expect("discovery file"),
    )
    .expect("discovery JSON");
    assert_eq!(record["url"], serve.url.as_str());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(sandbox.path("cache/serve.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    for _ in 0..2 {
        // No --url, no GHMESH_URL, and an --upstream nobody listens on: only the serve can answer.
        let output = api_in_process(&sandbox, "http://127.0.0.1:9", &["repos/o/r"]);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let stats: Value =
        serde_json::from_str(&curl(&format!("{}/_ghmesh/stats", serve.url), &[]).body).unwrap();
    assert_eq!(stats["misses"], 1, "{stats}");
    assert_eq!(stats["local_hits"], 1, "{stats}");
    assert_eq!(upstream.requests(), 1);
}

#[test]
fn a_stale_discovery_file_is_ignored() {
    let upstream = EchoUpstream::start();
    let sandbox = Sandbox::new();
    let serve = Serve::start(&sandbox, &upstream.url, &[]);
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &serve.pid().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    wait_until_gone(&serve.url);
    assert!(
        sandbox.path("cache/serve.json").exists(),
        "left behind by kill -9"
    );
    let output = api_in_process(&sandbox, &upstream.url, &["-i", "repos/o/r"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("x-cache: MISS"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn a_store_held_by_a_silent_serve_is_explained() {
    let upstream = EchoUpstream::start();
    let sandbox = Sandbox::new();
    let serve = Serve::start(&sandbox, &upstream.url, &[]);
    let pid = serve.pid().to_string();
    let signal = |name: &str| {
        let sent = std::process::Command::new("kill")
            .args([name, &pid])
            .status()
            .expect("kill");
        assert!(sent.success());
    };
    // Stopped, it keeps the store's lock and its port but answers nothing.
    signal("-STOP");
    let output = api_in_process(&sandbox, &upstream.url, &["repos/o/r"]);
    signal("-CONT");
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("is locked"), "{err}");
    assert!(err.contains(&format!("(pid {pid})")), "{err}");
    assert!(err.contains("does not answer"), "{err}");
    assert!(
        !err.contains("0000000000000000000000000000000000000001"),
        "{err}"
    );
    assert_eq!(upstream.requests(), 0);
}

/// Waits until nothing accepts connections at `url` any more.
fn wait_until_gone(url: &str) {
    let address = url.trim_start_matches("http://");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(address).is_ok() {
        assert!(std::time::Instant::now() < deadline, "{url} still answers");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

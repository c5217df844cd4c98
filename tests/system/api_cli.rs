//! `ghmesh api` through a running `ghmesh serve`: pagination merged into one array, the second
//! run answered from the cache, and a clear error when no serve is listening.

use ghmesh_system_tests::rig::{FIXTURE_ACCEPT, FIXTURE_TOKEN, FixtureServer, Serve};
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

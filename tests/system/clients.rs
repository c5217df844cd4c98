//! Real GitHub API clients through `ghmesh serve`, against recorded GitHub responses
//! (@octokit/fixtures-server's `paginate-issues`: 13 issues in 5 pages of 3, linked by `link`
//! headers). Each client pages through the proxy twice. The recording answers each request once,
//! in order, and forgets the scenario when it is done, so the second pass succeeds only if the
//! proxy serves it from its store; the stats show GitHub saw each page once.
//!
//! - `@octokit/rest` (`octokit.paginate`, base URL = the proxy) — `tests/rig/octokit-paginate.mjs`;
//! - PyGithub (`Github(base_url=...)`, `repo.get_issues()`) — `tests/rig/pygithub_paginate.py`, in
//!   the venv `tests/run` makes (`tests/rig/.venv`);
//! - `gh api --paginate` from Debian, as a forward-proxy client (`GH_HOST=github.localhost`,
//!   `HTTP_PROXY`).

use ghmesh_system_tests::Sandbox;
use ghmesh_system_tests::rig::{FIXTURE_ACCEPT, FixtureServer, Serve, curl, rig_dir};
use serde_json::Value;
use std::process::Command;

const SCENARIO: &str = "paginate-issues";
const TOKEN: &str = "0000000000000000000000000000000000000001";

/// The recorded exchanges of a built-in @octokit/fixtures scenario.
fn recording(scenario: &str) -> Vec<Value> {
    let path = rig_dir().join(format!(
        "node_modules/@octokit/fixtures/scenarios/api.github.com/{scenario}/normalized-fixture.json"
    ));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run tests/run)", path.display()));
    match serde_json::from_str(&text).expect("fixture JSON") {
        Value::Array(exchanges) => exchanges,
        other => panic!("unexpected fixture shape: {other}"),
    }
}

/// `(number, title)` of every issue the recording holds, in page order.
fn recorded_issues(exchanges: &[Value]) -> Vec<(u64, String)> {
    exchanges
        .iter()
        .flat_map(|e| e["response"].as_array().expect("a page").iter())
        .map(issue_id)
        .collect()
}

fn issue_id(issue: &Value) -> (u64, String) {
    (
        issue["number"].as_u64().expect("issue number"),
        issue["title"].as_str().expect("issue title").to_string(),
    )
}

/// Runs a client to completion (bounded: a hung client fails the test instead of hanging it) and
/// returns its standard output; any failure panics with its standard error.
fn run_client(mut command: Command, what: &str) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{stderr}",
        output.status
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// `timeout 120 program`, with only `PATH` from the test's environment (plus what the caller adds).
fn bounded(program: &str) -> Command {
    let mut command = Command::new("timeout");
    command
        .args(["--kill-after=5", "120", program])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    command
}

fn stats(serve: &Serve) -> Value {
    serde_json::from_str(&curl(&format!("{}/_ghmesh/stats", serve.url), &[]).body)
        .expect("stats JSON")
}

/// After two full passes: GitHub saw every page exactly once, the second pass was all hits.
fn assert_second_pass_from_cache(serve: &Serve, pages: usize) {
    let stats = stats(serve);
    assert_eq!(stats["upstream_requests"], pages, "{stats}");
    assert_eq!(stats["misses"], pages, "{stats}");
    assert!(
        stats["local_hits"].as_u64().unwrap() >= pages as u64,
        "{stats}"
    );
    assert_eq!(stats["upstream_errors"], 0, "{stats}");
}

#[test]
fn octokit_paginates_through_the_proxy_and_repeats_from_cache() {
    let exchanges = recording(SCENARIO);
    let expected = recorded_issues(&exchanges);
    let fixtures = FixtureServer::start(None);
    let upstream = fixtures.scenario(SCENARIO);
    let sandbox = Sandbox::new();
    let serve = Serve::start(&sandbox, &upstream, &[]);

    let pass = || {
        let mut node = bounded("node");
        node.arg("octokit-paginate.mjs")
            .arg(&serve.url)
            .current_dir(rig_dir());
        let out = run_client(node, "node octokit-paginate.mjs");
        serde_json::from_str::<Vec<Value>>(&out).expect("issues JSON")
    };
    let first = pass();
    assert_eq!(
        first.iter().map(issue_id).collect::<Vec<_>>(),
        expected,
        "every recorded issue, in order"
    );
    let second = pass();
    assert_eq!(second, first, "the cached pass returns the same bodies");
    assert_second_pass_from_cache(&serve, exchanges.len());
}

/// PyGithub sends `Accept: */*` (requests' default; it has no option to change it for
/// `get_issues`), and the recording's request matcher (nock `reqheaders`) demands exactly
/// `application/vnd.github.v3+json`, so the unchanged recording cannot be replayed by PyGithub's
/// own requests. The responses are replayed verbatim from a copy of the recording whose only
/// change is that matcher, set to what PyGithub sends; method, path, query and token must still
/// match exactly.
#[test]
fn pygithub_paginates_through_the_proxy_and_repeats_from_cache() {
    let python = rig_dir().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} missing: run tests/run (it installs tests/rig/requirements.txt)",
        python.display()
    );
    let mut exchanges = recording(SCENARIO);
    let expected = recorded_issues(&exchanges);
    for exchange in &mut exchanges {
        assert_eq!(exchange["reqheaders"]["accept"], FIXTURE_ACCEPT);
        exchange["reqheaders"]["accept"] = "*/*".into();
    }
    let fixture_dir = tempfile::tempdir().expect("tempdir");
    let fixture = fixture_dir.path().join("paginate-issues-pygithub.json");
    std::fs::write(&fixture, serde_json::to_string(&exchanges).unwrap()).expect("write fixture");
    let fixtures = FixtureServer::start(Some(&fixture.display().to_string()));
    let upstream = fixtures.scenario("paginate-issues-pygithub");
    let sandbox = Sandbox::new();
    let serve = Serve::start(&sandbox, &upstream, &[]);

    let pass = || {
        let mut command = bounded(python.to_str().expect("UTF-8 path"));
        command
            .arg("pygithub_paginate.py")
            .arg(&serve.url)
            .current_dir(rig_dir());
        let out = run_client(command, "python pygithub_paginate.py");
        serde_json::from_str::<Vec<Value>>(&out).expect("issues JSON")
    };
    let first = pass();
    assert_eq!(
        first.iter().map(issue_id).collect::<Vec<_>>(),
        expected,
        "every recorded issue, in order"
    );
    let second = pass();
    assert_eq!(second, first, "the cached pass returns the same issues");
    assert_second_pass_from_cache(&serve, exchanges.len());
}

/// `gh` as a forward-proxy client: absolute-form requests for `http://api.github.localhost/...`,
/// pages followed through the `link` headers the proxy rewrote to that host. Without `-H`, gh
/// 2.23 sends an empty `Accept`, which fixtures-server refuses; the flag sets the recorded one.
#[test]
fn gh_paginates_through_the_forward_proxy_and_repeats_from_cache() {
    assert!(
        Command::new("gh").arg("--version").output().is_ok(),
        "gh missing: run tests/run (it installs Debian's gh when apt is usable)"
    );
    let exchanges = recording(SCENARIO);
    let expected = recorded_issues(&exchanges);
    let fixtures = FixtureServer::start(None);
    let upstream = fixtures.scenario(SCENARIO);
    let sandbox = Sandbox::new();
    let serve = Serve::start(&sandbox, &upstream, &[]);
    let gh_home = tempfile::tempdir().expect("tempdir");

    let pass = || {
        let mut gh = bounded("gh");
        gh.args(["api", "--paginate", "-H"])
            .arg(format!("Accept: {FIXTURE_ACCEPT}"))
            .arg("repos/octokit-fixture-org/paginate-issues/issues?per_page=3")
            .current_dir(gh_home.path())
            .env("HOME", gh_home.path())
            .env("GH_CONFIG_DIR", gh_home.path().join("gh"))
            .env("GH_HOST", "github.localhost")
            .env("GH_TOKEN", TOKEN)
            .env("HTTP_PROXY", &serve.url)
            .env("GH_NO_UPDATE_NOTIFIER", "1")
            .env("GH_PROMPT_DISABLED", "1")
            .env("NO_COLOR", "1");
        let out = run_client(gh, "gh api --paginate");
        // One JSON array per page, printed back to back.
        serde_json::Deserializer::from_str(&out)
            .into_iter::<Vec<Value>>()
            .map(|page| page.expect("a page of issues"))
            .collect::<Vec<_>>()
    };
    let first = pass();
    assert_eq!(first.len(), exchanges.len(), "one array per recorded page");
    assert_eq!(
        first.iter().flatten().map(issue_id).collect::<Vec<_>>(),
        expected,
        "every recorded issue, in order"
    );
    let second = pass();
    assert_eq!(second, first, "the cached pass returns the same bodies");
    assert_second_pass_from_cache(&serve, exchanges.len());
}

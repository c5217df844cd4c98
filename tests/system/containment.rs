//! The misbehaving guest is contained: every call ends within its limits, the process survives,
//! the next call on the same runtime works, and the world's failure mode stands in.

use ghmesh::policy::{ComponentSource, Limits, PolicyRuntime, World, cache, codeql, credentials};
use ghmesh_system_tests::{Sandbox, components, repo_root, sha256_file, stderr, stdout};
use serde_json::Value;
use std::time::Instant;

fn evil() -> ComponentSource {
    ComponentSource::Pinned {
        path: components::EVIL_POLICY.into(),
        sha256: sha256_file(components::EVIL_POLICY),
    }
}

fn runtime() -> PolicyRuntime {
    // Tighter than the defaults so the suite stays quick; the mechanism is the same.
    PolicyRuntime::new(
        Limits {
            fuel_per_call: 20_000_000,
            memory_bytes: 32 << 20,
        },
        None,
    )
    .unwrap()
}

fn request(path: &str) -> cache::Request {
    cache::Request {
        method: "GET".into(),
        path: path.into(),
        query: String::new(),
        headers: vec![],
        token_partition: "t1".into(),
        graphql_query: None,
        operation_ttls: vec![],
        default_ttl_seconds: 300,
    }
}

#[test]
fn cache_policy_failures_bypass_and_the_next_call_works() {
    let runtime = runtime();
    let policy = runtime.cache_policy(&evil()).unwrap();
    for (trigger, expected) in [
        ("loop", "ran out of fuel"),
        ("alloc", "memory"),
        ("panic", "unreachable"),
        ("recurse", "stack"),
    ] {
        let started = Instant::now();
        let verdict = policy.on_request(&request(&format!("/evil/{trigger}")));
        let failure = verdict
            .failure
            .clone()
            .unwrap_or_else(|| panic!("{trigger} did not fail"));
        assert!(failure.contains(expected), "{trigger}: {failure}");
        match verdict.decision {
            cache::RequestDecision::Bypass(reason) => {
                assert!(reason.contains("bypassing"), "{reason}")
            }
            other => panic!("{trigger}: failure mode must bypass, got {other:?}"),
        }
        eprintln!("{trigger}: contained in {:?}: {failure}", started.elapsed());

        let next = policy.on_request(&request("/repos/o/r"));
        assert!(
            next.failure.is_none(),
            "after {trigger}: {:?}",
            next.failure
        );
        assert!(
            matches!(next.decision, cache::RequestDecision::Cache(ref p) if p.ttl_seconds == 42)
        );
    }
}

#[test]
fn log_flood_is_capped_and_the_decision_still_counts() {
    let runtime = runtime();
    let policy = runtime.cache_policy(&evil()).unwrap();
    let verdict = policy.on_request(&request("/evil/log-flood"));
    assert!(verdict.failure.is_none(), "{:?}", verdict.failure);
}

#[test]
fn codeql_failure_runs_the_scan() {
    let runtime = runtime();
    let policy = runtime.codeql_skip(&evil()).unwrap();
    let mut scan = codeql::ScanRequest {
        repo: "evil/loop".into(),
        commit: "c".into(),
        tree_id: "t".into(),
        config_digest: "d".into(),
        codeql_version: "2.20.0".into(),
        category: String::new(),
        languages: vec!["python".into()],
        paths: vec![],
        paths_ignore: vec![],
        build_mode: String::new(),
        changed_files: None,
        candidate: None,
    };
    let verdict = policy.decide(&scan);
    assert!(
        matches!(verdict.decision, codeql::SkipDecision::Run(_)),
        "{:?}",
        verdict.decision
    );
    assert!(verdict.failure.is_some());
    scan.repo = "evil/fine".into();
    assert!(matches!(
        policy.decide(&scan).decision,
        codeql::SkipDecision::Reuse(_)
    ));
}

#[test]
fn credential_failure_denies() {
    let runtime = runtime();
    let policy = runtime.credential_scope(&evil()).unwrap();
    let context = credentials::Context {
        repo: Some("o/r".into()),
        workflow_ref: None,
        runner: None,
        verified: false,
        now: 1,
    };
    for trigger in ["loop", "alloc", "panic", "recurse"] {
        let credential = credentials::Credential {
            name: trigger.into(),
            scope: credentials::Scope::Global,
            scope_filter: None,
            expires_at: None,
            require_verified: false,
        };
        let verdict = policy.decide(&credential, &context);
        assert!(
            matches!(verdict.decision, credentials::AccessDecision::Deny(_)),
            "{trigger}: {:?}",
            verdict.decision
        );
    }
    let fine = credentials::Credential {
        name: "TOKEN".into(),
        scope: credentials::Scope::Global,
        scope_filter: None,
        expires_at: None,
        require_verified: false,
    };
    assert!(matches!(
        policy.decide(&fine, &context).decision,
        credentials::AccessDecision::Allow(_)
    ));
}

#[test]
fn the_cli_survives_a_looping_component_and_reports_the_failure_mode() {
    let sandbox = Sandbox::new();
    let sha = sha256_file(components::EVIL_POLICY);
    sandbox.write_config(
        "cache-config.yml",
        &format!(
            "policy:\n  credential_scope:\n    path: {}\n    sha256: {sha}\n  fuel_per_call: 5000000\n",
            components::EVIL_POLICY
        ),
    );
    let input = sandbox.path("loop.json");
    let example =
        std::fs::read_to_string(repo_root().join("docs/examples/credential-scope-access.json"))
            .unwrap();
    let mut value: Value = serde_json::from_str(&example).unwrap();
    value["credential"]["name"] = "loop".into();
    std::fs::write(&input, value.to_string()).unwrap();
    let output = sandbox.run(
        &[
            "policy",
            "eval",
            "credential-scope",
            input.to_str().unwrap(),
        ],
        &[],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let verdict: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert!(verdict["decision"]["Deny"].is_string(), "{verdict}");
    assert!(
        verdict["failure"].as_str().unwrap().contains("fuel"),
        "{verdict}"
    );
    assert!(World::CredentialScope.failure_mode().contains("deny"));
}

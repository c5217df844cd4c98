//! `ghmesh policy list` and `ghmesh policy eval` with the embedded default components.

use ghmesh::policy::ALLOWED_IMPORTS;
use ghmesh_system_tests::{Sandbox, repo_root, stderr, stdout};
use serde_json::Value;

fn example(name: &str) -> String {
    repo_root()
        .join("docs/examples")
        .join(name)
        .display()
        .to_string()
}

fn eval(sandbox: &Sandbox, world: &str, input: &str) -> Value {
    let output = sandbox.run(&["policy", "eval", world, input], &[]);
    assert!(
        output.status.success(),
        "policy eval failed: {}",
        stderr(&output)
    );
    serde_json::from_str(&stdout(&output)).expect("eval prints JSON")
}

#[test]
fn policy_list_shows_three_embedded_worlds_with_hashes_and_imports() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&["policy", "list", "--json"], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let entries: Vec<Value> = serde_json::from_str(&stdout(&output)).unwrap();
    let worlds: Vec<&str> = entries
        .iter()
        .map(|e| e["world"].as_str().unwrap())
        .collect();
    assert_eq!(worlds, ["cache-policy", "codeql-skip", "credential-scope"]);
    for entry in &entries {
        assert_eq!(entry["source"], "embedded");
        let sha = entry["sha256"].as_str().unwrap();
        assert_eq!(sha.len(), 64, "{entry}");
        assert!(sha.chars().all(|c| c.is_ascii_hexdigit()));
        let imports: Vec<&str> = entry["imports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i.as_str().unwrap())
            .collect();
        for import in imports {
            let base = import.split('@').next().unwrap();
            assert!(
                ALLOWED_IMPORTS.contains(&base),
                "{import} is outside the allowlist"
            );
        }
    }

    let text = sandbox.run(&["policy", "list"], &[]);
    assert!(text.status.success());
    let text = stdout(&text);
    assert!(
        text.contains("cache-policy") && text.contains("deny the credential"),
        "{text}"
    );
}

#[test]
fn cache_policy_gives_workflow_runs_the_seed_ttl() {
    let sandbox = Sandbox::new();
    let verdict = eval(
        &sandbox,
        "cache-policy",
        &example("cache-policy-request.json"),
    );
    assert_eq!(verdict["world"], "cache-policy");
    assert_eq!(verdict["function"], "on-request");
    assert_eq!(verdict["failure"], Value::Null);
    let plan = &verdict["decision"]["Cache"];
    assert_eq!(plan["ttl_seconds"], 120, "{verdict}");
    assert_eq!(plan["operation"], "workflow-runs");
    assert!(
        verdict["reason"].as_str().unwrap().contains("120"),
        "{verdict}"
    );
}

#[test]
fn every_shipped_example_evaluates() {
    let sandbox = Sandbox::new();
    for (world, file) in [
        ("cache-policy", "cache-policy-request.json"),
        ("cache-policy", "cache-policy-entry.json"),
        ("cache-policy", "cache-policy-response.json"),
        ("codeql-skip", "codeql-skip-scan.json"),
        ("credential-scope", "credential-scope-access.json"),
    ] {
        let verdict = eval(&sandbox, world, &example(file));
        assert_eq!(verdict["failure"], Value::Null, "{file}: {verdict}");
        assert!(
            verdict["reason"].as_str().is_some_and(|r| !r.is_empty()),
            "{file}: {verdict}"
        );
    }
}

#[test]
fn a_write_invalidates_its_collection() {
    let sandbox = Sandbox::new();
    let input = sandbox.path("write.json");
    std::fs::write(
        &input,
        r#"{"response": {"method": "POST", "path": "/repos/octo/hello/issues", "query": "",
            "status": 201, "headers": []}}"#,
    )
    .unwrap();
    let verdict = eval(&sandbox, "cache-policy", input.to_str().unwrap());
    assert!(
        verdict["decision"]["store"]["NoStore"].is_string(),
        "{verdict}"
    );
    let invalidated: Vec<&str> = verdict["decision"]["invalidate"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    assert!(
        invalidated.contains(&"/repos/octo/hello/issues"),
        "{invalidated:?}"
    );
}

#[test]
fn malformed_input_is_refused_with_the_offending_field() {
    let sandbox = Sandbox::new();
    let input = sandbox.path("bad.json");
    std::fs::write(&input, r#"{"request": {"method": "GET", "path": 7}}"#).unwrap();
    let output = sandbox.run(
        &["policy", "eval", "cache-policy", input.to_str().unwrap()],
        &[],
    );
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(err.contains("request.path"), "{err}");

    let output = sandbox.run(
        &["policy", "eval", "no-such-world", input.to_str().unwrap()],
        &[],
    );
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("unknown policy world"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn version_and_help_work() {
    let sandbox = Sandbox::new();
    let version = sandbox.run(&["--version"], &[]);
    assert!(
        stdout(&version).starts_with("ghmesh "),
        "{}",
        stdout(&version)
    );
    let help = sandbox.run(&["policy", "eval", "--help"], &[]);
    assert!(stdout(&help).contains("docs/examples"), "{}", stdout(&help));
}

#[test]
fn compiled_components_are_cached_and_a_corrupt_cache_is_recompiled() {
    let sandbox = Sandbox::new();
    let input = example("credential-scope-access.json");
    assert!(
        sandbox
            .run(&["policy", "eval", "credential-scope", &input], &[])
            .status
            .success()
    );
    let compiled = sandbox.path("cache/compiled");
    let artifacts: Vec<_> = std::fs::read_dir(&compiled)
        .expect("compile cache dir")
        .flatten()
        .collect();
    assert_eq!(artifacts.len(), 1, "one artifact for one component");
    let artifact = artifacts[0].path();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&compiled).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "compile cache dir must be private");

    std::fs::write(&artifact, b"garbage that is not a compiled component").unwrap();
    let output = sandbox.run(&["policy", "eval", "credential-scope", &input], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        std::fs::metadata(&artifact).unwrap().len() > 1000,
        "corrupt artifact was rewritten"
    );
}

//! A third-party component replaces a default through configuration, and every way a component
//! can be wrong is refused with a specific error and a non-zero exit.

use ghmesh_system_tests::{Sandbox, components, repo_root, sha256_file, stderr, stdout};
use serde_json::Value;

fn pin(sandbox: &Sandbox, world_key: &str, path: &str, sha256: &str) {
    sandbox.write_config(
        "cache-config.yml",
        &format!("policy:\n  {world_key}:\n    path: {path}\n    sha256: {sha256}\n"),
    );
}

fn request_example() -> String {
    repo_root()
        .join("docs/examples/cache-policy-request.json")
        .display()
        .to_string()
}

#[test]
fn pinned_third_party_component_replaces_the_default() {
    let sandbox = Sandbox::new();
    let sha = sha256_file(components::CUSTOM_CACHE_POLICY);
    pin(
        &sandbox,
        "cache_policy",
        components::CUSTOM_CACHE_POLICY,
        &sha,
    );

    let output = sandbox.run(&["policy", "eval", "cache-policy", &request_example()], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let verdict: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(verdict["component"]["sha256"], sha.as_str());
    assert_eq!(
        verdict["decision"]["Cache"]["ttl_seconds"], 3600,
        "{verdict}"
    );
    assert_eq!(verdict["decision"]["Cache"]["share"], "Fleet");

    let list: Vec<Value> =
        serde_json::from_str(&stdout(&sandbox.run(&["policy", "list", "--json"], &[]))).unwrap();
    assert_eq!(list[0]["source"], components::CUSTOM_CACHE_POLICY);
    assert_eq!(
        list[1]["source"], "embedded",
        "other worlds keep their defaults"
    );
}

#[test]
fn pin_from_environment_works_too() {
    let sandbox = Sandbox::new();
    let sha = sha256_file(components::CUSTOM_CACHE_POLICY);
    let env = [
        ("GHMESH_CACHE_POLICY", components::CUSTOM_CACHE_POLICY),
        ("GHMESH_CACHE_POLICY_SHA256", sha.as_str()),
    ];
    let output = sandbox.run(
        &["policy", "eval", "cache-policy", &request_example()],
        &env,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("custom-everything"));
}

#[test]
fn wrong_sha256_is_refused_before_compiling() {
    let sandbox = Sandbox::new();
    pin(
        &sandbox,
        "cache_policy",
        components::CUSTOM_CACHE_POLICY,
        &"0".repeat(64),
    );
    let output = sandbox.run(&["policy", "eval", "cache-policy", &request_example()], &[]);
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("sha256 mismatch") && err.contains(&"0".repeat(64)),
        "{err}"
    );
    assert!(
        !sandbox.path("cache/compiled").exists(),
        "nothing was compiled"
    );
}

#[test]
fn forbidden_import_is_refused_by_name() {
    let sandbox = Sandbox::new();
    let sha = sha256_file(components::FS_READER_POLICY);
    pin(
        &sandbox,
        "credential_scope",
        components::FS_READER_POLICY,
        &sha,
    );
    let output = sandbox.run(&["policy", "list"], &[]);
    assert!(!output.status.success());
    let text = stdout(&output);
    assert!(
        text.contains("REFUSED") && text.contains("wasi:filesystem/"),
        "{text}"
    );
}

#[test]
fn component_of_the_wrong_world_is_refused() {
    let sandbox = Sandbox::new();
    let sha = sha256_file(components::CUSTOM_CACHE_POLICY);
    pin(
        &sandbox,
        "credential_scope",
        components::CUSTOM_CACHE_POLICY,
        &sha,
    );
    let input = repo_root().join("docs/examples/credential-scope-access.json");
    let output = sandbox.run(
        &[
            "policy",
            "eval",
            "credential-scope",
            input.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("does not implement world `credential-scope`")
            && err.contains("ghmesh:policy/cache@0.1.0"),
        "{err}"
    );
}

#[test]
fn a_file_that_is_not_a_component_is_refused() {
    let sandbox = Sandbox::new();
    let bogus = sandbox.path("bogus.wasm");
    std::fs::write(&bogus, b"\0asm not really").unwrap();
    let bogus = bogus.display().to_string();
    pin(&sandbox, "codeql_skip", &bogus, &sha256_file(&bogus));
    let output = sandbox.run(&["policy", "list"], &[]);
    assert!(!output.status.success());
    assert!(
        stdout(&output).contains("not a valid WebAssembly component"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn missing_component_file_is_a_clear_error() {
    let sandbox = Sandbox::new();
    pin(
        &sandbox,
        "cache_policy",
        "/nonexistent/policy.wasm",
        &"a".repeat(64),
    );
    let output = sandbox.run(&["policy", "eval", "cache-policy", &request_example()], &[]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("cannot read component /nonexistent/policy.wasm"),
        "{}",
        stderr(&output)
    );
}

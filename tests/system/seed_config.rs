//! A fleet migrating from the seed (the Python tool ghmesh replaces) keeps its two config files:
//! `tests/fixtures/seed-config/.github` holds a pair in the seed's layout with every seed key.

use ghmesh_system_tests::{Sandbox, repo_root, stderr, stdout};
use serde_json::{Value, json};

const CACHE: &str = "cache-config.yml";
const P2P: &str = "p2p-config.yml";

fn fixture(name: &str) -> String {
    let path = repo_root()
        .join("tests/fixtures/seed-config/.github")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A sandbox holding both seed files, `edit` applied to the one named `edited`.
fn seed_sandbox(edited: &str, edit: impl Fn(String) -> String) -> Sandbox {
    let sandbox = Sandbox::new();
    for name in [CACHE, P2P] {
        let text = fixture(name);
        let text = if name == edited { edit(text) } else { text };
        sandbox.write_config(name, &text);
    }
    sandbox
}

/// The sandbox sets `CACHE_DIR`; empty counts as unset, so the file's `cache.directory` applies.
const NO_CACHE_DIR: (&str, &str) = ("CACHE_DIR", "");

/// Asserts `key` shows `value`, set by `file: file_key`.
fn assert_from(shown: &Value, key: &str, value: Value, file: &str, file_key: &str) {
    let entry = &shown[key];
    assert_eq!(entry["value"], value, "{key}: {entry}");
    let source = entry["source"].as_str().unwrap_or_default();
    assert!(
        source.ends_with(&format!("{file}: {file_key}")),
        "{key}: source {source:?}, expected {file}: {file_key}"
    );
}

#[test]
fn seed_files_load_with_seed_meanings_and_sources() {
    let sandbox = seed_sandbox(CACHE, |t| t);
    let output = sandbox.run(&["config", "show", "--json"], &[NO_CACHE_DIR]);
    assert!(output.status.success(), "{}", stderr(&output));
    let shown: Value = serde_json::from_str(&stdout(&output)).unwrap();

    let home_cache = sandbox.path(".cache/github-api-p2p");
    for (key, value, file, file_key) in [
        ("cache.enabled", json!(true), CACHE, "cache.enabled"),
        ("cache.max_entries", json!(4000), CACHE, "cache.max_size"),
        ("cache.default_ttl", json!(240), CACHE, "cache.default_ttl"),
        (
            "cache.persistence",
            json!(false),
            CACHE,
            "cache.persistence",
        ),
        (
            "cache.dir",
            json!(home_cache.display().to_string()),
            CACHE,
            "cache.directory",
        ),
        (
            "operation_ttls.repos-list",
            json!(900),
            CACHE,
            "operation_ttls.list_repos",
        ),
        (
            "operation_ttls.repo",
            json!(450),
            CACHE,
            "operation_ttls.get_repo_info",
        ),
        (
            "operation_ttls.workflows",
            json!(420),
            CACHE,
            "operation_ttls.list_workflows",
        ),
        (
            "operation_ttls.workflow-runs",
            json!(90),
            CACHE,
            "operation_ttls.get_workflow_runs",
        ),
        (
            "operation_ttls.runners",
            json!(240),
            CACHE,
            "operation_ttls.list_runners",
        ),
        (
            "operation_ttls.get-workflow-run",
            json!(45),
            CACHE,
            "operation_ttls.get_workflow_run",
        ),
        (
            "operation_ttls.get-runner-status",
            json!(30),
            CACHE,
            "operation_ttls.get_runner_status",
        ),
        (
            "operation_ttls.copilot-completion",
            json!(7200),
            CACHE,
            "operation_ttls.copilot_completion",
        ),
        ("p2p.enabled", json!(true), CACHE, "p2p.enabled"),
        // Set in cache-config.yml, so the seed's port range in p2p-config.yml does not apply.
        ("p2p.listen_port", json!(9400), CACHE, "p2p.listen_port"),
        // Both files set it (p2p.peer_discovery, discovery.enabled): the p2p file wins.
        ("p2p.peer_discovery", json!(true), P2P, "discovery.enabled"),
        (
            "network.max_peers",
            json!(24),
            P2P,
            "network.connections.max_peers",
        ),
        (
            "network.connection_timeout",
            json!(20),
            P2P,
            "network.connections.timeout",
        ),
        (
            "network.listen.addresses",
            json!(["/ip4/0.0.0.0/tcp/0"]),
            P2P,
            "network.listen.addresses",
        ),
        (
            "discovery.methods.github_cache",
            json!(true),
            P2P,
            "discovery.methods.github_cache_api",
        ),
        (
            "discovery.methods.kademlia",
            json!(true),
            P2P,
            "discovery.methods.dht",
        ),
        (
            "discovery.methods.mdns",
            json!(false),
            P2P,
            "discovery.methods.mdns",
        ),
        (
            "discovery.methods.circuit_relay",
            json!(true),
            P2P,
            "discovery.methods.circuit_relay",
        ),
        (
            "discovery.methods.autonat",
            json!(false),
            P2P,
            "discovery.methods.autonat",
        ),
        (
            "discovery.methods.hole_punching",
            json!(true),
            P2P,
            "discovery.methods.hole_punching",
        ),
        (
            "security.encryption.key_derivation.iterations",
            json!(210_000),
            P2P,
            "security.encryption.key_derivation.pbkdf2_iterations",
        ),
        (
            "security.encryption.key_derivation.use_github_token",
            json!(true),
            P2P,
            "security.encryption.key_derivation.use_github_token",
        ),
        (
            "security.content_verification.max_content_size",
            json!(50 << 20),
            P2P,
            "security.content_verification.max_content_size",
        ),
        (
            "discovery.relay.relay_addrs",
            json!(["/ip4/198.51.100.7/tcp/4001"]),
            P2P,
            "discovery.relay.relay_addrs",
        ),
    ] {
        assert_from(&shown, key, value, file, file_key);
    }
    assert_eq!(shown["cache.max_bytes"]["source"], "default");

    let peers = &shown["network.bootstrap_peers"];
    assert_eq!(
        peers["value"],
        json!([
            "/ip4/192.0.2.10/tcp/9400",
            "/ip4/192.0.2.11/tcp/9400",
            "/ip4/192.0.2.12/tcp/9400"
        ])
    );
    let source = peers["source"].as_str().unwrap();
    assert!(
        source.contains("cache-config.yml: p2p.bootstrap_peers + ")
            && source.ends_with("p2p-config.yml: discovery.bootstrap_peers"),
        "{source}"
    );
}

#[test]
fn unused_seed_keys_are_listed_and_warned_about() {
    let sandbox = seed_sandbox(CACHE, |t| t);
    let output = sandbox.run(&["config", "show", "--json"], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let shown: Value = serde_json::from_str(&stdout(&output)).unwrap();
    for (file, key, value) in [
        (CACHE, "p2p.encryption.token_based", json!(true)),
        (CACHE, "monitoring.metrics_format", json!("json")),
        (CACHE, "content_addressing.validation.runners", json!(false)),
        (CACHE, "rate_limiting.aggressive_threshold", json!(100)),
        (
            CACHE,
            "ipfs_accelerate_integration.accept_from_accelerate",
            json!(true),
        ),
        (P2P, "network.listen.port_range.end", json!(9520)),
        (P2P, "network.listen.transports", json!(["tcp", "quic"])),
        (P2P, "network.connections.keepalive_interval", json!(45)),
        (P2P, "discovery.github.repository", Value::Null),
        (P2P, "discovery.relay.hop_limit", json!(2)),
        (P2P, "security.access_control.peer_allowlist", json!([])),
        (
            P2P,
            "security.content_verification.verify_hashes",
            json!(true),
        ),
        (P2P, "cache_protocol.broadcast.strategy", json!("gossip")),
        (
            P2P,
            "performance.throttling.max_bandwidth_per_peer",
            json!(5_242_880),
        ),
        (P2P, "logging.level", json!("info")),
        (
            P2P,
            "monitoring.metrics",
            json!(["peers", "hits", "misses"]),
        ),
    ] {
        let entry = &shown[format!("{file}: {key}")];
        assert_eq!(entry["value"], value, "{file}: {key}: {entry}");
        assert_eq!(entry["ignored"], true, "{file}: {key}: {entry}");
        let source = entry["source"].as_str().unwrap();
        assert!(
            source.ends_with(&format!("{file}: {key} (ignored)")),
            "{source}"
        );
    }
    // Keys ghmesh reads are never reported as unused.
    assert!(shown.get(format!("{CACHE}: cache.max_size")).is_none());
    assert!(
        shown
            .get(format!("{P2P}: network.listen.port_range.start"))
            .is_none()
    );

    let err = stderr(&output);
    let warnings: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("accepted but not used by ghmesh"))
        .collect();
    assert_eq!(warnings.len(), 2, "one warning a file: {err}");
    assert!(warnings[0].contains(CACHE) && warnings[0].contains("rate_limiting.cache_first_mode"));
    assert!(warnings[1].contains(P2P) && warnings[1].contains("logging.log_messages"));
    for seed_only in [
        "get_workflow_run",
        "get_runner_status",
        "copilot_completion",
    ] {
        assert!(
            err.lines()
                .any(|l| l.contains(seed_only) && l.contains("no operation class")),
            "{seed_only}: {err}"
        );
    }

    // The table lists the same keys after every effective one.
    let table = stdout(&sandbox.run(&["config", "show"], &[]));
    let lines: Vec<&str> = table.lines().collect();
    let first_ignored = lines.iter().position(|l| l.ends_with("(ignored)")).unwrap();
    assert!(
        lines[first_ignored..]
            .iter()
            .all(|l| l.ends_with("(ignored)")),
        "{table}"
    );
    assert!(
        table.contains("cache-config.yml: monitoring.log_stats (ignored)"),
        "{table}"
    );
}

#[test]
fn a_typo_in_a_seed_key_is_still_an_error_naming_it() {
    let sandbox = seed_sandbox(P2P, |t| {
        t.replace("keepalive_interval", "keepalive_intervall")
    });
    let output = sandbox.run(&["config", "show"], &[]);
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("p2p-config.yml: network.connections.keepalive_intervall: unknown field"),
        "{err}"
    );

    let sandbox = seed_sandbox(CACHE, |t| t.replace("log_stats: true", "log_stats: often"));
    let err = stderr(&sandbox.run(&["config", "show"], &[]));
    assert!(
        err.contains("cache-config.yml: monitoring.log_stats: invalid type"),
        "{err}"
    );
}

#[test]
fn a_cipher_ghmesh_does_not_implement_is_refused() {
    let sandbox = seed_sandbox(P2P, |t| t.replace("AES-256-GCM", "ChaCha20-Poly1305"));
    let output = sandbox.run(&["config", "show"], &[]);
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("security.encryption.algorithm") && err.contains("only AES-256-GCM"),
        "{err}"
    );
}

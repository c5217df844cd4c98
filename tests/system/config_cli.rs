//! `ghmesh config show` and configuration errors as a user meets them.

use ghmesh_system_tests::{Sandbox, stderr, stdout};
use serde_json::Value;

#[test]
fn config_show_names_the_source_of_each_value() {
    let sandbox = Sandbox::new();
    sandbox.write_config("cache-config.yml", "cache:\n  default_ttl: 900\n");
    let output = sandbox.run(
        &["config", "show", "--json"],
        &[("CACHE_MAX_ENTRIES", "500")],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let shown: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(shown["cache.default_ttl"]["value"], 900, "{shown}");
    assert!(
        shown["cache.default_ttl"]["source"]
            .as_str()
            .unwrap()
            .contains("cache-config.yml"),
        "{shown}"
    );
    assert_eq!(shown["cache.max_entries"]["value"], 500);
    assert!(
        shown["cache.max_entries"]["source"]
            .as_str()
            .unwrap()
            .contains("CACHE_MAX_ENTRIES")
    );
    assert_eq!(shown["p2p.listen_port"]["source"], "default");

    let table = stdout(&sandbox.run(&["config", "show"], &[]));
    assert!(
        table.contains("cache.default_ttl") && table.contains("900"),
        "{table}"
    );
}

#[test]
fn env_wins_over_file() {
    let sandbox = Sandbox::new();
    sandbox.write_config("p2p-config.yml", "p2p:\n  listen_port: 5000\n");
    let output = sandbox.run(
        &["config", "show", "--json"],
        &[("P2P_LISTEN_PORT", "6000")],
    );
    let shown: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(shown["p2p.listen_port"]["value"], 6000, "{shown}");
}

#[test]
fn invalid_config_names_file_key_and_reason() {
    let sandbox = Sandbox::new();
    sandbox.write_config("cache-config.yml", "cache:\n  default_ttl: soon\n");
    let output = sandbox.run(&["config", "show"], &[]);
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("cache-config.yml") && err.contains("cache.default_ttl"),
        "{err}"
    );

    sandbox.write_config("cache-config.yml", "cache:\n  defualt_ttl: 60\n");
    let err = stderr(&sandbox.run(&["config", "show"], &[]));
    assert!(err.contains("defualt_ttl"), "{err}");

    sandbox.write_config("cache-config.yml", "cache:\n  default_ttl: 60\n");
    let output = sandbox.run(&["policy", "list"], &[("ENABLE_P2P_CACHE", "maybe")]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("ENABLE_P2P_CACHE"),
        "{}",
        stderr(&output)
    );
}

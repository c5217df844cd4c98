//! The polling benchmark harness (`polling-fleet`, `polling-upstream`; tests/bench/polling.sh)
//! counts correctly: a tiny fleet, direct, through one shared `ghmesh serve` and through a serve
//! per runner joined in a fleet mesh. A correctness test of the harness, not a timed one: nothing
//! here depends on how fast anything ran.

use ghmesh_system_tests::ghmesh_bin;
use serde_json::Value;
use std::process::Command;

/// Runs `polling-fleet --json` with `args` (2 runners, 3 cycles of 300 ms unless overridden).
fn fleet(args: &[&str]) -> Value {
    let ghmesh = ghmesh_bin();
    let output = Command::new(env!("CARGO_BIN_EXE_polling-fleet"))
        .args([
            "--runners",
            "2",
            "--cycles",
            "3",
            "--period-ms",
            "300",
            "--json",
        ])
        .arg("--ghmesh")
        .arg(&ghmesh)
        .args(args)
        .output()
        .expect("run polling-fleet");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "polling-fleet failed:\n{}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).expect("report JSON")
}

fn n(value: &Value) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("not a count: {value}"))
}

#[test]
fn a_shared_cache_charges_less_than_direct_polling_and_nothing_fails() {
    let report = fleet(&["--mode", "shared", "--compare", "--tokens", "fleet"]);
    let modes = report["modes"].as_array().expect("modes");
    let (direct, shared) = (&modes[0], &modes[1]);
    assert_eq!(
        (direct["mode"].as_str(), shared["mode"].as_str()),
        (Some("direct"), Some("shared"))
    );

    // 2 runners x 3 cycles x 3 repositories x 3 resources.
    for mode in [direct, shared] {
        assert_eq!(n(&mode["requests"]), 54, "{mode}");
        assert_eq!(n(&mode["errors"]), 0, "{mode}");
    }
    // Without a cache every GET is a full, charged answer.
    assert_eq!(n(&direct["charged"]), 54, "{direct}");
    assert_eq!(n(&direct["not_modified"]), 0);
    assert_eq!(direct["ghmesh"], Value::Null);

    let charged = n(&shared["charged"]);
    assert!(charged < 54, "the shared cache saved nothing: {shared}");
    assert!(shared["saved_pct"].as_f64().unwrap() > 0.0, "{shared}");
    // The upstream's count and ghmesh's agree: every request ghmesh sent was answered and counted.
    let ghmesh = &shared["ghmesh"];
    assert_eq!(
        charged + n(&shared["not_modified"]),
        n(&ghmesh["upstream_requests"]),
        "{shared}"
    );
    assert_eq!(
        n(&ghmesh["local_hits"])
            + n(&ghmesh["misses"])
            + n(&ghmesh["revalidations"])
            + n(&ghmesh["coalesced"]),
        54,
        "{ghmesh}"
    );
    // Every resource had to be fetched at least once: 9 resources.
    assert!(n(&shared["versions_served"]) >= 9, "{shared}");
    assert!(n(&shared["x_cache"]["HIT"]) > 0, "{shared}");
}

#[test]
fn a_fleet_mesh_charges_less_than_direct_polling_and_nothing_fails() {
    let report = fleet(&["--mode", "mesh", "--compare", "--tokens", "fleet"]);
    let modes = report["modes"].as_array().expect("modes");
    let (direct, mesh) = (&modes[0], &modes[1]);
    assert_eq!(
        (direct["mode"].as_str(), mesh["mode"].as_str()),
        (Some("direct"), Some("mesh"))
    );
    for mode in [direct, mesh] {
        assert_eq!(n(&mode["requests"]), 54, "{mode}");
        assert_eq!(n(&mode["errors"]), 0, "{mode}");
    }
    assert!(
        n(&mesh["charged"]) < n(&direct["charged"]),
        "the mesh saved nothing: {mesh}"
    );
    // Both serves were in the mesh and still connected at the end.
    let figures = &mesh["mesh"];
    assert_eq!(n(&figures["serves"]), 2, "{figures}");
    assert!(n(&figures["min_connected_peers"]) >= 1, "{figures}");
    assert_eq!(direct["mesh"], Value::Null);
}

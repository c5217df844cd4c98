//! Discovery through the Actions cache between separate `ghmesh serve` processes: nodes with no
//! bootstrap peer and no mDNS find each other through a local CacheService (the protocol
//! `@actions/cache` speaks) and share entries; a refused token, a service that is down, a record
//! sealed by another fleet and a job without the Actions variables never stop the mesh.

use ghmesh::crypto::FleetKeys;
use ghmesh::mesh::registry::record::{Record, Registration};
use ghmesh::mesh::registry::twirp::{CacheService, entry_version};
use ghmesh_system_tests::actions_cache_server::ActionsCacheServer;
use ghmesh_system_tests::fleet::{
    CountingUpstream, ITERATIONS, MeshNode, NodeConfig, mesh_sandbox, wait_for, wait_or_explain,
};
use ghmesh_system_tests::rig::Serve;
use serde_json::Value;

const TOKEN: &str = "ghmesh-test-runtime-token-4f1c";

fn secret(test: &str) -> String {
    format!("ghmesh-system-test-fleet-registry-{test}")
}

/// A loopback node without bootstrap peers or mDNS, registering in `results_url` with `token`
/// every 2 s and re-reading every second.
fn registry_node(upstream: &str, secret: &str, results_url: &str, token: &str) -> MeshNode {
    let sandbox = mesh_sandbox();
    let serve = Serve::launch(registry_command(
        &sandbox,
        upstream,
        secret,
        results_url,
        token,
    ));
    MeshNode { sandbox, serve }
}

fn registry_command(
    sandbox: &ghmesh_system_tests::Sandbox,
    upstream: &str,
    secret: &str,
    results_url: &str,
    token: &str,
) -> std::process::Command {
    let mut command =
        sandbox.command(&["serve", "--listen", "127.0.0.1:0", "--upstream", upstream]);
    command
        .envs(NodeConfig::loopback(secret, &[]).env())
        .env("ACTIONS_RESULTS_URL", results_url)
        .env("ACTIONS_RUNTIME_TOKEN", token)
        .env("GHMESH_REGISTRY_REGISTER_SECS", "2")
        .env("GHMESH_REGISTRY_REFRESH_SECS", "1");
    command
}

fn registry(node: &MeshNode) -> Value {
    node.stats()["connectivity"]["registry"].clone()
}

#[test]
fn nodes_without_bootstrap_peers_meet_through_the_actions_cache_and_share_entries() {
    let server = ActionsCacheServer::start_in_thread(TOKEN);
    let upstream = CountingUpstream::start();
    let fleet = secret("meet");
    let list = "/repos/fleet/registry/issues";
    let first = registry_node(&upstream.url, &fleet, server.url(), TOKEN);
    // Fetched before anyone else runs: never announced, so the others must ask a peer.
    assert_eq!(first.get(list).header("x-cache"), Some("MISS"));
    let others: Vec<MeshNode> = (0..2)
        .map(|_| registry_node(&upstream.url, &fleet, server.url(), TOKEN))
        .collect();
    let nodes: Vec<&MeshNode> = std::iter::once(&first).chain(&others).collect();
    for node in &nodes {
        wait_or_explain(
            "every node to connect to the two others through the registry",
            || node.connected_peers() == 2,
            || format!("{}\n{:?}", node.peers(), server.keys()),
        );
    }
    for node in &others {
        let answer = node.get(list);
        assert_eq!(
            answer.header("x-cache"),
            Some("PEER-HIT"),
            "{}",
            answer.body
        );
        assert_eq!(answer.body, upstream.body(list));
    }
    assert_eq!(upstream.count(list), 1, "{:?}", upstream.seen());

    // What the cache holds: entries named by the fleet id, sealed records listing the nodes.
    let keys = FleetKeys::derive(fleet.as_bytes(), ITERATIONS).unwrap();
    let prefix = format!("ghmesh-peers-v1-{}-", keys.fleet_id());
    let stored = server.keys();
    assert!(stored.iter().all(|k| k.starts_with(&prefix)), "{stored:?}");
    let newest = Record::open(&keys, &server.blob(stored.last().unwrap()).unwrap()).unwrap();
    assert!(!newest.peers.is_empty());
    for node in &nodes {
        let status = registry(node);
        assert_eq!(status["enabled"], true, "{status}");
        assert!(status["registrations"].as_u64() >= Some(1), "{status}");
        assert!(status["lookups"].as_u64() >= Some(1), "{status}");
    }
    // The runtime token went to the service only, never to blob storage.
    assert_eq!(server.authorized_blob_requests(), 0);
    assert!(server.calls("CreateCacheEntry") >= 3);
}

#[test]
fn a_refused_token_is_counted_and_never_logged_and_the_node_serves_on() {
    let server = ActionsCacheServer::start_in_thread(TOKEN);
    let upstream = CountingUpstream::start();
    let wrong = "ghmesh-wrong-runtime-token-93ad";
    let sandbox = mesh_sandbox();
    let log = sandbox.path("serve.log");
    let mut command = registry_command(
        &sandbox,
        &upstream.url,
        &secret("refused"),
        server.url(),
        wrong,
    );
    command
        .env("GHMESH_LOG", "ghmesh=debug")
        .stderr(std::fs::File::create(&log).unwrap());
    let node = MeshNode {
        serve: Serve::launch(command),
        sandbox,
    };
    wait_for("the refusal to be counted twice", || {
        registry(&node)["errors_by_kind"]["unauthenticated"].as_u64() >= Some(2)
    });
    let status = registry(&node);
    assert_eq!(status["last_error"], "unauthenticated", "{status}");
    assert_eq!(status["registrations"], 0, "{status}");
    assert!(server.keys().is_empty());
    // The proxy serves on.
    let answer = node.get("/repos/fleet/registry/pulls");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("unauthenticated"), "{text}");
    assert!(
        !text.contains(wrong),
        "the token leaked into the log:\n{text}"
    );
}

#[test]
fn with_the_service_down_the_mesh_forms_through_bootstrap_peers() {
    let upstream = CountingUpstream::start();
    // A port nothing listens on.
    let down = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let fleet = secret("down");
    let first = registry_node(&upstream.url, &fleet, &down, TOKEN);
    let sandbox = mesh_sandbox();
    let mut command = registry_command(&sandbox, &upstream.url, &fleet, &down, TOKEN);
    command.env("CACHE_BOOTSTRAP_PEERS", first.mesh_addr());
    let second = MeshNode {
        serve: Serve::launch(command),
        sandbox,
    };
    second.wait_connected(1);
    let path = "/repos/fleet/registry/labels";
    assert_eq!(first.get(path).header("x-cache"), Some("MISS"));
    wait_for("the entry to reach the second node", || {
        matches!(second.get(path).header("x-cache"), Some("HIT" | "PEER-HIT"))
    });
    assert_eq!(upstream.count(path), 1, "{:?}", upstream.seen());
    wait_for("the unreachable service to be counted", || {
        registry(&second)["errors_by_kind"]["unreachable"].as_u64() >= Some(1)
    });
}

#[test]
fn a_record_sealed_by_another_fleet_is_rejected_and_replaced() {
    let server = ActionsCacheServer::start_in_thread(TOKEN);
    let upstream = CountingUpstream::start();
    let fleet = secret("forged");
    let keys = FleetKeys::derive(fleet.as_bytes(), ITERATIONS).unwrap();
    let intruder = FleetKeys::derive(secret("intruder").as_bytes(), ITERATIONS).unwrap();
    // Under this fleet's name, but sealed with another key, pointing at an intruder's address.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let intruder_id = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN";
    let forged = Record::default().merged(
        Registration {
            peer_id: intruder_id.into(),
            addrs: vec![format!("/ip4/127.0.0.1/tcp/9/p2p/{intruder_id}")],
            registered_at_unix: now,
        },
        now,
        900,
    );
    let forged_key = format!("ghmesh-peers-v1-{}-{now}-forged", keys.fleet_id());
    server.insert(&forged_key, &entry_version(), forged.seal(&intruder));
    let node = registry_node(&upstream.url, &fleet, server.url(), TOKEN);
    wait_for(
        "the forged record to be rejected and a fresh one written",
        || {
            let status = registry(&node);
            status["errors_by_kind"]["unauthentic_record"].as_u64() >= Some(1)
                && status["registrations"].as_u64() >= Some(1)
        },
    );
    let newest = server.keys().pop().unwrap();
    assert_ne!(newest, forged_key);
    let record = Record::open(&keys, &server.blob(&newest).unwrap()).unwrap();
    assert!(record.peers.iter().all(|p| p.peer_id != intruder_id));
    assert_eq!(node.connected_peers(), 0);
}

#[test]
fn without_the_actions_variables_the_registry_is_off() {
    let upstream = CountingUpstream::start();
    let node = MeshNode::start(&upstream.url, &NodeConfig::loopback(&secret("off"), &[]));
    let status = registry(&node);
    assert_eq!(status["enabled"], false, "{status}");
    assert_eq!(status["lookups"], 0, "{status}");
    assert_eq!(node.peers()["registry"]["enabled"], false);
    let answer = node.get("/repos/fleet/registry/milestones");
    assert_eq!(answer.status, 200, "{}", answer.body);
}

/// The local service is held to the real client: `@actions/cache` 6.3.0 (from the test rig) saves
/// through it (Twirp calls, Azure SDK block-blob upload), is refused a second save of the same
/// key, restores by prefix and misses; ghmesh's own client then reads the entry that client wrote.
#[test]
fn the_local_service_speaks_the_protocol_of_actions_cache() {
    let server = ActionsCacheServer::start_in_thread(TOKEN);
    let work = tempfile::tempdir().unwrap();
    let script = ghmesh_system_tests::rig::rig_dir().join("actions-cache-roundtrip.mjs");
    let output = std::process::Command::new("node")
        .arg(&script)
        .arg("interop")
        .current_dir(work.path())
        .env("ACTIONS_RESULTS_URL", format!("{}/", server.url()))
        .env("ACTIONS_RUNTIME_TOKEN", TOKEN)
        .env("ACTIONS_CACHE_SERVICE_V2", "true")
        .env("RUNNER_TEMP", work.path())
        .output()
        .expect("run node (install the rig: tests/run, or npm ci in tests/rig)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    let result: Value = serde_json::from_str(last).unwrap_or_else(|e| {
        panic!(
            "no result line ({e}):\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert!(result["saved"].as_i64() > Some(0), "{result}\n{stdout}");
    assert_eq!(result["saved_again"], -1, "{result}\n{stdout}");
    assert_eq!(result["restored"], "interop-key-1", "{result}\n{stdout}");
    assert_eq!(result["content_ok"], true, "{result}");
    assert_eq!(result["miss"], Value::Null, "{result}");
    assert_eq!(server.calls("CreateCacheEntry"), 2);
    assert_eq!(server.calls("FinalizeCacheEntryUpload"), 1);
    assert_eq!(server.authorized_blob_requests(), 0);

    // ghmesh's client finds and reads the entry the real client wrote.
    let version = server.version_of("interop-key-1").unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let service =
        CacheService::new(server.url(), TOKEN, std::time::Duration::from_secs(5)).unwrap();
    let blob = runtime.block_on(async {
        let found = service
            .lookup("missing-key", &["interop-".to_string()], &version)
            .await
            .unwrap()
            .expect("the entry @actions/cache saved");
        assert_eq!(found.matched_key, "interop-key-1");
        service
            .download(&found.download_url, 1 << 20)
            .await
            .unwrap()
    });
    assert_eq!(Some(blob), server.blob("interop-key-1"));
}

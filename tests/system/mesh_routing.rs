//! Content routing between separate `ghmesh serve` processes on loopback: a node that joins
//! after an entry was announced finds a holder through the DHT's provider records and gets the
//! entry as a peer hit; when the node that fetched it leaves (and says so, which every node
//! hears), a replica still serves it.

use ghmesh_system_tests::fleet::{
    CountingUpstream, MeshNode, NodeConfig, get, json_at, mesh_sandbox, wait_for,
};
use ghmesh_system_tests::rig::{FIXTURE_TOKEN, Serve};
use std::time::{Duration, Instant};

const SECRET: &str = "ghmesh-system-test-fleet-routing";
/// Large enough that a late joiner is not a "small fleet" once its routing table fills, so a
/// peer hit with no fallback proves the provider records worked.
const FLEET: usize = 10;
/// Longer than gossipsub keeps messages to offer to peers (5 heartbeats of 500 ms), with room
/// for heartbeats a busy machine delays.
const GOSSIP_MEMORY: Duration = Duration::from_secs(6);

fn routing(node: &MeshNode) -> serde_json::Value {
    node.stats()["content_routing"].clone()
}

/// Starts a node bootstrapping to `via` and waits until its DHT routing table knows `at_least`
/// nodes.
fn join(upstream: &str, via: &MeshNode, at_least: u64) -> MeshNode {
    let node = MeshNode::start(upstream, &NodeConfig::loopback(SECRET, &[via.mesh_addr()]));
    wait_for("the joiner's routing table to fill", || {
        routing(&node)["routing_table_peers"].as_u64() >= Some(at_least)
    });
    node
}

#[test]
fn a_late_joiner_finds_an_entry_through_provider_records_even_after_its_fetcher_left() {
    let upstream = CountingUpstream::start();
    // A chain: each node knows only the one before it; the DHT introduces the rest.
    let mut fleet: Vec<MeshNode> = Vec::new();
    for i in 0..FLEET {
        let bootstrap: Vec<String> = fleet.last().map(MeshNode::mesh_addr).into_iter().collect();
        fleet.push(MeshNode::start(
            &upstream.url,
            &NodeConfig::loopback(SECRET, &bootstrap),
        ));
        if i > 0 {
            fleet[i].wait_connected(1);
        }
    }
    let path = "/repos/fleet/routing/pulls";
    let fetched = fleet[0].get(path);
    let announced = Instant::now();
    assert_eq!(fetched.header("x-cache"), Some("MISS"), "{}", fetched.body);
    wait_for("the fetcher to provide the key", || {
        routing(&fleet[0])["provided_keys"].as_u64() == Some(1)
    });
    wait_for("every node to hold the announced entry", || {
        fleet[1..]
            .iter()
            .all(|n| n.stats()["cache_size"].as_u64() >= Some(1))
    });

    // Gossipsub offers peers that join the messages of its last few heartbeats (IHAVE/IWANT):
    // a joiner that came sooner could get the announcement itself, a HIT without the DHT.
    std::thread::sleep(GOSSIP_MEMORY.saturating_sub(announced.elapsed()));
    let late = join(&upstream.url, &fleet[FLEET - 1], (FLEET / 2) as u64);
    let answer = late.get(path);
    assert_eq!(
        answer.header("x-cache"),
        Some("PEER-HIT"),
        "{}",
        answer.body
    );
    assert_eq!(answer.body, fetched.body);
    let seen = routing(&late);
    assert_eq!(seen["enabled"], true, "{seen}");
    assert_eq!(seen["lookups_found"], 1, "{seen}");
    assert_eq!(seen["small_fleet_fallbacks"], 0, "{seen}");
    let traffic = late.stats()["mesh_traffic"].clone();
    assert!(traffic["dht_requests_sent"].as_u64() > Some(0), "{traffic}");
    assert_eq!(upstream.count(path), 1, "{:?}", upstream.seen());

    // The fetcher shuts down cleanly and says so: every node stops naming it as a provider.
    // Another joiner is served by a replica (or by the joiner that retrieved it, which
    // provides it too), still without GitHub.
    let status = fleet.remove(0).serve.stop();
    assert!(status.success(), "the fetcher's serve exited with {status}");
    wait_for("every node to hear the fetcher leave", || {
        fleet
            .iter()
            .chain([&late])
            .all(|n| routing(n)["departed_providers"].as_u64() >= Some(1))
    });
    let second = join(&upstream.url, &fleet[FLEET / 2], (FLEET / 2) as u64);
    let again = second.get(path);
    // Usually a peer hit; on a starved machine the entry can reach the joiner by gossip first
    // (a HIT). Either way GitHub is not asked. (That no lookup names the node that left is
    // shown in-process: mesh::tests::a_node_that_leaves_is_no_longer_named_as_a_provider.)
    assert!(
        matches!(again.header("x-cache"), Some("PEER-HIT" | "HIT")),
        "{:?}: {}",
        again.header("x-cache"),
        again.body
    );
    assert_eq!(again.body, fetched.body);
    assert_eq!(upstream.count(path), 1, "{:?}", upstream.seen());
}

#[test]
fn with_content_routing_off_a_miss_asks_every_connected_peer() {
    let upstream = CountingUpstream::start();
    let off = |bootstrap: &[String]| {
        let mut config = NodeConfig::loopback("ghmesh-system-test-fleet-routing-off", bootstrap);
        config.kademlia = false;
        config
    };
    let first = MeshNode::start(&upstream.url, &off(&[]));
    let path = "/repos/fleet/routing-off/issues";
    assert_eq!(first.get(path).header("x-cache"), Some("MISS"));
    let second = MeshNode::start(&upstream.url, &off(&[first.mesh_addr()]));
    second.wait_connected(1);
    let answer = second.get(path);
    assert_eq!(
        answer.header("x-cache"),
        Some("PEER-HIT"),
        "{}",
        answer.body
    );
    let seen = routing(&second);
    assert_eq!(seen["enabled"], false, "{seen}");
    assert_eq!(seen["lookups"], 0, "{seen}");
    assert_eq!(second.stats()["mesh_traffic"]["dht_requests_sent"], 0);
}

#[test]
fn an_entry_the_store_evicts_is_no_longer_provided() {
    let upstream = CountingUpstream::start();
    let sandbox = mesh_sandbox();
    let mut env = NodeConfig::loopback(SECRET, &[]).env();
    env.push(("CACHE_MAX_ENTRIES".into(), "1".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let serve = Serve::start_with_env(&sandbox, &upstream.url, &[], &env);
    let routing = || json_at(&serve.url, "/_ghmesh/stats")["content_routing"].clone();
    for path in [
        "/repos/fleet/evict/a",
        "/repos/fleet/evict/b",
        "/repos/fleet/evict/c",
    ] {
        let fetched = get(&format!("{}{path}", serve.url), FIXTURE_TOKEN);
        assert_eq!(fetched.header("x-cache"), Some("MISS"), "{}", fetched.body);
    }
    // One entry fits: the store evicted the first two, and the node stopped providing them.
    wait_for("the evicted keys to be withdrawn", || {
        routing()["withdrawn_keys"].as_u64() == Some(2)
    });
    let seen = routing();
    assert_eq!(seen["provided_keys"], 1, "{seen}");
}

//! A `ghmesh serve` in a fleet with a misbehaving peer (`ghmesh-test-peer`, holding the fleet
//! secret): forged answers never reach a client and get the forger banned; garbage announcements
//! and requests are counted and dropped while the node keeps serving correct answers.

use ghmesh_system_tests::fleet::{CountingUpstream, MeshNode, NodeConfig, TestPeer, peer_entry};
use ghmesh_system_tests::fleet::{DEADLINE, wait_for};
use std::time::Instant;

const TEST_PEER: &str = env!("CARGO_BIN_EXE_ghmesh-test-peer");

/// Starts a node of the fleet `secret` and one test peer per argument list dialling it; returns
/// once the node has met them all (a garbage peer may be banned by then already).
fn node_with_test_peers(
    upstream: &CountingUpstream,
    secret: &str,
    peers: &[&[&str]],
) -> (MeshNode, Vec<TestPeer>) {
    let node = MeshNode::start(&upstream.url, &NodeConfig::loopback(secret, &[]));
    let peers: Vec<TestPeer> = peers
        .iter()
        .map(|args| TestPeer::start(TEST_PEER, args, secret, &node.mesh_addr()))
        .collect();
    wait_for("the node to meet every test peer", || {
        let book = node.peers();
        peers
            .iter()
            .all(|p| peer_entry(&book, &p.peer_id).is_some())
    });
    (node, peers)
}

/// GETs `path` on `node` and checks the client got the upstream's own answer.
fn assert_correct(node: &MeshNode, upstream: &CountingUpstream, path: &str) {
    let answer = node.get(path);
    assert_eq!(answer.status, 200, "{path}: {}", answer.body);
    assert_eq!(answer.body, upstream.body(path), "{path}");
}

#[test]
fn forged_answers_fall_back_to_upstream_and_the_forger_is_banned() {
    let upstream = CountingUpstream::start();
    let secret = "ghmesh-system-test-fleet-forge";
    let (node, peers) = node_with_test_peers(&upstream, secret, &[&["forge"]]);
    let forger = &peers[0];
    node.wait_connected(1);
    // Each local miss asks the forger, whose answer fails its CID check: the client still gets
    // the upstream's answer, and the forger a fault, until it is banned.
    let deadline = Instant::now() + DEADLINE;
    let mut asked = 0;
    loop {
        let path = format!("/repos/fleet/forged/issues/{asked}");
        let answer = node.get(&path);
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.header("x-cache"), Some("MISS"), "{path}");
        assert_eq!(answer.body, upstream.body(&path));
        asked += 1;
        let peers = node.peers();
        let entry = peer_entry(&peers, &forger.peer_id).expect("the forger is in the peer book");
        if entry["banned"] == true {
            assert!(entry["faults"].as_u64() >= Some(3), "{entry}");
            assert_eq!(
                entry["served_to_us"], 0,
                "a forged entry was accepted: {entry}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "forger not banned after {asked} lookups: {entry}"
        );
    }
    let stats = node.stats();
    assert_eq!(stats["peer_hits"], 0, "{stats}");
    assert_eq!(stats["connectivity"]["banned_peers"], 1, "{stats}");
    assert!(stats["connectivity"]["messages_rejected"].as_u64() >= Some(3));
    // Banned: no longer asked, so a miss is a plain miss.
    assert_eq!(node.connected_peers(), 0);
    assert_correct(&node, &upstream, "/repos/fleet/forged/after-ban");
}

#[test]
fn garbage_is_counted_and_dropped_while_the_node_keeps_serving() {
    let upstream = CountingUpstream::start();
    let secret = "ghmesh-system-test-fleet-garbage";
    // A node bans a peer after a few faults: two peers, sending their faulty announcements in
    // opposite orders, have it read every kind (random, wrong secret, oversized, stale).
    let orders: [&[&str]; 2] = [&["garbage"], &["garbage", "--reverse"]];
    let (mut node, peers) = node_with_test_peers(&upstream, secret, &orders);
    let mut served = 0;
    wait_for("both garbage peers to be banned", || {
        // Clients are served throughout; each miss also asks the peers not banned yet, whose
        // answers are of an unknown version.
        assert_correct(
            &node,
            &upstream,
            &format!("/repos/fleet/garbage/issues/{served}"),
        );
        served += 1;
        let book = node.peers();
        peers
            .iter()
            .all(|peer| peer_entry(&book, &peer.peer_id).is_some_and(|p| p["banned"] == true))
    });
    let book = node.peers();
    for peer in &peers {
        let entry = peer_entry(&book, &peer.peer_id).expect("in the peer book");
        assert!(entry["faults"].as_u64() >= Some(3), "{entry}");
        // Its one valid announcement was accepted; the replay of it, the stale copy and the
        // garbage were not.
        assert!(entry["announcements"].as_u64() <= Some(1), "{entry}");
        assert_eq!(entry["served_to_us"], 0, "{entry}");
    }
    let stats = node.stats();
    let connectivity = &stats["connectivity"];
    assert!(
        connectivity["messages_rejected"].as_u64() >= Some(6),
        "{stats}"
    );
    // An unknown version is a newer peer, not a bad one: counted apart, never a fault.
    assert!(
        connectivity["unknown_versions"].as_u64() >= Some(2),
        "{stats}"
    );
    assert_eq!(connectivity["banned_peers"], 2, "{stats}");
    assert_eq!(stats["peer_hits"], 0, "{stats}");
    assert!(node.serve.is_running(), "ghmesh serve died");
    for i in 0..5 {
        assert_correct(&node, &upstream, &format!("/repos/fleet/garbage/after/{i}"));
    }
    assert!(node.serve.is_running(), "ghmesh serve died");
}

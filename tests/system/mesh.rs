//! The fleet mesh between separate `ghmesh serve` processes on loopback: an entry fetched by one
//! node serves the others without GitHub seeing the request again, a write invalidates it on every
//! node, another fleet's node never connects, another token revalidates instead of trusting peer
//! data, a node killed mid-load costs clients nothing, and a restarted node finds its peers again.

use ghmesh_system_tests::fleet::{
    CountingUpstream, MeshNode, NodeConfig, get, json_at, start_fleet, start_serve, wait_for,
};
use ghmesh_system_tests::rig::{FIXTURE_TOKEN, Serve, curl};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A fleet secret per test, so that concurrent tests never share a private network.
fn secret(test: &str) -> String {
    format!("ghmesh-system-test-fleet-{test}")
}

fn x_cache(node: &MeshNode, path: &str) -> String {
    node.get(path).header("x-cache").unwrap_or("").to_string()
}

#[test]
fn an_entry_fetched_by_one_node_serves_the_fleet_and_a_write_invalidates_it_everywhere() {
    let upstream = CountingUpstream::start();
    // Fetched before the fleet forms: never announced, so the others must look it up.
    let list = "/repos/fleet/demo/issues";
    let first = MeshNode::start(&upstream.url, &NodeConfig::loopback(&secret("three"), &[]));
    let fetched = first.get(list);
    assert_eq!(fetched.status, 200, "{}", fetched.body);
    assert_eq!(fetched.header("x-cache"), Some("MISS"));
    assert_eq!(fetched.body, upstream.body(list));
    let join = |bootstrap: &[String]| {
        MeshNode::start(
            &upstream.url,
            &NodeConfig::loopback(&secret("three"), bootstrap),
        )
    };
    let second = join(&[first.mesh_addr()]);
    let third = join(&[first.mesh_addr(), second.mesh_addr()]);
    let nodes = [&first, &second, &third];
    for node in nodes {
        node.wait_connected(2);
    }
    for node in [&second, &third] {
        let answer = node.get(list);
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.header("x-cache"), Some("PEER-HIT"));
        assert_eq!(answer.body, fetched.body);
        assert_eq!(node.stats()["peer_hits"], 1);
    }
    assert_eq!(upstream.count(list), 1, "{:?}", upstream.seen());
    // With content routing the third node asks the providers, the first and (holding a copy
    // in a fleet this small) the second, two at a time: both may answer.
    wait_for("the fleet to count the lookups it answered", || {
        [&first, &second]
            .iter()
            .flat_map(|node| node.peers()["peers"].as_array().unwrap().clone())
            .map(|p| p["served_by_us"].as_u64().unwrap())
            .sum::<u64>()
            >= 2
    });

    // Fetched once the fleet is up: announced, and held by the others before they are asked.
    let issue = "/repos/fleet/demo/issues/7";
    assert_eq!(x_cache(&first, issue), "MISS");
    assert!(first.stats()["connectivity"]["announcements_sent"].as_u64() >= Some(1));
    for node in [&second, &third] {
        wait_for("the announced entry to be stored", || {
            let stats = node.stats();
            stats["connectivity"]["announcements_received"].as_u64() >= Some(1)
                && stats["cache_size"].as_u64() >= Some(2)
        });
        let answer = node.get(issue);
        assert_eq!(answer.header("x-cache"), Some("HIT"), "{}", answer.body);
        assert_eq!(answer.body, upstream.body(issue));
    }
    assert_eq!(upstream.count(issue), 1, "{:?}", upstream.seen());

    a_write_through_one_node_invalidates_every_node(&upstream, &nodes, list, issue);
}

/// A write to `list` through the second of `nodes` drops `list` and `issue` (below it) on all.
fn a_write_through_one_node_invalidates_every_node(
    upstream: &CountingUpstream,
    nodes: &[&MeshNode; 3],
    list: &str,
    issue: &str,
) {
    let [first, second, third] = *nodes;
    let created = curl(
        &format!("{}{list}", second.serve.url),
        &["-X", "POST", "-d", r#"{"title":"new"}"#],
    );
    assert_eq!(created.status, 201, "{}", created.body);
    for node in [first, third] {
        wait_for("the fleet invalidation", || {
            node.stats()["invalidated_entries"].as_u64() >= Some(2)
        });
    }
    for (i, node) in nodes.iter().enumerate() {
        let after = node.get(list);
        assert_eq!(after.status, 200);
        assert_eq!(
            after.body,
            upstream.body(list),
            "node {i} served a stale list"
        );
    }
    assert!(upstream.full_fetches(list) >= 2, "{:?}", upstream.seen());
    assert_eq!(
        x_cache(third, issue),
        "MISS",
        "the issue was invalidated too"
    );
}

#[test]
fn a_node_with_another_secret_never_connects_and_goes_upstream() {
    let upstream = CountingUpstream::start();
    let member = MeshNode::start(&upstream.url, &NodeConfig::loopback(&secret("member"), &[]));
    let stranger = MeshNode::start(
        &upstream.url,
        &NodeConfig::loopback(&secret("stranger"), &[member.mesh_addr()]),
    );
    let path = "/repos/fleet/private/issues";
    assert_eq!(x_cache(&member, path), "MISS");
    // The stranger redials its bootstrap peer every few seconds; the handshake never completes.
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        assert_eq!(member.connected_peers(), 0);
        assert_eq!(stranger.connected_peers(), 0);
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(member.peers()["peers"].as_array().unwrap().len(), 0);
    let answer = stranger.get(path);
    assert_eq!(answer.header("x-cache"), Some("MISS"));
    assert_eq!(answer.body, upstream.body(path));
    assert_eq!(upstream.full_fetches(path), 2);
}

#[test]
fn another_token_revalidates_a_peer_entry_upstream() {
    let upstream = CountingUpstream::start();
    let other_token = "token 0000000000000000000000000000000000000002";
    // Answers `path` on `node` with the other token, and checks GitHub was asked conditionally,
    // with that token, after the one full fetch by the first.
    let revalidated = |node: &MeshNode, path: &str| {
        let answer = get(&format!("{}{path}", node.serve.url), other_token);
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.header("x-cache"), Some("REVALIDATED"), "{path}");
        assert_eq!(answer.body, upstream.body(path));
        let seen: Vec<_> = upstream
            .seen()
            .into_iter()
            .filter(|s| s.path == path)
            .collect();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(!seen[0].conditional());
        let check = &seen[1];
        assert!(
            check.conditional(),
            "peer data alone answered {path}: {seen:?}"
        );
        assert_eq!(check.authorization.as_deref(), Some(other_token));
        // GitHub's ETags are per token: only the date travels to another token.
        assert!(check.if_none_match.is_none(), "{check:?}");
        assert_eq!(check.status, 304);
    };

    // Fetched before the second node joins: it gets the entry by a lookup.
    let looked_up = "/repos/fleet/shared/pulls";
    let first = MeshNode::start(&upstream.url, &NodeConfig::loopback(&secret("tokens"), &[]));
    assert_eq!(x_cache(&first, looked_up), "MISS");
    let second = MeshNode::start(
        &upstream.url,
        &NodeConfig::loopback(&secret("tokens"), &[first.mesh_addr()]),
    );
    second.wait_connected(1);
    revalidated(&second, looked_up);

    // Fetched once both are up: the second node holds it from the announcement.
    let announced = "/repos/fleet/shared/pulls/3";
    assert_eq!(x_cache(&first, announced), "MISS");
    wait_for("the announced entry to be stored", || {
        second.stats()["cache_size"].as_u64() >= Some(2)
    });
    revalidated(&second, announced);
}

/// What the load of [`killing_a_third_of_the_fleet_mid_load_costs_clients_nothing`] saw.
#[derive(Default)]
struct Load {
    /// Answers from the survivors, by `X-Cache`.
    outcomes: std::collections::BTreeMap<String, usize>,
    /// Anything but a 200 with the upstream's body, from a survivor.
    failures: Vec<String>,
}

impl Load {
    fn answers(&self) -> usize {
        self.outcomes.values().sum()
    }
}

/// One client of that load: GETs ever new paths of `lane` on `base`, `ahead` paths ahead of the
/// other clients of the lane, until `stop`; records the answers when `counted`.
struct Client {
    base: String,
    lane: usize,
    ahead: usize,
    counted: bool,
    upstream: Arc<CountingUpstream>,
    load: Arc<Mutex<Load>>,
    stop: Arc<AtomicBool>,
}

impl Client {
    fn run(self) {
        for i in self.ahead.. {
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            let path = format!("/repos/fleet/load/issues/{}-{i}", self.lane);
            let answer = get(&format!("{}{path}", self.base), FIXTURE_TOKEN);
            if !self.counted {
                continue;
            }
            let mut load = self.load.lock().unwrap();
            if answer.status != 200 || answer.body != self.upstream.body(&path) {
                let failure = format!("{}{path}: {} {:?}", self.base, answer.status, answer.body);
                load.failures.push(failure);
            }
            let outcome = answer.header("x-cache").unwrap_or("none").to_string();
            *load.outcomes.entry(outcome).or_default() += 1;
        }
    }
}

#[test]
fn killing_a_third_of_the_fleet_mid_load_costs_clients_nothing() {
    let upstream = Arc::new(CountingUpstream::start());
    let mut nodes = start_fleet(&upstream.url, &secret("kill"), 3);
    let victim = nodes.pop().expect("three nodes");
    let load = Arc::new(Mutex::new(Load::default()));
    let stop = Arc::new(AtomicBool::new(false));
    // Two lanes of ever new paths, each walked by one client per survivor, so that most requests
    // are local misses that ask every peer (the victim included, until it dies), and by one
    // client a few paths ahead on the victim, so that it holds entries the others look up. The
    // victim's own clients fail once it is killed, by design: they are not counted.
    let mut clients = Vec::new();
    for lane in 0..2 {
        for node in nodes.iter().chain([&victim]) {
            let on_victim = std::ptr::eq(node, &victim);
            let client = Client {
                base: node.serve.url.clone(),
                lane,
                ahead: if on_victim { 3 } else { 0 },
                counted: !on_victim,
                upstream: upstream.clone(),
                load: load.clone(),
                stop: stop.clone(),
            };
            clients.push(std::thread::spawn(move || client.run()));
        }
    }
    let answers = || load.lock().unwrap().answers();
    wait_for("load before the kill", || answers() >= 60);
    let killed = std::process::Command::new("kill")
        .args(["-9", &victim.serve.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let at_kill = answers();
    wait_for("load after the kill", || answers() >= at_kill + 120);
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.join().unwrap();
    }
    drop(victim);
    let load = load.lock().unwrap();
    assert!(
        load.failures.is_empty(),
        "{} failed: {:#?}",
        load.failures.len(),
        load.failures
    );
    let from_fleet: usize = ["HIT", "PEER-HIT"]
        .iter()
        .filter_map(|o| load.outcomes.get(*o))
        .sum();
    assert!(
        from_fleet > 0,
        "the fleet never answered: {:?}",
        load.outcomes
    );
    for node in &nodes {
        node.wait_connected(1);
    }
    eprintln!(
        "{} answers from the survivors ({at_kill} before kill -9), none failed: {:?}",
        load.answers(),
        load.outcomes
    );
}

#[test]
fn a_restarted_node_reconnects_to_the_peers_it_knew() {
    let upstream = CountingUpstream::start();
    let anchor = MeshNode::start(
        &upstream.url,
        &NodeConfig::loopback(&secret("restart"), &[]),
    );
    let config = NodeConfig::loopback(&secret("restart"), &[anchor.mesh_addr()]);
    let node = MeshNode::start(&upstream.url, &config);
    node.wait_connected(1);
    let anchor_id = peer_id(&anchor.serve);
    let known = node.sandbox.path("cache/mesh/peers.json");
    wait_for("peers.json to list the bootstrap peer", || {
        std::fs::read_to_string(&known).is_ok_and(|text| text.contains(&anchor_id))
    });
    let MeshNode { sandbox, serve } = node;
    let id = peer_id(&serve);
    assert!(serve.stop().success());
    anchor.wait_connected(0);

    // No bootstrap this time: only what it remembered.
    let config = NodeConfig::loopback(&secret("restart"), &[]);
    let restarted = MeshNode {
        serve: start_serve(&sandbox, &upstream.url, &config),
        sandbox,
    };
    restarted.wait_connected(1);
    anchor.wait_connected(1);
    assert_eq!(peer_id(&restarted.serve), id, "the node key persists");
}

fn peer_id(serve: &Serve) -> String {
    json_at(&serve.url, "/_ghmesh/stats")["peer_id"]
        .as_str()
        .expect("a mesh node has a peer id")
        .to_string()
}

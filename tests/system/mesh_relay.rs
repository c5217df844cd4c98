//! Runners that cannot reach each other share entries through a relay (`ghmesh serve --relay`),
//! and runners behind NAT routers upgrade their relayed connection to a direct one by hole
//! punching. The network namespaces, links, routes and NAT routers are made by the test and
//! removed even when it fails (root, iproute2 and iptables required; `GHMESH_SKIP_NETNS=1`
//! skips, loudly).

use ghmesh_system_tests::Sandbox;
use ghmesh_system_tests::fleet::{CountingUpstream, ITERATIONS, NodeConfig, mesh_sandbox};
use ghmesh_system_tests::netns::{Lab, available, wait_within};
use ghmesh_system_tests::rig::Serve;
use serde_json::Value;
use std::time::Duration;

/// The mesh port every node listens on (each in its own namespace).
const PORT: u16 = 4101;
/// Relayed connections need a reservation, a rendezvous registration and a discovery round.
const CONNECT_WITHIN: Duration = Duration::from_secs(60);

fn config(secret: &str) -> NodeConfig {
    NodeConfig {
        listen: format!("/ip4/0.0.0.0/tcp/{PORT}"),
        ..NodeConfig::loopback(secret, &[])
    }
}

/// The peer id at the end of a printed mesh address.
fn peer_id(serve: &Serve) -> String {
    let addr = serve
        .mesh_addr
        .as_deref()
        .expect("the relay printed its address");
    addr.rsplit("/p2p/")
        .next()
        .expect("address ends in /p2p/ID")
        .to_string()
}

/// A node as seen from its namespace.
struct Node<'a> {
    lab: &'a Lab,
    space: String,
    serve: Serve,
    _sandbox: Sandbox,
}

impl Node<'_> {
    fn stats(&self) -> Value {
        self.lab.json(&self.space, &self.serve, "/_ghmesh/stats")
    }

    fn nat(&self) -> Value {
        self.stats()["connectivity"]["nat_traversal"].clone()
    }

    fn peers(&self) -> Value {
        self.lab.json(&self.space, &self.serve, "/_ghmesh/peers")
    }

    /// This node's record of `peer` in its peer book.
    fn peer(&self, peer: &str) -> Value {
        self.peers()["peers"]
            .as_array()
            .and_then(|peers| peers.iter().find(|p| p["peer_id"] == peer).cloned())
            .unwrap_or(Value::Null)
    }

    fn get(&self, path: &str) -> ghmesh_system_tests::rig::Exchange {
        self.lab
            .get(&self.space, &format!("{}{path}", self.serve.url))
    }
}

/// Both runners' and the relay's stats and peer books, for a failure message.
fn explain(nodes: &[&Node<'_>]) -> String {
    nodes
        .iter()
        .map(|n| format!("{}: stats {}\npeers {}", n.space, n.stats(), n.peers()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn runners_without_a_route_to_each_other_share_an_entry_through_a_relay() {
    if !available("mesh_relay", false) {
        return;
    }
    let n = std::process::id() % 250;
    let mut lab = Lab::new("ghr");
    let (r, a, b) = (lab.space("r"), lab.space("a"), lab.space("b"));
    // The relay is dual-homed and does not forward: a and b have no route to each other.
    lab.link(
        "ar",
        (Some(&a), &format!("10.220.{n}.2/24")),
        (Some(&r), &format!("10.220.{n}.1/24")),
    );
    lab.link(
        "br",
        (Some(&b), &format!("10.221.{n}.2/24")),
        (Some(&r), &format!("10.221.{n}.1/24")),
    );
    // The upstream is reachable from `a` only: `b` can be answered by the mesh alone.
    lab.link(
        "u",
        (None, &format!("10.222.{n}.254/24")),
        (Some(&a), &format!("10.222.{n}.1/24")),
    );
    let upstream = CountingUpstream::start_on(format!("10.222.{n}.254:0").parse().unwrap());
    let secret = "ghmesh-system-test-fleet-relay";

    // The relay's key is made first, so the runners can be told its peer id; it then stays
    // down until `a` has fetched the entry, which therefore reaches no one's cache by gossip:
    // `b` has to ask for it, and only `a` has it.
    let (serve, sandbox) = lab.serve(&r, &upstream.url, &config(secret), &["--relay"], &[]);
    let relay_id = peer_id(&serve);
    drop(serve);
    // `a` names the relay's peer id; `b` gives only its address (the seed's form).
    let runner = |space: &str, relay: String| {
        let env = [("GHMESH_RELAY_ADDRS", relay.as_str())];
        let (serve, dir) = lab.serve(space, &upstream.url, &config(secret), &[], &env);
        Node {
            lab: &lab,
            space: space.to_string(),
            serve,
            _sandbox: dir,
        }
    };
    let a = runner(&a, format!("/ip4/10.220.{n}.1/tcp/{PORT}/p2p/{relay_id}"));
    let path = "/repos/fleet/relay/issues";
    let first = a.get(path);
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.header("x-cache"), Some("MISS"));
    assert_eq!(a.stats()["connected_peers"], 0, "a published to no one");

    let serve = lab.serve_in(
        &sandbox,
        &r,
        &upstream.url,
        &config(secret),
        &["--relay"],
        &[],
    );
    assert_eq!(
        peer_id(&serve),
        relay_id,
        "the relay restarted as the same peer"
    );
    let relay = Node {
        lab: &lab,
        space: r.clone(),
        serve,
        _sandbox: sandbox,
    };
    // The relay can dial `a` back, so AutoNAT finds `a` public and `a` registers its direct
    // address at the rendezvous point too: `b` tries it first, fails (no route), falls back.
    wait_within(
        "AutoNAT to find a publicly reachable (from the relay)",
        CONNECT_WITHIN,
        || a.stats()["connectivity"]["reachability"] == "public",
        || explain(&[&a, &relay]),
    );
    let b = runner(&b, format!("/ip4/10.221.{n}.1/tcp/{PORT}"));
    let a_id = a.stats()["peer_id"].as_str().unwrap().to_string();

    wait_within(
        "both runners to be connected to the relay and, through it, to each other",
        CONNECT_WITHIN,
        || {
            [&a, &b].iter().all(|n| {
                let s = n.stats();
                s["connected_peers"] == 2 && s["connectivity"]["relay_peers"] == 1
            })
        },
        || explain(&[&a, &b, &relay]),
    );

    let second = b.get(path);
    // The nodes' state right after, for every failure message below.
    let context = explain(&[&a, &b, &relay]);
    assert_eq!(second.status, 200, "{}\n{context}", second.body);
    let how = second.header("x-cache");
    assert_eq!(how, Some("PEER-HIT"), "{}\n{context}", second.body);
    assert_eq!(second.body, first.body);
    assert_eq!(upstream.count(path), 1, "{:?}", upstream.seen());

    // The entry came over a relayed connection: b reaches a only through the relay.
    let nat = b.nat();
    assert!(nat["relayed_connections"].as_u64() >= Some(1), "{context}");
    assert_eq!(nat["reservations"], 1, "{context}");
    assert_eq!(
        nat["direct_upgrades"], 0,
        "no direct path exists: {context}"
    );
    let seen = b.peer(&a_id);
    assert_eq!(seen["connected"], true, "{context}");
    assert_eq!(seen["relayed"], true, "{context}");
    assert_eq!(seen["served_to_us"], 1, "a answered b's lookup: {context}");
    let relay_nat = relay.nat();
    assert_eq!(relay_nat["relay_server"], true, "{context}");
    assert!(
        relay_nat["circuits_relayed"].as_u64() >= Some(1),
        "{context}"
    );
    let c = &b.stats()["connectivity"];
    assert_eq!(
        c["transports"],
        serde_json::json!(["tcp", "p2p-circuit"]),
        "{c}"
    );
    assert!(
        c["discovery"]
            .as_array()
            .unwrap()
            .contains(&"rendezvous".into()),
        "{c}"
    );
}

#[test]
fn runners_behind_nat_routers_hole_punch_a_direct_connection() {
    if !available("mesh_relay", true) {
        return;
    }
    let n = std::process::id() % 250;
    let mut lab = Lab::new("ghh");
    let (r, wan) = (lab.space("r"), lab.space("w"));
    let (na, nb) = (lab.space("na"), lab.space("nb"));
    let (a, b) = (lab.space("a"), lab.space("b"));
    // The "internet": a bridge in namespace `w` joining the relay and both routers' WAN sides.
    lab.exec(&wan, "ip", &["link", "add", "br0", "type", "bridge"]);
    lab.exec(&wan, "ip", &["link", "set", "br0", "up"]);
    let mut port = |name: &str, space: &str, addr: String| {
        let (inner, outer) = lab.link(name, (Some(space), &addr), (Some(&wan), ""));
        lab.exec(&wan, "ip", &["link", "set", &outer, "master", "br0"]);
        inner
    };
    port("r", &r, format!("10.230.{n}.1/24"));
    let na_wan = port("na", &na, format!("10.230.{n}.2/24"));
    let nb_wan = port("nb", &nb, format!("10.230.{n}.3/24"));
    // Each runner sits in a LAN behind its router, whose default route it uses.
    lab.link(
        "la",
        (Some(&a), &format!("10.231.{n}.2/24")),
        (Some(&na), &format!("10.231.{n}.1/24")),
    );
    lab.link(
        "lb",
        (Some(&b), &format!("10.232.{n}.2/24")),
        (Some(&nb), &format!("10.232.{n}.1/24")),
    );
    lab.exec(
        &a,
        "ip",
        &["route", "add", "default", "via", &format!("10.231.{n}.1")],
    );
    lab.exec(
        &b,
        "ip",
        &["route", "add", "default", "via", &format!("10.232.{n}.1")],
    );
    lab.nat_router(&na, &na_wan);
    lab.nat_router(&nb, &nb_wan);
    // The upstream hangs off runner a's router, which masquerades toward it too.
    let (_, na_up) = lab.link(
        "u",
        (None, &format!("10.233.{n}.254/24")),
        (Some(&na), &format!("10.233.{n}.1/24")),
    );
    let masquerade = [
        "-t",
        "nat",
        "-A",
        "POSTROUTING",
        "-o",
        &na_up,
        "-j",
        "MASQUERADE",
    ];
    lab.exec(&na, "iptables", &masquerade);
    let upstream = CountingUpstream::start_on(format!("10.233.{n}.254:0").parse().unwrap());
    let secret = "ghmesh-system-test-fleet-holepunch";

    // The relay gives up a dial-back after 3 s: AutoNAT probes of runners behind the routers
    // (which drop them) then fail within seconds rather than the default 30.
    let sandbox = mesh_sandbox();
    sandbox.write_config(
        "p2p-config.yml",
        &format!(
            "network:\n  connection_timeout: 3\n\
             security:\n  encryption:\n    key_derivation:\n      iterations: {ITERATIONS}\n"
        ),
    );
    let serve = lab.serve_in(
        &sandbox,
        &r,
        &upstream.url,
        &config(secret),
        &["--relay"],
        &[],
    );
    let relay_addr = format!("/ip4/10.230.{n}.1/tcp/{PORT}/p2p/{}", peer_id(&serve));
    let relay = Node {
        lab: &lab,
        space: r.clone(),
        serve,
        _sandbox: sandbox,
    };
    // Neither runner is told the other's address, nor that the relay is one: both only
    // bootstrap to it, learn from AutoNAT that they are private, and then reserve there.
    let runner = |space: &str| {
        let config = NodeConfig {
            bootstrap: vec![relay_addr.clone()],
            ..config(secret)
        };
        let (serve, dir) = lab.serve(space, &upstream.url, &config, &[], &[]);
        Node {
            lab: &lab,
            space: space.to_string(),
            serve,
            _sandbox: dir,
        }
    };
    let a = runner(&a);
    let b = runner(&b);
    let (a_id, b_id) = (
        a.stats()["peer_id"].as_str().unwrap().to_string(),
        b.stats()["peer_id"].as_str().unwrap().to_string(),
    );
    wait_within(
        "AutoNAT to find both runners private, and both to reserve at the relay",
        CONNECT_WITHIN,
        || {
            [&a, &b].iter().all(|n| {
                let c = &n.stats()["connectivity"];
                c["reachability"] == "private" && c["nat_traversal"]["reservations"] == 1
            })
        },
        || explain(&[&a, &b, &relay]),
    );

    wait_within(
        "the runners to replace their relayed connection by a hole-punched direct one",
        CONNECT_WITHIN,
        || {
            let upgrades = |n: &Node<'_>| n.nat()["direct_upgrades"].as_u64().unwrap_or(0);
            let direct = |n: &Node<'_>, other: &str| {
                let p = n.peer(other);
                p["connected"] == true && p["relayed"] == false
            };
            upgrades(&a) + upgrades(&b) >= 1 && direct(&a, &b_id) && direct(&b, &a_id)
        },
        || explain(&[&a, &b, &relay]),
    );

    let path = "/repos/fleet/nat/issues";
    let first = a.get(path);
    assert_eq!(first.status, 200, "{}", first.body);
    let second = b.get(path);
    assert_eq!(second.status, 200, "{}", second.body);
    // By announcement (HIT) or lookup (PEER-HIT): b cannot reach the upstream either way.
    let how = second.header("x-cache").unwrap_or_default();
    assert!(how == "HIT" || how == "PEER-HIT", "{how}: {}", second.body);
    assert_eq!(upstream.count(path), 1, "{:?}", upstream.seen());
    let relay_nat = relay.nat();
    assert!(
        relay_nat["circuits_relayed"].as_u64() <= Some(1),
        "punched peers close their circuits: {relay_nat}"
    );
}

#[test]
fn relay_without_the_mesh_is_refused_with_the_reason() {
    let sandbox = Sandbox::new();
    let output = sandbox
        .command(&["serve", "--relay", "--listen", "127.0.0.1:0"])
        .output()
        .expect("run ghmesh serve");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--relay needs the fleet mesh"), "{stderr}");
    assert!(stderr.contains("ENABLE_P2P_CACHE"), "{stderr}");
}

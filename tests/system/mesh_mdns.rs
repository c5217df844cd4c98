//! Two `ghmesh serve` processes in network namespaces of their own, joined by a veth pair, find
//! each other by mDNS alone (no bootstrap peers) and share an entry. mDNS ignores loopback, so
//! this needs real interfaces: the test creates them (root and `ip` required) and removes them
//! even when it fails. `GHMESH_SKIP_NETNS=1` skips it, loudly, where that is impossible.

use ghmesh_system_tests::fleet::{
    CountingUpstream, NodeConfig, curl_in, mesh_sandbox, wait_or_explain,
};
use ghmesh_system_tests::ghmesh_bin;
use ghmesh_system_tests::netns::{available, ip};
use ghmesh_system_tests::rig::{Exchange, FIXTURE_TOKEN, Serve};
use std::process::Command;

/// Whether namespaces can be made here (see [`available`]).
fn netns_available() -> bool {
    available("mesh_mdns", false)
}

/// Two namespaces `a` and `b` joined by a veth pair (10.213.N.1 and .2, for the mesh), and a
/// second pair from this namespace (10.214.N.254) into `a` (10.214.N.1), for the upstream.
/// Removed on drop.
struct Namespaces {
    a: String,
    b: String,
    uplink: String,
    subnet: u32,
}

impl Namespaces {
    fn create() -> Self {
        // Short, unique names (interface names stop at 15 bytes).
        let id = std::process::id() % 100_000;
        let ns = Self {
            a: format!("ghm{id}a"),
            b: format!("ghm{id}b"),
            uplink: format!("ghm{id}u"),
            subnet: id % 250,
        };
        // From here on, dropping `ns` cleans up whatever was made.
        let (a, b, n) = (&ns.a, &ns.b, ns.subnet);
        ip(&["netns", "add", a]);
        ip(&["netns", "add", b]);
        let (a_mesh, b_mesh) = (format!("{a}m"), format!("{b}m"));
        ip(&[
            "link", "add", &a_mesh, "type", "veth", "peer", "name", &b_mesh,
        ]);
        ip(&["link", "set", &a_mesh, "netns", a]);
        ip(&["link", "set", &b_mesh, "netns", b]);
        ip(&[
            "-n",
            a,
            "addr",
            "add",
            &format!("10.213.{n}.1/24"),
            "dev",
            &a_mesh,
        ]);
        ip(&[
            "-n",
            b,
            "addr",
            "add",
            &format!("10.213.{n}.2/24"),
            "dev",
            &b_mesh,
        ]);
        let a_up = format!("{a}u");
        ip(&[
            "link", "add", &ns.uplink, "type", "veth", "peer", "name", &a_up,
        ]);
        ip(&["link", "set", &a_up, "netns", a]);
        ip(&[
            "addr",
            "add",
            &format!("10.214.{n}.254/24"),
            "dev",
            &ns.uplink,
        ]);
        ip(&["link", "set", &ns.uplink, "up"]);
        ip(&[
            "-n",
            a,
            "addr",
            "add",
            &format!("10.214.{n}.1/24"),
            "dev",
            &a_up,
        ]);
        for (space, links) in [(a, vec!["lo", &a_mesh, &a_up]), (b, vec!["lo", &b_mesh])] {
            for link in links {
                ip(&["-n", space, "link", "set", link, "up"]);
            }
        }
        ns
    }

    /// The address the upstream listens on, reachable from `a`.
    fn upstream_addr(&self) -> std::net::SocketAddr {
        format!("10.214.{}.254:0", self.subnet)
            .parse()
            .expect("address")
    }

    /// `ghmesh serve` in namespace `space`, listening on its loopback.
    fn serve(
        &self,
        space: &str,
        upstream: &str,
        config: &NodeConfig,
    ) -> (Serve, tempfile::TempDir) {
        let sandbox = mesh_sandbox();
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", space])
            .arg(ghmesh_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--upstream", upstream])
            .current_dir(sandbox.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", sandbox.dir.path())
            .env("CACHE_DIR", sandbox.path("cache"))
            .envs(config.env());
        (Serve::launch(command), sandbox.dir)
    }

    /// GET through curl inside `space`.
    fn get(&self, space: &str, url: &str) -> Exchange {
        curl_in(&["ip", "netns", "exec", space], url, FIXTURE_TOKEN)
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for space in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", space]).status();
        }
        // Gone with namespace `a` already, unless `a` was never made.
        let _ = Command::new("ip")
            .args(["link", "del", &self.uplink])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

#[test]
fn nodes_in_two_namespaces_find_each_other_by_mdns_and_share_an_entry() {
    if !netns_available() {
        return;
    }
    let ns = Namespaces::create();
    let upstream = CountingUpstream::start_on(ns.upstream_addr());
    let config = NodeConfig {
        mdns: true,
        listen: "/ip4/0.0.0.0/tcp/0".into(),
        ..NodeConfig::loopback("ghmesh-system-test-fleet-mdns", &[])
    };
    let (a, _a_dir) = ns.serve(&ns.a, &upstream.url, &config);
    let (b, _b_dir) = ns.serve(&ns.b, &upstream.url, &config);
    let connected = |space: &str, serve: &Serve| {
        let stats = ns.get(space, &format!("{}/_ghmesh/stats", serve.url));
        serde_json::from_str::<serde_json::Value>(&stats.body)
            .is_ok_and(|s| s["connected_peers"] == 1)
    };
    let peer_books = || {
        let book = |space: &str, serve: &Serve| {
            ns.get(space, &format!("{}/_ghmesh/peers", serve.url)).body
        };
        format!("a: {}\nb: {}", book(&ns.a, &a), book(&ns.b, &b))
    };
    wait_or_explain(
        "the namespaces' nodes to discover each other",
        || connected(&ns.a, &a) && connected(&ns.b, &b),
        peer_books,
    );

    let path = "/repos/fleet/lan/issues";
    let first = ns.get(&ns.a, &format!("{}{path}", a.url));
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.header("x-cache"), Some("MISS"));
    // Namespace `b` has no route to the upstream: only the mesh can answer there.
    let second = ns.get(&ns.b, &format!("{}{path}", b.url));
    assert_eq!(second.status, 200, "{}", second.body);
    let how = second.header("x-cache").unwrap_or_default();
    assert!(how == "HIT" || how == "PEER-HIT", "{how}: {}", second.body);
    assert_eq!(second.body, first.body);
    assert_eq!(upstream.count(path), 1, "{:?}", upstream.seen());
}

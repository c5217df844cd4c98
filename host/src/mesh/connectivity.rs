//! How a node reaches peers it cannot dial directly: what it was configured to do
//! ([`NatSettings`]) and what it sees ([`Connectivity`], part of [`super::MeshStatus`]).
//!
//! The order of attempts is direct, then hole punching, then relay: a node dials a discovered
//! peer's direct addresses first and its `/p2p-circuit` addresses only when those fail; once a
//! relayed connection stands, DCUtR tries to replace it with a direct one.

use libp2p::Multiaddr;
use serde::{Deserialize, Serialize};

/// NAT traversal and connection limits, from `discovery.*` and `network.connections.*`.
#[derive(Debug, Clone, PartialEq)]
pub struct NatSettings {
    /// Ask peers to dial back, to learn whether this node is publicly reachable (AutoNAT v1),
    /// and answer their probes.
    pub autonat: bool,
    /// Reserve a slot at relays and accept circuits through them; dial peers' circuit
    /// addresses when their direct ones fail.
    pub relay_client: bool,
    /// Act as a relay (circuit relay v2 hop) and a rendezvous point for the fleet
    /// (`ghmesh serve --relay`). The node's listen addresses are then announced as reachable.
    pub relay_server: bool,
    /// Upgrade relayed connections to direct ones (DCUtR).
    pub hole_punching: bool,
    /// Register at, and discover peers through, rendezvous points (peers run with `--relay`).
    pub rendezvous: bool,
    /// Relays always reserved at, whatever AutoNAT says (`discovery.relay.relay_addrs`). One
    /// without `/p2p/<peer id>` (the seed's form) is dialled, and used once it has identified
    /// itself as a relay.
    pub relays: Vec<Multiaddr>,
    /// New connections are refused while the process uses more than this share of the
    /// machine's memory, in percent (`network.connections.max_memory_percent`).
    pub max_memory_percent: u8,
}

impl Default for NatSettings {
    /// Everything off but the memory bound: what in-process tests and a LAN-only node run with.
    fn default() -> Self {
        Self {
            autonat: false,
            relay_client: false,
            relay_server: false,
            hole_punching: false,
            rendezvous: false,
            relays: Vec::new(),
            max_memory_percent: DEFAULT_MAX_MEMORY_PERCENT,
        }
    }
}

/// Default of [`NatSettings::max_memory_percent`].
pub const DEFAULT_MAX_MEMORY_PERCENT: u8 = 90;

/// How the node reaches its peers (the seed's `connectivity` stats), filled from live state.
///
/// Built by the network task on each status request (`ConnectivityState::snapshot` in
/// `node/connectivity.rs`). Discovery engines kept elsewhere (Kademlia, the GitHub-cache
/// registry) plug in there: their method name through [`Connectivity::add_discovery`] (or the
/// list `node.rs`'s `discovery_methods` builds at start), and their own counters as fields of
/// their own added here and set in `Command::Status` after the snapshot.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Connectivity {
    /// Distinct peers learned of by any discovery method, connected or not.
    pub discovered_peers: usize,
    /// Connected peers whose only connections run through a relay.
    pub relay_peers: usize,
    /// What AutoNAT concluded: `public`, `private` or `unknown`.
    pub reachability: String,
    /// Transports in use: `tcp`, and `p2p-circuit` when relaying is on.
    pub transports: Vec<String>,
    /// Discovery methods running: `mdns`, `bootstrap`, `rendezvous`, and those the other
    /// discovery engines add through [`Connectivity::add_discovery`] (`kademlia`,
    /// `github_cache`).
    pub discovery: Vec<String>,
    /// Relay, AutoNAT and hole-punching state and counters.
    pub nat_traversal: NatTraversal,
}

impl Connectivity {
    /// Records that the discovery method `method` runs (idempotent). The hook for discovery
    /// engines kept outside this module (Kademlia, the GitHub-cache registry).
    pub fn add_discovery(&mut self, method: &str) {
        if !self.discovery.iter().any(|m| m == method) {
            self.discovery.push(method.to_string());
        }
    }
}

/// NAT traversal as the node runs it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct NatTraversal {
    /// AutoNAT probing runs.
    pub autonat: bool,
    /// This node reserves at relays and accepts relayed connections.
    pub relay_client: bool,
    /// This node relays for others (`--relay`).
    pub relay_server: bool,
    /// DCUtR runs.
    pub hole_punching: bool,
    /// Relayed connections replaced by direct ones through hole punching.
    pub direct_upgrades: u64,
    /// Hole punches that failed (the relayed connection stays).
    pub hole_punch_failures: u64,
    /// Dials that fell back to a peer's relay circuit after its direct addresses failed.
    pub relay_fallbacks: u64,
    /// Open connections that run through a relay.
    pub relayed_connections: usize,
    /// Relays holding a reservation for this node now.
    pub reservations: usize,
    /// Circuits this node relays for others now (relay server).
    pub circuits_relayed: usize,
}

#[cfg(test)]
mod tests {
    use crate::mesh::{Mesh, MeshEvent, MeshSettings, MeshStatus, NatSettings};
    use libp2p::Multiaddr;
    use std::time::{Duration, Instant};
    use tokio::sync::mpsc;

    async fn node(dir: &tempfile::TempDir, nat: NatSettings) -> (Mesh, mpsc::Receiver<MeshEvent>) {
        let settings = MeshSettings {
            nat,
            ..MeshSettings::for_tests(b"the fleet of the relay tests", dir.path())
        };
        Mesh::start(settings).await.unwrap()
    }

    async fn until(mesh: &Mesh, what: &str, done: impl Fn(&MeshStatus) -> bool) -> MeshStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status = mesh.status().await;
            if done(&status) {
                return status;
            }
            assert!(Instant::now() < deadline, "{what}: {status:#?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Two nodes told only of a relay find each other at its rendezvous point and end up on a
    /// direct connection (dialled directly first, or upgraded by DCUtR).
    #[tokio::test(flavor = "multi_thread")]
    async fn nodes_told_only_of_a_relay_find_each_other_and_connect_directly() {
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let (relay, _relay_events) = node(
            &dirs[0],
            NatSettings {
                relay_server: true,
                autonat: true,
                ..NatSettings::default()
            },
        )
        .await;
        let relay_addr: Multiaddr = relay.status().await.listen_addrs[0].parse().unwrap();
        let runner = NatSettings {
            autonat: true,
            relay_client: true,
            hole_punching: true,
            rendezvous: true,
            relays: vec![relay_addr],
            ..NatSettings::default()
        };
        let (a, _a_events) = node(&dirs[1], runner.clone()).await;
        let (b, _b_events) = node(&dirs[2], runner).await;
        let a_id = a.status().await.peer_id;
        let status = until(&b, "b to reach a directly", |s| {
            s.peers
                .iter()
                .any(|p| p.peer_id == a_id && p.connected && !p.relayed)
        })
        .await;
        let c = &status.connectivity;
        assert_eq!(c.discovery, ["kademlia", "rendezvous"]);
        assert_eq!(c.transports, ["tcp", "p2p-circuit"]);
        assert_eq!(c.nat_traversal.reservations, 1, "{c:?}");
        assert!(c.discovered_peers >= 2, "{c:?}");
        let relay_status = relay.status().await;
        assert!(relay_status.connectivity.nat_traversal.relay_server);
        assert_eq!(relay_status.connected_peers, 2);
    }
}

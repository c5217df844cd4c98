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
    /// Relays always reserved at, whatever AutoNAT says (`discovery.relay.relay_addrs`); each
    /// must end in `/p2p/<peer id>`.
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
    /// Open connections that run through a relay.
    pub relayed_connections: usize,
    /// Relays holding a reservation for this node now.
    pub reservations: usize,
    /// Circuits this node relays for others now (relay server).
    pub circuits_relayed: usize,
}

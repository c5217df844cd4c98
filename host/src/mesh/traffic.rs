//! What the node reports of its content routing and of the messages it exchanged, for
//! `ghmesh peers` and the stats: the figures a fleet operator sizes a mesh with.

use serde::{Deserialize, Serialize};

/// Messages this node sent and received, counted where the node sees them.
///
/// Gossip counts messages delivered to or published by this node (duplicates and gossipsub's
/// own control messages are not visible here); requests count every fetch and CodeQL request;
/// DHT counts Kademlia requests this node's queries sent and the ones it answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Traffic {
    /// Announcements published (API entries, invalidations, CodeQL results).
    pub gossip_published: u64,
    /// Announcements received (accepted or not).
    pub gossip_received: u64,
    /// Fetch and CodeQL requests sent to peers.
    pub requests_sent: u64,
    /// Fetch and CodeQL requests received from peers.
    pub requests_received: u64,
    /// Kademlia requests sent by this node's queries (lookups, provider records, bootstrap).
    pub dht_requests_sent: u64,
    /// Kademlia requests this node answered.
    pub dht_requests_received: u64,
}

impl Traffic {
    /// Every message counted, both directions.
    pub fn total(&self) -> u64 {
        self.gossip_published
            + self.gossip_received
            + self.requests_sent
            + self.requests_received
            + self.dht_requests_sent
            + self.dht_requests_received
    }
}

/// The state of content routing (Kademlia provider records).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingStatus {
    /// Whether lookups go through provider records (`discovery.methods.kademlia`); when off, a
    /// miss asks every connected peer.
    pub enabled: bool,
    /// Peers in the Kademlia routing table.
    pub routing_table_peers: usize,
    /// Keys this node currently provides.
    pub provided_keys: usize,
    /// Keys this node stopped providing: entry expired or evicted, or a peer sent here found
    /// it gone.
    pub withdrawn_keys: u64,
    /// Provider lookups started on a local miss.
    pub lookups: u64,
    /// Lookups a provider answered with a verified, fresh entry.
    pub lookups_found: u64,
    /// Lookups that found no provider holding the entry.
    pub lookups_missed: u64,
    /// Lookups in a small fleet that asked every connected peer because the DHT named no
    /// provider (a routing table still filling after the node joined).
    pub small_fleet_fallbacks: u64,
    /// Providers asked that failed to answer or no longer held the entry (their records are
    /// dropped from this node's store).
    pub stale_providers: u64,
    /// Nodes that announced they were leaving: no longer named as providers by this node.
    pub departed_providers: u64,
}

//! Content routing for large fleets: Kademlia on a private protocol name, with provider records
//! saying which node holds the entry under a request key.
//!
//! A node provides the keys it fetched from GitHub or retrieved from a peer, and a few of the
//! keys it received by gossip (about [`REPLICAS`] per entry across the fleet), so that a record
//! survives its first holder leaving. On a local miss it asks the DHT for providers and only
//! asks those, instead of every connected peer. Records live [`PROVIDER_TTL`] on the nodes that
//! store them and are republished every [`REPUBLISH_INTERVAL`] while the entry is held and
//! fresh; a key whose entry expired, was evicted or invalidated is no longer provided, and
//! its remote copies lapse within the TTL. Gossip still carries announcements and
//! invalidations.

use libp2p::kad::{self, store::MemoryStore, store::MemoryStoreConfig};
use libp2p::{PeerId, StreamProtocol};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The DHT's protocol name: private, so a fleet's DHT never mixes with the public IPFS one.
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/ghmesh/kad/1.0.0");
/// How long a provider record stays on the nodes that store it. Runners are ephemeral: a
/// record must not outlive its provider by long.
pub const PROVIDER_TTL: Duration = Duration::from_secs(10 * 60);
/// How often a node republishes the records of the keys it still provides.
pub const REPUBLISH_INTERVAL: Duration = Duration::from_secs(4 * 60);
/// Providers wanted per entry besides its first holder; a node that received the entry by
/// gossip provides it with probability `REPLICAS / fleet size`.
pub const REPLICAS: usize = 4;
/// Providers asked at once during one lookup; more are asked as these fail or miss.
pub const PARALLEL_ASKS: usize = 3;
/// Providers asked in all during one lookup.
pub const MAX_ASKS: usize = 8;
/// Keys this node may provide at once; beyond it, the oldest are no longer provided.
pub const MAX_PROVIDED_KEYS: usize = 50_000;
/// A DHT query gives up after this long.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// The DHT key of a request key: its SHA-256, so record keys have one size and say nothing of
/// the path to the nodes that merely store them.
pub fn record_key(key: &str) -> kad::RecordKey {
    kad::RecordKey::new(&Sha256::digest(key.as_bytes()).as_slice())
}

/// Why this node holds an entry it may provide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// Fetched from GitHub, or retrieved from a peer on a miss: always provided.
    Fetched,
    /// Received in a peer's announcement: provided by a few nodes only.
    Announced,
}

/// The Kademlia behaviour, in server mode (every fleet node answers DHT queries), with the
/// short provider TTL and republication of [`REPUBLISH_INTERVAL`].
pub fn behaviour(peer_id: PeerId) -> kad::Behaviour<MemoryStore> {
    let mut config = kad::Config::new(KAD_PROTOCOL);
    config
        .set_query_timeout(QUERY_TIMEOUT)
        .set_provider_record_ttl(Some(PROVIDER_TTL))
        .set_provider_publication_interval(Some(REPUBLISH_INTERVAL))
        // Values are not stored in the DHT: bodies travel over the fetch protocol, sealed.
        .set_record_ttl(Some(PROVIDER_TTL))
        .set_publication_interval(None)
        .set_replication_interval(None)
        .set_periodic_bootstrap_interval(Some(Duration::from_secs(60)));
    let store = MemoryStore::with_config(
        peer_id,
        MemoryStoreConfig {
            max_records: MAX_PROVIDED_KEYS,
            max_value_bytes: 1024,
            max_providers_per_key: kad::K_VALUE.get(),
            max_provided_keys: MAX_PROVIDED_KEYS,
        },
    );
    let mut kad = kad::Behaviour::with_config(peer_id, store, config);
    // Without a confirmed external address Kademlia stays a client; fleet nodes reach each
    // other on private addresses, so every node serves.
    kad.set_mode(Some(kad::Mode::Server));
    kad
}

/// Whether a node that received an entry by gossip provides it too, given how many fleet nodes
/// it knows of: about [`REPLICAS`] nodes per entry do, chosen independently at random.
pub fn provide_announced(known_nodes: usize, roll: f64) -> bool {
    let fleet = (known_nodes + 1) as f64;
    roll < REPLICAS as f64 / fleet
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_keys_are_digests_of_the_request_key() {
        let a = record_key("GET api.github.com/repos/o/r");
        assert_eq!(a.as_ref().len(), 32);
        assert_eq!(a, record_key("GET api.github.com/repos/o/r"));
        assert_ne!(a, record_key("GET api.github.com/repos/o/s"));
    }

    #[test]
    fn small_fleets_provide_everything_large_ones_a_few_replicas() {
        // Four peers or fewer: every node provides.
        assert!(provide_announced(3, 0.99));
        // A hundred nodes: about four in a hundred rolls provide.
        let rolls = (0..10_000).map(|i| f64::from(i) / 10_000.0);
        let providing = rolls.filter(|&r| provide_announced(99, r)).count();
        assert_eq!(providing, 400);
    }
}

//! Content routing for large fleets: Kademlia on a private protocol name, with provider records
//! saying which node holds the entry under a request key.
//!
//! A node provides the keys it fetched from GitHub, and a few of the nodes holding a copy from a
//! peer provide it too (about [`REPLICAS`] per entry across the fleet), so that a record
//! survives its first holder leaving. On a local miss it asks the DHT for providers and only
//! asks those, instead of every connected peer. Records live [`PROVIDER_TTL`] on the nodes that
//! store them and are republished every [`REPUBLISH_INTERVAL`] while the entry is held and
//! fresh; a key whose entry expired, was evicted or invalidated is no longer provided, and
//! its remote copies lapse within the TTL. A node that shuts down cleanly gossips that it
//! leaves, and the others stop naming it at once ([`ProviderStore`]). Gossip still carries
//! announcements and invalidations.

mod store;

pub use store::ProviderStore;

use libp2p::kad::{self, KBucketKey, store::MemoryStore, store::MemoryStoreConfig};
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
/// Providers wanted per entry besides the node that fetched it from GitHub: the nodes closest
/// to the key that hold a copy (see [`provides_copy`]).
pub const REPLICAS: usize = 4;
/// Providers asked at once during one lookup; more are asked as these fail or miss.
pub const PARALLEL_ASKS: usize = 2;
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
    /// Fetched from GitHub: always provided.
    Fetched,
    /// A copy from a peer (an announcement, or the answer to a lookup): provided by a few
    /// nodes only, so the fleet does not pay a provider record per node per entry.
    Copied,
}

/// The Kademlia behaviour, in server mode (every fleet node answers DHT queries), with the
/// short provider TTL and republication of [`REPUBLISH_INTERVAL`].
pub fn behaviour(peer_id: PeerId) -> kad::Behaviour<ProviderStore> {
    let mut config = kad::Config::new(KAD_PROTOCOL);
    config
        .set_query_timeout(QUERY_TIMEOUT)
        .set_provider_record_ttl(Some(PROVIDER_TTL))
        .set_provider_publication_interval(Some(REPUBLISH_INTERVAL))
        // Values are not stored in the DHT: bodies travel over the fetch protocol, sealed.
        .set_record_ttl(Some(PROVIDER_TTL))
        .set_publication_interval(None)
        .set_replication_interval(None);
    let store = ProviderStore::new(MemoryStore::with_config(
        peer_id,
        MemoryStoreConfig {
            max_records: MAX_PROVIDED_KEYS,
            max_value_bytes: 1024,
            max_providers_per_key: kad::K_VALUE.get(),
            max_provided_keys: MAX_PROVIDED_KEYS,
        },
    ));
    let mut kad = kad::Behaviour::with_config(peer_id, store, config);
    // Without a confirmed external address Kademlia stays a client; fleet nodes reach each
    // other on private addresses, so every node serves.
    kad.set_mode(Some(kad::Mode::Server));
    kad
}

/// Whether this node provides a copy it got from a peer: only when it is one of the
/// [`REPLICAS`] nodes closest (Kademlia XOR distance) to the key among the nodes it knows, so
/// about that many nodes of the fleet provide each entry, chosen the same way by all of them.
pub fn provides_copy(
    local: PeerId,
    known: impl IntoIterator<Item = KBucketKey<PeerId>>,
    key: &kad::RecordKey,
) -> bool {
    let target = KBucketKey::new(key.clone());
    let mine = KBucketKey::from(local).distance(&target);
    known
        .into_iter()
        .filter(|peer| peer.distance(&target) < mine)
        .take(REPLICAS)
        .count()
        < REPLICAS
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
    fn only_the_nodes_closest_to_a_key_provide_copies() {
        let nodes: Vec<PeerId> = (0..50).map(|_| PeerId::random()).collect();
        let key = record_key("GET api.github.com/repos/o/r/pulls");
        let providing: Vec<PeerId> = nodes
            .iter()
            .filter(|&&node| {
                let others = nodes.iter().filter(|&&o| o != node).map(|&o| o.into());
                provides_copy(node, others, &key)
            })
            .copied()
            .collect();
        assert_eq!(providing.len(), REPLICAS);
        // A node that knows fewer peers than REPLICAS always provides.
        assert!(provides_copy(
            nodes[0],
            nodes[1..3].iter().map(|&o| o.into()),
            &key
        ));
    }
}

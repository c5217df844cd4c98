//! The `/_ghmesh/stats` document: a snapshot of the counters kept by [`super::metrics`], with
//! the seed's names and the derived figures (hit rate, API calls saved).

use crate::mesh::MeshStatus;
use serde_json::{Value, json};

/// What the cache did so far, read from the metric families at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Served from the store without contacting GitHub.
    pub hits: u64,
    /// Served from a fleet peer's entry without contacting GitHub.
    pub peer_hits: u64,
    /// Served from the store after GitHub answered 304.
    pub revalidated: u64,
    /// Answered by another request's in-flight fetch.
    pub coalesced: u64,
    /// Fetched from GitHub.
    pub misses: u64,
    /// Passed through without the cache.
    pub bypassed: u64,
    /// Stale entries served while GitHub was rate-limited or failing.
    pub stale: u64,
    /// Requests sent to GitHub.
    pub upstream_requests: u64,
    /// Upstream exchanges that failed (transport error or timeout).
    pub upstream_errors: u64,
    /// Decisions made by a failure mode instead of the policy component.
    pub policy_failures: u64,
    /// Entries removed by write invalidation.
    pub invalidated_entries: u64,
}

impl Counts {
    /// The stats document; `cache_size`, `rate_limits` and the mesh's status (`None` when this
    /// node is not in a mesh) come from the caller.
    pub fn to_json(self, cache_size: u64, rate_limits: Value, mesh: Option<&MeshStatus>) -> Value {
        let served_from_cache =
            self.hits + self.peer_hits + self.revalidated + self.coalesced + self.stale;
        let cacheable = served_from_cache + self.misses;
        let hit_rate = if cacheable == 0 {
            0.0
        } else {
            served_from_cache as f64 / cacheable as f64
        };
        json!({
            "local_hits": self.hits,
            "peer_hits": self.peer_hits,
            "misses": self.misses,
            "hit_rate": hit_rate,
            // A revalidation still reaches GitHub (a 304 costs no primary rate limit, but it is a
            // call), so it does not count as saved.
            "api_calls_saved": self.hits + self.peer_hits + self.coalesced + self.stale,
            "revalidations": self.revalidated,
            "coalesced": self.coalesced,
            "stale_served": self.stale,
            "bypassed": self.bypassed,
            "upstream_requests": self.upstream_requests,
            "upstream_errors": self.upstream_errors,
            "policy_failures": self.policy_failures,
            "invalidated_entries": self.invalidated_entries,
            "cache_size": cache_size,
            "p2p_enabled": mesh.is_some(),
            "connected_peers": mesh.map_or(0, |m| m.connected_peers),
            "peer_id": mesh.map(|m| m.peer_id.clone()),
            "connectivity": mesh.map(connectivity),
            "content_routing": mesh.map(|m| m.routing),
            "mesh_traffic": mesh.map(|m| m.traffic),
            "rate_limits": rate_limits,
        })
    }
}

/// The seed's `connectivity{...}`: how this node reaches and is reached by the fleet.
fn connectivity(mesh: &MeshStatus) -> Value {
    let c = &mesh.connectivity;
    json!({
        "discovered_peers": c.discovered_peers,
        "relay_peers": c.relay_peers,
        "reachability": c.reachability,
        "transports": c.transports,
        "discovery": c.discovery,
        "nat_traversal": c.nat_traversal,
        "listen_addrs": mesh.listen_addrs,
        "known_peers": mesh.peers.len(),
        "banned_peers": mesh.peers.iter().filter(|p| p.banned).count(),
        "announcements_sent": mesh.announcements_sent,
        "announcements_received": mesh.announcements_received,
        "messages_rejected": mesh.messages_rejected,
        "unknown_versions": mesh.unknown_versions,
        "announcement_delay_ms": mesh.announcement_delay_ms,
        "registry": mesh.registry,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_rate_counts_everything_served_without_a_full_fetch() {
        let counts = Counts {
            hits: 2,
            revalidated: 1,
            misses: 1,
            bypassed: 5,
            ..Counts::default()
        };
        let doc = counts.to_json(7, json!({}), None);
        assert_eq!(doc["hit_rate"], 0.75);
        assert_eq!(doc["api_calls_saved"], 2);
        assert_eq!(doc["local_hits"], 2);
        assert_eq!(doc["cache_size"], 7);
    }

    #[test]
    fn connectivity_carries_the_mesh_nat_state() {
        let mut mesh = MeshStatus::default();
        let c = &mut mesh.connectivity;
        c.relay_peers = 2;
        c.reachability = "private".into();
        c.transports = vec!["tcp".into(), "p2p-circuit".into()];
        c.add_discovery("rendezvous");
        c.nat_traversal.direct_upgrades = 3;
        let doc = Counts::default().to_json(0, json!({}), Some(&mesh));
        let c = &doc["connectivity"];
        assert_eq!(c["relay_peers"], 2);
        assert_eq!(c["reachability"], "private");
        assert_eq!(c["transports"], json!(["tcp", "p2p-circuit"]));
        assert_eq!(c["discovery"], json!(["rendezvous"]));
        assert_eq!(c["nat_traversal"]["direct_upgrades"], 3);
        assert_eq!(c["discovered_peers"], 0);
    }

    #[test]
    fn empty_stats_have_a_zero_hit_rate() {
        assert_eq!(
            Counts::default().to_json(0, json!({}), None)["hit_rate"],
            0.0
        );
    }
}

//! Counters of what the cache did, reported by `/_ghmesh/stats` with the seed's names.

use super::outcome::Outcome;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};

/// Request counters; cheap to bump from any task.
#[derive(Default)]
pub struct Stats {
    hits: AtomicU64,
    revalidated: AtomicU64,
    coalesced: AtomicU64,
    misses: AtomicU64,
    bypassed: AtomicU64,
    stale: AtomicU64,
    upstream_requests: AtomicU64,
    upstream_errors: AtomicU64,
    policy_failures: AtomicU64,
    invalidated_entries: AtomicU64,
}

impl Stats {
    /// Counts one answered request.
    pub fn record(&self, outcome: Outcome) {
        let counter = match outcome {
            Outcome::Hit => &self.hits,
            Outcome::Revalidated => &self.revalidated,
            Outcome::Coalesced => &self.coalesced,
            Outcome::Miss => &self.misses,
            Outcome::Bypass => &self.bypassed,
            Outcome::Stale => &self.stale,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one request sent to GitHub.
    pub fn upstream_request(&self) {
        self.upstream_requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one failed upstream exchange (transport error or timeout).
    pub fn upstream_error(&self) {
        self.upstream_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a decision made by a failure mode instead of the policy component.
    pub fn policy_failure(&self) {
        self.policy_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts entries removed by write invalidation.
    pub fn invalidated(&self, entries: usize) {
        self.invalidated_entries
            .fetch_add(entries as u64, Ordering::Relaxed);
    }

    /// The stats document; `cache_size` and the mesh fields come from the caller.
    pub fn to_json(&self, cache_size: u64, rate_limits: Value) -> Value {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let (hits, revalidated, coalesced, misses, stale) = (
            get(&self.hits),
            get(&self.revalidated),
            get(&self.coalesced),
            get(&self.misses),
            get(&self.stale),
        );
        let served_from_cache = hits + revalidated + coalesced + stale;
        let cacheable = served_from_cache + misses;
        let hit_rate = if cacheable == 0 {
            0.0
        } else {
            served_from_cache as f64 / cacheable as f64
        };
        json!({
            "local_hits": hits,
            "peer_hits": 0,
            "misses": misses,
            "hit_rate": hit_rate,
            // A revalidation still reaches GitHub (a 304 costs no primary rate limit, but it is a
            // call), so it does not count as saved.
            "api_calls_saved": hits + coalesced + stale,
            "revalidations": revalidated,
            "coalesced": coalesced,
            "stale_served": stale,
            "bypassed": get(&self.bypassed),
            "upstream_requests": get(&self.upstream_requests),
            "upstream_errors": get(&self.upstream_errors),
            "policy_failures": get(&self.policy_failures),
            "invalidated_entries": get(&self.invalidated_entries),
            "cache_size": cache_size,
            "p2p_enabled": false,
            "connected_peers": 0,
            "peer_id": Value::Null,
            "rate_limits": rate_limits,
        })
    }
}

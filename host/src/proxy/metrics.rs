//! The proxy's counters, gauges and request-latency histogram as Prometheus metric families, and
//! their text exposition for `/metrics`. These families are the only counters the proxy keeps:
//! `/_ghmesh/stats` reads its numbers from them ([`Metrics::counts`]), so the two views never
//! disagree.

use super::outcome::Outcome;
use super::ratelimit::Quota;
use super::stats::Counts;
use crate::mesh::MeshStatus;
use crate::store::StoreStats;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::fmt::Write;
use std::time::Duration;

/// The `Content-Type` of what [`Metrics::encode`] produces (prometheus-client writes OpenMetrics
/// text, ending in `# EOF`; Prometheus negotiates it and other scrapers read it as plain text).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds (seconds) of the latency buckets: a hit from the store takes tens of
/// microseconds, a call to GitHub tens of milliseconds to seconds, so the 1-2.5-5 series spans
/// 50 µs to 10 s; slower answers (up to the upstream timeout) land in `+Inf`.
const DURATION_BUCKETS: [f64; 17] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
];

/// `outcome="hit"`, ... on request counters and the latency histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: Outcome,
}

/// `peer="<peer id>"` on per-peer gauges.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerLabels {
    peer: String,
}

/// Per-peer figures, mirrored from the mesh's peer book at scrape time.
#[derive(Debug, Default)]
struct PeerFamilies {
    connected_peers: Gauge,
    /// Peers reached only through a relay.
    relay_peers: Gauge,
    /// Open connections through a relay.
    relayed_connections: Gauge,
    /// Relayed connections upgraded to direct ones by hole punching since start.
    direct_upgrades: Gauge,
    rtt: Family<PeerLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    faults: Family<PeerLabels, Gauge>,
    served_to_us: Family<PeerLabels, Gauge>,
    served_by_us: Family<PeerLabels, Gauge>,
    announcements: Family<PeerLabels, Gauge>,
}

/// `partition="<hash>"` on rate-limit gauges: a token partition hash, never a token.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartitionLabels {
    partition: String,
}

impl EncodeLabelValue for Outcome {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        encoder.write_str(self.label())
    }
}

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// Every metric the proxy exports, registered once under the `ghmesh_` prefix. Cheap to update
/// from any task (atomics; families take a read lock once their label set exists).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<OutcomeLabels, Counter>,
    durations: Family<OutcomeLabels, Histogram>,
    upstream_requests: Counter,
    upstream_errors: Counter,
    policy_failures: Counter,
    invalidated_entries: Counter,
    cache_entries: Gauge,
    cache_bytes: Gauge,
    rate_limit_remaining: Family<PartitionLabels, Gauge>,
    peers: PeerFamilies,
}

impl Default for Metrics {
    fn default() -> Self {
        let metrics = Self {
            registry: Registry::with_prefix("ghmesh"),
            requests: Family::default(),
            durations: Family::new_with_constructor(duration_histogram),
            upstream_requests: Counter::default(),
            upstream_errors: Counter::default(),
            policy_failures: Counter::default(),
            invalidated_entries: Counter::default(),
            cache_entries: Gauge::default(),
            cache_bytes: Gauge::default(),
            rate_limit_remaining: Family::default(),
            peers: PeerFamilies::default(),
        };
        // Every outcome is exported from the start, at zero: a series that appears only after its
        // first event makes `rate()` and alerts miss that event.
        for outcome in Outcome::ALL {
            let labels = OutcomeLabels { outcome };
            drop(metrics.requests.get_or_create(&labels));
            drop(metrics.durations.get_or_create(&labels));
        }
        metrics.register()
    }
}

impl Metrics {
    /// Registers the families (clones share their values with the fields).
    fn register(mut self) -> Self {
        let r = &mut self.registry;
        r.register(
            "requests",
            "Proxied requests answered, by what the cache did",
            self.requests.clone(),
        );
        r.register(
            "request_duration_seconds",
            "Time from receiving a proxied request to having its response, by what the cache did",
            self.durations.clone(),
        );
        r.register(
            "upstream_requests",
            "Requests sent to GitHub",
            self.upstream_requests.clone(),
        );
        r.register(
            "upstream_errors",
            "Requests to GitHub that got no answer (transport error or timeout)",
            self.upstream_errors.clone(),
        );
        r.register(
            "policy_failures",
            "Decisions made by a failure mode because the cache policy component failed",
            self.policy_failures.clone(),
        );
        r.register(
            "invalidated_entries",
            "Stored entries dropped because a write changed them",
            self.invalidated_entries.clone(),
        );
        r.register(
            "cache_entries",
            "Entries in the response store",
            self.cache_entries.clone(),
        );
        r.register(
            "cache_bytes",
            "Bytes of distinct response bodies in the store",
            self.cache_bytes.clone(),
        );
        r.register(
            "rate_limit_remaining",
            "Last x-ratelimit-remaining GitHub sent, per token partition hash",
            self.rate_limit_remaining.clone(),
        );
        let p = &self.peers;
        r.register(
            "connected_peers",
            "Fleet peers with an open connection",
            p.connected_peers.clone(),
        );
        r.register(
            "relay_peers",
            "Fleet peers reached only through a relay",
            p.relay_peers.clone(),
        );
        r.register(
            "relayed_connections",
            "Open mesh connections that run through a relay",
            p.relayed_connections.clone(),
        );
        r.register(
            "direct_upgrades",
            "Relayed connections replaced by direct ones through hole punching since start",
            p.direct_upgrades.clone(),
        );
        r.register(
            "peer_rtt_seconds",
            "Last ping round trip to each fleet peer",
            p.rtt.clone(),
        );
        r.register(
            "peer_faults",
            "Protocol faults charged to each peer (bad CIDs, forged or unreadable messages)",
            p.faults.clone(),
        );
        r.register(
            "peer_entries_received",
            "Entries each peer served to this node",
            p.served_to_us.clone(),
        );
        r.register(
            "peer_entries_served",
            "Entries this node served to each peer",
            p.served_by_us.clone(),
        );
        r.register(
            "peer_announcements",
            "Announcements accepted from each peer",
            p.announcements.clone(),
        );
        self
    }

    /// Counts one answered request and how long it took.
    pub fn record(&self, outcome: Outcome, elapsed: Duration) {
        let labels = OutcomeLabels { outcome };
        self.requests.get_or_create(&labels).inc();
        self.durations
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// Counts one request sent to GitHub.
    pub fn upstream_request(&self) {
        self.upstream_requests.inc();
    }

    /// Counts one failed upstream exchange (transport error or timeout).
    pub fn upstream_error(&self) {
        self.upstream_errors.inc();
    }

    /// Counts a decision made by a failure mode instead of the policy component.
    pub fn policy_failure(&self) {
        self.policy_failures.inc();
    }

    /// Counts entries removed by write invalidation.
    pub fn invalidated(&self, entries: usize) {
        self.invalidated_entries.inc_by(entries as u64);
    }

    /// The counters' current values, for the `/_ghmesh/stats` document.
    pub fn counts(&self) -> Counts {
        let requests = |outcome| {
            self.requests
                .get(&OutcomeLabels { outcome })
                .map_or(0, |counter| counter.get())
        };
        Counts {
            hits: requests(Outcome::Hit),
            peer_hits: requests(Outcome::PeerHit),
            revalidated: requests(Outcome::Revalidated),
            coalesced: requests(Outcome::Coalesced),
            misses: requests(Outcome::Miss),
            bypassed: requests(Outcome::Bypass),
            stale: requests(Outcome::Stale),
            upstream_requests: self.upstream_requests.get(),
            upstream_errors: self.upstream_errors.get(),
            policy_failures: self.policy_failures.get(),
            invalidated_entries: self.invalidated_entries.get(),
        }
    }

    /// The text exposition. The gauges are state owned elsewhere, so they are set here from what
    /// the caller read at scrape time: `store` (`None` when it could not be read: the gauges keep
    /// their last values), the rate-limit `quotas` and the `mesh` status.
    pub fn encode(
        &self,
        store: Option<&StoreStats>,
        quotas: &HashMap<String, Quota>,
        mesh: Option<&MeshStatus>,
    ) -> String {
        if let Some(mesh) = mesh {
            self.mirror_peers(mesh);
        }
        if let Some(store) = store {
            self.cache_entries.set(saturating_i64(store.entries));
            self.cache_bytes.set(saturating_i64(store.bytes));
        }
        // Partitions are never forgotten by `RateLimits`, so setting (never clearing) keeps
        // concurrent scrapes from seeing a half-filled family.
        for (partition, quota) in quotas {
            if let Some(remaining) = quota.remaining {
                self.rate_limit_remaining
                    .get_or_create(&PartitionLabels {
                        partition: partition.clone(),
                    })
                    .set(saturating_i64(remaining));
            }
        }
        let mut text = String::new();
        // Writing into a String cannot fail; an encoder error would be a bug in a metric type.
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!("encoding metrics failed: {e}");
        }
        text
    }
}

impl Metrics {
    /// Sets the per-peer gauges from the peer book (peers are never forgotten by it, so setting
    /// without clearing keeps every series continuous).
    fn mirror_peers(&self, mesh: &MeshStatus) {
        let p = &self.peers;
        p.connected_peers
            .set(i64::try_from(mesh.connected_peers).unwrap_or(i64::MAX));
        let nat = &mesh.connectivity;
        p.relay_peers
            .set(i64::try_from(nat.relay_peers).unwrap_or(i64::MAX));
        p.relayed_connections
            .set(i64::try_from(nat.nat_traversal.relayed_connections).unwrap_or(i64::MAX));
        p.direct_upgrades
            .set(i64::try_from(nat.nat_traversal.direct_upgrades).unwrap_or(i64::MAX));
        for peer in &mesh.peers {
            let labels = PeerLabels {
                peer: peer.peer_id.clone(),
            };
            if let Some(rtt) = peer.rtt_us {
                p.rtt.get_or_create(&labels).set(rtt as f64 / 1e6);
            }
            p.faults.get_or_create(&labels).set(i64::from(peer.faults));
            let set = |family: &Family<PeerLabels, Gauge>, value: u64| {
                family.get_or_create(&labels).set(saturating_i64(value));
            };
            set(&p.served_to_us, peer.served_to_us);
            set(&p.served_by_us, peer.served_by_us);
            set(&p.announcements, peer.announcements);
        }
    }
}

fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_outcome_is_counted_under_its_label() {
        let metrics = Metrics::default();
        metrics.record(Outcome::Hit, Duration::from_micros(80));
        metrics.record(Outcome::Miss, Duration::from_millis(30));
        metrics.record(Outcome::Miss, Duration::from_millis(40));
        let text = metrics.encode(None, &HashMap::new(), None);
        assert!(
            text.contains("ghmesh_requests_total{outcome=\"hit\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("ghmesh_requests_total{outcome=\"miss\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("ghmesh_requests_total{outcome=\"stale\"} 0\n"),
            "outcomes are exported before they happen: {text}"
        );
        assert!(text.contains("# TYPE ghmesh_requests counter"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn latency_lands_in_its_bucket() {
        let metrics = Metrics::default();
        metrics.record(Outcome::Hit, Duration::from_micros(80));
        let text = metrics.encode(None, &HashMap::new(), None);
        assert!(
            text.contains("# TYPE ghmesh_request_duration_seconds histogram"),
            "{text}"
        );
        assert!(
            text.contains("ghmesh_request_duration_seconds_count{outcome=\"hit\"} 1\n"),
            "{text}"
        );
        let bucket = |le: &str| {
            text.lines()
                .find(|l| {
                    l.starts_with("ghmesh_request_duration_seconds_bucket{")
                        && l.contains("outcome=\"hit\"")
                        && l.contains(&format!("le=\"{le}\""))
                })
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("no le={le} bucket for hit in {text}"))
        };
        assert_eq!(bucket("0.00005"), 0, "80 µs is above the first bound");
        assert_eq!(bucket("0.0001"), 1);
        assert_eq!(bucket("+Inf"), 1);
    }

    #[test]
    fn counts_read_the_same_counters() {
        let metrics = Metrics::default();
        metrics.record(Outcome::Hit, Duration::ZERO);
        metrics.record(Outcome::Coalesced, Duration::ZERO);
        metrics.upstream_request();
        metrics.upstream_error();
        metrics.policy_failure();
        metrics.invalidated(3);
        let counts = metrics.counts();
        assert_eq!((counts.hits, counts.coalesced, counts.misses), (1, 1, 0));
        assert_eq!(
            (
                counts.upstream_requests,
                counts.upstream_errors,
                counts.policy_failures,
                counts.invalidated_entries
            ),
            (1, 1, 1, 3)
        );
        let text = metrics.encode(None, &HashMap::new(), None);
        for line in [
            "ghmesh_upstream_requests_total 1\n",
            "ghmesh_upstream_errors_total 1\n",
            "ghmesh_policy_failures_total 1\n",
            "ghmesh_invalidated_entries_total 3\n",
        ] {
            assert!(text.contains(line), "{line} missing from {text}");
        }
    }

    #[test]
    fn gauges_come_from_the_scrape() {
        let metrics = Metrics::default();
        let store = StoreStats {
            entries: 4,
            blobs: 3,
            bytes: 2048,
            db_file_bytes: None,
        };
        let mut quota = Quota::default();
        quota.remaining = Some(4990);
        let quotas = HashMap::from([("0123abcd".to_string(), quota)]);
        let text = metrics.encode(Some(&store), &quotas, None);
        assert!(text.contains("ghmesh_cache_entries 4\n"), "{text}");
        assert!(text.contains("ghmesh_cache_bytes 2048\n"), "{text}");
        assert!(
            text.contains("ghmesh_rate_limit_remaining{partition=\"0123abcd\"} 4990\n"),
            "{text}"
        );
        let again = metrics.encode(None, &HashMap::new(), None);
        assert!(
            again.contains("ghmesh_cache_entries 4\n"),
            "an unreadable store keeps the last values: {again}"
        );
    }

    #[test]
    fn relay_figures_come_from_the_mesh_status() {
        let metrics = Metrics::default();
        let mut mesh = MeshStatus::default();
        mesh.connectivity.relay_peers = 2;
        mesh.connectivity.nat_traversal.relayed_connections = 3;
        mesh.connectivity.nat_traversal.direct_upgrades = 5;
        let text = metrics.encode(None, &HashMap::new(), Some(&mesh));
        for line in [
            "ghmesh_relay_peers 2\n",
            "ghmesh_relayed_connections 3\n",
            "ghmesh_direct_upgrades 5\n",
        ] {
            assert!(text.contains(line), "{line} missing from {text}");
        }
    }
}

//! Figures derived from each mode's run: charged requests and what they bought (versions), how
//! stale the answers were, latency, errors and the caches' own counters; as a table for people
//! and as JSON for scripts.

use super::fleet::{FleetConfig, Mode, ModeRun};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// The figures of one mode.
#[derive(Debug, Clone, Serialize)]
pub struct ModeReport {
    /// Mode name.
    pub mode: String,
    /// Requests the runners sent.
    pub requests: u64,
    /// Requests without a good answer (must be 0).
    pub errors: u64,
    /// The first few errors.
    pub error_samples: Vec<String>,
    /// Charged answers the upstream gave (200s and 404s: what GitHub bills to the rate limit).
    pub charged: u64,
    /// Free 304s the upstream gave.
    pub not_modified: u64,
    /// Requests the upstream refused for a spent rate limit.
    pub rate_limited: u64,
    /// Charged requests saved against no cache, percent: against the direct run of the same
    /// invocation when there is one, otherwise (plain, non-conditional runners only) against
    /// `requests`, since without a cache every plain GET is charged.
    pub saved_pct: Option<f64>,
    /// Resource versions that were current at some point while the fleet polled.
    pub versions_existed: u64,
    /// Distinct versions the upstream handed out.
    pub versions_served: u64,
    /// Distinct versions at least one runner received.
    pub versions_seen_by_runners: u64,
    /// Versions that existed but no runner ever received.
    pub versions_never_seen: u64,
    /// `charged / versions_existed`: 1.0 is the physical limit when every version is seen.
    pub charged_per_version: f64,
    /// Answers whose version was already superseded when the request was sent.
    pub stale_answers: u64,
    /// Median of how long those versions had been superseded, milliseconds.
    pub stale_lag_p50_ms: u64,
    /// Longest such lag, milliseconds.
    pub stale_lag_max_ms: u64,
    /// Runner-side latency, request sent to body received, median, microseconds.
    pub latency_p50_us: u64,
    /// Same, 99th percentile.
    pub latency_p99_us: u64,
    /// Cycles that started late because the previous one overran the period.
    pub overruns: u64,
    /// `X-Cache` values the runners received, counted.
    pub x_cache: BTreeMap<String, u64>,
    /// Latency by `X-Cache` value (`none`: no header, as from the upstream itself).
    pub latency_by_cache: BTreeMap<String, OutcomeLatency>,
    /// `/_ghmesh/stats` counters summed over the mode's proxies.
    pub ghmesh: Option<BTreeMap<String, u64>>,
    /// The fleet mesh's figures (mesh mode only).
    pub mesh: Option<MeshReport>,
}

/// Runner-side latency of the answers that carried one `X-Cache` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OutcomeLatency {
    /// Answers.
    pub count: u64,
    /// Median, microseconds.
    pub p50_us: u64,
    /// 99th percentile, microseconds.
    pub p99_us: u64,
}

/// The `X-Cache` values the table shows a latency row for (the JSON has every value seen).
const TABLE_OUTCOMES: [&str; 4] = ["HIT", "PEER-HIT", "MISS", "REVALIDATED"];

/// What the serves of a mesh reported in `/_ghmesh/stats` after the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MeshReport {
    /// Serves with the mesh enabled.
    pub serves: u64,
    /// The fewest connected peers any serve had at the end.
    pub min_connected_peers: u64,
    /// Requests answered from a peer's entry during the request (`peer_hits`), summed.
    pub peer_hits: u64,
    /// `connectivity.announcements_sent`, summed.
    pub announcements_sent: u64,
    /// `connectivity.announcements_received` (accepted by gossipsub validation), summed.
    pub announcements_received: u64,
    /// `connectivity.messages_rejected`, summed.
    pub messages_rejected: u64,
    /// `connectivity.announcement_delay_ms.samples`, summed (each serve keeps its last 4096).
    pub delay_samples: u64,
    /// The largest median announcement delay of any serve, milliseconds.
    pub delay_p50_max_ms: u64,
    /// The largest 99th-percentile announcement delay of any serve, milliseconds.
    pub delay_p99_max_ms: u64,
    /// The longest announcement delay any serve measured, milliseconds: it bounds the time any
    /// (sampled) announcement took to reach every serve.
    pub delay_max_ms: u64,
}

impl MeshReport {
    /// Derived from each serve's `/_ghmesh/stats`; `None` when no serve had the mesh enabled.
    pub fn from_stats(stats: &[serde_json::Value]) -> Option<Self> {
        let mut report = Self {
            min_connected_peers: u64::MAX,
            ..Self::default()
        };
        for doc in stats.iter().filter(|d| d["p2p_enabled"] == true) {
            let n = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
            let connectivity = &doc["connectivity"];
            let delay = &connectivity["announcement_delay_ms"];
            report.serves += 1;
            report.min_connected_peers = report.min_connected_peers.min(n(&doc["connected_peers"]));
            report.peer_hits += n(&doc["peer_hits"]);
            report.announcements_sent += n(&connectivity["announcements_sent"]);
            report.announcements_received += n(&connectivity["announcements_received"]);
            report.messages_rejected += n(&connectivity["messages_rejected"]);
            report.delay_samples += n(&delay["samples"]);
            report.delay_p50_max_ms = report.delay_p50_max_ms.max(n(&delay["p50"]));
            report.delay_p99_max_ms = report.delay_p99_max_ms.max(n(&delay["p99"]));
            report.delay_max_ms = report.delay_max_ms.max(n(&delay["max"]));
        }
        (report.serves > 0).then_some(report)
    }
}

/// The whole invocation: the configuration, then one entry per mode in run order.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Runner processes.
    pub runners: usize,
    /// Cycles per runner.
    pub cycles: u32,
    /// Milliseconds between cycles.
    pub period_ms: u128,
    /// Repositories polled (three resources each).
    pub repos: usize,
    /// Token mode (`per-runner` or `fleet`).
    pub tokens: String,
    /// Whether runners sent `If-None-Match`.
    pub conditional: bool,
    /// Whether the upstream sent `Last-Modified`.
    pub last_modified: bool,
    /// TTL overrides given to ghmesh, `class=seconds`.
    pub ttls: Vec<String>,
    /// Change periods, milliseconds (0: never).
    pub change_periods_ms: BTreeMap<String, u128>,
    /// Per mode.
    pub modes: Vec<ModeReport>,
}

impl Report {
    /// The report for `runs`; see [`ModeReport::saved_pct`] for the baseline.
    pub fn new(config: &FleetConfig, runs: &[ModeRun]) -> Self {
        let direct = runs
            .iter()
            .find(|r| r.mode == Mode::Direct)
            .map(|r| Baseline::Direct(r.counts.charged))
            .unwrap_or(if config.conditional {
                Baseline::None
            } else {
                Baseline::Requests
            });
        let periods = &config.upstream.periods;
        let ms = |p: Option<std::time::Duration>| p.map_or(0, |p| p.as_millis());
        Self {
            runners: config.runners,
            cycles: config.cycles,
            period_ms: config.period.as_millis(),
            repos: config.upstream.repos,
            tokens: config.tokens.name().to_owned(),
            conditional: config.conditional,
            last_modified: config.upstream.last_modified,
            ttls: config
                .ttls
                .iter()
                .map(|(c, s)| format!("{c}={s}"))
                .collect(),
            change_periods_ms: BTreeMap::from([
                ("queued-runs".to_owned(), ms(periods.queued_runs)),
                ("runners".to_owned(), ms(periods.runners)),
                ("workflows".to_owned(), ms(periods.workflows)),
            ]),
            modes: runs.iter().map(|run| mode_report(run, direct)).collect(),
        }
    }

    /// Total errors over every mode.
    pub fn errors(&self) -> u64 {
        self.modes.iter().map(|m| m.errors).sum()
    }

    /// A table: one row per figure, one column per mode.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{} runner(s) x {} cycles every {} ms, {} repos, tokens {}",
            self.runners, self.cycles, self.period_ms, self.repos, self.tokens
        );
        if self.conditional {
            out.push_str(", conditional runners");
        }
        if self.last_modified {
            out.push_str(", upstream sends Last-Modified");
        }
        if !self.ttls.is_empty() {
            let _ = write!(out, ", ghmesh TTLs {}", self.ttls.join(" "));
        }
        out.push('\n');
        let columns: Vec<Vec<(&str, String)>> = self.modes.iter().map(ModeReport::cells).collect();
        // Every column as wide as its widest cell, two spaces apart.
        let width = columns
            .iter()
            .flatten()
            .map(|(_, value)| value.chars().count())
            .chain(self.modes.iter().map(|m| m.mode.len()))
            .max()
            .unwrap_or(0)
            + 2;
        let _ = write!(out, "{:<34}", "");
        for mode in &self.modes {
            let _ = write!(out, "{:>width$}", mode.mode);
        }
        out.push('\n');
        for row in 0..columns.first().map_or(0, Vec::len) {
            let _ = write!(out, "{:<34}", columns[0][row].0);
            for column in &columns {
                let _ = write!(out, "{:>width$}", column[row].1);
            }
            out.push('\n');
        }
        out
    }
}

impl ModeReport {
    /// (label, value) for each row of the table.
    fn cells(&self) -> Vec<(&'static str, String)> {
        let stat = |name: &str| {
            self.ghmesh.as_ref().map_or("-".to_owned(), |g| {
                g.get(name).copied().unwrap_or(0).to_string()
            })
        };
        let mesh = |f: fn(&MeshReport) -> String| self.mesh.as_ref().map_or("-".to_owned(), f);
        let mut cells = vec![
            ("runner requests", self.requests.to_string()),
            ("errors", self.errors.to_string()),
            ("charged upstream requests", self.charged.to_string()),
            ("upstream 304s (free)", self.not_modified.to_string()),
            (
                "saved vs no cache",
                self.saved_pct
                    .map_or("-".to_owned(), |p| format!("{p:.1}%")),
            ),
            (
                "charged per version (limit 1.0)",
                format!("{:.2}", self.charged_per_version),
            ),
            ("versions existed", self.versions_existed.to_string()),
            (
                "versions served by upstream",
                self.versions_served.to_string(),
            ),
            (
                "versions never seen by runners",
                self.versions_never_seen.to_string(),
            ),
            ("stale answers", self.stale_answers.to_string()),
            (
                "stale lag p50 / max (ms)",
                format!("{} / {}", self.stale_lag_p50_ms, self.stale_lag_max_ms),
            ),
            (
                "latency p50 / p99 (us)",
                format!("{} / {}", self.latency_p50_us, self.latency_p99_us),
            ),
            ("cycle overruns", self.overruns.to_string()),
            ("ghmesh local_hits", stat("local_hits")),
            ("ghmesh revalidations", stat("revalidations")),
            ("ghmesh coalesced", stat("coalesced")),
            ("ghmesh misses", stat("misses")),
            ("ghmesh upstream_requests", stat("upstream_requests")),
            ("mesh peer_hits", mesh(|m| m.peer_hits.to_string())),
            (
                "mesh announcements sent / recv",
                mesh(|m| format!("{} / {}", m.announcements_sent, m.announcements_received)),
            ),
            (
                "mesh delay p99 / max (ms, worst)",
                mesh(|m| format!("{} / {}", m.delay_p99_max_ms, m.delay_max_ms)),
            ),
            (
                "mesh min connected peers",
                mesh(|m| m.min_connected_peers.to_string()),
            ),
        ];
        for (outcome, label) in TABLE_OUTCOMES.into_iter().zip([
            "HIT: n, p50 / p99 (us)",
            "PEER-HIT: n, p50 / p99 (us)",
            "MISS: n, p50 / p99 (us)",
            "REVALIDATED: n, p50 / p99 (us)",
        ]) {
            let value = self
                .latency_by_cache
                .get(outcome)
                .map_or("-".to_owned(), |l| {
                    format!("{}, {} / {}", l.count, l.p50_us, l.p99_us)
                });
            cells.push((label, value));
        }
        cells
    }
}

/// What a mode's charged requests are compared with.
#[derive(Debug, Clone, Copy)]
enum Baseline {
    /// The direct run's charged requests.
    Direct(u64),
    /// The mode's own request count (plain GETs without a cache are all charged).
    Requests,
    /// Nothing to compare with (conditional runners without a direct run).
    None,
}

fn mode_report(run: &ModeRun, baseline: Baseline) -> ModeReport {
    let runners = &run.runners;
    let sum = |f: fn(&super::runner::RunnerResult) -> u64| runners.iter().map(f).sum::<u64>();
    let first = runners
        .iter()
        .map(|r| r.first_request_unix_ms)
        .min()
        .unwrap_or(0);
    let last = runners
        .iter()
        .map(|r| r.last_request_unix_ms)
        .max()
        .unwrap_or(0);
    let (first, last) = (
        run.schedule.elapsed_ms(first),
        run.schedule.elapsed_ms(last),
    );
    let (mut existed, mut seen, mut never_seen) = (0, 0, 0);
    for resource in &run.schedule.resources {
        let range = resource.version_at(first)..=resource.version_at(last);
        let received: BTreeSet<u64> = runners
            .iter()
            .filter_map(|r| r.versions_seen.get(&resource.path))
            .flatten()
            .copied()
            .collect();
        let in_range = received.iter().filter(|v| range.contains(v)).count() as u64;
        existed += range.end() - range.start() + 1;
        seen += received.len() as u64;
        never_seen += range.end() - range.start() + 1 - in_range;
    }
    let mut latencies: Vec<u64> = runners
        .iter()
        .flat_map(|r| r.latencies_us.clone())
        .collect();
    let mut lags: Vec<u64> = runners
        .iter()
        .flat_map(|r| r.stale_lag_ms.clone())
        .collect();
    let mut x_cache = BTreeMap::new();
    for (value, n) in runners.iter().flat_map(|r| &r.x_cache) {
        *x_cache.entry(value.clone()).or_default() += n;
    }
    let mut by_cache: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for (value, latencies) in runners.iter().flat_map(|r| &r.latencies_by_cache_us) {
        by_cache.entry(value.clone()).or_default().extend(latencies);
    }
    let latency_by_cache = by_cache
        .into_iter()
        .map(|(value, mut latencies)| {
            let latency = OutcomeLatency {
                count: latencies.len() as u64,
                p50_us: percentile(&mut latencies, 50.0),
                p99_us: percentile(&mut latencies, 99.0),
            };
            (value, latency)
        })
        .collect();
    let charged = run.counts.charged;
    let requests = sum(|r| r.requests);
    ModeReport {
        mode: run.mode.name().to_owned(),
        requests,
        errors: sum(|r| r.errors),
        error_samples: runners
            .iter()
            .flat_map(|r| r.error_samples.clone())
            .take(10)
            .collect(),
        charged,
        not_modified: run.counts.not_modified,
        rate_limited: run.counts.rate_limited,
        saved_pct: match baseline {
            Baseline::Direct(d) => Some(d),
            Baseline::Requests => Some(requests),
            Baseline::None => None,
        }
        .filter(|d| *d > 0)
        .map(|d| 100.0 * (d as f64 - charged as f64) / d as f64),
        versions_existed: existed,
        versions_served: run.counts.distinct_versions_served,
        versions_seen_by_runners: seen,
        versions_never_seen: never_seen,
        charged_per_version: if existed == 0 {
            0.0
        } else {
            charged as f64 / existed as f64
        },
        stale_answers: sum(|r| r.stale),
        stale_lag_p50_ms: percentile(&mut lags, 50.0),
        stale_lag_max_ms: lags.iter().copied().max().unwrap_or(0),
        latency_p50_us: percentile(&mut latencies, 50.0),
        latency_p99_us: percentile(&mut latencies, 99.0),
        overruns: sum(|r| r.overruns),
        x_cache,
        latency_by_cache,
        ghmesh: run.ghmesh.clone(),
        mesh: MeshReport::from_stats(&run.proxy_stats),
    }
}

/// Nearest-rank percentile (0 for no samples).
pub fn percentile(samples: &mut [u64], pct: f64) -> u64 {
    if samples.is_empty() {
        return 0;
    }
    samples.sort_unstable();
    let rank = ((pct / 100.0) * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::{MeshReport, percentile};
    use serde_json::json;

    #[test]
    fn mesh_figures_sum_counters_and_take_the_worst_delays() {
        let serve = |peers: u64, hits: u64, p99: u64, max: u64| {
            json!({
                "p2p_enabled": true,
                "connected_peers": peers,
                "peer_hits": hits,
                "connectivity": {
                    "announcements_sent": 3,
                    "announcements_received": 5,
                    "messages_rejected": 0,
                    "announcement_delay_ms": {"samples": 5, "p50": 1, "p99": p99, "max": max},
                },
            })
        };
        let report = MeshReport::from_stats(&[serve(2, 1, 4, 9), serve(1, 2, 7, 8)]).unwrap();
        assert_eq!(
            report,
            MeshReport {
                serves: 2,
                min_connected_peers: 1,
                peer_hits: 3,
                announcements_sent: 6,
                announcements_received: 10,
                messages_rejected: 0,
                delay_samples: 10,
                delay_p50_max_ms: 1,
                delay_p99_max_ms: 7,
                delay_max_ms: 9,
            }
        );
        let without = json!({"p2p_enabled": false, "connected_peers": 0, "connectivity": null});
        assert_eq!(MeshReport::from_stats(&[without]), None);
    }

    #[test]
    fn nearest_rank() {
        let mut samples: Vec<u64> = (1..=100).rev().collect();
        assert_eq!(percentile(&mut samples, 50.0), 50);
        assert_eq!(percentile(&mut samples, 99.0), 99);
        assert_eq!(percentile(&mut samples, 100.0), 100);
        assert_eq!(percentile(&mut [7], 50.0), 7);
        assert_eq!(percentile(&mut [], 50.0), 0);
    }
}

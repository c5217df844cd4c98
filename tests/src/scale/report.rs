//! Figures derived from each routing mode's run: lookup success, latency, announcement reach,
//! memory and mesh traffic per node; one column per mode in the table, and JSON for docs.

use super::cli::ScaleConfig;
use super::lookup::{Answer, Lookup};
use super::run::{ModeRun, NodeEnd};
use crate::polling::report::percentile;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Median and largest value over the surviving nodes.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Spread {
    /// Median (nearest rank).
    pub median: f64,
    /// Largest.
    pub max: f64,
}

impl Spread {
    fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let mut values: Vec<f64> = values.into_iter().collect();
        values.sort_by(f64::total_cmp);
        match values.len() {
            0 => Self::default(),
            n => Self {
                median: values[n.div_ceil(2) - 1],
                max: values[n - 1],
            },
        }
    }
}

/// The figures of one routing mode.
#[derive(Debug, Clone, Serialize)]
pub struct ModeReport {
    /// `gossip` or `kademlia`.
    pub routing: String,
    /// Initial nodes.
    pub nodes: usize,
    /// Fresh nodes started during the lookups.
    pub joined: usize,
    /// Initial nodes stopped with SIGKILL / SIGTERM during the lookups.
    pub killed: [usize; 2],
    /// SIGTERMed nodes that did not exit within 10 s (then killed).
    pub term_timeouts: usize,
    /// Nodes alive at the end.
    pub live_at_end: usize,
    /// Nodes without a peer 60 s after they started.
    pub unconnected: usize,
    /// Seconds to start the initial nodes.
    pub start_secs: f64,
    /// Warm-up fetches, and how many of them went to the upstream as expected.
    pub warmup: [usize; 2],
    /// Share of the warm-up's entries each initial node held afterwards (fetched itself, or
    /// accepted from an announcement), percent: median and lowest.
    pub warmup_reach_pct: [f64; 2],
    /// Mesh messages per initial node during the warm-up (median, max); `None` without traffic
    /// counters.
    pub warmup_messages: Option<Spread>,
    /// Lookups counted (sent to a live node that was not a known holder, for an entry with a
    /// live known holder; those whose node was stopped in flight are not counted).
    pub lookups: usize,
    /// Lookups dropped because their node was stopped while they were in flight.
    pub aborted: usize,
    /// Lookups per second over the phase.
    pub lookups_per_sec: f64,
    /// Answers by class.
    pub answers: BTreeMap<String, usize>,
    /// (local hits + peer hits) / counted lookups, percent.
    pub success_pct: f64,
    /// The same over lookups sent to initial nodes.
    pub success_initial_pct: f64,
    /// The same over lookups sent to joiners, and how many there were.
    pub success_joiners_pct: f64,
    /// Lookups sent to joiners.
    pub joiner_lookups: usize,
    /// Peer-hit latency p50 / p99, microseconds.
    pub peer_hit_us: [u64; 2],
    /// Local-hit latency p50 / p99, microseconds.
    pub local_hit_us: [u64; 2],
    /// Requests the upstream received during the lookups.
    pub upstream_requests: usize,
    /// Entries with no live known holder at the end.
    pub orphaned: usize,
    /// Announcement delay over surviving nodes, ms: median node's p50 and p99, worst node's
    /// p99, longest delay any node saw.
    pub announcement_delay_ms: [u64; 4],
    /// Announcements measured, all surviving nodes.
    pub announcement_samples: u64,
    /// `VmRSS` per node, MiB.
    pub rss_mib: Spread,
    /// `RssAnon` per node, MiB.
    pub anon_mib: Spread,
    /// The node with the largest `VmRSS` (0 is the first node, which compiled the policy
    /// component the others load from the shared compilation cache).
    pub rss_max_node: Option<usize>,
    /// Mesh messages per node per minute, by traffic counter, and their sum (`total`); `None`
    /// when the binary reports no traffic counters.
    pub messages_per_node_min: Option<BTreeMap<String, Spread>>,
    /// Announcements accepted per node per minute (`connectivity.announcements_received`).
    pub announcements_per_node_min: Spread,
    /// Connected peers per surviving node at the end.
    pub connected_peers: Spread,
    /// The first few errors.
    pub error_samples: Vec<String>,
}

/// The report of one invocation.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The settings.
    pub config: ScaleConfig,
    /// One entry per routing mode, in run order.
    pub modes: Vec<ModeReport>,
}

impl Report {
    /// Derives the figures of `runs`.
    pub fn new(config: &ScaleConfig, runs: &[ModeRun]) -> Self {
        Self {
            config: config.clone(),
            modes: runs.iter().map(mode_report).collect(),
        }
    }

    /// Counted lookups that failed, all modes.
    pub fn failures(&self) -> usize {
        self.modes
            .iter()
            .map(|m| {
                m.lookups
                    - m.answers.get("local-hit").unwrap_or(&0)
                    - m.answers.get("peer-hit").unwrap_or(&0)
            })
            .sum()
    }
}

fn mode_report(run: &ModeRun) -> ModeReport {
    let count = |from: &[&Lookup], class: Answer| from.iter().filter(|l| l.answer == class).count();
    let success = |from: &[&Lookup]| {
        let ok = from.iter().filter(|l| l.answer.success()).count();
        pct(ok, from.len())
    };
    let all: Vec<&Lookup> = run.lookups.iter().collect();
    let (joiners, initial): (Vec<&Lookup>, Vec<&Lookup>) = all.iter().partition(|l| l.joiner);
    let mut answers = BTreeMap::new();
    for l in &all {
        let name = serde_json::to_value(l.answer).map(|v| v.as_str().unwrap_or("?").to_owned());
        *answers.entry(name.unwrap_or_default()).or_insert(0) += 1;
    }
    let latency = |class: Answer| {
        let mut us: Vec<u64> = all
            .iter()
            .filter(|l| l.answer == class)
            .map(|l| l.latency_us)
            .collect();
        [percentile(&mut us, 50.0), percentile(&mut us, 99.0)]
    };
    let warm: Vec<&Lookup> = run.warmup.iter().collect();
    ModeReport {
        routing: run.routing.name().to_owned(),
        nodes: run.nodes.iter().filter(|n| !n.joiner).count() + run.sigkilled + run.sigtermed,
        joined: run.joined,
        killed: [run.sigkilled, run.sigtermed],
        term_timeouts: run.term_timeouts,
        live_at_end: run.nodes.len(),
        unconnected: run.unconnected,
        start_secs: run.start_secs,
        warmup: [warm.len(), count(&warm, Answer::Upstream)],
        warmup_reach_pct: {
            let reach = run.warmup_nodes.iter().map(|w| {
                let held = usize::try_from(w.announcements + w.fetched).unwrap_or(usize::MAX);
                pct(held, warm.len())
            });
            let spread = Spread::of(reach.clone());
            [spread.median, reach.fold(f64::INFINITY, f64::min)]
        },
        warmup_messages: run
            .warmup_nodes
            .iter()
            .map(|w| w.messages.map(|m| m as f64))
            .collect::<Option<Vec<f64>>>()
            .map(Spread::of),
        lookups: all.len(),
        aborted: run.aborted,
        lookups_per_sec: all.len() as f64 / run.lookup_secs.max(f64::MIN_POSITIVE),
        answers,
        success_pct: success(&all),
        success_initial_pct: success(&initial),
        success_joiners_pct: success(&joiners),
        joiner_lookups: joiners.len(),
        peer_hit_us: latency(Answer::PeerHit),
        local_hit_us: latency(Answer::LocalHit),
        upstream_requests: run.upstream_lookups,
        orphaned: run.orphaned,
        announcement_delay_ms: delays(&run.nodes),
        announcement_samples: run
            .nodes
            .iter()
            .filter_map(|n| {
                n.stats
                    .pointer("/connectivity/announcement_delay_ms/samples")?
                    .as_u64()
            })
            .sum(),
        rss_mib: Spread::of(run.nodes.iter().map(|n| mib(n.memory.rss_kib))),
        anon_mib: Spread::of(run.nodes.iter().map(|n| mib(n.memory.anon_kib))),
        rss_max_node: run
            .nodes
            .iter()
            .max_by_key(|n| n.memory.rss_kib)
            .map(|n| n.id),
        messages_per_node_min: messages(&run.nodes),
        announcements_per_node_min: Spread::of(run.nodes.iter().map(|n| n.announcements_per_min)),
        connected_peers: Spread::of(
            run.nodes
                .iter()
                .map(|n| n.stats["connected_peers"].as_u64().unwrap_or(0) as f64),
        ),
        error_samples: all.iter().filter_map(|l| l.error.clone()).take(5).collect(),
    }
}

fn pct(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// [median node's p50, median node's p99, worst node's p99, longest delay], over the nodes that
/// measured any announcement.
fn delays(nodes: &[NodeEnd]) -> [u64; 4] {
    let field = |n: &NodeEnd, name: &str| {
        n.stats
            .pointer(&format!("/connectivity/announcement_delay_ms/{name}"))
            .and_then(serde_json::Value::as_u64)
    };
    let measured: Vec<&NodeEnd> = nodes
        .iter()
        .filter(|n| field(n, "samples").unwrap_or(0) > 0)
        .collect();
    let mut p50: Vec<u64> = measured.iter().filter_map(|n| field(n, "p50")).collect();
    let mut p99: Vec<u64> = measured.iter().filter_map(|n| field(n, "p99")).collect();
    let max = measured
        .iter()
        .filter_map(|n| field(n, "max"))
        .max()
        .unwrap_or(0);
    [
        percentile(&mut p50, 50.0),
        percentile(&mut p99.clone(), 50.0),
        percentile(&mut p99, 100.0),
        max,
    ]
}

/// Per-counter spreads of messages per node per minute, plus `total`; `None` unless every
/// surviving node reported traffic counters.
fn messages(nodes: &[NodeEnd]) -> Option<BTreeMap<String, Spread>> {
    let rates: Vec<&BTreeMap<String, f64>> = nodes
        .iter()
        .map(|n| n.traffic_per_min.as_ref())
        .collect::<Option<_>>()?;
    let mut names: Vec<&String> = rates.iter().flat_map(|r| r.keys()).collect();
    names.sort();
    names.dedup();
    let mut out: BTreeMap<String, Spread> = names
        .into_iter()
        .map(|name| {
            let spread = Spread::of(rates.iter().map(|r| r.get(name).copied().unwrap_or(0.0)));
            (name.clone(), spread)
        })
        .collect();
    out.insert(
        "total".to_owned(),
        Spread::of(rates.iter().map(|r| r.values().sum())),
    );
    Some(out)
}

impl Report {
    /// The figures as a table, one column per mode.
    pub fn table(&self) -> String {
        let c = &self.config;
        let mut out = format!(
            "mesh-scale: {} nodes, {} entries, {} s of lookups ({}/s, at most {} in flight), churn {} out / {} in, \
             {} bootstrap peers each, max_peers {}, seed {}\n",
            c.nodes,
            c.paths,
            c.duration.as_secs(),
            c.rate,
            c.concurrency,
            c.churn,
            c.churn,
            c.bootstrap_peers,
            c.max_peers,
            c.seed
        );
        let mut rows: Vec<(String, Vec<String>)> = Vec::new();
        let mut row = |name: &str, f: &dyn Fn(&ModeReport) -> String| {
            rows.push((name.to_owned(), self.modes.iter().map(f).collect()));
        };
        row("routing", &|m| m.routing.clone());
        row("nodes (initial + joined)", &|m| {
            format!("{} + {}", m.nodes, m.joined)
        });
        row("killed: SIGKILL / SIGTERM (not exited in 10 s)", &|m| {
            format!("{} / {} ({})", m.killed[0], m.killed[1], m.term_timeouts)
        });
        row("alive at end / unconnected", &|m| {
            format!("{} / {}", m.live_at_end, m.unconnected)
        });
        row("start-up of initial nodes", &|m| {
            format!("{:.1} s", m.start_secs)
        });
        row("warm-up fetches (upstream)", &|m| {
            format!("{} ({})", m.warmup[0], m.warmup[1])
        });
        row("warm-up entries held per node median / min", &|m| {
            format!(
                "{:.1}% / {:.1}%",
                m.warmup_reach_pct[0], m.warmup_reach_pct[1]
            )
        });
        row(
            "warm-up messages/node median / max",
            &|m| match &m.warmup_messages {
                Some(s) => format!("{:.0} / {:.0}", s.median, s.max),
                None => "n/a".into(),
            },
        );
        row("lookups (per s)", &|m| {
            format!("{} ({:.1})", m.lookups, m.lookups_per_sec)
        });
        row("answers", &|m| {
            m.answers
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        });
        row("success rate", &|m| format!("{:.2}%", m.success_pct));
        row("  initial nodes / joiners", &|m| {
            format!(
                "{:.2}% / {:.2}% (n={})",
                m.success_initial_pct, m.success_joiners_pct, m.joiner_lookups
            )
        });
        row("peer-hit latency p50 / p99", &|m| {
            format!("{} / {}", us(m.peer_hit_us[0]), us(m.peer_hit_us[1]))
        });
        row("local-hit latency p50 / p99", &|m| {
            format!("{} / {}", us(m.local_hit_us[0]), us(m.local_hit_us[1]))
        });
        row("upstream requests in lookups", &|m| {
            m.upstream_requests.to_string()
        });
        row("aborted (node stopped) / orphaned", &|m| {
            format!("{} / {}", m.aborted, m.orphaned)
        });
        row("announce delay p50 / p99 (median node)", &|m| {
            format!(
                "{} / {} ms",
                m.announcement_delay_ms[0], m.announcement_delay_ms[1]
            )
        });
        row("announce delay worst p99 / max", &|m| {
            format!(
                "{} / {} ms",
                m.announcement_delay_ms[2], m.announcement_delay_ms[3]
            )
        });
        row("VmRSS per node median / max (node)", &|m| {
            let node = m.rss_max_node.map_or("-".into(), |n| n.to_string());
            format!(
                "{:.1} / {:.1} MiB ({node})",
                m.rss_mib.median, m.rss_mib.max
            )
        });
        row("RssAnon per node median / max", &|m| {
            format!("{:.1} / {:.1} MiB", m.anon_mib.median, m.anon_mib.max)
        });
        row(
            "messages/node/min (total)",
            &|m| match &m.messages_per_node_min {
                Some(by) => by.get("total").map_or("n/a".into(), |s| {
                    format!("{:.0} / max {:.0}", s.median, s.max)
                }),
                None => "n/a".into(),
            },
        );
        row("announcements accepted/node/min", &|m| {
            format!(
                "{:.0} / max {:.0}",
                m.announcements_per_node_min.median, m.announcements_per_node_min.max
            )
        });
        row("connected peers median / max", &|m| {
            format!(
                "{:.0} / {:.0}",
                m.connected_peers.median, m.connected_peers.max
            )
        });
        let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        let cell = rows
            .iter()
            .flat_map(|(_, v)| v.iter().map(String::len))
            .max()
            .unwrap_or(0);
        for (name, values) in &rows {
            let _ = write!(out, "{name:<width$}");
            for value in values {
                let _ = write!(out, " | {value:<cell$}");
            }
            out.push('\n');
        }
        for m in &self.modes {
            if let Some(by) = &m.messages_per_node_min {
                for (name, s) in by {
                    let _ = writeln!(
                        out,
                        "{}: messages/node/min {name}: median {:.1}, max {:.1}",
                        m.routing, s.median, s.max
                    );
                }
            }
        }
        out
    }
}

fn us(us: u64) -> String {
    if us >= 10_000 {
        format!("{:.1} ms", us as f64 / 1000.0)
    } else {
        format!("{us} µs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_is_nearest_rank_median_and_max() {
        let s = Spread::of([3.0, 1.0, 2.0, 10.0]);
        assert_eq!((s.median, s.max), (2.0, 10.0));
        let none = Spread::of([]);
        assert_eq!((none.median, none.max), (0.0, 0.0));
    }
}

//! One measured run of a routing mode: a fresh upstream and fleet, the warm-up (each entry
//! fetched from the upstream by one random node), then lookups from other nodes for the
//! configured time while the churn kills a share of the initial nodes and starts as many fresh
//! ones, and finally each surviving node's stats and memory.

use super::book::Book;
use super::churn::Churn;
use super::cli::{Routing, ScaleConfig};
use super::lookup::{self, Answer, Lookup};
use super::node::{Memory, Node};
use super::traffic;
use crate::fleet::CountingUpstream;
use crate::polling::fleet::client;
use anyhow::Context;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// How long a node may take to get its first peer (initial nodes, then each joiner).
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// Time given to gossipsub to graft its mesh once every node has a peer, and to the warm-up's
/// announcements to land before the lookups start.
const SETTLE: Duration = Duration::from_secs(3);

/// What a surviving node reported at the end.
#[derive(Debug, Clone)]
pub struct NodeEnd {
    /// Its id.
    pub id: usize,
    /// Whether it joined during the lookups.
    pub joiner: bool,
    /// Resident memory.
    pub memory: Memory,
    /// Its whole `/_ghmesh/stats`.
    pub stats: Value,
    /// Traffic counters per minute since the lookups started (joiners: since they started);
    /// `None` when the binary reports no traffic object.
    pub traffic_per_min: Option<BTreeMap<String, f64>>,
    /// `connectivity.announcements_received` per minute over the same span.
    pub announcements_per_min: f64,
}

/// What one mode's run produced, before any figures are derived.
#[derive(Debug, Clone)]
pub struct ModeRun {
    /// The routing mode.
    pub routing: Routing,
    /// Seconds it took to start the initial nodes.
    pub start_secs: f64,
    /// Nodes (initial or joiners) without a peer after [`CONNECT_TIMEOUT`].
    pub unconnected: usize,
    /// The warm-up fetches.
    pub warmup: Vec<Lookup>,
    /// The lookups, in completion order, without those aborted because their node was stopped.
    pub lookups: Vec<Lookup>,
    /// Lookups whose node was stopped while they were in flight (not counted).
    pub aborted: usize,
    /// Length of the lookup phase, seconds.
    pub lookup_secs: f64,
    /// Initial nodes killed with SIGKILL.
    pub sigkilled: usize,
    /// Initial nodes stopped with SIGTERM.
    pub sigtermed: usize,
    /// Of those, how many had to be killed after the grace period.
    pub term_timeouts: usize,
    /// Fresh nodes started during the lookups.
    pub joined: usize,
    /// Requests the upstream received during the warm-up.
    pub upstream_warmup: usize,
    /// What each initial node counted during the warm-up (and its settling time).
    pub warmup_nodes: Vec<WarmupCounts>,
    /// Requests the upstream received during the lookups.
    pub upstream_lookups: usize,
    /// Entries no live node was known to hold at the end.
    pub orphaned: usize,
    /// The surviving nodes.
    pub nodes: Vec<NodeEnd>,
}

/// What one node counted during the warm-up.
#[derive(Debug, Clone, Copy)]
pub struct WarmupCounts {
    /// Announcements it accepted (at most one per entry: the reach of the warm-up's gossip).
    pub announcements: u64,
    /// Entries it fetched itself (it announces those, and does not receive them).
    pub fetched: u64,
    /// Mesh messages, all traffic counters summed; `None` without traffic counters.
    pub messages: Option<u64>,
}

/// Baseline of a node's counters at the start of its measured span.
pub(super) struct Baseline {
    at: Instant,
    traffic: Option<BTreeMap<String, u64>>,
    announcements: u64,
}

/// Runs the fleet in `routing` mode with scratch files under `work`.
pub async fn run_mode(
    config: &ScaleConfig,
    routing: Routing,
    work: &Path,
) -> anyhow::Result<ModeRun> {
    let work = work.join(routing.name());
    std::fs::create_dir_all(&work)?;
    let upstream = CountingUpstream::start();
    let client = client()?;
    let mut rng = StdRng::seed_from_u64(config.seed);
    let started = Instant::now();
    let mut nodes = start_initial(config, routing, &upstream.url, &work, &mut rng).await?;
    let start_secs = started.elapsed().as_secs_f64();
    let mut unconnected = 0;
    for node in nodes.values() {
        if !node.wait_connected(&client, CONNECT_TIMEOUT).await {
            unconnected += 1;
        }
    }
    tokio::time::sleep(SETTLE).await;

    let mut before = BTreeMap::new();
    for node in nodes.values() {
        before.insert(node.id, baseline(node, &client).await?);
    }
    let book = Arc::new(Mutex::new(Book::new(config.paths)));
    let warmup = warm_up(config, &client, &nodes, &book, &mut rng).await;
    tokio::time::sleep(SETTLE).await;
    let upstream_warmup = upstream.seen().len();
    let mut baselines = BTreeMap::new();
    let mut warmup_nodes = Vec::new();
    for node in nodes.values() {
        let after = baseline(node, &client).await?;
        let mut counts = before[&node.id].until(&after);
        counts.fetched = warmup.iter().filter(|l| l.node == node.id).count() as u64;
        warmup_nodes.push(counts);
        baselines.insert(node.id, after);
    }

    let phase_start = Instant::now();
    let deadline = tokio::time::Instant::now() + config.duration;
    let mut workers = JoinSet::new();
    for worker in 0..config.concurrency {
        let (client, book) = (client.clone(), book.clone());
        let seed = config.seed.wrapping_add(1 + worker as u64);
        // Each worker starts a lookup every `period`, the workers staggered across it.
        let period = Duration::from_secs_f64(config.concurrency as f64 / f64::from(config.rate));
        let first =
            tokio::time::Instant::now() + period.mul_f64(worker as f64 / config.concurrency as f64);
        let pace = Pace {
            next: first,
            period,
            deadline,
        };
        workers.spawn(lookups(client, book, pace, seed));
    }
    let churn = Churn {
        config,
        routing,
        upstream: &upstream.url,
        work: &work,
        client: &client,
        book: &book,
    };
    let tally = churn
        .run(&mut nodes, &mut baselines, &mut rng, phase_start)
        .await?;
    let (mut all, mut aborted) = (Vec::new(), 0);
    while let Some(done) = workers.join_next().await {
        let (lookups, dropped) = done.context("a lookup worker panicked")?;
        all.extend(lookups);
        aborted += dropped;
    }
    let lookup_secs = phase_start.elapsed().as_secs_f64();
    let upstream_lookups = upstream.seen().len() - upstream_warmup;
    let orphaned = book.lock().expect("book").orphaned();

    let mut ends = Vec::new();
    for node in nodes.values() {
        let base = baselines.get(&node.id).context("a node without baseline")?;
        ends.push(node_end(node, &client, base).await?);
    }
    for node in nodes.into_values() {
        node.kill().await;
    }
    Ok(ModeRun {
        routing,
        start_secs,
        unconnected: unconnected + tally.unconnected,
        warmup,
        lookups: all,
        aborted,
        lookup_secs,
        sigkilled: tally.sigkilled,
        sigtermed: tally.sigtermed,
        term_timeouts: tally.term_timeouts,
        joined: tally.joined,
        upstream_warmup,
        warmup_nodes,
        upstream_lookups,
        orphaned,
        nodes: ends,
    })
}

/// Starts the initial nodes: the first alone (it compiles the shared policy cache), then
/// batches of `start_parallel`, each node bootstrapping to up to `bootstrap_peers` random nodes
/// started before its batch.
async fn start_initial(
    config: &ScaleConfig,
    routing: Routing,
    upstream: &str,
    work: &Path,
    rng: &mut StdRng,
) -> anyhow::Result<BTreeMap<usize, Node>> {
    let mut nodes = BTreeMap::new();
    let first = Node::start(config, routing, upstream, work, 0, false, &[]).await?;
    nodes.insert(0, first);
    let mut next = 1;
    while next < config.nodes {
        let batch = config.start_parallel.min(config.nodes - next);
        let addrs: Vec<String> = nodes.values().map(|n| n.mesh_addr.clone()).collect();
        let mut starting = JoinSet::new();
        for id in next..next + batch {
            let bootstrap = choose(&addrs, config.bootstrap_peers, rng);
            let (config, upstream, work) = (config.clone(), upstream.to_owned(), work.to_owned());
            starting.spawn(async move {
                Node::start(&config, routing, &upstream, &work, id, false, &bootstrap).await
            });
        }
        while let Some(started) = starting.join_next().await {
            let node = started.context("a node start panicked")??;
            nodes.insert(node.id, node);
        }
        next += batch;
    }
    Ok(nodes)
}

/// Up to `n` distinct random items of `from`.
pub(super) fn choose(from: &[String], n: usize, rng: &mut StdRng) -> Vec<String> {
    from.choose_multiple(rng, n).cloned().collect()
}

/// Each entry fetched once, by a random initial node; every fetcher becomes a known holder and
/// every initial node starts taking lookups.
async fn warm_up(
    config: &ScaleConfig,
    client: &reqwest::Client,
    nodes: &BTreeMap<usize, Node>,
    book: &Mutex<Book>,
    rng: &mut StdRng,
) -> Vec<Lookup> {
    let list: Vec<&Node> = nodes.values().collect();
    let mut fetched = Vec::new();
    for path in 0..config.paths {
        let node = list[rng.gen_range(0..list.len())];
        let answer = lookup::get(client, &node.url, path, node.id, false).await;
        if answer.answer != Answer::Error {
            book.lock().expect("book").holds(path, node.id);
        }
        fetched.push(answer);
    }
    let mut book = book.lock().expect("book");
    for node in &list {
        book.join(node.id, &node.url, false);
    }
    fetched
}

/// When a lookup worker starts its lookups.
struct Pace {
    next: tokio::time::Instant,
    period: Duration,
    deadline: tokio::time::Instant,
}

impl Pace {
    /// Waits for the next slot; `false` once the deadline has come. A slow lookup delays the
    /// next one rather than causing a burst to catch up.
    async fn wait(&mut self) -> bool {
        tokio::time::sleep_until(self.next).await;
        let now = tokio::time::Instant::now();
        self.next = (self.next + self.period).max(now);
        now < self.deadline
    }
}

/// One lookup worker: picks, asks and books at its pace until the deadline. Returns its lookups
/// and how many it dropped because their node was stopped while they were in flight.
async fn lookups(
    client: reqwest::Client,
    book: Arc<Mutex<Book>>,
    mut pace: Pace,
    seed: u64,
) -> (Vec<Lookup>, usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut done, mut aborted) = (Vec::new(), 0);
    while pace.wait().await {
        let pick = book.lock().expect("book").pick(&mut rng);
        let Some(pick) = pick else {
            continue;
        };
        let seen = lookup::get(&client, &pick.url, pick.path, pick.node, pick.joiner).await;
        let mut book = book.lock().expect("book");
        if seen.answer == Answer::Error && !book.is_live(pick.node) {
            aborted += 1;
            continue;
        }
        if seen.answer != Answer::Error {
            book.holds(pick.path, pick.node);
        }
        done.push(seen);
    }
    (done, aborted)
}

impl Baseline {
    /// A node that just started: every counter at zero.
    pub(super) fn fresh(at: Instant) -> Self {
        Self {
            at,
            traffic: Some(BTreeMap::new()),
            announcements: 0,
        }
    }

    /// What was counted between this baseline and `later`.
    fn until(&self, later: &Baseline) -> WarmupCounts {
        let total = |t: &Option<BTreeMap<String, u64>>| t.as_ref().map(traffic::total);
        WarmupCounts {
            announcements: later.announcements.saturating_sub(self.announcements),
            fetched: 0,
            messages: total(&later.traffic)
                .map(|t| t.saturating_sub(total(&self.traffic).unwrap_or(0))),
        }
    }
}

async fn baseline(node: &Node, client: &reqwest::Client) -> anyhow::Result<Baseline> {
    let stats = node.stats(client).await?;
    Ok(Baseline {
        at: Instant::now(),
        traffic: node.traffic(client).await?,
        announcements: announcements(&stats),
    })
}

fn announcements(stats: &Value) -> u64 {
    stats["connectivity"]["announcements_received"]
        .as_u64()
        .unwrap_or(0)
}

async fn node_end(
    node: &Node,
    client: &reqwest::Client,
    base: &Baseline,
) -> anyhow::Result<NodeEnd> {
    let stats = node.stats(client).await?;
    let traffic = node.traffic(client).await?;
    let minutes = base.at.elapsed().as_secs_f64() / 60.0;
    let per_min = |now: u64, then: u64| now.saturating_sub(then) as f64 / minutes;
    let traffic_per_min = traffic.map(|now| {
        now.iter()
            .map(|(name, &n)| {
                let then = base.traffic.as_ref().and_then(|t| t.get(name)).copied();
                let then = then.unwrap_or(0);
                (name.clone(), per_min(n, then))
            })
            .collect()
    });
    Ok(NodeEnd {
        id: node.id,
        joiner: node.joiner,
        memory: node.memory()?,
        announcements_per_min: per_min(announcements(&stats), base.announcements),
        traffic_per_min,
        stats,
    })
}

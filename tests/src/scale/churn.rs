//! The churn of a run: while the lookups go on, a share of the initial nodes is stopped (half
//! with SIGKILL, half with SIGTERM) and as many fresh nodes (new identity, empty store) join
//! through random live bootstrap peers.

use super::book::Book;
use super::cli::{Routing, ScaleConfig};
use super::node::Node;
use super::run::{Baseline, CONNECT_TIMEOUT, choose};
use anyhow::Context;
use rand::Rng;
use rand::rngs::StdRng;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What the churn did.
#[derive(Debug, Default)]
pub(super) struct Tally {
    pub(super) sigkilled: usize,
    pub(super) sigtermed: usize,
    pub(super) term_timeouts: usize,
    pub(super) joined: usize,
    pub(super) unconnected: usize,
}

/// The churn of one run: what it needs to stop and start nodes.
pub(super) struct Churn<'a> {
    pub(super) config: &'a ScaleConfig,
    pub(super) routing: Routing,
    pub(super) upstream: &'a str,
    pub(super) work: &'a Path,
    pub(super) client: &'a reqwest::Client,
    pub(super) book: &'a Mutex<Book>,
}

impl Churn<'_> {
    /// `config.churn` events spread over 20%–70% of the lookup phase: each stops a random
    /// surviving initial node (even events SIGKILL, odd SIGTERM) and starts a fresh node that
    /// bootstraps to random live nodes and takes lookups once it has a peer.
    pub(super) async fn run(
        &self,
        nodes: &mut BTreeMap<usize, Node>,
        baselines: &mut BTreeMap<usize, Baseline>,
        rng: &mut StdRng,
        phase_start: Instant,
    ) -> anyhow::Result<Tally> {
        let mut tally = Tally::default();
        let duration = self.config.duration.as_secs_f64();
        for event in 0..self.config.churn {
            let share = 0.2 + 0.5 * event as f64 / self.config.churn as f64;
            let at = phase_start + Duration::from_secs_f64(duration * share);
            tokio::time::sleep_until(at.into()).await;
            let initial: Vec<usize> = nodes.values().filter(|n| !n.joiner).map(|n| n.id).collect();
            let victim = initial[rng.gen_range(0..initial.len())];
            self.book.lock().expect("book").leave(victim);
            let node = nodes.remove(&victim).context("victim")?;
            if event % 2 == 0 {
                node.kill().await;
                tally.sigkilled += 1;
            } else {
                tally.sigtermed += 1;
                if !node.terminate().await? {
                    tally.term_timeouts += 1;
                }
            }
            let joiner = self.join(self.config.nodes + event, nodes, rng).await?;
            tally.joined += 1;
            baselines.insert(joiner.id, Baseline::fresh(joiner.started));
            if joiner.wait_connected(self.client, CONNECT_TIMEOUT).await {
                let mut book = self.book.lock().expect("book");
                book.join(joiner.id, &joiner.url, true);
            } else {
                tally.unconnected += 1;
            }
            nodes.insert(joiner.id, joiner);
        }
        Ok(tally)
    }

    /// Starts fresh node `id` (new identity, empty store), bootstrapping to random live nodes.
    async fn join(
        &self,
        id: usize,
        nodes: &BTreeMap<usize, Node>,
        rng: &mut StdRng,
    ) -> anyhow::Result<Node> {
        let addrs: Vec<String> = nodes.values().map(|n| n.mesh_addr.clone()).collect();
        let bootstrap = choose(&addrs, self.config.bootstrap_peers, rng);
        let (config, routing, work) = (self.config, self.routing, self.work);
        Node::start(config, routing, self.upstream, work, id, true, &bootstrap).await
    }
}

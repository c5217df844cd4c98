//! Flags of `mesh-scale` and their validation into the [`ScaleConfig`] every routing mode of one
//! invocation runs with.

use anyhow::{Context, bail};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// How a node finds an entry it does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Routing {
    /// `discovery.methods.kademlia: false`: a local miss asks every connected peer.
    Gossip,
    /// `discovery.methods.kademlia: true`: a local miss looks up provider records in the DHT.
    Kademlia,
}

impl Routing {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Routing::Gossip => "gossip",
            Routing::Kademlia => "kademlia",
        }
    }
}

/// Flags of a scale run.
#[derive(Debug, Clone, clap::Args)]
pub struct ScaleArgs {
    /// Routing modes to run, one after the other, each with a fresh fleet; repeatable.
    #[arg(long = "routing", value_enum, default_values_t = [Routing::Gossip])]
    pub routings: Vec<Routing>,
    /// `ghmesh serve` processes started before the warm-up.
    #[arg(long, default_value_t = 100)]
    pub nodes: usize,
    /// Distinct paths fetched from the upstream in the warm-up, each by one random node.
    #[arg(long, default_value_t = 300)]
    pub paths: usize,
    /// Seconds of the lookup phase (churn happens between 20% and 70% of it).
    #[arg(long, default_value_t = 120)]
    pub duration_secs: u64,
    /// Percent of the initial nodes killed during the lookups (half SIGKILL, half SIGTERM);
    /// as many fresh nodes join.
    #[arg(long, default_value_t = 20)]
    pub churn_percent: u32,
    /// Earlier nodes each node is given as bootstrap peers (chosen at random).
    #[arg(long, default_value_t = 3)]
    pub bootstrap_peers: usize,
    /// `network.max_peers` of every node (ghmesh's default is 128).
    #[arg(long, default_value_t = 128)]
    pub max_peers: u32,
    /// Lookups in flight at most at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Lookups started per second, fleet-wide (a fixed offered load, so that traffic per node
    /// compares across modes, and so that the (node, entry) pairs not yet asked last the run).
    #[arg(long, default_value_t = 100)]
    pub rate: u32,
    /// Nodes started at once (after the first, which compiles the shared policy cache).
    #[arg(long, default_value_t = 8)]
    pub start_parallel: usize,
    /// Seed of the random choices (bootstrap peers, fetchers, lookups, victims).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The `ghmesh` binary (default: next to this program).
    #[arg(long)]
    pub ghmesh: Option<PathBuf>,
    /// Print the JSON report instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON report to this file.
    #[arg(long, value_name = "FILE")]
    pub json_out: Option<PathBuf>,
}

/// Everything a run needs; the same for every routing mode of one invocation.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleConfig {
    /// Nodes started before the warm-up.
    pub nodes: usize,
    /// Paths fetched in the warm-up.
    pub paths: usize,
    /// Length of the lookup phase.
    #[serde(serialize_with = "secs")]
    pub duration: Duration,
    /// Initial nodes killed during the lookups, and fresh nodes started.
    pub churn: usize,
    /// Bootstrap peers per node.
    pub bootstrap_peers: usize,
    /// `network.max_peers` of every node.
    pub max_peers: u32,
    /// Lookups in flight at most at once.
    pub concurrency: usize,
    /// Lookups started per second.
    pub rate: u32,
    /// Nodes started at once.
    pub start_parallel: usize,
    /// Seed of the random choices.
    pub seed: u64,
    /// The `ghmesh` binary.
    pub ghmesh: PathBuf,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

impl ScaleArgs {
    /// The routing modes to run, in order, none twice.
    pub fn routing_order(&self) -> Vec<Routing> {
        let mut order = Vec::new();
        for routing in &self.routings {
            if !order.contains(routing) {
                order.push(*routing);
            }
        }
        order
    }
}

impl TryFrom<&ScaleArgs> for ScaleConfig {
    type Error = anyhow::Error;

    fn try_from(args: &ScaleArgs) -> anyhow::Result<Self> {
        if args.nodes < 2 {
            bail!("--nodes must be at least 2 (a lookup needs another node)");
        }
        if args.paths == 0 || args.duration_secs == 0 || args.concurrency == 0 || args.rate == 0 {
            bail!("--paths, --duration-secs, --concurrency and --rate must be at least 1");
        }
        if args.bootstrap_peers == 0 || args.start_parallel == 0 || args.max_peers == 0 {
            bail!("--bootstrap-peers, --start-parallel and --max-peers must be at least 1");
        }
        if args.churn_percent > 50 {
            bail!("--churn-percent above 50 would leave too few of the initial nodes to ask");
        }
        let churn = (args.nodes * args.churn_percent as usize).div_ceil(100);
        let ghmesh = match &args.ghmesh {
            Some(path) => path.clone(),
            None => std::env::current_exe()
                .context("locating mesh-scale")?
                .with_file_name("ghmesh"),
        };
        if !ghmesh.exists() {
            bail!(
                "{} not found: build ghmesh or pass --ghmesh",
                ghmesh.display()
            );
        }
        Ok(Self {
            nodes: args.nodes,
            paths: args.paths,
            duration: Duration::from_secs(args.duration_secs),
            churn,
            bootstrap_peers: args.bootstrap_peers,
            max_peers: args.max_peers,
            concurrency: args.concurrency,
            rate: args.rate,
            start_parallel: args.start_parallel,
            seed: args.seed,
            ghmesh,
        })
    }
}

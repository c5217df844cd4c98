//! One measured run of the fleet per mode: a fresh upstream (so every mode sees the same
//! timetable from its start), the caches the mode calls for, N runner processes polling through
//! them, then the upstream's counts and each cache's `/_ghmesh/stats`.

use super::counts::CountsDocument;
use super::process::Server;
use super::runner::RunnerResult;
use super::schedule::Schedule;
use super::unix_ms;
use super::upstream::UpstreamConfig;
use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// Where the runners' requests go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Straight to the upstream: the no-cache baseline.
    Direct,
    /// One `ghmesh serve` per runner, each with its own store (a cache on every runner machine).
    PerRunner,
    /// One `ghmesh serve` for the whole fleet.
    Shared,
    /// One `ghmesh serve` per runner, the serves joined in a fleet mesh on loopback: each
    /// bootstraps to the (up to) [`MESH_BOOTSTRAP_PEERS`] serves started just before it.
    Mesh,
}

/// How many earlier serves a mesh-mode serve is given as bootstrap peers. Each serve then has at
/// most twice as many connections, within gossipsub's mesh degree (2 to 8), and any two serves
/// are at most `runners / 4` hops apart.
pub const MESH_BOOTSTRAP_PEERS: usize = 4;

/// The fleet secret of the benchmark's meshes (any string of at least 16 characters).
const MESH_SECRET: &str = "polling-bench-fleet-secret";

/// How long the serves of a mesh may take to connect before the run is abandoned.
const MESH_CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// Time given to gossipsub to form its mesh (heartbeat 500 ms) once every serve is connected.
const MESH_SETTLE: Duration = Duration::from_secs(2);

impl Mode {
    /// How many `ghmesh serve` processes the mode runs for `runners` runners.
    fn proxy_count(self, runners: usize) -> usize {
        match self {
            Mode::Direct => 0,
            Mode::PerRunner | Mode::Mesh => runners,
            Mode::Shared => 1,
        }
    }

    /// Base URL for runner `index`, given the upstream and the mode's proxies.
    fn base_url<'a>(self, index: usize, upstream: &'a str, proxies: &'a [Server]) -> &'a str {
        match self {
            Mode::Direct => upstream,
            Mode::PerRunner | Mode::Mesh => &proxies[index].url,
            Mode::Shared => &proxies[0].url,
        }
    }

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Direct => "direct",
            Mode::PerRunner => "per-runner",
            Mode::Shared => "shared",
            Mode::Mesh => "mesh",
        }
    }
}

/// Whose credential each runner uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Tokens {
    /// A token of its own per runner (its own rate limit; caches keep entries apart per token).
    PerRunner,
    /// One token for the whole fleet (e.g. a GitHub App installation token).
    Fleet,
}

impl Tokens {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Tokens::PerRunner => "per-runner",
            Tokens::Fleet => "fleet",
        }
    }

    /// The token runner `index` sends.
    pub fn token(self, index: usize) -> String {
        match self {
            Tokens::PerRunner => format!("bench-runner-{index}"),
            Tokens::Fleet => "bench-fleet".to_owned(),
        }
    }
}

/// The programs the harness starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binaries {
    /// `polling-upstream`.
    pub upstream: PathBuf,
    /// `ghmesh`.
    pub ghmesh: PathBuf,
    /// `polling-fleet` itself, started once per runner with `runner`.
    pub fleet: PathBuf,
}

/// Everything a run needs; the same for every mode of one invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetConfig {
    /// Runner processes.
    pub runners: usize,
    /// Cycles each runner polls.
    pub cycles: u32,
    /// Time between a runner's cycles.
    pub period: Duration,
    /// The upstream's resources, timetable and rate limit.
    pub upstream: UpstreamConfig,
    /// Whose credential each runner sends.
    pub tokens: Tokens,
    /// Runners send `If-None-Match` themselves.
    pub conditional: bool,
    /// `operation_ttls` given to every `ghmesh serve` (class, seconds).
    pub ttls: Vec<(String, u32)>,
    /// The programs to start.
    pub binaries: Binaries,
}

/// What one mode's run produced, before any figures are derived.
#[derive(Debug, Clone)]
pub struct ModeRun {
    /// The mode.
    pub mode: Mode,
    /// The upstream's timetable for this run.
    pub schedule: Schedule,
    /// Each runner's observations.
    pub runners: Vec<RunnerResult>,
    /// The upstream's counts after the last runner finished.
    pub counts: CountsDocument,
    /// Numeric `/_ghmesh/stats` fields summed over the mode's proxies (`None` for direct).
    pub ghmesh: Option<BTreeMap<String, u64>>,
    /// Each proxy's whole `/_ghmesh/stats` document after the run, in start order.
    pub proxy_stats: Vec<serde_json::Value>,
}

/// Runs the fleet in `mode` with scratch files in `work` (shared by the modes of one
/// invocation: the policy components' compilation cache is kept there).
pub async fn run_mode(config: &FleetConfig, mode: Mode, work: &Path) -> anyhow::Result<ModeRun> {
    let mut upstream_command = Command::new(&config.binaries.upstream);
    upstream_command.args(upstream_args(&config.upstream));
    let upstream = Server::start("polling-upstream", upstream_command).await?;
    let mut proxies: Vec<Server> = Vec::new();
    for index in 0..mode.proxy_count(config.runners) {
        let bootstrap: Vec<String> = if mode == Mode::Mesh {
            proxies[index.saturating_sub(MESH_BOOTSTRAP_PEERS)..]
                .iter()
                .filter_map(|p| p.mesh.clone())
                .collect()
        } else {
            Vec::new()
        };
        proxies.push(start_proxy(config, &upstream.url, work, mode, index, &bootstrap).await?);
    }
    let client = client()?;
    if mode == Mode::Mesh {
        wait_for_mesh(&client, &proxies).await?;
    }
    let schedule: Schedule = get_json(&client, &format!("{}/_schedule", upstream.url)).await?;

    // Runners start together, a little ahead so every process is up, and spread their cycles
    // over the period as independent machines would.
    let first = unix_ms() + 1_500;
    let period_ms = u64::try_from(config.period.as_millis()).unwrap_or(u64::MAX);
    let mut children = Vec::new();
    for index in 0..config.runners {
        let offset = period_ms * index as u64 / config.runners as u64;
        let mut command = Command::new(&config.binaries.fleet);
        command
            .arg("runner")
            .args(["--index", &index.to_string()])
            .args(["--base-url", mode.base_url(index, &upstream.url, &proxies)])
            .args(["--upstream-url", &upstream.url])
            .args(["--token", &config.tokens.token(index)])
            .args(["--cycles", &config.cycles.to_string()])
            .args(["--period-ms", &period_ms.to_string()])
            .args(["--start-at-ms", &(first + offset).to_string()])
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        if config.conditional {
            command.arg("--conditional");
        }
        children.push(command.spawn().context("starting a runner")?);
    }
    let mut runners = Vec::new();
    for child in children {
        let output = child.wait_with_output().await?;
        if !output.status.success() {
            bail!("a runner failed ({})", output.status);
        }
        runners.push(serde_json::from_slice(&output.stdout).context("runner result JSON")?);
    }

    let counts = get_json(&client, &format!("{}/_counts", upstream.url)).await?;
    let mut ghmesh = None;
    let mut proxy_stats = Vec::new();
    for proxy in &proxies {
        let stats: serde_json::Value =
            get_json(&client, &format!("{}/_ghmesh/stats", proxy.url)).await?;
        let sums = ghmesh.get_or_insert_with(BTreeMap::new);
        for (name, value) in stats.as_object().into_iter().flatten() {
            if let Some(n) = value.as_u64() {
                *sums.entry(name.clone()).or_default() += n;
            }
        }
        proxy_stats.push(stats);
    }
    for proxy in proxies {
        proxy.stop().await;
    }
    upstream.stop().await;
    Ok(ModeRun {
        mode,
        schedule,
        runners,
        counts,
        ghmesh,
        proxy_stats,
    })
}

/// Waits until every serve of a mesh reports a connected peer, then gives gossipsub
/// [`MESH_SETTLE`] to graft its mesh, so the first cycle's announcements find their way.
async fn wait_for_mesh(client: &reqwest::Client, proxies: &[Server]) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + MESH_CONNECT_TIMEOUT;
    for proxy in proxies {
        loop {
            let stats: serde_json::Value =
                get_json(client, &format!("{}/_ghmesh/stats", proxy.url)).await?;
            if stats["connected_peers"].as_u64().unwrap_or(0) >= 1 {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "the serve at {} had no mesh peer after {MESH_CONNECT_TIMEOUT:?}",
                    proxy.url
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    tokio::time::sleep(MESH_SETTLE).await;
    Ok(())
}

/// `polling-upstream` flags for `config`.
fn upstream_args(config: &UpstreamConfig) -> Vec<String> {
    let ms = |p: Option<Duration>| p.map_or(0, |p| p.as_millis()).to_string();
    let mut args = vec![
        "--port".to_owned(),
        "0".to_owned(),
        "--repos".to_owned(),
        config.repos.to_string(),
        "--seed".to_owned(),
        config.seed.to_string(),
        "--rate-limit".to_owned(),
        config.rate_limit.to_string(),
        "--queued-runs-change-ms".to_owned(),
        ms(config.periods.queued_runs),
        "--runners-change-ms".to_owned(),
        ms(config.periods.runners),
        "--workflows-change-ms".to_owned(),
        ms(config.periods.workflows),
    ];
    if config.last_modified {
        args.push("--last-modified".to_owned());
    }
    args
}

/// Starts `ghmesh serve` number `index` of `mode` in a directory of its own (own store, own
/// configuration, clean environment), logging to `serve.log` there. In mesh mode it joins the
/// fleet mesh on loopback through `bootstrap` (mDNS off: it does not work over loopback).
async fn start_proxy(
    config: &FleetConfig,
    upstream: &str,
    work: &Path,
    mode: Mode,
    index: usize,
    bootstrap: &[String],
) -> anyhow::Result<Server> {
    let dir = work.join(format!("{}-serve-{index}", mode.name()));
    std::fs::create_dir_all(dir.join(".github"))?;
    std::fs::write(
        dir.join(".github/cache-config.yml"),
        proxy_config(config, &work.join("compiled")),
    )?;
    let log = std::fs::File::create(dir.join("serve.log"))?;
    let mut command = Command::new(&config.binaries.ghmesh);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--upstream", upstream])
        .current_dir(&dir)
        .env_clear()
        .env("HOME", &dir)
        .env("CACHE_DIR", dir.join("cache"))
        .stderr(log);
    if mode == Mode::Mesh {
        command
            .env("ENABLE_P2P_CACHE", "true")
            .env("GHMESH_FLEET_SECRET", MESH_SECRET)
            .env("GHMESH_P2P_LISTEN", "/ip4/127.0.0.1/tcp/0")
            .env("GHMESH_P2P_MDNS", "false");
        if !bootstrap.is_empty() {
            command.env("CACHE_BOOTSTRAP_PEERS", bootstrap.join(","));
        }
    }
    Server::start(&format!("ghmesh serve ({})", dir.display()), command).await
}

/// `cache-config.yml` for every proxy: the TTL overrides, and one compilation cache for all
/// (compiled policy components are not cache entries; sharing them only saves start-up time).
fn proxy_config(config: &FleetConfig, compiled: &Path) -> String {
    let mut yaml = format!("policy:\n  compile_cache_dir: {}\n", compiled.display());
    if !config.ttls.is_empty() {
        yaml.push_str("operation_ttls:\n");
        for (class, seconds) in &config.ttls {
            yaml.push_str(&format!("  {class}: {seconds}\n"));
        }
    }
    yaml
}

/// An HTTP client for the harnesses' admin and load requests: no proxy, a 30-s timeout.
pub fn client() -> anyhow::Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// GETs `url` and decodes its JSON body; a non-2xx status is an error naming the URL.
pub async fn get_json<T: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    url: &str,
) -> anyhow::Result<T> {
    let body = client
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("GET {url}"))?
        .bytes()
        .await?;
    serde_json::from_slice(&body).with_context(|| format!("JSON from {url}"))
}

//! Command-line flags of `polling-upstream` and `polling-fleet`, and their validation into the
//! configurations the harness runs on (parse, then check once, as the host does).

use super::fleet::{Binaries, FleetConfig, Mode, Tokens};
use super::runner::RunnerConfig;
use super::schedule::ChangePeriods;
use super::upstream::UpstreamConfig;
use anyhow::{Context, bail};
use std::path::PathBuf;
use std::time::Duration;

/// The upstream's resources, timetable and rate limit (flags of both binaries).
#[derive(Debug, Clone, clap::Args)]
pub struct UpstreamArgs {
    /// Repositories (three resources each: queued runs, runners, workflows).
    #[arg(long, default_value_t = 3)]
    pub repos: usize,
    /// Seed for the resources' phases and contents.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Charged requests each token may make (GitHub: 5000 an hour for a user token).
    #[arg(long, default_value_t = 5000)]
    pub rate_limit: u64,
    /// Milliseconds between versions of each repository's queued runs (0: never change).
    #[arg(long, default_value_t = 5000)]
    pub queued_runs_change_ms: u64,
    /// Milliseconds between versions of each repository's runner list (0: never change).
    #[arg(long, default_value_t = 15000)]
    pub runners_change_ms: u64,
    /// Milliseconds between versions of each repository's workflow list (0: never change).
    #[arg(long, default_value_t = 0)]
    pub workflows_change_ms: u64,
    /// Send `Last-Modified` and honour `If-Modified-Since` (GitHub does not on these lists).
    #[arg(long)]
    pub last_modified: bool,
}

impl TryFrom<&UpstreamArgs> for UpstreamConfig {
    type Error = anyhow::Error;

    fn try_from(args: &UpstreamArgs) -> anyhow::Result<Self> {
        if args.repos == 0 {
            bail!("--repos must be at least 1");
        }
        let period = |ms: u64| (ms > 0).then(|| Duration::from_millis(ms));
        let periods = ChangePeriods {
            queued_runs: period(args.queued_runs_change_ms),
            runners: period(args.runners_change_ms),
            workflows: period(args.workflows_change_ms),
        };
        // HTTP dates have whole seconds: two versions within one second would look unmodified.
        let changes = [
            args.queued_runs_change_ms,
            args.runners_change_ms,
            args.workflows_change_ms,
        ];
        if args.last_modified && changes.iter().any(|ms| (1..1000).contains(ms)) {
            bail!("--last-modified needs change periods of at least 1000 ms (or 0)");
        }
        Ok(Self {
            repos: args.repos,
            periods,
            seed: args.seed,
            rate_limit: args.rate_limit,
            last_modified: args.last_modified,
        })
    }
}

/// Flags of a fleet run.
#[derive(Debug, Clone, clap::Args)]
pub struct FleetArgs {
    /// Where the runners' requests go; repeat to run several modes one after the other.
    #[arg(long = "mode", value_enum, default_values_t = [Mode::Shared])]
    pub modes: Vec<Mode>,
    /// Run `direct` first too and report the charged requests saved against it.
    #[arg(long)]
    pub compare: bool,
    /// Runner processes.
    #[arg(long, default_value_t = 5)]
    pub runners: usize,
    /// Cycles each runner polls.
    #[arg(long, default_value_t = 60)]
    pub cycles: u32,
    /// Milliseconds between the starts of a runner's cycles.
    #[arg(long, default_value_t = 1000)]
    pub period_ms: u64,
    /// Whose credential each runner sends.
    #[arg(long, value_enum, default_value_t = Tokens::PerRunner)]
    pub tokens: Tokens,
    /// Runners keep ETags and send `If-None-Match` (Octokit does not by default).
    #[arg(long)]
    pub conditional: bool,
    /// TTL override for every ghmesh, `CLASS=SECONDS` (e.g. `workflow-runs=0`); repeatable.
    #[arg(long = "ttl", value_name = "CLASS=SECONDS")]
    pub ttls: Vec<String>,
    /// The `ghmesh` binary (default: next to this program).
    #[arg(long)]
    pub ghmesh: Option<PathBuf>,
    /// The `polling-upstream` binary (default: next to this program).
    #[arg(long)]
    pub upstream_bin: Option<PathBuf>,
    /// Print the JSON report instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON report to this file.
    #[arg(long, value_name = "FILE")]
    pub json_out: Option<PathBuf>,
    /// The upstream.
    #[command(flatten)]
    pub upstream: UpstreamArgs,
}

impl FleetArgs {
    /// The modes to run, in order: `direct` first when comparing, no mode twice.
    pub fn mode_order(&self) -> Vec<Mode> {
        let mut order = Vec::new();
        if self.compare {
            order.push(Mode::Direct);
        }
        for mode in &self.modes {
            if !order.contains(mode) {
                order.push(*mode);
            }
        }
        order
    }
}

impl TryFrom<&FleetArgs> for FleetConfig {
    type Error = anyhow::Error;

    fn try_from(args: &FleetArgs) -> anyhow::Result<Self> {
        if args.runners == 0 || args.cycles == 0 || args.period_ms == 0 {
            bail!("--runners, --cycles and --period-ms must be at least 1");
        }
        let ttls = args
            .ttls
            .iter()
            .map(|t| {
                let (class, seconds) = t
                    .split_once('=')
                    .with_context(|| format!("--ttl {t}: expected CLASS=SECONDS"))?;
                let seconds = seconds.parse().with_context(|| {
                    format!("--ttl {t}: {seconds:?} is not a number of seconds")
                })?;
                Ok((class.to_owned(), seconds))
            })
            .collect::<anyhow::Result<_>>()?;
        let fleet = std::env::current_exe().context("locating polling-fleet")?;
        let sibling = |name: &str| fleet.with_file_name(name);
        Ok(Self {
            runners: args.runners,
            cycles: args.cycles,
            period: Duration::from_millis(args.period_ms),
            upstream: UpstreamConfig::try_from(&args.upstream)?,
            tokens: args.tokens,
            conditional: args.conditional,
            ttls,
            binaries: Binaries {
                upstream: args
                    .upstream_bin
                    .clone()
                    .unwrap_or_else(|| sibling("polling-upstream")),
                ghmesh: args.ghmesh.clone().unwrap_or_else(|| sibling("ghmesh")),
                fleet,
            },
        })
    }
}

/// Flags of one runner process (`polling-fleet runner`, started by the fleet).
#[derive(Debug, Clone, clap::Args)]
pub struct RunnerArgs {
    /// Its number in the fleet.
    #[arg(long)]
    pub index: usize,
    /// Where its requests go.
    #[arg(long)]
    pub base_url: String,
    /// The upstream, for its timetable.
    #[arg(long)]
    pub upstream_url: String,
    /// Its credential.
    #[arg(long)]
    pub token: String,
    /// Cycles to run.
    #[arg(long)]
    pub cycles: u32,
    /// Milliseconds between cycles.
    #[arg(long)]
    pub period_ms: u64,
    /// Unix milliseconds at which the first cycle starts.
    #[arg(long)]
    pub start_at_ms: u64,
    /// Send `If-None-Match`.
    #[arg(long)]
    pub conditional: bool,
}

impl From<&RunnerArgs> for RunnerConfig {
    fn from(args: &RunnerArgs) -> Self {
        Self {
            index: args.index,
            base_url: args.base_url.trim_end_matches('/').to_owned(),
            upstream_url: args.upstream_url.trim_end_matches('/').to_owned(),
            token: args.token.clone(),
            cycles: args.cycles,
            period: Duration::from_millis(args.period_ms),
            first_cycle_unix_ms: args.start_at_ms,
            conditional: args.conditional,
        }
    }
}

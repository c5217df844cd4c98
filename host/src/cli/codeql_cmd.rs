//! `ghmesh codeql ...`: the CodeQL result cache from the command line — `key`, `store`, `check`,
//! `stats`. `check` also appends its answers to `GITHUB_OUTPUT` inside GitHub Actions. With a
//! `ghmesh serve` in a fleet mesh for the same cache directory, `store` announces the result to
//! the fleet and `check` asks the fleet on a local miss ([`super::codeql_fleet`]).

use super::codeql_fleet::{self, FleetResults};
use super::proxy_setup::store_limits;
use crate::clock::unix_now;
use crate::codeql::check::{self, CheckOutcome, CheckRequest};
use crate::codeql::git::Repo;
use crate::codeql::ingest::{self, DEFAULT_TTL_SECS, StoreRequest};
use crate::codeql::key::{self, KeyRequest};
use crate::codeql::results::{ResultStore, STORE_DIR};
use crate::config::Config;
use crate::policy::World;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// CodeQL cache commands.
#[derive(Debug, Subcommand)]
pub enum CodeqlCommand {
    /// Print the cache key of a scan and every input that went into it.
    Key(KeyArgs),
    /// Validate a finished scan's SARIF 2.1.0 and store it for reuse.
    Store(StoreArgs),
    /// Decide whether a scan may be skipped; writes should-skip-scan, cached-result,
    /// cache-status and reason (also to GITHUB_OUTPUT when set).
    Check(CheckArgs),
    /// Print the cache's counters: scans cached, retrieved, skipped, skip rate, time saved.
    Stats {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// The inputs that identify a scan.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// The repository's checked-out worktree.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub repo_dir: PathBuf,
    /// Effective configuration: inline JSON (`{"languages": "python", ...}`) or a YAML/JSON file
    /// with `languages`, `build-mode`, `config-file` and any CodeQL config keys.
    #[arg(long, value_name = "FILE|JSON")]
    pub config: String,
    /// CodeQL CLI version that runs (or ran) the scan.
    #[arg(long, value_name = "V")]
    pub codeql_version: String,
    /// SARIF category (default `/language:<languages>`).
    #[arg(long, value_name = "C")]
    pub category: Option<String>,
}

/// `ghmesh codeql key`.
#[derive(Debug, Args)]
pub struct KeyArgs {
    #[command(flatten)]
    scan: ScanArgs,
    /// Commit to key; must be the one checked out.
    #[arg(long, value_name = "SHA", default_value = "HEAD")]
    commit: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// `ghmesh codeql store`.
#[derive(Debug, Args)]
pub struct StoreArgs {
    #[command(flatten)]
    scan: ScanArgs,
    /// `owner/name`.
    #[arg(long, value_name = "O/R")]
    repo: String,
    /// Commit analysed; must be the one checked out.
    #[arg(long, value_name = "SHA", default_value = "HEAD")]
    commit: String,
    /// The SARIF the scan produced.
    #[arg(long, value_name = "FILE")]
    sarif: PathBuf,
    /// How long the scan took, in seconds.
    #[arg(long, value_name = "SECS")]
    duration: f64,
    /// How long the result may be reused, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_TTL_SECS)]
    ttl: u64,
    /// The analysis was restricted to a pull request's diff (refused: not reusable).
    #[arg(long)]
    diff_informed: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// `ghmesh codeql check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    scan: ScanArgs,
    /// `owner/name`.
    #[arg(long, value_name = "O/R")]
    repo: String,
    /// Commit to analyse; must be the one checked out.
    #[arg(long, value_name = "SHA")]
    commit: String,
    /// Earlier commit whose result may be reused if nothing relevant changed since.
    #[arg(long, value_name = "SHA")]
    base: Option<String>,
    /// Where to write the SARIF to upload (default `<cache dir>/codeql/results/...`).
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Print JSON instead of `name=value` lines.
    #[arg(long)]
    json: bool,
}

/// Runs a CodeQL cache command.
pub fn run(command: CodeqlCommand, config: &Config) -> anyhow::Result<ExitCode> {
    match command {
        CodeqlCommand::Key(args) => key_cmd(&args),
        CodeqlCommand::Store(args) => store_cmd(&args, config),
        CodeqlCommand::Check(args) => check_cmd(&args, config),
        CodeqlCommand::Stats { json } => stats_cmd(json, config),
    }
}

fn open_results(config: &Config) -> anyhow::Result<ResultStore> {
    ResultStore::open(&config.cache.dir, store_limits(config))
}

fn key_cmd(args: &KeyArgs) -> anyhow::Result<ExitCode> {
    let repo = Repo::new(&args.scan.repo_dir);
    let inputs = key::compute(&KeyRequest {
        repo: &repo,
        commit: &args.commit,
        config: &args.scan.config,
        codeql_version: &args.scan.codeql_version,
        category: args.scan.category.as_deref(),
    })
    .map_err(|e| e.context("no cache key (a scan would run)"))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&inputs)?);
    } else {
        print_rows(&inputs.rows());
    }
    Ok(ExitCode::SUCCESS)
}

fn store_cmd(args: &StoreArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let request = StoreRequest {
        repo: &args.repo,
        repo_dir: &args.scan.repo_dir,
        commit: &args.commit,
        config: &args.scan.config,
        codeql_version: &args.scan.codeql_version,
        category: args.scan.category.as_deref(),
        sarif: &args.sarif,
        duration_secs: args.duration,
        ttl_secs: args.ttl,
        diff_informed: args.diff_informed,
        now: unix_now(),
    };
    // Validate before opening the store, so refused input never touches it.
    let prepared = ingest::prepare(&request).map_err(|e| e.context("nothing stored"))?;
    // The store is closed again before the serve is asked: it reads the result from there.
    ingest::store(&prepared, &open_results(config)?)?;
    let record = prepared.record;
    let announced = codeql_fleet::announce(config, &record.key);
    if args.json {
        let mut json = serde_json::to_value(&record)?;
        if let Some(object) = json.as_object_mut() {
            object.insert("announced".into(), announced.into());
        }
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        let counts = |m: &std::collections::BTreeMap<String, u64>| {
            let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
            if parts.is_empty() {
                "-".to_string()
            } else {
                parts.join(" ")
            }
        };
        print_rows(&[
            ("stored", record.key.clone()),
            ("commit", record.commit.clone()),
            ("tree", record.tree.clone()),
            ("category", record.category.clone()),
            ("sarif-cid", record.sarif_cid.clone()),
            ("sarif-bytes", record.sarif_bytes.to_string()),
            ("alerts", record.alerts.results.to_string()),
            ("by-level", counts(&record.alerts.by_level)),
            ("by-severity", counts(&record.alerts.by_security_severity)),
            ("duration-secs", record.duration_secs.to_string()),
            ("ttl-secs", record.ttl_secs.to_string()),
            ("announced", announced),
        ]);
    }
    Ok(ExitCode::SUCCESS)
}

fn check_cmd(args: &CheckArgs, config: &Config) -> anyhow::Result<ExitCode> {
    ingest::check_repo_name(&args.repo)?;
    let outcome = if !config.cache.enabled {
        CheckOutcome::disabled("the cache is disabled (cache.enabled: false); running the scan")
    } else {
        checked(args, config)
    };
    if let Some(path) = std::env::var_os("GITHUB_OUTPUT").filter(|p| !p.is_empty()) {
        append_outputs(Path::new(&path), &outcome)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else {
        for (name, value) in outputs(&outcome) {
            println!("{name}={value}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The check with its store and component; failures to open either are `error` answers.
fn checked(args: &CheckArgs, config: &Config) -> CheckOutcome {
    let results = match open_results(config) {
        Ok(results) => results,
        Err(e) => return CheckOutcome::error(format!("{e:#}")),
    };
    let policy = super::policy_cmd::runtime(config).and_then(|runtime| {
        let source = super::policy_cmd::source_for(config, World::CodeqlSkip);
        Ok(runtime.codeql_skip(&source)?)
    });
    let policy = match policy {
        Ok(policy) => policy,
        Err(e) => return CheckOutcome::error(format!("codeql-skip component unavailable: {e:#}")),
    };
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| default_output(config, args));
    let request = CheckRequest {
        repo: &args.repo,
        repo_dir: &args.scan.repo_dir,
        commit: &args.commit,
        base: args.base.as_deref(),
        config: &args.scan.config,
        codeql_version: &args.scan.codeql_version,
        category: args.scan.category.as_deref(),
        output: &output,
        now: unix_now(),
    };
    let fleet = FleetResults::discover(config);
    let peers = fleet.as_ref().map(|f| f as &dyn check::PeerResults);
    let outcome = check::check(&request, &results, &policy, peers);
    let counted = results.update_stats(|s| {
        s.checks += 1;
        match outcome.cache_status {
            check::CacheStatus::Hit | check::CacheStatus::Reuse => {
                s.scans_retrieved += 1;
                if outcome.from_peer.is_some() {
                    s.scans_retrieved_from_peers += 1;
                }
                s.scans_skipped += 1;
                s.scan_time_saved_secs += outcome.saved_secs;
            }
            check::CacheStatus::Error => s.errors += 1,
            _ => s.misses += 1,
        }
    });
    if let Err(e) = counted {
        // The answer stands; only the counters missed it.
        tracing::warn!("CodeQL stats not updated: {e:#}");
    }
    outcome
}

fn default_output(config: &Config, args: &CheckArgs) -> PathBuf {
    let safe = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let category = args.scan.category.as_deref().unwrap_or("default");
    config
        .cache
        .dir
        .join(STORE_DIR)
        .join("results")
        .join(format!("{}-{}.sarif", safe(&args.commit), safe(category)))
}

/// The four action outputs, values on one line each.
fn outputs(outcome: &CheckOutcome) -> Vec<(&'static str, String)> {
    let one_line = |s: &str| s.replace(['\r', '\n'], " ");
    vec![
        ("should-skip-scan", outcome.should_skip_scan.to_string()),
        (
            "cached-result",
            outcome
                .cached_result
                .as_ref()
                .map_or(String::new(), |p| one_line(&p.display().to_string())),
        ),
        ("cache-status", outcome.cache_status.as_str().to_string()),
        ("reason", one_line(&outcome.reason)),
    ]
}

/// Appends `name=value` lines to the `GITHUB_OUTPUT` file.
fn append_outputs(path: &Path, outcome: &CheckOutcome) -> anyhow::Result<()> {
    use std::io::Write;
    let mut text = String::new();
    for (name, value) in outputs(outcome) {
        text.push_str(&format!("{name}={value}\n"));
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot open GITHUB_OUTPUT {}: {e}", path.display()))?;
    file.write_all(text.as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot write GITHUB_OUTPUT {}: {e}", path.display()))
}

/// The CodeQL counters as `ghmesh codeql stats --json` prints them (for the job summary).
pub(super) fn stats_document(config: &Config) -> anyhow::Result<serde_json::Value> {
    Ok(serde_json::to_value(
        open_results(config)?.stats()?.report(),
    )?)
}

fn stats_cmd(json: bool, config: &Config) -> anyhow::Result<ExitCode> {
    let report = open_results(config)?.stats()?.report();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_rows(&[
            ("scans_cached", report.scans_cached.to_string()),
            ("scans_retrieved", report.scans_retrieved.to_string()),
            ("scans_skipped", report.scans_skipped.to_string()),
            ("scans_from_peers", report.scans_from_peers.to_string()),
            (
                "scans_retrieved_from_peers",
                report.scans_retrieved_from_peers.to_string(),
            ),
            ("checks", report.checks.to_string()),
            ("misses", report.misses.to_string()),
            ("errors", report.errors.to_string()),
            ("skip_rate", format!("{:.3}", report.skip_rate)),
            (
                "scan_time_saved_hours",
                format!("{:.3}", report.scan_time_saved_hours),
            ),
        ]);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_rows(rows: &[(&str, String)]) {
    for (name, value) in rows {
        println!("{name:<22} {value}");
    }
}

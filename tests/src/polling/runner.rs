//! One runner of the fleet: every cycle it asks for every resource of every repository, the way
//! an autoscaler built on Octokit does (plain GETs; conditional requests only with
//! `conditional`), and records latency, errors, cache outcomes and which versions it was given.

use super::github::VERSION_HEADER;
use super::schedule::{Resource, Schedule};
use super::unix_ms;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// Error messages kept per runner (the count is always complete).
const ERROR_SAMPLES: usize = 5;

/// What one runner does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerConfig {
    /// Its number in the fleet (0-based).
    pub index: usize,
    /// Where its requests go: the upstream itself or a `ghmesh serve`.
    pub base_url: String,
    /// The upstream, asked directly for its `/_schedule` (never through a cache).
    pub upstream_url: String,
    /// Its credential, sent as `Authorization: token ...`.
    pub token: String,
    /// Cycles to run.
    pub cycles: u32,
    /// Time between the starts of two cycles.
    pub period: Duration,
    /// Unix milliseconds at which the first cycle starts.
    pub first_cycle_unix_ms: u64,
    /// Remember ETags and send `If-None-Match` (Octokit does not by default).
    pub conditional: bool,
}

/// What one runner observed; printed as JSON by `polling-fleet runner`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunnerResult {
    /// Its number in the fleet.
    pub index: usize,
    /// Requests sent.
    pub requests: u64,
    /// Requests that got no answer or an answer other than 200/304.
    pub errors: u64,
    /// The first few errors, for the report.
    pub error_samples: Vec<String>,
    /// 304s this runner got (only with `conditional`).
    pub not_modified: u64,
    /// Time from sending each request to its full body, microseconds.
    pub latencies_us: Vec<u64>,
    /// Cycles that took longer than the period (the next one started late).
    pub overruns: u64,
    /// Answers carrying a version that had already been superseded when the request was sent.
    pub stale: u64,
    /// For each stale answer, how long before the request its version had been superseded.
    pub stale_lag_ms: Vec<u64>,
    /// Versions received, per resource path.
    pub versions_seen: BTreeMap<String, BTreeSet<u64>>,
    /// Count of `X-Cache` values received (`none` when the header was absent).
    pub x_cache: BTreeMap<String, u64>,
    /// The latencies of the answered requests (any status), microseconds, by `X-Cache` value
    /// (`none` when the header was absent): a peer hit costs more than a local hit, a miss more
    /// than either.
    pub latencies_by_cache_us: BTreeMap<String, Vec<u64>>,
    /// When its first request was sent (Unix ms).
    pub first_request_unix_ms: u64,
    /// When its last request was sent (Unix ms).
    pub last_request_unix_ms: u64,
}

/// Runs the runner's cycles and returns what it saw.
pub async fn run(config: &RunnerConfig) -> anyhow::Result<RunnerResult> {
    // rustls needs a process-wide crypto provider even for http URLs; installing twice is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()?;
    let schedule_url = format!("{}/_schedule", config.upstream_url);
    let schedule: Schedule = serde_json::from_slice(
        &client
            .get(&schedule_url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("GET {schedule_url}"))?
            .bytes()
            .await?,
    )
    .context("schedule JSON")?;
    let mut runner = Runner {
        config,
        client,
        schedule: &schedule,
        etags: HashMap::new(),
        result: RunnerResult {
            index: config.index,
            ..RunnerResult::default()
        },
    };
    for cycle in 0..config.cycles {
        let due = config.first_cycle_unix_ms
            + u64::from(cycle) * u64::try_from(config.period.as_millis()).unwrap_or(u64::MAX);
        let now = unix_ms();
        if due > now {
            tokio::time::sleep(Duration::from_millis(due - now)).await;
        } else if cycle > 0 {
            runner.result.overruns += 1;
        }
        for resource in &schedule.resources {
            runner.poll(resource).await;
        }
    }
    Ok(runner.result)
}

/// A runner in the middle of its cycles.
struct Runner<'a> {
    config: &'a RunnerConfig,
    client: reqwest::Client,
    schedule: &'a Schedule,
    /// Path -> (ETag, version) of the last full answer, for conditional requests.
    etags: HashMap<String, (String, u64)>,
    result: RunnerResult,
}

impl Runner<'_> {
    /// One GET, recorded.
    async fn poll(&mut self, resource: &Resource) {
        let sent = unix_ms();
        if self.result.first_request_unix_ms == 0 {
            self.result.first_request_unix_ms = sent;
        }
        self.result.last_request_unix_ms = sent;
        self.result.requests += 1;
        let started = Instant::now();
        let mut request = self
            .client
            .get(format!("{}{}", self.config.base_url, resource.path))
            .header("authorization", format!("token {}", self.config.token))
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
            .header(
                "user-agent",
                format!("polling-fleet-runner/{}", self.config.index),
            );
        let known = self.etags.get(&resource.path).cloned();
        if self.config.conditional
            && let Some((etag, _)) = &known
        {
            request = request.header("if-none-match", etag);
        }
        let answer = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                match response.bytes().await {
                    Ok(_) => Ok((status, headers)),
                    Err(e) => Err(format!("GET {}: reading the body: {e}", resource.path)),
                }
            }
            Err(e) => Err(format!("GET {}: {e}", resource.path)),
        };
        let latency = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.result.latencies_us.push(latency);
        let (status, headers) = match answer {
            Ok(answer) => answer,
            Err(message) => return self.error(message),
        };
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let cache = text("x-cache").unwrap_or("none").to_owned();
        self.result
            .latencies_by_cache_us
            .entry(cache.clone())
            .or_default()
            .push(latency);
        *self.result.x_cache.entry(cache).or_default() += 1;
        let version = match status {
            200 => {
                let Some(version) = text(VERSION_HEADER).and_then(|v| v.parse::<u64>().ok()) else {
                    return self.error(format!(
                        "GET {}: 200 without {VERSION_HEADER}",
                        resource.path
                    ));
                };
                if let Some(etag) = text("etag") {
                    self.etags
                        .insert(resource.path.clone(), (etag.to_owned(), version));
                }
                version
            }
            304 if known.is_some() => {
                self.result.not_modified += 1;
                known.map_or(0, |(_, version)| version)
            }
            other => return self.error(format!("GET {}: HTTP {other}", resource.path)),
        };
        self.record_version(resource, version, sent);
    }

    /// Notes the version received and whether it was already superseded when `sent`.
    fn record_version(&mut self, resource: &Resource, version: u64, sent: u64) {
        self.result
            .versions_seen
            .entry(resource.path.clone())
            .or_default()
            .insert(version);
        let elapsed = self.schedule.elapsed_ms(sent);
        if version < resource.version_at(elapsed) {
            self.result.stale += 1;
            let superseded = resource.version_start_ms(version + 1);
            self.result
                .stale_lag_ms
                .push(elapsed.saturating_sub(superseded));
        }
    }

    fn error(&mut self, message: String) {
        self.result.errors += 1;
        if self.result.error_samples.len() < ERROR_SAMPLES {
            self.result.error_samples.push(message);
        }
    }
}

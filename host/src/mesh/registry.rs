//! Peer discovery through GitHub's Actions cache: where runners of a fleet that share no
//! network broadcast (no mDNS across hosted runners) and know no bootstrap peer meet.
//!
//! Each node reads the newest registry record (the cache answers a prefix lookup with its newest
//! match), adds itself, drops registrations past the TTL and writes the result as a new,
//! immutable entry `ghmesh-peers-v1-<fleet id>-<unix time>-<peer id>`. It does so every
//! `register_every`, and re-reads every `refresh_every` while it has fewer peers than it wants, so
//! that it also finds nodes that registered after it. Every node it finds is dialled.
//!
//! Off unless `ACTIONS_RESULTS_URL` and `ACTIONS_RUNTIME_TOKEN` are set (they are inside a
//! workflow job's steps that use them). Every failure is counted in [`RegistryStatus`] and
//! logged without URL or token; none stops the mesh.

pub mod record;
pub mod twirp;

use super::Mesh;
use crate::crypto::FleetKeys;
use record::{MAX_RECORD_BYTES, Record, Registration};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use twirp::{CacheService, ServiceError};

/// The variable naming the Actions results service.
pub const RESULTS_URL_VAR: &str = "ACTIONS_RESULTS_URL";
/// The variable holding the job's runtime token.
pub const RUNTIME_TOKEN_VAR: &str = "ACTIONS_RUNTIME_TOKEN";
/// Overrides [`RegistrySettings::register_every`], in seconds (tests use short ones).
pub const REGISTER_SECS_VAR: &str = "GHMESH_REGISTRY_REGISTER_SECS";
/// Overrides [`RegistrySettings::refresh_every`], in seconds.
pub const REFRESH_SECS_VAR: &str = "GHMESH_REGISTRY_REFRESH_SECS";

/// How the registry runs.
#[derive(Clone)]
pub struct RegistrySettings {
    /// `ACTIONS_RESULTS_URL`.
    pub results_url: String,
    /// `ACTIONS_RUNTIME_TOKEN`; never logged.
    pub runtime_token: String,
    /// How often this node writes its registration (5 min).
    pub register_every: Duration,
    /// How often it re-reads the record while short of peers (30 s).
    pub refresh_every: Duration,
    /// How long a registration counts (15 min).
    pub ttl: Duration,
    /// Re-reading stops once this many peers are connected.
    pub wanted_peers: usize,
    /// Time allowed for one request to the service or blob storage.
    pub request_timeout: Duration,
}

impl std::fmt::Debug for RegistrySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrySettings")
            .field("register_every", &self.register_every)
            .field("refresh_every", &self.refresh_every)
            .field("ttl", &self.ttl)
            .field("wanted_peers", &self.wanted_peers)
            .finish_non_exhaustive()
    }
}

impl RegistrySettings {
    /// The settings when the registry is configured (`enabled`) and both Actions variables are
    /// set; `None` otherwise (the registry is off). `env` reads variables. A malformed interval
    /// override is a clear error.
    pub fn from_env(
        enabled: bool,
        max_peers: usize,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Option<Self>> {
        let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let (Some(results_url), Some(runtime_token)) =
            (var(RESULTS_URL_VAR), var(RUNTIME_TOKEN_VAR))
        else {
            return Ok(None);
        };
        if !enabled {
            return Ok(None);
        }
        let secs = |name: &str, default: u64| -> anyhow::Result<Duration> {
            match var(name) {
                None => Ok(Duration::from_secs(default)),
                Some(raw) => match raw.trim().parse::<u64>() {
                    Ok(n) if n > 0 => Ok(Duration::from_secs(n)),
                    _ => {
                        anyhow::bail!("{name}: expected a positive number of seconds, got {raw:?}")
                    }
                },
            }
        };
        Ok(Some(Self {
            results_url,
            runtime_token,
            register_every: secs(REGISTER_SECS_VAR, 300)?,
            refresh_every: secs(REFRESH_SECS_VAR, 30)?,
            ttl: Duration::from_secs(15 * 60),
            wanted_peers: max_peers.clamp(1, 8),
            request_timeout: Duration::from_secs(10),
        }))
    }
}

/// What the registry did, for `/_ghmesh/stats` and `/_ghmesh/peers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryStatus {
    /// Whether it runs (configured and both Actions variables set).
    pub enabled: bool,
    /// Registrations written.
    pub registrations: u64,
    /// Records read.
    pub lookups: u64,
    /// Other nodes found in records (counted per read).
    pub peers_found: u64,
    /// Failures of any kind.
    pub errors: u64,
    /// Failures by category (`unauthenticated`, `rate_limited`, `unauthentic_record`, ...).
    pub errors_by_kind: BTreeMap<String, u64>,
    /// The category of the latest failure.
    pub last_error: Option<String>,
    /// When this node last registered, seconds since the epoch.
    pub last_registered_unix: Option<u64>,
}

impl RegistryStatus {
    fn failed(&mut self, category: &str) {
        self.errors += 1;
        *self.errors_by_kind.entry(category.to_string()).or_default() += 1;
        self.last_error = Some(category.to_string());
    }
}

/// Why one round failed: the service, or the record it held.
#[derive(Debug, thiserror::Error)]
enum RoundError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error(transparent)]
    Record(#[from] record::RecordError),
}

impl RoundError {
    fn category(&self) -> &'static str {
        match self {
            Self::Service(e) => e.category(),
            Self::Record(e) => e.category(),
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Service(ServiceError::RateLimited(after)) => *after,
            _ => None,
        }
    }
}

/// Starts the registry for `mesh` in the background: with `settings`, it registers and looks
/// up; without, it only reports itself off. Its status shows in [`Mesh::status`].
pub fn start(
    mesh: &Mesh,
    keys: FleetKeys,
    settings: Option<RegistrySettings>,
) -> anyhow::Result<()> {
    let Some(settings) = settings else {
        tracing::debug!(
            "Actions cache registry off: {RESULTS_URL_VAR} or {RUNTIME_TOKEN_VAR} unset, or \
             discovery.methods.github_cache is false"
        );
        return Ok(());
    };
    let service = CacheService::new(
        &settings.results_url,
        &settings.runtime_token,
        settings.request_timeout,
    )?;
    set_status(mesh, |s| s.enabled = true);
    let registry = Registry {
        mesh: mesh.clone(),
        prefix: format!("ghmesh-peers-v1-{}-", keys.fleet_id()),
        keys,
        service,
        version: twirp::entry_version(),
        settings,
    };
    tokio::spawn(registry.run());
    Ok(())
}

fn set_status(mesh: &Mesh, change: impl FnOnce(&mut RegistryStatus)) {
    match mesh.registry.lock() {
        Ok(mut status) => change(&mut status),
        Err(poisoned) => change(&mut poisoned.into_inner()),
    }
}

struct Registry {
    mesh: Mesh,
    keys: FleetKeys,
    service: CacheService,
    prefix: String,
    version: String,
    settings: RegistrySettings,
}

impl Registry {
    async fn run(self) {
        let start = tokio::time::Instant::now();
        let mut next_register = start;
        let mut next_refresh = start + self.settings.refresh_every;
        let mut failures: u32 = 0;
        let mut registered = false;
        loop {
            tokio::time::sleep_until(next_register.min(next_refresh)).await;
            let now = tokio::time::Instant::now();
            if self.mesh.commands.is_closed() {
                return;
            }
            let registering = now >= next_register;
            let result = if registering {
                self.register().await
            } else if self.connected().await < self.settings.wanted_peers {
                self.refresh(registered).await
            } else {
                Ok(())
            };
            match result {
                Ok(()) => {
                    failures = 0;
                    if registering {
                        registered = true;
                        next_register = now + jittered(self.settings.register_every);
                    }
                    next_refresh = now + jittered(self.settings.refresh_every);
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let category = e.category();
                    set_status(&self.mesh, |s| s.failed(category));
                    // A refused token will not heal by retrying faster: say so once, loudly.
                    if failures == 1 {
                        tracing::info!("Actions cache registry: {category}; retrying with backoff");
                    } else {
                        tracing::debug!("Actions cache registry: {category} ({failures} in a row)");
                    }
                    let wait = e.retry_after().unwrap_or_else(|| {
                        backoff(
                            self.settings.refresh_every,
                            self.settings.register_every,
                            failures,
                        )
                    });
                    // Both the write and the reads wait: a failing service gets no extra load.
                    next_register = if registering {
                        now + wait
                    } else {
                        next_register.max(now + wait)
                    };
                    next_refresh = now + wait;
                }
            }
        }
    }

    async fn connected(&self) -> usize {
        self.mesh.status().await.connected_peers
    }

    /// Reads the newest record and dials every node in it that is not connected.
    async fn lookup(&self) -> Result<Record, RoundError> {
        let record = self.read().await?;
        let status = self.mesh.status().await;
        let connected: HashSet<&str> = status
            .peers
            .iter()
            .filter(|p| p.connected)
            .map(|p| p.peer_id.as_str())
            .collect();
        let found = record.dialable(&self.mesh.peer_id());
        let fresh: Vec<_> = found
            .iter()
            .filter(|(peer, _)| !connected.contains(peer.to_string().as_str()))
            .flat_map(|(_, addrs)| addrs.iter().cloned())
            .collect();
        set_status(&self.mesh, |s| {
            s.lookups += 1;
            s.peers_found += found.len() as u64;
        });
        if !fresh.is_empty() {
            tracing::debug!(
                addrs = fresh.len(),
                "dialling nodes found in the Actions cache"
            );
            self.mesh.dial(fresh);
        }
        Ok(record)
    }

    /// The newest record, or an empty one when there is none yet.
    async fn read(&self) -> Result<Record, RoundError> {
        let restore = [self.prefix.clone()];
        let Some(found) = self
            .service
            .lookup(&self.prefix, &restore, &self.version)
            .await?
        else {
            return Ok(Record::default());
        };
        if !found.matched_key.starts_with(&self.prefix) {
            return Err(ServiceError::Malformed.into());
        }
        let sealed = self
            .service
            .download(&found.download_url, MAX_RECORD_BYTES)
            .await?;
        let mut record = Record::open(&self.keys, &sealed)?;
        record.expire(unix_now(), self.settings.ttl.as_secs());
        Ok(record)
    }

    /// Reads the newest record and dials who it lists. Once this node has registered, a newest
    /// record without it means a node that registered at the same time wrote over it (each
    /// merged what it read before the other wrote): it registers again at once, or the nodes
    /// that read that record would not find it before its next registration, minutes later.
    async fn refresh(&self, registered: bool) -> Result<(), RoundError> {
        let record = self.lookup().await?;
        let me = self.mesh.peer_id().to_base58();
        if registered && !record.peers.iter().any(|p| p.peer_id == me) {
            tracing::debug!("the newest registry record lacks this node; registering again");
            self.write(record).await?;
        }
        Ok(())
    }

    /// Reads, merges this node in, writes a new entry.
    async fn register(&self) -> Result<(), RoundError> {
        // A newest entry that is not our fleet's record (another workflow of the repository can
        // write the cache) is counted, and replaced by a record of this node alone: it must not
        // keep the fleet from registering.
        let record = match self.lookup().await {
            Ok(record) => record,
            Err(RoundError::Record(e)) => {
                set_status(&self.mesh, |s| s.failed(e.category()));
                tracing::info!(
                    "Actions cache registry: {}; writing a fresh record",
                    e.category()
                );
                Record::default()
            }
            Err(e) => return Err(e),
        };
        self.write(record).await
    }

    /// Writes `record` with this node merged in as a new entry.
    async fn write(&self, record: Record) -> Result<(), RoundError> {
        let status = self.mesh.status().await;
        let addrs = record::registrable(&status.listen_addrs);
        if addrs.is_empty() {
            tracing::debug!("no address worth registering in the Actions cache");
            return Ok(());
        }
        let now = unix_now();
        let me = Registration {
            peer_id: status.peer_id.clone(),
            addrs,
            registered_at_unix: now,
        };
        let sealed = record
            .merged(me, now, self.settings.ttl.as_secs())
            .seal(&self.keys);
        let key = format!("{}{now}-{}", self.prefix, status.peer_id);
        let Some(upload) = self.service.create(&key, &self.version).await? else {
            // Entries are immutable: this very key (same node, same second) exists already.
            tracing::debug!("registry key taken; registering next round");
            return Ok(());
        };
        let size = sealed.len();
        self.service.upload(&upload, sealed).await?;
        self.service.finalize(&key, &self.version, size).await?;
        set_status(&self.mesh, |s| {
            s.registrations += 1;
            s.last_registered_unix = Some(now);
        });
        tracing::debug!("registered in the Actions cache");
        Ok(())
    }
}

/// `interval` give or take 10 %, so that nodes started together drift apart instead of reading
/// and writing in lockstep.
fn jittered(interval: Duration) -> Duration {
    interval.mul_f64(rand::Rng::gen_range(&mut rand::thread_rng(), 0.9..1.1))
}

/// The wait after `failures` failures in a row: the refresh interval, doubled per further
/// failure, capped at the registration interval. A periodic loop needs no retry library.
fn backoff(refresh: Duration, register: Duration, failures: u32) -> Duration {
    let doubled = refresh.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    doubled.min(register.max(refresh))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests;

//! `ghmesh codeql` and the fleet: through the `ghmesh serve` of the same cache directory (found
//! with its discovery file), `store` has a new result announced to the fleet and `check` asks
//! the fleet on a local miss. Without a live serve both are skipped and say so; the local
//! answer never depends on them.

use super::admin_client::AdminClient;
use super::discovery::{self, Discovery};
use crate::codeql::check::PeerResults;
use crate::codeql::results::{ResultQuery, ScanRecord};
use crate::config::Config;
use std::time::Duration;

/// A fleet lookup waits for the serve, which waits at most the mesh's fetch timeout for peers;
/// the SARIF then crosses loopback. This only bounds a serve that hangs.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(120);

/// The running serve of `config`'s cache directory, if there is a live one.
fn serve(config: &Config, timeout: Duration) -> anyhow::Result<Option<(AdminClient, Runtime)>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match runtime.block_on(discovery::discover(&config.cache.dir))? {
        Discovery::Live(record) => Ok(Some((AdminClient::new(&record, timeout)?, runtime))),
        Discovery::Absent => Ok(None),
        Discovery::Stale(_, reason) => {
            tracing::debug!("ignoring the serve record of the cache directory: {reason}");
            Ok(None)
        }
    }
}

type Runtime = tokio::runtime::Runtime;

/// Has the serve of the cache directory announce the result stored under `key`; what happened,
/// in words, for the `announced` line. Announcing is a courtesy to the fleet: nothing here fails
/// the store.
pub fn announce(config: &Config, key: &str) -> String {
    let served = match serve(config, LOOKUP_TIMEOUT) {
        Ok(Some(served)) => served,
        Ok(None) => return "no (no ghmesh serve runs for this cache directory)".into(),
        Err(e) => return format!("no ({e:#})"),
    };
    let (client, runtime) = served;
    match runtime.block_on(client.announce_scan(key)) {
        Ok(announced) => format!("yes ({} connected peers)", announced.connected_peers),
        Err(e) => format!("no ({e:#})"),
    }
}

/// The fleet, as a check's [`PeerResults`], through the serve of the cache directory.
pub struct FleetResults {
    client: AdminClient,
    runtime: Runtime,
}

impl FleetResults {
    /// The fleet through a live serve; `None` without one (the check stays local).
    pub fn discover(config: &Config) -> Option<Self> {
        match serve(config, LOOKUP_TIMEOUT) {
            Ok(Some((client, runtime))) => Some(Self { client, runtime }),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!("not asking the fleet: {e:#}");
                None
            }
        }
    }
}

impl PeerResults for FleetResults {
    fn find(&self, query: &ResultQuery) -> anyhow::Result<Option<(ScanRecord, Vec<u8>)>> {
        let found = self.runtime.block_on(self.client.lookup_scan(query))?;
        Ok(found.map(|found| (found.record, found.sarif.into_bytes())))
    }
}

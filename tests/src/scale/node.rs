//! One `ghmesh serve` of the scale run: a directory of its own (store, node key, configuration),
//! the process (killed when dropped), its memory as the kernel counts it, and its stats.

use super::cli::{Routing, ScaleConfig};
use super::traffic;
use crate::fleet::ITERATIONS;
use crate::polling::process::Server;
use anyhow::Context;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::process::Command;

/// The fleet secret of the scale run's meshes (any string of at least 16 characters).
const SECRET: &str = "mesh-scale-bench-fleet-secret";

/// TTL of the run's entries (class `repo`, `/repos/O/R`): long enough that none expires during
/// a run, so a miss is a routing failure, never a stale entry.
pub const ENTRY_TTL_SECS: u32 = 3600;

/// A running node.
pub struct Node {
    /// Its number in the run (initial nodes first, then joiners), unique across the run.
    pub id: usize,
    /// Started during the lookups (fresh identity, empty store).
    pub joiner: bool,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its mesh address with `/p2p/<id>`, for other nodes' bootstrap lists.
    pub mesh_addr: String,
    /// When its ready line arrived.
    pub started: Instant,
    server: Server,
}

/// Resident memory of a process, from `/proc/<pid>/status`, KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: everything resident, including pages of the binary shared with other nodes.
    pub rss_kib: u64,
    /// `RssAnon`: the node's own heap and stacks.
    pub anon_kib: u64,
}

impl Node {
    /// Starts node `id` in `work/node-<id>` for `routing`, dialling `bootstrap`; returns once
    /// it printed its ready line.
    pub async fn start(
        config: &ScaleConfig,
        routing: Routing,
        upstream: &str,
        work: &Path,
        id: usize,
        joiner: bool,
        bootstrap: &[String],
    ) -> anyhow::Result<Self> {
        let dir = work.join(format!("node-{id}"));
        std::fs::create_dir_all(dir.join(".github"))?;
        std::fs::write(
            dir.join(".github/cache-config.yml"),
            cache_config(&work.join("compiled")),
        )?;
        std::fs::write(
            dir.join(".github/p2p-config.yml"),
            p2p_config(routing, config.max_peers),
        )?;
        let log = std::fs::File::create(dir.join("serve.log"))?;
        let mut command = Command::new(&config.ghmesh);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--upstream", upstream])
            .current_dir(&dir)
            .env_clear()
            .env("HOME", &dir)
            .env("CACHE_DIR", dir.join("cache"))
            .env("ENABLE_P2P_CACHE", "true")
            .env("GHMESH_FLEET_SECRET", SECRET)
            .env("GHMESH_P2P_LISTEN", "/ip4/127.0.0.1/tcp/0")
            .env("GHMESH_P2P_MDNS", "false")
            .stderr(log);
        if !bootstrap.is_empty() {
            command.env("CACHE_BOOTSTRAP_PEERS", bootstrap.join(","));
        }
        if let Ok(filter) = std::env::var("GHMESH_LOG") {
            command.env("GHMESH_LOG", filter);
        }
        let server = Server::start(&format!("node {id} ({})", dir.display()), command).await?;
        let mesh_addr = server
            .mesh
            .clone()
            .with_context(|| format!("node {id} printed no mesh address"))?;
        Ok(Self {
            id,
            joiner,
            url: server.url.clone(),
            mesh_addr,
            started: Instant::now(),
            server,
        })
    }

    /// Its resident memory now.
    pub fn memory(&self) -> anyhow::Result<Memory> {
        let pid = self.server.pid().context("the node has exited")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("reading /proc/{pid}/status"))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .with_context(|| format!("no {name} in /proc/{pid}/status"))
        };
        Ok(Memory {
            rss_kib: field("VmRSS:")?,
            anon_kib: field("RssAnon:")?,
        })
    }

    /// Its `/_ghmesh/stats`.
    pub async fn stats(&self, client: &reqwest::Client) -> anyhow::Result<Value> {
        self.document(client, "/_ghmesh/stats").await
    }

    /// Its mesh traffic counters (see [`traffic::SOURCES`]), `None` when it has none.
    pub async fn traffic(
        &self,
        client: &reqwest::Client,
    ) -> anyhow::Result<Option<BTreeMap<String, u64>>> {
        let mut documents: BTreeMap<&str, Value> = BTreeMap::new();
        for (endpoint, pointer) in traffic::SOURCES {
            if !documents.contains_key(endpoint) {
                documents.insert(endpoint, self.document(client, endpoint).await?);
            }
            if let Some(found) = traffic::counters(&documents[endpoint], pointer) {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// The JSON document of admin endpoint `path`.
    async fn document(&self, client: &reqwest::Client, path: &str) -> anyhow::Result<Value> {
        crate::polling::fleet::get_json(client, &format!("{}{path}", self.url)).await
    }

    /// Waits until it has at least one connected peer, for at most `timeout`; whether it did.
    pub async fn wait_connected(&self, client: &reqwest::Client, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Ok(stats) = self.stats(client).await
                && stats["connected_peers"].as_u64().unwrap_or(0) >= 1
            {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kills it with SIGKILL, at once.
    pub async fn kill(self) {
        self.server.stop().await;
    }

    /// Stops it with SIGTERM (graceful shutdown), killing it after 10 s; whether it exited in
    /// time.
    pub async fn terminate(self) -> anyhow::Result<bool> {
        self.server.terminate(Duration::from_secs(10)).await
    }
}

/// `cache-config.yml`: entries of class `repo` stay fresh for the run, and one compilation
/// cache serves all nodes (compiled policy components are not cache entries; sharing them only
/// saves start-up time).
fn cache_config(compiled: &Path) -> String {
    format!(
        "policy:\n  compile_cache_dir: {}\noperation_ttls:\n  repo: {ENTRY_TTL_SECS}\n",
        compiled.display()
    )
}

/// `p2p-config.yml`: the routing mode, the peer limit, mDNS off (it does not work over
/// loopback) and the lowest PBKDF2 iterations ghmesh accepts, so 100 nodes start quickly.
fn p2p_config(routing: Routing, max_peers: u32) -> String {
    format!(
        "network:\n  max_peers: {max_peers}\n\
         discovery:\n  methods:\n    mdns: false\n    kademlia: {}\n\
         security:\n  encryption:\n    key_derivation:\n      iterations: {ITERATIONS}\n",
        routing == Routing::Kademlia
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_routing_mode_is_the_kademlia_switch() {
        assert!(p2p_config(Routing::Kademlia, 50).contains("kademlia: true"));
        let gossip = p2p_config(Routing::Gossip, 8);
        assert!(gossip.contains("kademlia: false") && gossip.contains("max_peers: 8"));
    }
}

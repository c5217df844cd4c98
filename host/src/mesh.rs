//! The fleet mesh: a private libp2p swarm in which runners share API-cache entries.
//!
//! One task ([`node`]) owns the `Swarm`; the cloneable [`Mesh`] client talks to it over channels
//! and the proxy receives what peers ask and announce as [`MeshEvent`]s (the shape of
//! rust-libp2p's file-sharing example). This module is the only importer of libp2p and knows
//! nothing of HTTP; the proxy decides what to announce and what to accept.
//!
//! - [`swarm`]: TCP + pnet (fleet key) + noise + yamux; gossipsub, request-response, identify,
//!   ping, mDNS, block list; relay (client and `--relay` server), AutoNAT, DCUtR, rendezvous,
//!   connection and memory limits.
//! - [`wire`]: messages, sealing (AES-256-GCM via [`crate::crypto`]), versions, size bounds,
//!   verification of bodies against their CIDs.
//! - [`scan`]: CodeQL results on their own topic and protocol, SARIF checked against its CID.
//! - [`codec`]: bounded frames of `/github-cache/fetch/1.0.0` and `/github-cache/codeql/1.0.0`.
//! - [`peers`]: the peer book (addresses, RTT, faults, bans) and the known-peers file.
//! - [`connectivity`]: NAT-traversal settings and the `connectivity` stats.
//! - [`identity`]: the persisted node key.
//! - [`setup`]: configuration and the fleet secret to [`MeshSettings`].
//! - [`registry`]: discovery through GitHub's Actions cache (sealed records of who listens where).

mod codec;
pub mod connectivity;
mod identity;
mod node;
mod peers;
pub mod registry;
pub mod routing;
pub mod scan;
pub mod setup;
mod swarm;
mod traffic;
pub mod wire;

pub use connectivity::{Connectivity, NatSettings, NatTraversal};
pub use libp2p::PeerId;
pub use peers::PeerInfo;
pub use routing::Held;
pub use scan::{ScanBase, ScanQuery, WireScan};
pub use traffic::{RoutingStatus, Traffic};
pub use wire::WireEntry;

use crate::crypto::FleetKeys;
use bytes::Bytes;
use libp2p::Multiaddr;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How a node joins the fleet.
#[derive(Debug, Clone)]
pub struct MeshSettings {
    /// Keys derived from the fleet secret.
    pub keys: FleetKeys,
    /// Where the node key and known peers live (0700).
    pub state_dir: PathBuf,
    /// Addresses to listen on, e.g. `/ip4/0.0.0.0/tcp/4001`.
    pub listen: Vec<Multiaddr>,
    /// Peers dialled at start and redialled while unreachable.
    pub bootstrap: Vec<Multiaddr>,
    /// Multicast DNS discovery on the LAN.
    pub mdns: bool,
    /// How long a lookup waits for peers before the caller goes upstream.
    pub fetch_timeout: Duration,
    /// Time allowed to set up a connection.
    pub connection_timeout: Duration,
    /// Largest body accepted from a peer.
    pub max_body_bytes: usize,
    /// Most peers kept connected.
    pub max_peers: usize,
    /// Lookups through Kademlia provider records instead of asking every connected peer.
    pub kademlia: bool,
    /// NAT traversal (AutoNAT, relay, hole punching, rendezvous) and the memory bound.
    pub nat: NatSettings,
}

/// What peers ask of, and tell, this node. The proxy handles them with its store.
#[derive(Debug)]
pub enum MeshEvent {
    /// A peer asks for a fresh, shareable entry under `key`.
    Lookup {
        /// Request key.
        key: String,
        /// Where to answer; `None` when nothing fresh and shareable is held.
        reply: oneshot::Sender<Option<(WireEntry, Bytes)>>,
    },
    /// A peer asks for a body by CID.
    Body {
        /// CID text.
        cid: String,
        /// Where to answer.
        reply: oneshot::Sender<Option<Bytes>>,
    },
    /// A peer announced an entry; the body (when inline) already matched the entry's CID.
    Entry {
        /// The entry.
        entry: Box<WireEntry>,
        /// The body, when it travelled inline.
        body: Option<Bytes>,
        /// Who published it.
        from: PeerId,
    },
    /// A peer's write changed these paths.
    Invalidate {
        /// `(path, include_descendants)`.
        paths: Vec<(String, bool)>,
        /// Who published it.
        from: PeerId,
    },
    /// A peer asks for a fresh CodeQL result answering `query`.
    ScanLookup {
        /// The key, and the base commit whose result would do.
        query: ScanQuery,
        /// Where to answer: the result and its SARIF, or `None`.
        reply: oneshot::Sender<Option<(WireScan, Bytes)>>,
    },
    /// A peer asks for the SARIF of the result under `key`.
    ScanSarif {
        /// The scan's key.
        key: String,
        /// The SARIF's CID.
        cid: String,
        /// Where to answer.
        reply: oneshot::Sender<Option<Bytes>>,
    },
    /// A peer announced a stored CodeQL result; the SARIF (when inline) already matched its CID.
    Scan {
        /// The result.
        scan: Box<WireScan>,
        /// The SARIF, when it travelled inline.
        sarif: Option<Bytes>,
        /// Who published it.
        from: PeerId,
    },
}

/// A CodeQL result a peer served, its SARIF verified against the result's CID.
#[derive(Debug, Clone)]
pub struct PeerScan {
    /// The result.
    pub scan: WireScan,
    /// Its SARIF.
    pub sarif: Bytes,
    /// The peer that served it.
    pub peer: PeerId,
}

/// An entry a peer served, verified against its CID and fresh by this node's clock.
#[derive(Debug, Clone)]
pub struct PeerEntry {
    /// The entry.
    pub entry: WireEntry,
    /// Its body.
    pub body: Bytes,
    /// The peer that served it.
    pub peer: PeerId,
}

/// The node as `ghmesh peers` and the stats show it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MeshStatus {
    /// This node's peer id.
    pub peer_id: String,
    /// Addresses it listens on (with `/p2p/<id>`, ready to give to another node as bootstrap).
    pub listen_addrs: Vec<String>,
    /// Peers with an open connection.
    pub connected_peers: usize,
    /// Every peer met.
    pub peers: Vec<PeerInfo>,
    /// Announcements published.
    pub announcements_sent: u64,
    /// Announcements accepted.
    pub announcements_received: u64,
    /// Messages dropped as invalid (bad seal, bad CID, replayed, oversized, undecodable).
    pub messages_rejected: u64,
    /// Messages of an unknown wire version (ignored).
    pub unknown_versions: u64,
    /// Time from an announcement's publication (its sender's clock) to its acceptance here,
    /// over the last [`DELAY_SAMPLES`] announcements; meaningful where clocks agree.
    pub announcement_delay_ms: DelaySummary,
    /// Content routing: provider records and lookups.
    pub routing: RoutingStatus,
    /// Messages sent and received.
    pub traffic: Traffic,
    /// Discovery through the Actions cache.
    #[serde(default)]
    pub registry: registry::RegistryStatus,
    /// Reachability, relays, hole punching and discovery methods.
    #[serde(default)]
    pub connectivity: Connectivity,
}

/// Announcement delays kept for [`MeshStatus::announcement_delay_ms`].
pub const DELAY_SAMPLES: usize = 4096;

/// Percentiles of recent announcement delays, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DelaySummary {
    /// Announcements measured.
    pub samples: usize,
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest.
    pub max: u64,
}

impl DelaySummary {
    /// Summarises `delays` (nearest-rank percentiles).
    pub fn of(delays: impl IntoIterator<Item = u64>) -> Self {
        let mut sorted: Vec<u64> = delays.into_iter().collect();
        sorted.sort_unstable();
        let rank = |pct: usize| {
            let n = sorted.len();
            sorted[(n * pct).div_ceil(100).clamp(1, n) - 1]
        };
        match sorted.last() {
            None => Self::default(),
            Some(&max) => Self {
                samples: sorted.len(),
                p50: rank(50),
                p99: rank(99),
                max,
            },
        }
    }
}

/// Requests from clients to the network task.
enum Command {
    Lookup {
        key: String,
        reply: oneshot::Sender<Option<PeerEntry>>,
    },
    FetchBody {
        peer: PeerId,
        entry: Box<WireEntry>,
        reply: oneshot::Sender<Option<Bytes>>,
    },
    Publish(wire::Announcement),
    Provide {
        key: String,
        held: Held,
        expires_at: u64,
    },
    Withdraw(String),
    Respond {
        channel: libp2p::request_response::ResponseChannel<Vec<u8>>,
        response: wire::Response,
        peer: PeerId,
    },
    Status(oneshot::Sender<MeshStatus>),
    LookupScan {
        query: ScanQuery,
        reply: oneshot::Sender<Option<PeerScan>>,
    },
    FetchSarif {
        peer: PeerId,
        scan: Box<WireScan>,
        reply: oneshot::Sender<Option<Bytes>>,
    },
    PublishScan(scan::ScanAnnouncement),
    RespondScan {
        channel: libp2p::request_response::ResponseChannel<Vec<u8>>,
        response: scan::ScanResponse,
        peer: PeerId,
    },
    Dial(Vec<Multiaddr>),
    /// Say goodbye to the fleet, then stop the node.
    Leave(oneshot::Sender<()>),
}

/// A handle on the running node. Clones share it; the node stops when the last one drops.
#[derive(Clone, Debug)]
pub struct Mesh {
    commands: mpsc::Sender<Command>,
    peer_id: PeerId,
    fetch_timeout: Duration,
    /// Written by the [`registry`] task, read by [`Mesh::status`].
    registry: Arc<Mutex<registry::RegistryStatus>>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Lookup { .. } => "Lookup",
            Command::FetchBody { .. } => "FetchBody",
            Command::Publish(_) => "Publish",
            Command::Provide { .. } => "Provide",
            Command::Withdraw(_) => "Withdraw",
            Command::Respond { .. } => "Respond",
            Command::Status(_) => "Status",
            Command::LookupScan { .. } => "LookupScan",
            Command::FetchSarif { .. } => "FetchSarif",
            Command::PublishScan(_) => "PublishScan",
            Command::RespondScan { .. } => "RespondScan",
            Command::Dial(_) => "Dial",
            Command::Leave(_) => "Leave",
        })
    }
}

/// Depth of the command and event queues. A full command queue drops announcements (logged):
/// the cache stays correct, peers only miss a hint.
const QUEUE: usize = 1024;

/// How long the fetch of one SARIF by CID may take: up to [`scan::MAX_SARIF_BYTES`], far more
/// than an API body, and in the background (after an announcement), so nobody waits on it.
pub const SARIF_FETCH_TIMEOUT: Duration = Duration::from_secs(60);

impl Mesh {
    /// Starts the node: loads its identity, listens, dials bootstrap and known peers, and
    /// spawns the network task. Returns once every listener is bound.
    pub async fn start(
        settings: MeshSettings,
    ) -> anyhow::Result<(Mesh, mpsc::Receiver<MeshEvent>)> {
        let fetch_timeout = settings.fetch_timeout;
        let (commands, command_rx) = mpsc::channel(QUEUE);
        let (events, event_rx) = mpsc::channel(QUEUE);
        let peer_id = node::start(settings, commands.clone(), command_rx, events).await?;
        Ok((
            Mesh {
                commands,
                peer_id,
                fetch_timeout,
                registry: Arc::default(),
            },
            event_rx,
        ))
    }

    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Asks the fleet for a fresh entry under `key`: the providers the DHT names when content
    /// routing is on, else every connected peer; the first verified answer wins. `None` when no
    /// peer has one within the fetch timeout.
    pub async fn lookup(&self, key: &str) -> Option<PeerEntry> {
        let (reply, answer) = oneshot::channel();
        let command = Command::Lookup {
            key: key.to_string(),
            reply,
        };
        self.commands.send(command).await.ok()?;
        tokio::time::timeout(self.fetch_timeout, answer)
            .await
            .ok()?
            .ok()?
    }

    /// Fetches the body of an entry `peer` announced, by CID; `None` unless it arrives within
    /// the fetch timeout and matches the entry's CID.
    pub async fn fetch_body(&self, peer: PeerId, entry: &WireEntry) -> Option<Bytes> {
        let (reply, answer) = oneshot::channel();
        let command = Command::FetchBody {
            peer,
            entry: Box::new(entry.clone()),
            reply,
        };
        self.commands.send(command).await.ok()?;
        tokio::time::timeout(self.fetch_timeout, answer)
            .await
            .ok()?
            .ok()?
    }

    /// Announces a new or refreshed entry to the fleet (body inline when small).
    pub fn announce_entry(&self, entry: WireEntry, body: &Bytes) {
        let body = (body.len() <= wire::MAX_INLINE_BODY).then(|| body.to_vec());
        self.publish(wire::Announcement::Entry {
            entry: Box::new(entry),
            body,
        });
    }

    /// Advertises that this node holds the entry under `key` until `expires_at` (Unix
    /// seconds), when content routing is on: see [`routing`] for which keys are provided.
    pub fn provide(&self, key: &str, held: Held, expires_at: u64) {
        let command = Command::Provide {
            key: key.to_string(),
            held,
            expires_at,
        };
        if let Err(e) = self.commands.try_send(command) {
            tracing::debug!("provider record dropped: {e}");
        }
    }

    /// Stops providing `key` (the store evicted its entry).
    pub fn withdraw(&self, key: &str) {
        if let Err(e) = self.commands.try_send(Command::Withdraw(key.to_string())) {
            tracing::debug!("withdrawal dropped: {e}");
        }
    }

    /// Tells the fleet a write changed these paths.
    pub fn announce_invalidation(&self, paths: Vec<(String, bool)>) {
        self.publish(wire::Announcement::Invalidate { paths });
    }

    fn publish(&self, announcement: wire::Announcement) {
        if let Err(e) = self.commands.try_send(Command::Publish(announcement)) {
            tracing::warn!("mesh announcement dropped: {e}");
        }
    }

    /// Asks every connected peer for a fresh CodeQL result answering `query` (its key, else its
    /// base commit's result); the first verified answer wins. `None` when no peer has one within
    /// the fetch timeout.
    pub async fn lookup_scan(&self, query: ScanQuery) -> Option<PeerScan> {
        let (reply, answer) = oneshot::channel();
        let command = Command::LookupScan { query, reply };
        self.commands.send(command).await.ok()?;
        tokio::time::timeout(self.fetch_timeout, answer)
            .await
            .ok()?
            .ok()?
    }

    /// Fetches the SARIF of a result `peer` announced, by CID; `None` unless it arrives within
    /// [`SARIF_FETCH_TIMEOUT`] and matches the result's CID.
    pub async fn fetch_sarif(&self, peer: PeerId, scan: &WireScan) -> Option<Bytes> {
        let (reply, answer) = oneshot::channel();
        let command = Command::FetchSarif {
            peer,
            scan: Box::new(scan.clone()),
            reply,
        };
        self.commands.send(command).await.ok()?;
        tokio::time::timeout(SARIF_FETCH_TIMEOUT, answer)
            .await
            .ok()?
            .ok()?
    }

    /// Announces a stored CodeQL result to the fleet (SARIF inline when small).
    pub fn announce_scan(&self, scan: WireScan, sarif: &Bytes) {
        let sarif = (sarif.len() <= scan::MAX_INLINE_SARIF).then(|| sarif.to_vec());
        let announcement = scan::ScanAnnouncement::Result {
            scan: Box::new(scan),
            sarif,
        };
        if let Err(e) = self.commands.try_send(Command::PublishScan(announcement)) {
            tracing::warn!("CodeQL announcement dropped: {e}");
        }
    }

    /// Dials `addrs` (each ending in `/p2p/<id>`), e.g. nodes found in the Actions cache.
    pub fn dial(&self, addrs: Vec<Multiaddr>) {
        if let Err(e) = self.commands.try_send(Command::Dial(addrs)) {
            tracing::debug!("dial request dropped: {e}");
        }
    }

    /// Tells the fleet this node leaves (with content routing on, peers stop naming it as a
    /// provider at once), gives the message a fraction of a second to go out, and stops the
    /// node. Handles used afterwards behave as with a stopped node: lookups miss.
    pub async fn leave(&self) {
        let (reply, done) = oneshot::channel();
        if self.commands.send(Command::Leave(reply)).await.is_ok() {
            let _ = done.await;
        }
    }

    /// The node's current status.
    pub async fn status(&self) -> MeshStatus {
        let (reply, answer) = oneshot::channel();
        if self.commands.send(Command::Status(reply)).await.is_err() {
            return MeshStatus::default();
        }
        let mut status = answer.await.unwrap_or_default();
        status.registry = match self.registry.lock() {
            Ok(registry) => registry.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        if status.registry.enabled {
            status.connectivity.add_discovery("github_cache");
        }
        status
    }
}

#[cfg(test)]
impl MeshSettings {
    /// A loopback node of the fleet `secret` for in-process tests: state under `dir`, no
    /// bootstrap, no mDNS, content routing on, NAT traversal off, the minimum PBKDF2 work.
    pub(crate) fn for_tests(secret: &[u8], dir: &std::path::Path) -> Self {
        MeshSettings {
            keys: FleetKeys::derive(secret, crate::crypto::MIN_ITERATIONS).unwrap(),
            state_dir: dir.join("mesh"),
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
            bootstrap: Vec::new(),
            mdns: false,
            fetch_timeout: Duration::from_secs(3),
            connection_timeout: Duration::from_secs(5),
            max_body_bytes: 1 << 20,
            max_peers: 16,
            kademlia: true,
            nat: NatSettings::default(),
        }
    }
}

#[cfg(test)]
mod tests;

//! What this node knows of other peers: addresses, round-trip time, counters and faults; and the
//! known-peers file that lets a restarted node reconnect without bootstrap or mDNS.

use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Faults after which a peer is banned for the life of this process.
pub const MAX_FAULTS: u32 = 3;
/// Most addresses remembered per peer.
const MAX_ADDRS_PER_PEER: usize = 8;
/// Most peers remembered in the known-peers file.
const MAX_KNOWN_PEERS: usize = 256;

/// One peer as `ghmesh peers` and `/metrics` show it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// Peer id (base58).
    pub peer_id: String,
    /// Whether a connection is open now.
    pub connected: bool,
    /// Addresses this peer listens on (from identify) or was reached at.
    pub addresses: Vec<String>,
    /// Last ping round trip, in microseconds.
    pub rtt_us: Option<u64>,
    /// Protocol faults charged to this peer (bad CIDs, unreadable or forged messages).
    pub faults: u32,
    /// Whether it is banned for too many faults.
    pub banned: bool,
    /// Entries this peer served to us.
    pub served_to_us: u64,
    /// Entries we served to this peer.
    pub served_by_us: u64,
    /// Announcements received from this peer.
    pub announcements: u64,
    /// Whether its open connections all run through a relay (no direct path yet).
    #[serde(default)]
    pub relayed: bool,
}

/// The peer book. Owned by the network task; others see snapshots.
#[derive(Debug, Default)]
pub struct PeerBook {
    peers: BTreeMap<PeerId, PeerInfo>,
    addrs: BTreeMap<PeerId, BTreeSet<Multiaddr>>,
    /// Whether addresses changed since the file was last written.
    dirty: bool,
    /// Redial schedule of known peers that are not connected: (next attempt, current backoff).
    redial: BTreeMap<PeerId, (Instant, Duration)>,
}

/// First wait before redialling a known peer that went away; doubled after each failed
/// attempt, up to [`MAX_REDIAL_BACKOFF`].
const FIRST_REDIAL_BACKOFF: Duration = Duration::from_secs(3);
/// Longest wait between redials of a known peer.
const MAX_REDIAL_BACKOFF: Duration = Duration::from_secs(300);

impl PeerBook {
    fn entry(&mut self, peer: PeerId) -> &mut PeerInfo {
        self.peers.entry(peer).or_insert_with(|| PeerInfo {
            peer_id: peer.to_base58(),
            ..PeerInfo::default()
        })
    }

    /// A connection to `peer` opened (`connected`) or its last one closed.
    pub fn set_connected(&mut self, peer: PeerId, connected: bool) {
        self.entry(peer).connected = connected;
        if connected {
            self.redial.remove(&peer);
        }
    }

    /// Known peers (with addresses) that are neither connected nor banned and whose redial time
    /// has come, with their addresses; each one's next attempt is pushed back (exponential
    /// backoff), so a peer that is gone for good costs one dial every few minutes.
    pub fn due_for_redial(&mut self, now: Instant) -> Vec<(PeerId, Vec<Multiaddr>)> {
        let mut due = Vec::new();
        for (peer, addrs) in &self.addrs {
            let info = self.peers.get(peer);
            if info.is_some_and(|i| i.connected || i.banned) {
                continue;
            }
            let (next, backoff) = self
                .redial
                .entry(*peer)
                .or_insert((now, FIRST_REDIAL_BACKOFF));
            if *next <= now {
                due.push((*peer, addrs.iter().cloned().collect()));
                *next = now + *backoff;
                *backoff = (*backoff * 2).min(MAX_REDIAL_BACKOFF);
            }
        }
        due
    }

    /// Peers with an open connection.
    pub fn connected(&self) -> Vec<PeerId> {
        self.peers
            .iter()
            .filter(|(_, info)| info.connected && !info.banned)
            .map(|(peer, _)| *peer)
            .collect()
    }

    /// Remembers addresses `peer` listens on.
    pub fn add_addresses(&mut self, peer: PeerId, addrs: impl IntoIterator<Item = Multiaddr>) {
        let known = self.addrs.entry(peer).or_default();
        for addr in addrs {
            if known.len() < MAX_ADDRS_PER_PEER && known.insert(addr) {
                self.dirty = true;
            }
        }
        let shown = known.iter().map(ToString::to_string).collect();
        self.entry(peer).addresses = shown;
    }

    /// Records a ping round trip.
    pub fn set_rtt(&mut self, peer: PeerId, rtt: Duration) {
        self.entry(peer).rtt_us = Some(u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX));
    }

    /// Charges a fault; returns true when the peer has just reached [`MAX_FAULTS`] and must be
    /// banned.
    pub fn fault(&mut self, peer: PeerId) -> bool {
        let info = self.entry(peer);
        info.faults += 1;
        if info.faults >= MAX_FAULTS && !info.banned {
            info.banned = true;
            return true;
        }
        false
    }

    /// Whether `peer` is banned.
    pub fn is_banned(&self, peer: &PeerId) -> bool {
        self.peers.get(peer).is_some_and(|info| info.banned)
    }

    /// Counts an entry `peer` served to us.
    pub fn served_to_us(&mut self, peer: PeerId) {
        self.entry(peer).served_to_us += 1;
    }

    /// Counts an entry we served to `peer`.
    pub fn served_by_us(&mut self, peer: PeerId) {
        self.entry(peer).served_by_us += 1;
    }

    /// Counts an announcement from `peer`.
    pub fn announced(&mut self, peer: PeerId) {
        self.entry(peer).announcements += 1;
    }

    /// Every peer met.
    pub fn known_peers(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.peers.keys().copied()
    }

    /// A snapshot of every peer.
    pub fn snapshot(&self) -> Vec<PeerInfo> {
        self.peers.values().cloned().collect()
    }

    /// Writes the known-peers file if addresses changed since the last write.
    pub fn persist(&mut self, file: &KnownPeersFile) -> std::io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let peers: Vec<KnownPeer> = self
            .addrs
            .iter()
            .filter(|(peer, _)| !self.is_banned(peer))
            .take(MAX_KNOWN_PEERS)
            .map(|(peer, addrs)| KnownPeer {
                peer_id: peer.to_base58(),
                addresses: addrs.iter().map(ToString::to_string).collect(),
            })
            .collect();
        file.write(&peers)?;
        self.dirty = false;
        Ok(())
    }
}

/// A peer in the known-peers file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownPeer {
    /// Peer id (base58).
    pub peer_id: String,
    /// Listen addresses.
    pub addresses: Vec<String>,
}

/// `<state dir>/peers.json`: peers to redial after a restart.
#[derive(Debug, Clone)]
pub struct KnownPeersFile {
    path: PathBuf,
}

impl KnownPeersFile {
    /// The file in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            path: dir.join("peers.json"),
        }
    }

    /// Peers and their dialable addresses (`/p2p/<id>` appended). A missing file is empty; an
    /// unreadable one is logged and treated as empty (it is only a hint, rebuilt as peers are met).
    pub fn read(&self) -> Vec<(PeerId, Multiaddr)> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
            Err(e) => {
                tracing::warn!(path = %self.path.display(), "known peers unreadable: {e}");
                return Vec::new();
            }
        };
        let peers: Vec<KnownPeer> = match serde_json::from_str(&text) {
            Ok(peers) => peers,
            Err(e) => {
                tracing::warn!(path = %self.path.display(), "known peers file ignored: {e}");
                return Vec::new();
            }
        };
        peers
            .iter()
            .filter_map(|known| Some((known.peer_id.parse::<PeerId>().ok()?, &known.addresses)))
            .flat_map(|(peer, addrs)| {
                addrs
                    .iter()
                    .filter_map(|a| a.parse::<Multiaddr>().ok())
                    .map(move |addr| (peer, addr))
            })
            .collect()
    }

    fn write(&self, peers: &[KnownPeer]) -> std::io::Result<()> {
        let text = serde_json::to_vec_pretty(peers).map_err(std::io::Error::other)?;
        crate::private_fs::write_private_atomic(&self.path, &[&text])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn third_fault_bans_once() {
        let mut book = PeerBook::default();
        let peer = PeerId::random();
        assert!(!book.fault(peer));
        assert!(!book.fault(peer));
        assert!(book.fault(peer));
        assert!(!book.fault(peer), "already banned");
        assert!(book.is_banned(&peer));
        book.set_connected(peer, true);
        assert!(book.connected().is_empty(), "banned peers are not used");
    }

    #[test]
    fn gone_peers_are_redialled_with_backoff_and_connected_ones_not() {
        let mut book = PeerBook::default();
        let (gone, here) = (PeerId::random(), PeerId::random());
        let addr: Multiaddr = "/ip4/10.0.0.9/tcp/4001".parse().unwrap();
        book.add_addresses(gone, [addr.clone()]);
        book.add_addresses(here, [addr.clone()]);
        book.set_connected(here, true);
        let t0 = Instant::now();
        assert_eq!(book.due_for_redial(t0), vec![(gone, vec![addr.clone()])]);
        assert!(book.due_for_redial(t0 + Duration::from_secs(2)).is_empty());
        assert_eq!(book.due_for_redial(t0 + Duration::from_secs(3)).len(), 1);
        // The wait doubled: 6 s after the second attempt.
        assert!(book.due_for_redial(t0 + Duration::from_secs(8)).is_empty());
        assert_eq!(book.due_for_redial(t0 + Duration::from_secs(9)).len(), 1);
        book.set_connected(gone, true);
        assert!(
            book.due_for_redial(t0 + Duration::from_secs(600))
                .is_empty()
        );
    }

    #[test]
    fn known_peers_survive_a_restart_and_garbage_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let file = KnownPeersFile::in_dir(dir.path());
        assert!(file.read().is_empty());
        let mut book = PeerBook::default();
        let peer = PeerId::random();
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/4001".parse().unwrap();
        book.add_addresses(peer, [addr.clone()]);
        book.persist(&file).unwrap();
        assert_eq!(file.read(), vec![(peer, addr)]);
        std::fs::write(dir.path().join("peers.json"), b"{not json").unwrap();
        assert!(file.read().is_empty());
    }
}

//! The registry record: which fleet nodes registered lately and where they listen, sealed with
//! the fleet key. Other workflows of the repository can read the Actions cache; they see only
//! sealed bytes, and a record they forge or garble fails to open.

use crate::crypto::FleetKeys;
use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};

/// Authenticated with every record and never sent: a record cannot pass for another payload.
const CONTEXT: &[u8] = b"ghmesh/registry/1";
/// Most nodes one record lists (the newest registrations win): bounds the blob at a few KiB.
pub const MAX_PEERS: usize = 64;
/// Most addresses kept per node.
pub const MAX_ADDRS: usize = 8;
/// Largest sealed record read back.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// One node's registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// Its peer id (base58).
    pub peer_id: String,
    /// Its listen addresses, each ending in `/p2p/<peer_id>`.
    pub addrs: Vec<String>,
    /// When it registered (its own clock), in seconds since the epoch.
    pub registered_at_unix: u64,
}

/// The nodes a record lists, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The registrations.
    pub peers: Vec<Registration>,
}

/// Why a downloaded blob is not a record of this fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Sealed with another fleet's key, tampered with, or not sealed at all.
    #[error("record failed authentication")]
    Unauthentic,
    /// Opened, but is not a record.
    #[error("record is undecodable")]
    Undecodable,
}

impl RecordError {
    /// A short stable name, for counters and status.
    pub fn category(self) -> &'static str {
        match self {
            Self::Unauthentic => "unauthentic_record",
            Self::Undecodable => "undecodable_record",
        }
    }
}

impl Record {
    /// Sealed bytes, as stored in the cache.
    pub fn seal(&self, keys: &FleetKeys) -> Vec<u8> {
        let plain = postcard::to_allocvec(self).expect("a record always serializes");
        keys.seal(CONTEXT, &plain)
    }

    /// Opens sealed bytes.
    pub fn open(keys: &FleetKeys, sealed: &[u8]) -> Result<Self, RecordError> {
        let plain = keys
            .open(CONTEXT, sealed)
            .map_err(|_| RecordError::Unauthentic)?;
        postcard::from_bytes(&plain).map_err(|_| RecordError::Undecodable)
    }

    /// This record with `me` registered at `now` (replacing an older registration of the same
    /// node), without registrations older than `ttl_secs`, newest first, at most [`MAX_PEERS`].
    pub fn merged(mut self, me: Registration, now: u64, ttl_secs: u64) -> Self {
        self.peers.retain(|p| p.peer_id != me.peer_id);
        self.peers.push(me);
        self.expire(now, ttl_secs);
        self.peers
            .sort_by_key(|p| std::cmp::Reverse(p.registered_at_unix));
        self.peers.truncate(MAX_PEERS);
        self
    }

    /// Drops registrations older than `ttl_secs` at `now`. A registration from the future (a
    /// clock ahead) is kept while within `ttl_secs` of `now`, so it cannot pin itself forever.
    pub fn expire(&mut self, now: u64, ttl_secs: u64) {
        self.peers
            .retain(|p| p.registered_at_unix.abs_diff(now) <= ttl_secs);
    }

    /// Addresses of the other nodes, each carrying `/p2p/<its id>`, ready to dial. Entries with
    /// an unparsable id or an address naming another peer are skipped.
    pub fn dialable(&self, me: &PeerId) -> Vec<(PeerId, Vec<Multiaddr>)> {
        self.peers
            .iter()
            .filter_map(|p| {
                let peer: PeerId = p.peer_id.parse().ok()?;
                if &peer == me {
                    return None;
                }
                let addrs: Vec<Multiaddr> = p
                    .addrs
                    .iter()
                    .take(MAX_ADDRS)
                    .filter_map(|a| a.parse::<Multiaddr>().ok())
                    .filter_map(|a| a.with_p2p(peer).ok())
                    .collect();
                (!addrs.is_empty()).then_some((peer, addrs))
            })
            .collect()
    }
}

/// Which of a node's listen addresses to register: no unspecified ones (`0.0.0.0`, `::`), and
/// loopback ones only when every address is loopback (a single-host fleet, as in tests).
pub fn registrable(listen_addrs: &[String]) -> Vec<String> {
    use libp2p::multiaddr::Protocol;
    let parsed: Vec<(String, Option<std::net::IpAddr>)> = listen_addrs
        .iter()
        .filter_map(|text| {
            let addr: Multiaddr = text.parse().ok()?;
            let ip = addr.iter().find_map(|p| match p {
                Protocol::Ip4(ip) => Some(std::net::IpAddr::V4(ip)),
                Protocol::Ip6(ip) => Some(std::net::IpAddr::V6(ip)),
                _ => None,
            });
            Some((text.clone(), ip))
        })
        .filter(|(_, ip)| !ip.is_some_and(|ip| ip.is_unspecified()))
        .collect();
    let all_loopback = parsed
        .iter()
        .all(|(_, ip)| ip.is_some_and(|ip| ip.is_loopback()));
    parsed
        .into_iter()
        .filter(|(_, ip)| all_loopback || !ip.is_some_and(|ip| ip.is_loopback()))
        .map(|(text, _)| text)
        .take(MAX_ADDRS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::MIN_ITERATIONS;

    fn keys(secret: &[u8]) -> FleetKeys {
        FleetKeys::derive(secret, MIN_ITERATIONS).unwrap()
    }

    fn reg(peer: PeerId, at: u64) -> Registration {
        Registration {
            peer_id: peer.to_string(),
            addrs: vec![format!("/ip4/10.0.0.1/tcp/4001/p2p/{peer}")],
            registered_at_unix: at,
        }
    }

    #[test]
    fn a_record_opens_only_with_its_fleet_key() {
        let fleet = keys(b"fleet secret number one");
        let record = Record::default().merged(reg(PeerId::random(), 100), 100, 900);
        let sealed = record.seal(&fleet);
        assert_eq!(Record::open(&fleet, &sealed), Ok(record));
        let other = keys(b"fleet secret number two");
        assert_eq!(Record::open(&other, &sealed), Err(RecordError::Unauthentic));
        let mut garbled = sealed.clone();
        *garbled.last_mut().unwrap() ^= 1;
        assert_eq!(
            Record::open(&fleet, &garbled),
            Err(RecordError::Unauthentic)
        );
        assert_eq!(Record::open(&fleet, b"x"), Err(RecordError::Unauthentic));
        // Sealed under the fleet key but not a record (some other payload).
        let not_a_record = fleet.seal(CONTEXT, &[0xff; 3]);
        assert_eq!(
            Record::open(&fleet, &not_a_record),
            Err(RecordError::Undecodable)
        );
    }

    #[test]
    fn merging_replaces_this_node_and_drops_expired_ones() {
        let (a, b, c) = (PeerId::random(), PeerId::random(), PeerId::random());
        let record = Record {
            peers: vec![reg(a, 1000), reg(b, 50), reg(c, 5000)],
        };
        // b registered 950 s before now: past the 900 s TTL. c is 4000 s in the future.
        let merged = record.merged(reg(a, 1000), 1000, 900);
        assert_eq!(merged.peers, vec![reg(a, 1000)]);
        let record = Record {
            peers: vec![reg(a, 10), reg(b, 950)],
        };
        let merged = record.merged(reg(a, 1000), 1000, 900);
        assert_eq!(merged.peers, vec![reg(a, 1000), reg(b, 950)]);
    }

    #[test]
    fn a_record_is_bounded_to_the_newest_registrations() {
        let mut record = Record::default();
        for at in 0..(MAX_PEERS as u64 + 10) {
            record = record.merged(reg(PeerId::random(), 1000 + at), 1000 + at, 900);
        }
        assert_eq!(record.peers.len(), MAX_PEERS);
        assert_eq!(
            record.peers[0].registered_at_unix,
            1000 + MAX_PEERS as u64 + 9
        );
    }

    #[test]
    fn dialable_skips_this_node_and_foreign_or_broken_addresses() {
        let (me, other, third) = (PeerId::random(), PeerId::random(), PeerId::random());
        let mut theirs = reg(other, 1);
        theirs.addrs = vec![
            format!("/ip4/10.0.0.2/tcp/1/p2p/{other}"),
            "/ip4/10.0.0.3/tcp/2".into(),
            format!("/ip4/10.0.0.4/tcp/3/p2p/{third}"),
            "not an address".into(),
        ];
        let broken = Registration {
            peer_id: "not a peer id".into(),
            addrs: vec!["/ip4/10.0.0.5/tcp/1".into()],
            registered_at_unix: 1,
        };
        let record = Record {
            peers: vec![reg(me, 1), theirs, broken],
        };
        let found = record.dialable(&me);
        let expected: Vec<Multiaddr> = vec![
            format!("/ip4/10.0.0.2/tcp/1/p2p/{other}").parse().unwrap(),
            format!("/ip4/10.0.0.3/tcp/2/p2p/{other}").parse().unwrap(),
        ];
        assert_eq!(found, vec![(other, expected)]);
    }

    #[test]
    fn registrable_addresses_skip_unspecified_and_lone_loopback() {
        let id = PeerId::random();
        let lan = format!("/ip4/10.1.2.3/tcp/4001/p2p/{id}");
        let lo = format!("/ip4/127.0.0.1/tcp/4001/p2p/{id}");
        let any = format!("/ip4/0.0.0.0/tcp/4001/p2p/{id}");
        assert_eq!(
            registrable(&[lo.clone(), lan.clone(), any.clone()]),
            vec![lan.clone()]
        );
        assert_eq!(registrable(&[lo.clone(), any]), vec![lo]);
        assert!(registrable(&["garbage".into()]).is_empty());
    }
}

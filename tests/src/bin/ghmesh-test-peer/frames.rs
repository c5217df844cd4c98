//! Frames a hostile or broken peer sends: forged answers, and every kind of garbage ghmesh must
//! reject without harm. Each is sealed (or deliberately not) with ghmesh's own wire code, so the
//! only thing wrong with it is the one thing named.

use ghmesh::crypto::FleetKeys;
use ghmesh::mesh::wire::{
    Announcement, MAX_GOSSIP_BYTES, MAX_REQUEST_BYTES, Request, Response, Sealer, WIRE_VERSION,
    WireEntry,
};
use ghmesh::store::{Share, body_cid};
use rand::RngCore;
use std::time::{SystemTime, UNIX_EPOCH};

/// How old the stale announcement claims to be: well past ghmesh's replay window.
const STALE_BY_MS: u64 = 10 * 60 * 1000;

/// Makes frames for one fleet.
pub struct Frames {
    /// Sealer with the fleet's keys.
    fleet: Sealer,
    /// Sealer with keys from another secret.
    stranger: Sealer,
    /// The first valid announcement, sealed once and replayed byte for byte.
    original: Vec<u8>,
}

/// Unix milliseconds now.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `len` random bytes behind the current version byte, so that they reach decryption.
fn random_frame(len: usize) -> Vec<u8> {
    let mut frame = vec![0; len];
    rand::thread_rng().fill_bytes(&mut frame);
    frame[0] = WIRE_VERSION;
    frame
}

/// A harmless, valid announcement: an invalidation of a path no test reads.
fn harmless() -> Announcement {
    Announcement::Invalidate {
        paths: vec![("/repos/ghmesh-test-peer/nothing".into(), false)],
    }
}

impl Frames {
    /// Frames for the fleet whose keys are `keys`, derived from `secret` with `iterations`.
    pub fn new(keys: FleetKeys, secret: &str, iterations: u32) -> anyhow::Result<Self> {
        let fleet = Sealer::new(keys);
        let other = format!("not-{secret}");
        let stranger = Sealer::new(
            FleetKeys::derive(other.as_bytes(), iterations)
                .map_err(|e| anyhow::anyhow!("cannot derive the wrong keys: {e}"))?,
        );
        let original = fleet.seal_announcement(harmless(), now_ms());
        Ok(Self {
            fleet,
            stranger,
            original,
        })
    }

    /// The valid announcement, to publish once before replaying it.
    pub fn original(&self) -> Vec<u8> {
        self.original.clone()
    }

    /// One round of gossip garbage, named. The unknown version and the replay come first: a
    /// peer is banned after a few faults, and these two must arrive while it is still heard. The
    /// faults follow in a fixed order, or `reversed`, so that two peers between them have a node
    /// read every kind before each is banned.
    pub fn gossip_garbage(&self, reversed: bool) -> Vec<(&'static str, Vec<u8>)> {
        let mut unknown = self.fleet.seal_announcement(harmless(), now_ms());
        unknown[0] = WIRE_VERSION.wrapping_add(1);
        let stale_at = now_ms().saturating_sub(STALE_BY_MS);
        let mut faults = vec![
            ("random bytes", random_frame(256)),
            (
                "wrong secret",
                self.stranger.seal_announcement(harmless(), now_ms()),
            ),
            ("oversized", random_frame(MAX_GOSSIP_BYTES + 100)),
            ("stale", self.fleet.seal_announcement(harmless(), stale_at)),
        ];
        if reversed {
            faults.reverse();
        }
        let mut round = vec![
            ("unknown version", unknown),
            ("replay", self.original.clone()),
        ];
        round.extend(faults);
        round
    }

    /// One round of fetch-request garbage, named.
    pub fn request_garbage(&self) -> Vec<(&'static str, Vec<u8>)> {
        let lookup = Request::Lookup {
            key: "ghmesh-test-peer".into(),
        };
        let mut unknown = self.fleet.seal_request(&lookup);
        unknown[0] = WIRE_VERSION.wrapping_add(1);
        vec![
            ("unknown version", unknown),
            ("random bytes", random_frame(256)),
            ("wrong secret", self.stranger.seal_request(&lookup)),
            ("oversized", random_frame(MAX_REQUEST_BYTES + 100)),
        ]
    }

    /// The answer to every request in garbage mode: one of an unknown wire version, which a
    /// node must ignore without charging a fault (so that answering lookups does not get this peer
    /// banned before its gossip garbage arrives).
    pub fn unknown_version_response(&self) -> Vec<u8> {
        let mut frame = self.fleet.seal_response(&Response::NotFound);
        frame[0] = WIRE_VERSION.wrapping_add(1);
        frame
    }

    /// A forged answer to `request`: an authentic, well-formed entry or body whose bytes are not
    /// the ones its CID names. `None` for a request that does not open.
    pub fn forged_response(&self, request: &[u8]) -> Option<Vec<u8>> {
        let forged = b"{\"forged\":true}".to_vec();
        let response = match self.fleet.open_request(request).ok()? {
            Request::Lookup { key } => Response::Entry {
                entry: Box::new(forged_entry(key, &forged)),
                body: forged,
            },
            Request::Body { .. } => Response::Body(forged),
        };
        Some(self.fleet.seal_response(&response))
    }
}

/// A fresh, shareable entry for `key` that claims the CID of other bytes than `body` (same
/// length, so only the CID check catches it).
fn forged_entry(key: String, body: &[u8]) -> WireEntry {
    let mut claimed = body.to_vec();
    claimed[0] ^= 1;
    WireEntry {
        key,
        method: "GET".into(),
        path: "/forged".into(),
        query: String::new(),
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        cid: body_cid(&claimed).to_string(),
        size: body.len() as u64,
        fetched_at: now_ms() / 1000,
        ttl_secs: 3600,
        etag: None,
        last_modified: None,
        token_partition: "forger".into(),
        share: Share::Fleet,
        operation: "default".into(),
    }
}

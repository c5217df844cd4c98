//! What peers say to each other, and how it travels: postcard-encoded messages sealed with the
//! fleet's payload key, behind a one-byte format version.
//!
//! Frame: `version (1 byte) || nonce || AES-256-GCM(ciphertext || tag)`. The sealing context
//! names the protocol, the version and the message kind, so a frame is only valid where it was
//! meant to be read. A frame of an unknown version is reported as such (logged and ignored by
//! the caller), never decoded. Sizes are bounded before anything is decrypted or decoded.

use crate::crypto::{CryptoError, FleetKeys};
use crate::store::{EntryMeta, Share, body_cid};
use serde::{Deserialize, Serialize};

/// The format version this build speaks.
pub const WIRE_VERSION: u8 = 1;
/// Largest gossip frame (an announcement with an inline body, or an invalidation).
pub const MAX_GOSSIP_BYTES: usize = 64 * 1024;
/// Bodies up to this size travel inline in announcements; larger ones are fetched on demand.
pub const MAX_INLINE_BODY: usize = 32 * 1024;
/// Largest fetch request.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;
/// How old (or how far in the future) an announcement may be before it is dropped as replayed.
pub const MAX_MESSAGE_AGE_MS: u64 = 120_000;

/// Sealing contexts: one per message kind.
const GOSSIP_CONTEXT: &[u8] = b"github-cache/1.0.0 gossip v1";
const REQUEST_CONTEXT: &[u8] = b"/github-cache/fetch/1.0.0 request v1";
const RESPONSE_CONTEXT: &[u8] = b"/github-cache/fetch/1.0.0 response v1";

/// A stored response as peers exchange it: the index entry without what is local to one node
/// (its access time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireEntry {
    /// Request key.
    pub key: String,
    /// HTTP method.
    pub method: String,
    /// Normalised API path.
    pub path: String,
    /// Normalised query.
    pub query: String,
    /// HTTP status.
    pub status: u16,
    /// Replayable response headers.
    pub headers: Vec<(String, String)>,
    /// CID of the body.
    pub cid: String,
    /// Body length.
    pub size: u64,
    /// Unix seconds when the origin fetched or revalidated it.
    pub fetched_at: u64,
    /// Freshness lifetime from `fetched_at`.
    pub ttl_secs: u32,
    /// `ETag`, if any.
    pub etag: Option<String>,
    /// `Last-Modified`, if any.
    pub last_modified: Option<String>,
    /// Token partition hash of the origin's request (never a credential).
    pub token_partition: String,
    /// Who may be served it; never `Token` on the wire.
    pub share: Share,
    /// Operation class.
    pub operation: String,
}

impl WireEntry {
    /// The wire form of a stored entry.
    pub fn from_meta(meta: &EntryMeta) -> Self {
        Self {
            key: meta.key.clone(),
            method: meta.method.clone(),
            path: meta.path.clone(),
            query: meta.query.clone(),
            status: meta.status,
            headers: meta.headers.clone(),
            cid: meta.cid.clone(),
            size: meta.size,
            fetched_at: meta.fetched_at,
            ttl_secs: meta.ttl_secs,
            etag: meta.etag.clone(),
            last_modified: meta.last_modified.clone(),
            token_partition: meta.token_partition.clone(),
            share: meta.share,
            operation: meta.operation.clone(),
        }
    }

    /// Whether `now` is within the entry's freshness lifetime.
    pub fn is_fresh(&self, now: u64) -> bool {
        now < self.fetched_at.saturating_add(u64::from(self.ttl_secs))
    }

    /// Checks an entry received from a peer against its body: shareable, and the body is the
    /// one its CID names. Everything a peer sends passes here before it is stored or served.
    pub fn verify(&self, body: &[u8]) -> Result<(), Fault> {
        if self.share == Share::Token {
            return Err(Fault::TokenScoped);
        }
        if self.size != body.len() as u64 {
            return Err(Fault::CidMismatch);
        }
        if body_cid(body).to_string() != self.cid {
            return Err(Fault::CidMismatch);
        }
        Ok(())
    }
}

/// An announcement on the gossip topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Announcement {
    /// A new or refreshed entry; the body inline when it is small.
    Entry {
        /// The entry.
        entry: Box<WireEntry>,
        /// The body, when at most [`MAX_INLINE_BODY`] bytes.
        body: Option<Vec<u8>>,
    },
    /// A write changed these paths: drop entries under them.
    Invalidate {
        /// `(path, include_descendants)` pairs.
        paths: Vec<(String, bool)>,
    },
    /// The author is shutting down: stop naming it as a provider (its gossipsub signature says
    /// who it is, so nobody can announce another node's departure).
    Leaving,
}

/// An announcement with what makes a replay detectable (`A`: an API-cache [`Announcement`] or a
/// CodeQL [`super::scan::ScanAnnouncement`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope<A = Announcement> {
    /// Sender's clock, Unix milliseconds.
    pub sent_at_ms: u64,
    /// Random, so two identical announcements are still distinct messages.
    pub nonce: u64,
    /// The announcement.
    pub announcement: A,
}

/// A fetch request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// "Do you hold a fresh entry for this key?"
    Lookup {
        /// Request key.
        key: String,
    },
    /// "Send me the body with this CID."
    Body {
        /// CID text.
        cid: String,
    },
}

/// A fetch response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// A fresh entry and its body.
    Entry {
        /// The entry.
        entry: Box<WireEntry>,
        /// Its body.
        body: Vec<u8>,
    },
    /// The body asked for.
    Body(Vec<u8>),
    /// Nothing fresh here.
    NotFound,
}

/// What was wrong with a message from a peer. Each counts as a fault against that peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    /// Larger than the protocol allows.
    #[error("message of {0} bytes exceeds the limit")]
    Oversized(usize),
    /// A format this build does not speak; ignored, not penalised.
    #[error("unknown wire version {0}")]
    UnknownVersion(u8),
    /// Empty frame.
    #[error("empty frame")]
    Empty,
    /// Wrong key or tampered.
    #[error("{0}")]
    Crypto(#[from] CryptoError),
    /// Authentic but not a valid message.
    #[error("undecodable message: {0}")]
    Malformed(String),
    /// Sent too long ago, or from the future: a replay or a broken clock.
    #[error("message is {0} ms outside the accepted window")]
    Stale(u64),
    /// The body does not match the CID (or size) the entry names.
    #[error("body does not match its CID")]
    CidMismatch,
    /// A token-scoped entry, which must never leave its node.
    #[error("token-scoped entry offered by a peer")]
    TokenScoped,
    /// An answer that does not fit the question (another key or CID).
    #[error("answer does not match the request")]
    Mismatched,
}

impl Fault {
    /// Whether this fault counts against the peer (an unknown version is a newer peer, not a
    /// bad one).
    pub fn penalised(&self) -> bool {
        !matches!(self, Fault::UnknownVersion(_))
    }
}

/// Seals and opens frames with the fleet's payload key.
#[derive(Clone, Debug)]
pub struct Sealer {
    keys: FleetKeys,
}

impl Sealer {
    /// A sealer for `keys`.
    pub fn new(keys: FleetKeys) -> Self {
        Self { keys }
    }

    /// Seals `message` for `context` behind the format version ([`super::scan`] uses it too).
    pub(super) fn seal<T: Serialize>(&self, context: &[u8], message: &T) -> Vec<u8> {
        let plain = postcard::to_allocvec(message).expect("wire types always serialise");
        let mut frame = vec![WIRE_VERSION];
        frame.extend(self.keys.seal(context, &plain));
        frame
    }

    /// Opens a frame of at most `limit` bytes sealed for `context`.
    pub(super) fn open<T: for<'de> Deserialize<'de>>(
        &self,
        context: &[u8],
        frame: &[u8],
        limit: usize,
    ) -> Result<T, Fault> {
        if frame.len() > limit {
            return Err(Fault::Oversized(frame.len()));
        }
        let (&version, sealed) = frame.split_first().ok_or(Fault::Empty)?;
        if version != WIRE_VERSION {
            return Err(Fault::UnknownVersion(version));
        }
        let plain = self.keys.open(context, sealed)?;
        postcard::from_bytes(&plain).map_err(|e| Fault::Malformed(e.to_string()))
    }

    /// Seals an announcement stamped with `now_ms`.
    pub fn seal_announcement(&self, announcement: Announcement, now_ms: u64) -> Vec<u8> {
        let envelope = Envelope {
            sent_at_ms: now_ms,
            nonce: rand::random(),
            announcement,
        };
        self.seal(GOSSIP_CONTEXT, &envelope)
    }

    /// Opens an announcement and checks it is recent (within [`MAX_MESSAGE_AGE_MS`] of `now_ms`).
    pub fn open_announcement(&self, frame: &[u8], now_ms: u64) -> Result<Envelope, Fault> {
        let envelope: Envelope = self.open(GOSSIP_CONTEXT, frame, MAX_GOSSIP_BYTES)?;
        let skew = now_ms.abs_diff(envelope.sent_at_ms);
        if skew > MAX_MESSAGE_AGE_MS {
            return Err(Fault::Stale(skew));
        }
        Ok(envelope)
    }

    /// Seals a fetch request.
    pub fn seal_request(&self, request: &Request) -> Vec<u8> {
        self.seal(REQUEST_CONTEXT, request)
    }

    /// Opens a fetch request.
    pub fn open_request(&self, frame: &[u8]) -> Result<Request, Fault> {
        self.open(REQUEST_CONTEXT, frame, MAX_REQUEST_BYTES)
    }

    /// Seals a fetch response.
    pub fn seal_response(&self, response: &Response) -> Vec<u8> {
        self.seal(RESPONSE_CONTEXT, response)
    }

    /// Opens a fetch response of at most `limit` bytes.
    pub fn open_response(&self, frame: &[u8], limit: usize) -> Result<Response, Fault> {
        self.open(RESPONSE_CONTEXT, frame, limit)
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
pub(super) mod tests;

//! CodeQL results on the mesh: what peers say about them and how it is checked. They travel
//! apart from API entries — their own gossip topic and request-response protocol — so a node of
//! an older version, which speaks neither, never sees (and never penalises) them.
//!
//! - gossip `github-cache/codeql/1.0.0`: [`ScanAnnouncement`] — a stored result's metadata, the
//!   SARIF inline only when it is small;
//! - `/github-cache/codeql/1.0.0`: [`ScanRequest`] — "do you hold a result for this key (or for
//!   this base commit)?" answered with the result and its SARIF, or "send me this SARIF".
//!
//! Frames are sealed like every other mesh frame ([`super::wire::Sealer`]) under contexts of
//! their own. A SARIF is bounded by [`MAX_SARIF_BYTES`] and checked against the CID its result
//! names ([`WireScan::verify`]) before anything stores or serves it.

use super::wire::{Envelope, Fault, MAX_GOSSIP_BYTES, MAX_MESSAGE_AGE_MS, Sealer};
use crate::store::body_cid;
use serde::{Deserialize, Serialize};

/// Largest SARIF exchanged with peers. Real CodeQL results of large repositories reach a few
/// MiB; the bound keeps a peer from making this node buffer more than that order of size.
pub const MAX_SARIF_BYTES: usize = 32 << 20;
/// A SARIF up to this size travels inline in its announcement (the gossip frame stays well
/// under [`MAX_GOSSIP_BYTES`]); a larger one is fetched from the announcer by CID.
pub const MAX_INLINE_SARIF: usize = 32 * 1024;
/// Largest scan request (a key and a base commit).
pub const MAX_SCAN_REQUEST_BYTES: usize = 16 * 1024;
/// Largest scan response: a SARIF with its metadata and sealing overhead.
pub const MAX_SCAN_RESPONSE_BYTES: usize = MAX_SARIF_BYTES + 64 * 1024;

const GOSSIP_CONTEXT: &[u8] = b"github-cache/codeql/1.0.0 gossip v1";
const REQUEST_CONTEXT: &[u8] = b"/github-cache/codeql/1.0.0 request v1";
const RESPONSE_CONTEXT: &[u8] = b"/github-cache/codeql/1.0.0 response v1";

/// A stored CodeQL result as peers exchange it: its key and metadata, and the CID of its SARIF.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireScan {
    /// The scan's cache key.
    pub key: String,
    /// `owner/name`.
    pub repo: String,
    /// Commit analysed.
    pub commit: String,
    /// Its git tree id.
    pub tree: String,
    /// Digest of the effective configuration.
    pub config_digest: String,
    /// CodeQL CLI version that ran.
    pub codeql_version: String,
    /// SARIF category.
    pub category: String,
    /// Languages analysed.
    pub languages: Vec<String>,
    /// Whole-repository analysis; receivers keep nothing else.
    pub full_analysis: bool,
    /// CID of the SARIF.
    pub sarif_cid: String,
    /// Size of the SARIF in bytes.
    pub sarif_bytes: u64,
    /// Runs in the SARIF.
    pub runs: u64,
    /// Alerts in the SARIF.
    pub alerts: u64,
    /// Alerts by level.
    pub alerts_by_level: Vec<(String, u64)>,
    /// Alerts by security severity.
    pub alerts_by_severity: Vec<(String, u64)>,
    /// How long the scan took, in seconds.
    pub duration_secs: f64,
    /// Unix seconds when the origin stored it.
    pub stored_at: u64,
    /// How long it may be reused from `stored_at`, in seconds.
    pub ttl_secs: u64,
}

impl WireScan {
    /// Whether `now` is within the result's reuse lifetime.
    pub fn is_fresh(&self, now: u64) -> bool {
        now < self.stored_at.saturating_add(self.ttl_secs)
    }

    /// Checks a SARIF received from a peer against this result: within [`MAX_SARIF_BYTES`], of
    /// the announced size, and the bytes the CID names. Every SARIF from a peer passes here
    /// before it is stored or handed to a check.
    pub fn verify(&self, sarif: &[u8]) -> Result<(), Fault> {
        if sarif.len() > MAX_SARIF_BYTES {
            return Err(Fault::Oversized(sarif.len()));
        }
        if self.sarif_bytes != sarif.len() as u64 || body_cid(sarif).to_string() != self.sarif_cid {
            return Err(Fault::CidMismatch);
        }
        Ok(())
    }

    /// Whether this result answers `query`: the same key, or the base commit's result asked for.
    pub fn answers(&self, query: &ScanQuery) -> bool {
        self.key == query.key
            || query.base.as_ref().is_some_and(|base| {
                self.repo.eq_ignore_ascii_case(&base.repo)
                    && self.commit == base.commit
                    && self.category == base.category
            })
    }
}

/// What a check looks for: the scan with this key, else the result of a base commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanQuery {
    /// The requested scan's key.
    pub key: String,
    /// The commit whose result may be reused, when the check names one.
    pub base: Option<ScanBase>,
}

/// A base commit's result: `(repository, commit, category)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanBase {
    /// `owner/name`.
    pub repo: String,
    /// Full commit id.
    pub commit: String,
    /// SARIF category.
    pub category: String,
}

/// An announcement on the CodeQL topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ScanAnnouncement {
    /// A result was stored; its SARIF inline when at most [`MAX_INLINE_SARIF`] bytes.
    Result {
        /// The result.
        scan: Box<WireScan>,
        /// The SARIF, when small.
        sarif: Option<Vec<u8>>,
    },
}

/// A request on `/github-cache/codeql/1.0.0`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScanRequest {
    /// "Do you hold a fresh result for this query?"
    Lookup(ScanQuery),
    /// "Send me the SARIF of the result under `key`, which has this CID."
    Sarif {
        /// The scan's key.
        key: String,
        /// The SARIF's CID.
        cid: String,
    },
}

/// A response on `/github-cache/codeql/1.0.0`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ScanResponse {
    /// A fresh result and its SARIF.
    Result {
        /// The result.
        scan: Box<WireScan>,
        /// Its SARIF.
        sarif: Vec<u8>,
    },
    /// The SARIF asked for.
    Sarif(Vec<u8>),
    /// Nothing here.
    NotFound,
}

impl Sealer {
    /// Seals a CodeQL announcement stamped with `now_ms`.
    pub fn seal_scan_announcement(&self, announcement: ScanAnnouncement, now_ms: u64) -> Vec<u8> {
        let envelope = Envelope {
            sent_at_ms: now_ms,
            nonce: rand::random(),
            announcement,
        };
        self.seal(GOSSIP_CONTEXT, &envelope)
    }

    /// Opens a CodeQL announcement and checks it is recent (as API announcements are).
    pub fn open_scan_announcement(
        &self,
        frame: &[u8],
        now_ms: u64,
    ) -> Result<Envelope<ScanAnnouncement>, Fault> {
        let envelope: Envelope<ScanAnnouncement> =
            self.open(GOSSIP_CONTEXT, frame, MAX_GOSSIP_BYTES)?;
        let skew = now_ms.abs_diff(envelope.sent_at_ms);
        if skew > MAX_MESSAGE_AGE_MS {
            return Err(Fault::Stale(skew));
        }
        Ok(envelope)
    }

    /// Seals a CodeQL request.
    pub fn seal_scan_request(&self, request: &ScanRequest) -> Vec<u8> {
        self.seal(REQUEST_CONTEXT, request)
    }

    /// Opens a CodeQL request.
    pub fn open_scan_request(&self, frame: &[u8]) -> Result<ScanRequest, Fault> {
        self.open(REQUEST_CONTEXT, frame, MAX_SCAN_REQUEST_BYTES)
    }

    /// Seals a CodeQL response.
    pub fn seal_scan_response(&self, response: &ScanResponse) -> Vec<u8> {
        self.seal(RESPONSE_CONTEXT, response)
    }

    /// Opens a CodeQL response.
    pub fn open_scan_response(&self, frame: &[u8]) -> Result<ScanResponse, Fault> {
        self.open(RESPONSE_CONTEXT, frame, MAX_SCAN_RESPONSE_BYTES)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::crypto::{FleetKeys, MIN_ITERATIONS};

    /// A result whose SARIF is `sarif`.
    pub(crate) fn scan_for(sarif: &[u8]) -> WireScan {
        WireScan {
            key: "sha256:abc".into(),
            repo: "octo/app".into(),
            commit: "c1".into(),
            tree: "t1".into(),
            config_digest: "sha256:cfg".into(),
            codeql_version: "2.21.0".into(),
            category: "/language:python".into(),
            languages: vec!["python".into()],
            full_analysis: true,
            sarif_cid: body_cid(sarif).to_string(),
            sarif_bytes: sarif.len() as u64,
            runs: 1,
            alerts: 1,
            alerts_by_level: vec![("error".into(), 1)],
            alerts_by_severity: vec![("high".into(), 1)],
            duration_secs: 900.0,
            stored_at: crate::clock::unix_now(),
            ttl_secs: 86_400,
        }
    }

    fn sealer() -> Sealer {
        Sealer::new(FleetKeys::derive(b"fleet secret for scan tests", MIN_ITERATIONS).unwrap())
    }

    #[test]
    fn a_sarif_is_accepted_only_if_it_is_the_one_its_cid_names() {
        let scan = scan_for(b"{\"version\":\"2.1.0\"}");
        assert_eq!(scan.verify(b"{\"version\":\"2.1.0\"}"), Ok(()));
        assert_eq!(
            scan.verify(b"{\"version\":\"2.1.1\"}"),
            Err(Fault::CidMismatch)
        );
        assert_eq!(scan.verify(b"{}"), Err(Fault::CidMismatch));
        let huge = vec![b' '; MAX_SARIF_BYTES + 1];
        assert_eq!(
            scan_for(&huge).verify(&huge),
            Err(Fault::Oversized(MAX_SARIF_BYTES + 1))
        );
    }

    #[test]
    fn a_result_answers_its_key_or_the_base_asked_for() {
        let scan = scan_for(b"x");
        let by_key = ScanQuery {
            key: scan.key.clone(),
            base: None,
        };
        assert!(scan.answers(&by_key));
        let base = |commit: &str, category: &str| ScanQuery {
            key: "sha256:other".into(),
            base: Some(ScanBase {
                repo: "Octo/App".into(),
                commit: commit.into(),
                category: category.into(),
            }),
        };
        assert!(scan.answers(&base("c1", "/language:python")));
        assert!(!scan.answers(&base("c2", "/language:python")));
        assert!(!scan.answers(&base("c1", "/language:go")));
    }

    #[test]
    fn frames_round_trip_and_are_not_valid_as_api_frames() {
        let s = sealer();
        let sarif = b"{\"runs\":[]}".to_vec();
        let announcement = ScanAnnouncement::Result {
            scan: Box::new(scan_for(&sarif)),
            sarif: Some(sarif.clone()),
        };
        let frame = s.seal_scan_announcement(announcement.clone(), 5_000);
        let opened = s.open_scan_announcement(&frame, 5_100).unwrap();
        assert_eq!(opened.announcement, announcement);
        assert!(s.open_announcement(&frame, 5_100).is_err());
        let request = ScanRequest::Sarif {
            key: "k".into(),
            cid: "c".into(),
        };
        let frame = s.seal_scan_request(&request);
        assert_eq!(s.open_scan_request(&frame).unwrap(), request);
        assert!(s.open_request(&frame).is_err());
        let response = ScanResponse::Sarif(sarif);
        let frame = s.seal_scan_response(&response);
        assert_eq!(s.open_scan_response(&frame).unwrap(), response);
    }
}

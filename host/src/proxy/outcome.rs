//! How a response was produced, said to the client in `Cache-Status` (RFC 9211) and `X-Cache`,
//! and counted in the metrics.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};

/// The name this cache uses in `Cache-Status`.
const CACHE_NAME: &str = "ghmesh";

/// What the cache did for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Served from the store without contacting GitHub.
    Hit,
    /// Served from a fleet peer's entry (verified against its CID) without contacting GitHub.
    PeerHit,
    /// GitHub confirmed the stored entry (304); served from the store.
    Revalidated,
    /// Answered by another request's in-flight fetch.
    Coalesced,
    /// Fetched from GitHub.
    Miss,
    /// Passed through without using the cache (writes, uncacheable requests).
    Bypass,
    /// GitHub was rate-limited or failing; a stored entry past its TTL was served.
    Stale,
}

impl Outcome {
    /// Every outcome, in the order the stats list them.
    pub const ALL: [Outcome; 7] = [
        Outcome::Hit,
        Outcome::PeerHit,
        Outcome::Revalidated,
        Outcome::Coalesced,
        Outcome::Miss,
        Outcome::Bypass,
        Outcome::Stale,
    ];

    /// The lowercase name used as the `outcome` metric label.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Hit => "hit",
            Outcome::PeerHit => "peer_hit",
            Outcome::Revalidated => "revalidated",
            Outcome::Coalesced => "coalesced",
            Outcome::Miss => "miss",
            Outcome::Bypass => "bypass",
            Outcome::Stale => "stale",
        }
    }

    /// The `X-Cache` value.
    pub fn x_cache(self) -> &'static str {
        match self {
            Outcome::Hit => "HIT",
            Outcome::PeerHit => "PEER-HIT",
            Outcome::Revalidated => "REVALIDATED",
            Outcome::Coalesced => "COALESCED",
            Outcome::Miss => "MISS",
            Outcome::Bypass => "BYPASS",
            Outcome::Stale => "STALE",
        }
    }

    /// The `Cache-Status` value; `ttl` is the remaining freshness in seconds where known
    /// (negative when stale), `stored` whether a fetched response was kept.
    pub fn cache_status(self, ttl: Option<i64>, stored: bool) -> String {
        use std::fmt::Write;
        let detail = match self {
            Outcome::Hit => "hit",
            Outcome::PeerHit => "hit; detail=peer",
            Outcome::Stale => "hit; detail=stale",
            Outcome::Revalidated => "fwd=stale; fwd-status=304",
            Outcome::Coalesced => "fwd=miss; collapsed",
            Outcome::Miss => "fwd=miss",
            Outcome::Bypass => "fwd=bypass",
        };
        // One allocation, sized for the longest value this can produce.
        let mut value = String::with_capacity(64);
        value.push_str(CACHE_NAME);
        value.push_str("; ");
        value.push_str(detail);
        if let Some(ttl) = ttl {
            let _ = write!(value, "; ttl={ttl}");
        }
        if stored {
            value.push_str("; stored");
        }
        value
    }

    /// Sets both headers on a response.
    pub fn apply(self, headers: &mut HeaderMap, ttl: Option<i64>, stored: bool) {
        // From the owned bytes: no second copy of the value.
        if let Ok(value) =
            HeaderValue::from_maybe_shared(Bytes::from(self.cache_status(ttl, stored)))
        {
            headers.insert("cache-status", value);
        }
        headers.insert("x-cache", HeaderValue::from_static(self.x_cache()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_status_follows_rfc_9211_shapes() {
        assert_eq!(
            Outcome::Hit.cache_status(Some(42), false),
            "ghmesh; hit; ttl=42"
        );
        assert_eq!(
            Outcome::Miss.cache_status(Some(120), true),
            "ghmesh; fwd=miss; ttl=120; stored"
        );
        assert_eq!(
            Outcome::Stale.cache_status(Some(-30), false),
            "ghmesh; hit; detail=stale; ttl=-30"
        );
        assert_eq!(
            Outcome::Bypass.cache_status(None, false),
            "ghmesh; fwd=bypass"
        );
    }
}

//! One lookup: a GET of a held path through a node's HTTP port, timed client-side (request sent
//! to last body byte: the lookup latency through the node, loopback HTTP included), and
//! classified by the node's `Cache-Status` (RFC 9211, see docs/api-cache.md).

use serde::Serialize;
use std::time::{Duration, Instant};

/// The credential every request carries: one token for the fleet, so entries are shared
/// directly (scope `revalidate`, same credential).
pub const TOKEN: &str = "token mesh-scale-bench";

/// Where an answer came from, by its `Cache-Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Answer {
    /// `ghmesh; hit`: the node held it (fetched before, or received in an announcement).
    LocalHit,
    /// `ghmesh; hit; detail=peer`: fetched from a peer during this request.
    PeerHit,
    /// `ghmesh; fwd=...`: the request went to the upstream (the lookup failed).
    Upstream,
    /// Anything else, e.g. a stale hit or no `Cache-Status` (counted as a failure).
    Other,
    /// No 200 answer: a transport error, a timeout or another status.
    Error,
}

impl Answer {
    /// Classifies a `Cache-Status` value.
    pub fn of(cache_status: Option<&str>) -> Self {
        let Some(value) = cache_status else {
            return Answer::Other;
        };
        let params: Vec<&str> = value.split(';').map(str::trim).skip(1).collect();
        let has = |p: &str| params.contains(&p);
        if params.iter().any(|p| p.starts_with("fwd=")) {
            Answer::Upstream
        } else if has("hit") && has("detail=peer") {
            Answer::PeerHit
        } else if has("hit") && !params.iter().any(|p| p.starts_with("detail=")) {
            Answer::LocalHit
        } else {
            Answer::Other
        }
    }

    /// Whether the fleet answered without the upstream.
    pub fn success(self) -> bool {
        matches!(self, Answer::LocalHit | Answer::PeerHit)
    }
}

/// What one lookup saw.
#[derive(Debug, Clone, Serialize)]
pub struct Lookup {
    /// Index of the path.
    pub path: usize,
    /// The node asked.
    pub node: usize,
    /// Whether that node joined during the lookups.
    pub joiner: bool,
    /// The classification.
    pub answer: Answer,
    /// Client-side latency, microseconds.
    pub latency_us: u64,
    /// The error or unexpected status, for [`Answer::Error`].
    pub error: Option<String>,
}

/// The path of entry `index`: a repository (`repo` class, shareable), one per entry.
pub fn path(index: usize) -> String {
    format!("/repos/mesh-scale/repo-{index:05}")
}

/// GETs `path` of entry `index` from `url` (node `node`), timing and classifying it.
pub async fn get(
    client: &reqwest::Client,
    url: &str,
    index: usize,
    node: usize,
    joiner: bool,
) -> Lookup {
    let started = Instant::now();
    let result = async {
        let response = client
            .get(format!("{url}{}", path(index)))
            .header("authorization", TOKEN)
            .header("accept", "application/vnd.github+json")
            .send()
            .await?;
        let status = response.status();
        let cache_status = response
            .headers()
            .get("cache-status")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        response.bytes().await?;
        Ok::<_, reqwest::Error>((status, cache_status))
    }
    .await;
    let latency_us = micros(started.elapsed());
    let (answer, error) = match result {
        Ok((status, cache_status)) if status.is_success() => {
            (Answer::of(cache_status.as_deref()), None)
        }
        Ok((status, _)) => (Answer::Error, Some(format!("status {status}"))),
        Err(e) => (Answer::Error, Some(format!("{e:#}"))),
    };
    Lookup {
        path: index,
        node,
        joiner,
        answer,
        latency_us,
        error,
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_status_values_are_classified() {
        let of = |v: &str| Answer::of(Some(v));
        assert_eq!(of("ghmesh; hit; ttl=3599"), Answer::LocalHit);
        assert_eq!(of("ghmesh; hit; detail=peer; ttl=3599"), Answer::PeerHit);
        assert_eq!(of("ghmesh; fwd=miss; ttl=3600; stored"), Answer::Upstream);
        assert_eq!(of("ghmesh; fwd=miss; collapsed"), Answer::Upstream);
        assert_eq!(of("ghmesh; fwd=stale; fwd-status=304"), Answer::Upstream);
        assert_eq!(of("ghmesh; hit; detail=stale; ttl=-3"), Answer::Other);
        assert_eq!(Answer::of(None), Answer::Other);
        assert!(Answer::PeerHit.success() && Answer::LocalHit.success());
        assert!(!Answer::Upstream.success() && !Answer::Error.success());
    }
}

//! What the fake upstream counted: charged requests (every full answer, as GitHub counts them
//! against the rate limit), free 304s, and which versions of each resource it handed out. The
//! `/_counts` document is [`CountsDocument`]; the fleet reads it back with the same type.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Per-resource counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceCounts {
    /// Full answers (200), each charged to the token's rate limit.
    pub charged: u64,
    /// `304 Not Modified` answers, free as on GitHub.
    pub not_modified: u64,
    /// Distinct versions this upstream's clients (runners, or the caches in front of them) were
    /// given, by a 200 or confirmed by a 304.
    pub versions_seen_by_clients: u64,
    /// Those versions.
    pub versions: BTreeSet<u64>,
}

/// Per-token counters (tokens are the benchmark's made-up ones).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenCounts {
    /// Charged answers.
    pub charged: u64,
    /// Free 304s.
    pub not_modified: u64,
}

/// The `/_counts` document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountsDocument {
    /// Charged answers, all resources.
    pub charged: u64,
    /// Free 304s, all resources.
    pub not_modified: u64,
    /// Requests refused because the token's rate limit was spent (403, like GitHub).
    pub rate_limited: u64,
    /// Requests for paths that are not benchmark resources (404, charged as on GitHub).
    pub unknown: u64,
    /// Sum over resources of the distinct versions handed out.
    pub distinct_versions_served: u64,
    /// Keyed by path and query.
    pub per_resource: BTreeMap<String, ResourceCounts>,
    /// Keyed by token.
    pub per_token: BTreeMap<String, TokenCounts>,
}

/// How one request was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 200, charged.
    Charged,
    /// 304, free.
    NotModified,
}

impl CountsDocument {
    /// Records an answer for a benchmark resource at `version`, made with `token`.
    pub fn record(&mut self, path: &str, version: u64, token: &str, answer: Answer) {
        let resource = self.per_resource.entry(path.to_owned()).or_default();
        let by_token = self.per_token.entry(token.to_owned()).or_default();
        match answer {
            Answer::Charged => {
                self.charged += 1;
                resource.charged += 1;
                by_token.charged += 1;
            }
            Answer::NotModified => {
                self.not_modified += 1;
                resource.not_modified += 1;
                by_token.not_modified += 1;
            }
        }
        if resource.versions.insert(version) {
            resource.versions_seen_by_clients += 1;
            self.distinct_versions_served += 1;
        }
    }

    /// Records a request for a path that is not a benchmark resource (charged).
    pub fn record_unknown(&mut self, token: &str) {
        self.unknown += 1;
        self.charged += 1;
        self.per_token.entry(token.to_owned()).or_default().charged += 1;
    }

    /// Records a request refused for an exhausted rate limit.
    pub fn record_rate_limited(&mut self) {
        self.rate_limited += 1;
    }

    /// Charged answers for `token` so far (the rate limit's `used`).
    pub fn used(&self, token: &str) -> u64 {
        self.per_token.get(token).map_or(0, |t| t.charged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_count_once_and_304s_are_free() {
        let mut counts = CountsDocument::default();
        counts.record("/a", 0, "t1", Answer::Charged);
        counts.record("/a", 0, "t2", Answer::Charged);
        counts.record("/a", 0, "t1", Answer::NotModified);
        counts.record("/a", 1, "t1", Answer::Charged);
        counts.record_unknown("t1");
        assert_eq!((counts.charged, counts.not_modified), (4, 1));
        assert_eq!(counts.distinct_versions_served, 2);
        assert_eq!(counts.per_resource["/a"].versions_seen_by_clients, 2);
        assert_eq!(counts.used("t1"), 3);
        assert_eq!(counts.used("t2"), 1);
        assert_eq!(counts.used("nobody"), 0);
    }
}

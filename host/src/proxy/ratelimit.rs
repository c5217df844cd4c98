//! What GitHub last said about each token partition's rate limit, and whether it is failing, so
//! the cache policy can choose to serve stale entries instead of spending or waiting.

use super::upstream::UpstreamResponse;
use crate::clock::unix_now as now;
use crate::policy::cache::UpstreamState;
use http::{HeaderMap, StatusCode};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// How long after an upstream failure GitHub still counts as failing.
const FAILING_FOR: Duration = Duration::from_secs(30);

/// One partition's last known rate-limit state.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Quota {
    /// `x-ratelimit-limit`.
    pub limit: Option<u64>,
    /// `x-ratelimit-remaining`.
    pub remaining: Option<u64>,
    /// `x-ratelimit-reset`: unix seconds when the window resets.
    pub reset: Option<u64>,
    /// `x-ratelimit-resource` (core, search, graphql, ...).
    pub resource: Option<String>,
    /// Unix seconds before which GitHub asked not to be called (`retry-after`, or the reset of an
    /// exhausted window).
    pub blocked_until: Option<u64>,
    /// Unix seconds of the last transport failure or 5xx.
    #[serde(skip)]
    failed_at: Option<u64>,
}

/// Rate-limit and health state per token partition.
#[derive(Default)]
pub struct RateLimits {
    quotas: Mutex<HashMap<String, Quota>>,
}

impl RateLimits {
    /// Records what a response says about `partition`'s quota.
    pub fn observe(&self, partition: &str, response: &UpstreamResponse) {
        let now = now();
        let mut quotas = self.quotas.lock().expect("rate limit lock");
        let quota = quotas.entry(partition.to_string()).or_default();
        let headers = &response.headers;
        quota.limit = number(headers, "x-ratelimit-limit").or(quota.limit);
        quota.remaining = number(headers, "x-ratelimit-remaining").or(quota.remaining);
        quota.reset = number(headers, "x-ratelimit-reset").or(quota.reset);
        if let Some(resource) = headers
            .get("x-ratelimit-resource")
            .and_then(|v| v.to_str().ok())
        {
            quota.resource = Some(resource.to_string());
        }
        quota.blocked_until = if is_rate_limited(response) {
            number(headers, "retry-after")
                .map(|secs| now + secs)
                .or(quota.reset)
                .or(Some(now + 60))
        } else {
            None
        };
        quota.failed_at = response.status.is_server_error().then_some(now);
    }

    /// Records a transport failure or timeout.
    pub fn observe_failure(&self, partition: &str) {
        let mut quotas = self.quotas.lock().expect("rate limit lock");
        quotas.entry(partition.to_string()).or_default().failed_at = Some(now());
    }

    /// GitHub's state for `partition`, as the cache policy sees it.
    pub fn state(&self, partition: &str) -> UpstreamState {
        let now = now();
        let quotas = self.quotas.lock().expect("rate limit lock");
        let Some(quota) = quotas.get(partition) else {
            return UpstreamState::Healthy;
        };
        if quota.blocked_until.is_some_and(|until| until > now) {
            UpstreamState::RateLimited
        } else if quota
            .failed_at
            .is_some_and(|at| now.saturating_sub(at) < FAILING_FOR.as_secs())
        {
            UpstreamState::Failing
        } else {
            UpstreamState::Healthy
        }
    }

    /// A copy of every partition's quota (for stats). Keys are partition hashes, never tokens.
    pub fn snapshot(&self) -> HashMap<String, Quota> {
        self.quotas.lock().expect("rate limit lock").clone()
    }
}

/// A 403 or 429 that GitHub sends for primary or secondary rate limits (a plain 403 for missing
/// permissions is not one).
pub fn is_rate_limited(response: &UpstreamResponse) -> bool {
    let limited_status = matches!(
        response.status,
        StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS
    );
    limited_status
        && (response.status == StatusCode::TOO_MANY_REQUESTS
            || response.headers.contains_key(http::header::RETRY_AFTER)
            || number(&response.headers, "x-ratelimit-remaining") == Some(0))
}

fn number(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn response(status: u16, headers: &[(&str, &str)]) -> UpstreamResponse {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        UpstreamResponse {
            status: StatusCode::from_u16(status).unwrap(),
            headers: map,
            body: Bytes::new(),
        }
    }

    #[test]
    fn exhausted_quota_is_rate_limited_until_reset() {
        let limits = RateLimits::default();
        let reset = (now() + 600).to_string();
        limits.observe(
            "p",
            &response(
                403,
                &[
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", &reset),
                ],
            ),
        );
        assert_eq!(limits.state("p"), UpstreamState::RateLimited);
        assert_eq!(
            limits.state("other"),
            UpstreamState::Healthy,
            "partitions are separate"
        );
        limits.observe("p", &response(200, &[("x-ratelimit-remaining", "4999")]));
        assert_eq!(limits.state("p"), UpstreamState::Healthy);
        assert_eq!(limits.snapshot()["p"].remaining, Some(4999));
    }

    #[test]
    fn retry_after_is_honoured() {
        let limits = RateLimits::default();
        limits.observe("p", &response(429, &[("retry-after", "120")]));
        assert_eq!(limits.state("p"), UpstreamState::RateLimited);
    }

    #[test]
    fn plain_forbidden_is_not_a_rate_limit() {
        let limits = RateLimits::default();
        limits.observe("p", &response(403, &[("x-ratelimit-remaining", "4000")]));
        assert_eq!(limits.state("p"), UpstreamState::Healthy);
    }

    #[test]
    fn server_errors_and_transport_failures_mark_failing() {
        let limits = RateLimits::default();
        limits.observe("p", &response(502, &[]));
        assert_eq!(limits.state("p"), UpstreamState::Failing);
        limits.observe_failure("q");
        assert_eq!(limits.state("q"), UpstreamState::Failing);
    }
}

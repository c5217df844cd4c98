//! The fake GitHub API the polling benchmark runs against: the [`schedule`](super::schedule)'s
//! resources, each answered like GitHub answers it — a strong ETag per version, `304 Not
//! Modified` (free) when `If-None-Match` names the current version, otherwise a full, charged
//! answer that moves the token's `x-ratelimit-*` headers. `GET /_counts` reports the counts,
//! `GET /_schedule` the timetable (for runners measuring staleness).

use super::counts::{Answer, CountsDocument};
use super::github::{self, Rendered, VERSION_HEADER};
use super::schedule::{ChangePeriods, Schedule};
use super::unix_ms;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// GitHub's rate-limit window: the reset time is this far after the start.
const WINDOW_SECS: u64 = 3600;

/// How the upstream behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamConfig {
    /// Repositories, each with queued runs, runners and workflows.
    pub repos: usize,
    /// How often each kind of resource changes.
    pub periods: ChangePeriods,
    /// Seed for phases and bodies.
    pub seed: u64,
    /// Charged requests each token may make in the window (GitHub: 5000 for a user token).
    pub rate_limit: u64,
    /// Also send `Last-Modified` and honour `If-Modified-Since`. GitHub sends it on single
    /// resources but not on these list endpoints, so it is off by default; on, another token's
    /// cached entry can be revalidated for free.
    pub last_modified: bool,
}

/// The server's state.
struct Upstream {
    config: UpstreamConfig,
    schedule: Schedule,
    counts: Mutex<CountsDocument>,
    /// Rendered versions, by (resource index, version): rendering hashes the body.
    rendered: Mutex<HashMap<(usize, u64), Arc<Rendered>>>,
    request_ids: AtomicU64,
}

/// The router, with the schedule starting now. Bind it wherever suits the caller.
pub fn router(config: UpstreamConfig) -> Router {
    let schedule = Schedule::new(config.repos, &config.periods, config.seed, unix_ms());
    let state = Arc::new(Upstream {
        config,
        schedule,
        counts: Mutex::default(),
        rendered: Mutex::default(),
        request_ids: AtomicU64::new(1),
    });
    Router::new().fallback(handle).with_state(state)
}

async fn handle(
    State(state): State<Arc<Upstream>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
    match (method, uri.path()) {
        (Method::GET, "/_counts") => json(&*state.counts.lock().expect("counts lock")),
        (Method::GET, "/_schedule") => json(&state.schedule),
        (Method::GET, _) => match state
            .schedule
            .resources
            .iter()
            .position(|r| r.path == path_and_query)
        {
            Some(index) => resource(&state, index, &headers),
            None => not_found(&state, &headers),
        },
        _ => not_found(&state, &headers),
    }
}

fn json(value: &impl serde::Serialize) -> Response {
    let body = serde_json::to_vec_pretty(value).expect("JSON");
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The credential of the request (`token X`, `Bearer X`), or `anonymous`.
fn token(headers: &HeaderMap) -> String {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().rsplit(' ').next().unwrap_or(v).to_owned())
        .unwrap_or_else(|| "anonymous".to_owned())
}

/// Answers one benchmark resource: 304, 403 (rate limit spent) or a charged 200.
fn resource(state: &Upstream, index: usize, headers: &HeaderMap) -> Response {
    let resource = &state.schedule.resources[index];
    let version = resource.version_at(state.schedule.elapsed_ms(unix_ms()));
    let rendered = state.rendered(index, version);
    let modified_secs = (state.schedule.start_unix_ms + resource.version_start_ms(version)) / 1000;
    let not_modified = match headers.get(header::IF_NONE_MATCH) {
        Some(value) => etag_matches(value, &rendered.etag),
        None => {
            state.config.last_modified
                && headers
                    .get(header::IF_MODIFIED_SINCE)
                    .and_then(|v| httpdate::parse_http_date(v.to_str().ok()?).ok())
                    .is_some_and(|since| at_secs(modified_secs) <= since)
        }
    };
    let token = token(headers);
    let mut counts = state.counts.lock().expect("counts lock");
    let (status, body) = if not_modified {
        counts.record(&resource.path, version, &token, Answer::NotModified);
        (StatusCode::NOT_MODIFIED, Vec::new())
    } else if counts.used(&token) >= state.config.rate_limit {
        counts.record_rate_limited();
        let message = serde_json::json!({
            "message": format!("API rate limit exceeded for {token}."),
            "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
        });
        (StatusCode::FORBIDDEN, message.to_string().into_bytes())
    } else {
        counts.record(&resource.path, version, &token, Answer::Charged);
        (StatusCode::OK, rendered.body.clone())
    };
    let used = counts.used(&token);
    drop(counts);

    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let out = response.headers_mut();
    github_headers(state, out, used);
    if status != StatusCode::FORBIDDEN {
        out.insert(header::ETAG, value(&rendered.etag));
        out.insert(VERSION_HEADER, HeaderValue::from(version));
        if state.config.last_modified {
            let date = httpdate::fmt_http_date(at_secs(modified_secs));
            out.insert(header::LAST_MODIFIED, value(&date));
        }
    }
    response
}

/// GitHub's 404, charged like any other full answer.
fn not_found(state: &Upstream, headers: &HeaderMap) -> Response {
    let token = token(headers);
    let used = {
        let mut counts = state.counts.lock().expect("counts lock");
        counts.record_unknown(&token);
        counts.used(&token)
    };
    let body = r#"{"message":"Not Found","documentation_url":"https://docs.github.com/rest"}"#;
    let mut response = (StatusCode::NOT_FOUND, body).into_response();
    github_headers(state, response.headers_mut(), used);
    response
}

/// Headers GitHub sends with every API answer, rate limits included.
fn github_headers(state: &Upstream, out: &mut HeaderMap, used: u64) {
    let limit = state.config.rate_limit;
    let reset = state.schedule.start_unix_ms / 1000 + WINDOW_SECS;
    let id = state.request_ids.fetch_add(1, Ordering::Relaxed);
    for (name, v) in [
        ("content-type", "application/json; charset=utf-8".to_owned()),
        (
            "cache-control",
            "private, max-age=60, s-maxage=60".to_owned(),
        ),
        (
            "vary",
            "Accept, Authorization, Cookie, X-GitHub-OTP".to_owned(),
        ),
        ("x-github-media-type", "github.v3; format=json".to_owned()),
        ("x-github-api-version-selected", "2022-11-28".to_owned()),
        ("x-ratelimit-limit", limit.to_string()),
        (
            "x-ratelimit-remaining",
            limit.saturating_sub(used).to_string(),
        ),
        ("x-ratelimit-used", used.to_string()),
        ("x-ratelimit-reset", reset.to_string()),
        ("x-ratelimit-resource", "core".to_owned()),
        ("x-github-request-id", format!("BE70:{id:08X}")),
    ] {
        out.insert(name, value(&v));
    }
}

impl Upstream {
    fn rendered(&self, index: usize, version: u64) -> Arc<Rendered> {
        let mut memo = self.rendered.lock().expect("render lock");
        memo.entry((index, version))
            .or_insert_with(|| {
                Arc::new(github::render(
                    &self.schedule.resources[index],
                    version,
                    self.config.seed,
                ))
            })
            .clone()
    }
}

/// `If-None-Match` against our ETag: `*`, or any listed tag, compared weakly (RFC 9110 §13.1.2).
fn etag_matches(value: &HeaderValue, etag: &str) -> bool {
    let Ok(value) = value.to_str() else {
        return false;
    };
    let ours = etag.trim_start_matches("W/");
    value
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == ours)
}

fn at_secs(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).expect("header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_compares_weakly_and_accepts_lists() {
        let etag = "\"abc\"";
        for sent in ["\"abc\"", "W/\"abc\"", "\"x\", \"abc\"", "*"] {
            assert!(etag_matches(&value(sent), etag), "{sent}");
        }
        assert!(!etag_matches(&value("\"abd\""), etag));
    }

    #[test]
    fn the_token_is_the_credential_part() {
        let mut headers = HeaderMap::new();
        assert_eq!(token(&headers), "anonymous");
        headers.insert(header::AUTHORIZATION, value("token runner-1"));
        assert_eq!(token(&headers), "runner-1");
        headers.insert(header::AUTHORIZATION, value("Bearer runner-2"));
        assert_eq!(token(&headers), "runner-2");
    }
}

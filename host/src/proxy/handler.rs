//! The one orchestrator of a request: front end -> cache policy -> store -> GitHub -> store ->
//! response. The policy component decides every step; this file only carries the decisions out.

use super::coalesce::Role;
use super::frontend::{self, Target};
use super::hot::HotEntry;
use super::key::{KeyParts, VARY_HEADERS, request_key};
use super::outcome::Outcome;
use super::ratelimit::is_rate_limited;
use super::rewrite::rewrite_urls;
use super::upstream::{UpstreamError, UpstreamResponse};
use super::{Fetched, Shared, fleet, partition};
use crate::clock::unix_now as now;
use crate::policy::cache::{self, EntryDecision, RequestDecision, ShareScope, StoreDecision};
use crate::store::{EntryMeta, NewEntry, QueuedPut, Share};
use axum::body::Body;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, header};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Largest request body accepted (GitHub's own limits for API writes are far below this).
const MAX_REQUEST_BODY: usize = 25 << 20;

/// Response headers never stored or replayed: they belong to one exchange.
const UNSTORED_HEADERS: &[&str] = &["set-cookie", "date", "age", "cache-status", "x-cache"];

/// A request as the orchestrator sees it after the front end.
struct Incoming {
    method: Method,
    target: Target,
    headers: HeaderMap,
    body: Bytes,
    partition: String,
}

/// Handles one proxied request, and records its outcome and duration.
pub async fn handle(shared: Arc<Shared>, request: Request<Body>) -> Response<Body> {
    let started = Instant::now();
    let response = respond(&shared, request).await;
    // The outcome travels on the response (set by `client_response`), so it is recorded here once,
    // with the time of the whole request; refusals and upstream errors carry none and are not
    // cache outcomes.
    if let Some(outcome) = response.extensions().get::<Outcome>() {
        shared.metrics.record(*outcome, started.elapsed());
    }
    response
}

/// Front end, body, partition, then the policy's first decision.
async fn respond(shared: &Arc<Shared>, request: Request<Body>) -> Response<Body> {
    let target = match frontend::target(&request) {
        Ok(target) => target,
        Err(refusal) => return error_response(refusal.status(), &refusal.to_string()),
    };
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_REQUEST_BODY).await {
        Ok(body) => body,
        Err(e) => {
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("request body rejected: {e}"),
            );
        }
    };
    let partition = partition::of(&parts.headers);
    let incoming = Incoming {
        method: parts.method,
        target,
        headers: parts.headers,
        body,
        partition,
    };
    let verdict = shared
        .cache_policy
        .on_request(&policy_request(shared, &incoming));
    if verdict.failure.is_some() {
        shared.metrics.policy_failure();
    }
    match verdict.decision {
        RequestDecision::Bypass(reason) => {
            tracing::debug!(method = %incoming.method, path = %incoming.target.path, %reason, "bypass");
            bypass(shared, incoming).await
        }
        RequestDecision::Cache(plan) => cached(shared, incoming, plan).await,
    }
}

/// Builds the policy's view of the request (no credentials in it).
fn policy_request(shared: &Shared, incoming: &Incoming) -> cache::Request {
    let headers = ["accept", "x-github-api-version", "cache-control", "pragma"]
        .iter()
        .filter_map(|name| {
            let value = incoming.headers.get(*name)?.to_str().ok()?;
            Some(cache::Header {
                name: (*name).to_string(),
                value: value.to_string(),
            })
        })
        .collect();
    let graphql_query = (incoming.method == Method::POST && incoming.target.path == "/graphql")
        .then(|| serde_json::from_slice::<serde_json::Value>(&incoming.body).ok())
        .flatten()
        .and_then(|doc| doc.get("query")?.as_str().map(str::to_string));
    cache::Request {
        method: incoming.method.as_str().to_string(),
        path: incoming.target.path.clone(),
        query: incoming.target.query.clone(),
        headers,
        token_partition: incoming.partition.clone(),
        graphql_query,
        operation_ttls: shared.operation_ttls.clone(),
        default_ttl_seconds: shared.default_ttl_secs,
    }
}

/// Writes and uncacheable reads: pass through, never retry, invalidate what a write changed.
async fn bypass(shared: &Arc<Shared>, incoming: Incoming) -> Response<Body> {
    let result = send(shared, &incoming, incoming.headers.clone()).await;
    let response = match result {
        Ok(response) => response,
        Err(error) => return upstream_error_response(&error),
    };
    if !matches!(incoming.method, Method::GET | Method::HEAD) {
        invalidate_after_write(shared, &incoming, &response).await;
    }
    client_response(
        shared,
        &incoming.target,
        response.status,
        response.headers,
        response.body,
        Outcome::Bypass,
        None,
        false,
    )
}

/// Asks the policy what a write invalidates and drops those entries.
async fn invalidate_after_write(
    shared: &Arc<Shared>,
    incoming: &Incoming,
    response: &UpstreamResponse,
) {
    let verdict = shared
        .cache_policy
        .on_response(&policy_response(incoming, response));
    let paths: Vec<(String, bool)> = verdict
        .decision
        .invalidate
        .into_iter()
        .map(|inv| (inv.path, inv.include_descendants))
        .collect();
    if paths.is_empty() {
        return;
    }
    fleet::announce_invalidation(shared, paths.clone());
    let removed = invalidate_paths(shared, paths).await;
    shared.metrics.invalidated(removed);
}

/// Drops stored entries under `(path, include_descendants)` pairs, then the memory layer.
/// Returns how many stored entries went.
pub(super) async fn invalidate_paths(shared: &Arc<Shared>, paths: Vec<(String, bool)>) -> usize {
    let store = shared.store.clone();
    let removed = tokio::task::spawn_blocking(move || {
        paths
            .iter()
            .map(|(path, descendants)| {
                store.invalidate(path, *descendants).unwrap_or_else(|e| {
                    tracing::warn!(%path, "invalidation failed: {e}");
                    0
                })
            })
            .sum::<usize>()
    })
    .await
    .unwrap_or(0);
    // After the store: a reader that saw the old entry cannot re-insert it (generation moved).
    shared.hot.clear();
    removed
}

fn policy_response(incoming: &Incoming, response: &UpstreamResponse) -> cache::Response {
    cache::Response {
        method: incoming.method.as_str().to_string(),
        path: incoming.target.path.clone(),
        query: incoming.target.query.clone(),
        status: response.status.as_u16(),
        headers: response
            .headers
            .iter()
            .filter_map(|(name, value)| {
                Some(cache::Header {
                    name: name.as_str().to_string(),
                    value: value.to_str().ok()?.to_string(),
                })
            })
            .collect(),
    }
}

/// Cacheable requests: the store first, GitHub when the policy says so.
async fn cached(
    shared: &Arc<Shared>,
    incoming: Incoming,
    plan: cache::CachePlan,
) -> Response<Body> {
    let vary: Vec<&str> = VARY_HEADERS
        .iter()
        .map(|h| {
            incoming
                .headers
                .get(*h)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
        })
        .collect();
    let key = request_key(&KeyParts {
        method: incoming.method.as_str(),
        path: &incoming.target.path,
        query: &incoming.target.query,
        vary,
        body: &incoming.body,
        partition: (plan.share == ShareScope::Token).then_some(incoming.partition.as_str()),
    });
    let generation = shared.hot.generation();
    let stored = match shared.hot.get(&key) {
        Some(hot) => {
            // The store's LRU order must see hits it never served.
            let recorded = hot.recorded_access.load(Ordering::Relaxed);
            if let Some(now) = shared
                .store
                .record_access(&hot.meta.key, &hot.meta.cid, recorded)
            {
                hot.recorded_access.store(now, Ordering::Relaxed);
            }
            Ok(Ok(Some(hot)))
        }
        None => {
            let store = shared.store.clone();
            let key = key.clone();
            tokio::task::spawn_blocking(move || {
                store.get(&key).map(|found| {
                    found.map(|(meta, body)| Arc::new(HotEntry::new(meta, Bytes::from(body))))
                })
            })
            .await
            .inspect(|read| {
                if let Ok(Some(entry)) = read {
                    shared.hot.insert_entry(generation, entry.clone());
                }
            })
        }
    };
    let stored = match stored {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => {
            tracing::warn!(%key, "store read failed, fetching: {e}");
            None
        }
        Err(e) => {
            tracing::warn!(%key, "store task failed, fetching: {e}");
            None
        }
    };
    let (stored, from_peer) = match stored {
        Some(found) => (Some(found), false),
        None if plan.share != ShareScope::Token => (fleet::lookup(shared, &key).await, true),
        None => (None, false),
    };
    let Some(hot) = stored else {
        return fetch(shared, incoming, key, plan).await;
    };
    let entry = &hot.meta;
    let now = now();
    let age = now.saturating_sub(entry.fetched_at);
    let same_token = entry.token_partition == incoming.partition;
    let verdict = shared.cache_policy.on_entry(&cache::Entry {
        operation: entry.operation.clone(),
        age_seconds: age,
        ttl_seconds: entry.ttl_secs,
        share: share_scope(entry.share),
        has_etag: entry.etag.is_some(),
        has_last_modified: entry.last_modified.is_some(),
        same_token,
        status: entry.status,
        upstream: shared.rate_limits.state(&incoming.partition),
    });
    if verdict.failure.is_some() {
        shared.metrics.policy_failure();
    }
    let hit = if from_peer {
        Outcome::PeerHit
    } else {
        Outcome::Hit
    };
    match verdict.decision {
        EntryDecision::Serve(_) => serve_entry(shared, &incoming, &hot, hit),
        EntryDecision::ServeStale(_) => serve_entry(shared, &incoming, &hot, Outcome::Stale),
        EntryDecision::Refetch(_) => fetch(shared, incoming, key, plan).await,
        EntryDecision::Revalidate(_) => {
            revalidate(shared, incoming, key, plan, hot, same_token).await
        }
    }
}

/// Conditional request with the requester's own credential; a 304 refreshes the entry.
async fn revalidate(
    shared: &Arc<Shared>,
    incoming: Incoming,
    key: String,
    plan: cache::CachePlan,
    hot: Arc<HotEntry>,
    same_token: bool,
) -> Response<Body> {
    let entry = &hot.meta;
    let mut headers = incoming.headers.clone();
    // ETags are per token on GitHub: another token's ETag would never match.
    if same_token
        && let Some(etag) = entry
            .etag
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
    {
        headers.insert(header::IF_NONE_MATCH, etag);
    } else {
        headers.remove(header::IF_NONE_MATCH);
    }
    if let Some(lm) = entry
        .last_modified
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        headers.insert(header::IF_MODIFIED_SINCE, lm);
    }
    match send(shared, &incoming, headers).await {
        Ok(response) if response.status == StatusCode::NOT_MODIFIED => {
            let generation = shared.hot.generation();
            let refreshed = refresh_entry(shared, &key, entry, &response).await;
            let refreshed = Arc::new(HotEntry::new(refreshed, hot.body.clone()));
            shared.hot.insert_entry(generation, refreshed.clone());
            fleet::announce_refresh(shared, &refreshed.meta, &refreshed.body);
            serve_entry(shared, &incoming, &refreshed, Outcome::Revalidated)
        }
        Ok(response)
            if (is_rate_limited(&response) || response.status.is_server_error()) && same_token =>
        {
            serve_entry(shared, &incoming, &hot, Outcome::Stale)
        }
        Ok(response) => {
            store_and_respond(shared, &incoming, key, &plan, response, Outcome::Miss).await
        }
        Err(_) if same_token => serve_entry(shared, &incoming, &hot, Outcome::Stale),
        Err(error) => upstream_error_response(&error),
    }
}

/// Applies a 304's headers to the stored entry and restarts its TTL.
async fn refresh_entry(
    shared: &Arc<Shared>,
    key: &str,
    entry: &EntryMeta,
    response: &UpstreamResponse,
) -> EntryMeta {
    let mut headers = entry.headers.clone();
    for (name, value) in storable_headers(&response.headers) {
        headers.retain(|(n, _)| *n != name);
        headers.push((name, value));
    }
    let etag = header_text(&response.headers, header::ETAG).or_else(|| entry.etag.clone());
    let last_modified = header_text(&response.headers, header::LAST_MODIFIED)
        .or_else(|| entry.last_modified.clone());
    let (store, key, fetched_at) = (shared.store.clone(), key.to_string(), now());
    let refreshed = tokio::task::spawn_blocking(move || {
        store.refresh(&key, fetched_at, headers, etag, last_modified)
    })
    .await;
    match refreshed {
        Ok(Ok(Some(meta))) => meta,
        other => {
            if let Ok(Err(e)) = other {
                tracing::warn!("refreshing entry after 304 failed: {e}");
            }
            EntryMeta {
                fetched_at: now(),
                ..entry.clone()
            }
        }
    }
}

/// A full fetch, coalesced with identical in-flight fetches of the same token partition.
async fn fetch(
    shared: &Arc<Shared>,
    incoming: Incoming,
    key: String,
    plan: cache::CachePlan,
) -> Response<Body> {
    let coalesce_key = format!("{key} partition={}", incoming.partition);
    let leader_shared = shared.clone();
    let leader_key = key.clone();
    let leader_plan = plan.clone();
    let headers = incoming.headers.clone();
    let method = incoming.method.clone();
    let target = incoming.target.clone();
    let body = incoming.body.clone();
    let partition = incoming.partition.clone();
    let fetch = async move {
        let incoming = Incoming {
            method,
            target,
            headers: headers.clone(),
            body,
            partition,
        };
        let response = send(&leader_shared, &incoming, headers)
            .await
            .map_err(Arc::new)?;
        let stored = store_response(
            &leader_shared,
            &incoming,
            leader_key,
            &leader_plan,
            &response,
        )
        .await;
        Ok(Fetched {
            response: Arc::new(response),
            stored,
        })
    };
    let (result, role) = shared.coalescer.run(coalesce_key, fetch).await;
    let outcome = if role == Role::Leader {
        Outcome::Miss
    } else {
        Outcome::Coalesced
    };
    match result {
        Ok(fetched) => {
            let r = &fetched.response;
            let ttl = fetched.stored.then_some(i64::from(plan.ttl_seconds));
            client_response(
                shared,
                &incoming.target,
                r.status,
                r.headers.clone(),
                r.body.clone(),
                outcome,
                ttl,
                fetched.stored,
            )
        }
        Err(error) => upstream_error_response(&error),
    }
}

/// Stores a fetched response if the policy says so; used after a revalidation returned a new body.
async fn store_and_respond(
    shared: &Arc<Shared>,
    incoming: &Incoming,
    key: String,
    plan: &cache::CachePlan,
    response: UpstreamResponse,
    outcome: Outcome,
) -> Response<Body> {
    let stored = store_response(shared, incoming, key, plan, &response).await;
    let ttl = stored.then_some(i64::from(plan.ttl_seconds));
    client_response(
        shared,
        &incoming.target,
        response.status,
        response.headers,
        response.body,
        outcome,
        ttl,
        stored,
    )
}

/// Asks the policy whether to keep `response`, and keeps it: into the memory layer at once, into
/// the store write-behind (queued, durable with the writer's next group commit; the client does
/// not wait for the fsync). Returns whether it was kept.
async fn store_response(
    shared: &Arc<Shared>,
    incoming: &Incoming,
    key: String,
    plan: &cache::CachePlan,
    response: &UpstreamResponse,
) -> bool {
    let generation = shared.hot.generation();
    let verdict = shared
        .cache_policy
        .on_response(&policy_response(incoming, response));
    if verdict.failure.is_some() {
        shared.metrics.policy_failure();
    }
    if !matches!(verdict.decision.store, StoreDecision::Store(_)) {
        return false;
    }
    let entry = NewEntry {
        key,
        method: incoming.method.as_str().to_string(),
        path: incoming.target.path.clone(),
        query: incoming.target.query.clone(),
        status: response.status.as_u16(),
        headers: storable_headers(&response.headers),
        fetched_at: now(),
        ttl_secs: plan.ttl_seconds,
        etag: header_text(&response.headers, header::ETAG),
        last_modified: header_text(&response.headers, header::LAST_MODIFIED),
        token_partition: incoming.partition.clone(),
        share: store_share(plan.share),
        operation: plan.operation.clone(),
    };
    // A body read from the connection is a slice of hyper's read buffer and would keep all of
    // it (~8 KiB) alive for as long as memory holds the entry: keep an exact-size copy instead.
    let body = Bytes::copy_from_slice(&response.body);
    let (store, queued_body) = (shared.store.clone(), body.clone());
    // Off the async workers: hashing a large body takes a while, and queueing waits while the
    // write queue is full.
    match tokio::task::spawn_blocking(move || store.enqueue_put(entry, queued_body)).await {
        Ok(Ok(queued)) => {
            fleet::announce(shared, &queued.meta, &body);
            // Requests right behind this one hit memory while the store commits.
            shared.hot.insert(generation, queued.meta.clone(), body);
            watch_queued_put(shared, queued);
            true
        }
        Ok(Err(e)) => {
            tracing::warn!("storing response failed: {e}");
            false
        }
        Err(e) => {
            tracing::warn!("store task failed: {e}");
            false
        }
    }
}

/// Waits, off the request, for a write-behind put to be committed. One that fails is logged and
/// taken back out of the memory layer, so memory does not go on serving an entry the store
/// refused; entries the put evicted from the store leave memory too, so the store's bounds
/// decide what is served, and are no longer provided to the fleet. (Invalidations need nothing here: the writer applies them after every put queued
/// before them, and the memory layer is emptied after the invalidation's commit.)
pub(super) fn watch_queued_put(shared: &Arc<Shared>, queued: QueuedPut) {
    let shared = shared.clone();
    let QueuedPut { meta, ticket } = queued;
    tokio::spawn(async move {
        match ticket.done().await {
            Ok(evicted) => {
                for key in evicted {
                    shared.hot.forget_key(&key);
                    if let Some(mesh) = &shared.mesh {
                        mesh.withdraw(&key);
                    }
                }
            }
            Err(e) => {
                tracing::warn!(path = %meta.path, "storing response failed after answering: {e}");
                shared.hot.forget(&meta.key, &meta.cid);
            }
        }
    });
}

/// Sends the request upstream, recording rate limits and failures.
async fn send(
    shared: &Shared,
    incoming: &Incoming,
    headers: HeaderMap,
) -> Result<UpstreamResponse, UpstreamError> {
    shared.metrics.upstream_request();
    let result = shared
        .upstream
        .send(
            incoming.method.clone(),
            &incoming.target.path_and_query(),
            headers,
            incoming.body.clone(),
        )
        .await;
    match &result {
        Ok(response) => shared.rate_limits.observe(&incoming.partition, response),
        Err(error) => {
            shared.metrics.upstream_error();
            shared.rate_limits.observe_failure(&incoming.partition);
            tracing::warn!(path = %incoming.target.path, "upstream failed: {error}");
        }
    }
    result
}

/// Answers from a stored entry (its headers parsed once, when it entered memory).
fn serve_entry(
    shared: &Shared,
    incoming: &Incoming,
    hot: &HotEntry,
    outcome: Outcome,
) -> Response<Body> {
    let entry = &hot.meta;
    let mut headers = hot.headers.clone();
    let age = now().saturating_sub(entry.fetched_at);
    headers.insert(header::AGE, HeaderValue::from(age));
    let ttl = i64::from(entry.ttl_secs) - age as i64;
    let status = StatusCode::from_u16(entry.status).unwrap_or(StatusCode::OK);
    // The client's own conditional request is answered here when its ETag matches ours.
    let client_etag = incoming
        .headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    if status == StatusCode::OK && client_etag.is_some() && client_etag == entry.etag.as_deref() {
        return client_response(
            shared,
            &incoming.target,
            StatusCode::NOT_MODIFIED,
            headers,
            Bytes::new(),
            outcome,
            Some(ttl),
            false,
        );
    }
    let body = if incoming.method == Method::HEAD {
        Bytes::new()
    } else {
        hot.body.clone()
    };
    client_response(
        shared,
        &incoming.target,
        status,
        headers,
        body,
        outcome,
        Some(ttl),
        false,
    )
}

/// The response the client gets: links rewritten, cache status set, the outcome attached for
/// [`handle`] to record.
#[allow(clippy::too_many_arguments)]
fn client_response(
    shared: &Shared,
    target: &Target,
    status: StatusCode,
    mut headers: HeaderMap,
    body: Bytes,
    outcome: Outcome,
    ttl: Option<i64>,
    stored: bool,
) -> Response<Body> {
    rewrite_urls(&mut headers, shared.upstream.base(), &target.client_base);
    outcome.apply(&mut headers, ttl, stored);
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response.extensions_mut().insert(outcome);
    response
}

/// A JSON error in GitHub's shape (`{"message": ...}`), so clients print it.
pub fn error_response(status: StatusCode, message: &str) -> Response<Body> {
    let body = serde_json::json!({ "message": message, "documentation_url": "https://github.com/ghmesh/ghmesh" });
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

fn upstream_error_response(error: &UpstreamError) -> Response<Body> {
    let status = match error {
        UpstreamError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
        UpstreamError::Transport(_) => StatusCode::BAD_GATEWAY,
    };
    error_response(status, &format!("ghmesh: {error}"))
}

fn storable_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| !UNSTORED_HEADERS.contains(&name.as_str()))
        .filter_map(|(name, value)| {
            Some((name.as_str().to_string(), value.to_str().ok()?.to_string()))
        })
        .collect()
}

fn header_text(headers: &HeaderMap, name: HeaderName) -> Option<String> {
    headers.get(name)?.to_str().ok().map(str::to_string)
}

fn share_scope(share: Share) -> ShareScope {
    match share {
        Share::Token => ShareScope::Token,
        Share::Revalidate => ShareScope::Revalidate,
        Share::Fleet => ShareScope::Fleet,
    }
}

fn store_share(share: ShareScope) -> Share {
    match share {
        ShareScope::Token => Share::Token,
        ShareScope::Revalidate => Share::Revalidate,
        ShareScope::Fleet => Share::Fleet,
    }
}

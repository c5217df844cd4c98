//! Store maintenance through a running proxy, under `/_ghmesh/cache`: `ghmesh cache
//! stats|ls|prune|clear|verify` use it while `serve` holds the store's lock.
//!
//! Every endpoint needs `Authorization: Bearer <admin token>`: a random token `serve` makes at
//! start and writes only to its 0600 discovery file, next to the 0600 database. Whoever can read
//! the token can already open the store, so the endpoints grant nothing new; without it (wrong,
//! missing, or in a query string) the answer is 401 and nothing is read or changed. The token is
//! compared in constant time and never logged.

use super::Shared;
use crate::clock::unix_now;
use crate::store::{EntryMeta, Share, Store, StoreError, VerifyReport};
use axum::extract::{FromRequestParts, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// Where the endpoints live.
pub const PREFIX: &str = "/_ghmesh/cache";

/// Bytes of OS randomness in a token (printed as twice as many hex digits).
const TOKEN_BYTES: usize = 32;

/// The secret that authorises the admin endpoints of one `serve` process.
#[derive(Clone)]
pub struct AdminToken(String);

impl AdminToken {
    /// A fresh token from the operating system's random number generator.
    pub fn generate() -> anyhow::Result<Self> {
        let mut bytes = [0u8; TOKEN_BYTES];
        getrandom::fill(&mut bytes)
            .map_err(|e| anyhow::anyhow!("no randomness for the admin token: {e}"))?;
        Ok(Self(hex::encode(bytes)))
    }

    /// The token as written to the discovery file.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this token, in time independent of where they differ.
    fn matches(&self, presented: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(presented).into()
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

/// The admin routes; the caller adds them to the proxy's router.
pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(&format!("{PREFIX}/stats"), get(stats))
        .route(&format!("{PREFIX}/entries"), get(entries))
        .route(&format!("{PREFIX}/verify"), get(verify))
        .route(&format!("{PREFIX}/prune"), post(prune))
        .route(&format!("{PREFIX}/clear"), post(clear))
        // A mistyped admin path must not fall through to the proxy and go to GitHub.
        .route(&format!("{PREFIX}/{{*rest}}"), any(not_found))
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "no such admin endpoint")
}

/// The store's counts and bounds (`ghmesh cache stats`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreSummary {
    /// The database file, or `<memory>`.
    pub path: PathBuf,
    /// Index entries.
    pub entries: u64,
    /// Distinct bodies.
    pub blobs: u64,
    /// Bytes of distinct bodies.
    pub bytes: u64,
    /// Size of the database file; `None` for an in-memory store.
    pub db_file_bytes: Option<u64>,
    /// `cache.max_entries`.
    pub max_entries: u64,
    /// `cache.max_size`, in bytes.
    pub max_bytes: u64,
}

impl StoreSummary {
    /// Reads the summary of `store` (blocks on a read transaction).
    pub fn of(store: &Store) -> Result<Self, StoreError> {
        let stats = store.stats()?;
        let limits = store.limits();
        Ok(Self {
            path: store.path().to_path_buf(),
            entries: stats.entries,
            blobs: stats.blobs,
            bytes: stats.bytes,
            db_file_bytes: stats.db_file_bytes,
            max_entries: limits.max_entries,
            max_bytes: limits.max_bytes,
        })
    }
}

/// One listed entry (`ghmesh cache ls`): identifiers and numbers only. Header values, validators
/// and the token partition stay in the store, so a listing can never carry a credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedEntry {
    /// Request key.
    pub key: String,
    /// HTTP method.
    pub method: String,
    /// API path.
    pub path: String,
    /// Stored status.
    pub status: u16,
    /// The policy's operation class.
    pub operation: String,
    /// Unix seconds of the fetch (or last revalidation).
    pub fetched_at: u64,
    /// Seconds fresh after `fetched_at`.
    pub ttl_secs: u32,
    /// Body bytes.
    pub size: u64,
    /// Who may be served it.
    pub share: Share,
    /// The body's CID.
    pub cid: String,
}

impl ListedEntry {
    /// Whether it is within its TTL at `now`.
    pub fn is_fresh(&self, now: u64) -> bool {
        now < self.fetched_at.saturating_add(u64::from(self.ttl_secs))
    }
}

impl From<&EntryMeta> for ListedEntry {
    fn from(e: &EntryMeta) -> Self {
        Self {
            key: e.key.clone(),
            method: e.method.clone(),
            path: e.path.clone(),
            status: e.status,
            operation: e.operation.clone(),
            fetched_at: e.fetched_at,
            ttl_secs: e.ttl_secs,
            size: e.size,
            share: e.share,
            cid: e.cid.clone(),
        }
    }
}

/// What a prune or clear removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removed {
    /// Entries removed.
    pub removed: usize,
    /// The database file, or `<memory>`.
    pub path: PathBuf,
}

/// [`VerifyReport`] as the admin API sends it (`ghmesh cache verify`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifySummary {
    /// Blobs hashed.
    pub blobs_checked: u64,
    /// Bytes hashed.
    pub bytes_checked: u64,
    /// CIDs of blobs that failed their check, with the keys of the entries using each.
    pub corrupt: Vec<(String, Vec<String>)>,
    /// Entries naming a blob the store does not hold.
    pub missing_blobs: Vec<String>,
    /// Entries whose index row does not decode.
    pub unreadable_entries: Vec<String>,
}

impl VerifySummary {
    /// Whether nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.corrupt.is_empty()
            && self.missing_blobs.is_empty()
            && self.unreadable_entries.is_empty()
    }
}

impl From<VerifyReport> for VerifySummary {
    fn from(report: VerifyReport) -> Self {
        Self {
            blobs_checked: report.blobs_checked,
            bytes_checked: report.bytes_checked,
            corrupt: report
                .corrupt
                .into_iter()
                .map(|c| (c.cid, c.keys))
                .collect(),
            missing_blobs: report.missing_blobs,
            unreadable_entries: report.unreadable_entries,
        }
    }
}

/// Proof that the request carried the admin token; extracting it answers 401 otherwise.
pub(super) struct Authorized;

impl FromRequestParts<Arc<Shared>> for Authorized {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        shared: &Arc<Shared>,
    ) -> Result<Self, Self::Rejection> {
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| bearer(value.as_bytes()));
        match (&shared.admin_token, presented) {
            (Some(token), Some(presented)) if token.matches(presented) => Ok(Authorized),
            _ => Err(unauthorized()),
        }
    }
}

/// The credential of `Bearer <credential>` (scheme case-insensitive, RFC 9110 §11.1).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| rest.trim_ascii())
}

fn unauthorized() -> Response {
    let mut response = error(
        StatusCode::UNAUTHORIZED,
        "the admin endpoints need `Authorization: Bearer <admin_token>` from the serve.json \
         discovery file in the cache directory",
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"ghmesh admin\""),
    );
    response
}

/// A JSON error answer: `{"message": ...}`.
pub(super) fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "message": message }))).into_response()
}

/// Runs a store call off the async workers; a failure is a 500 naming it. The call first waits
/// for the write-behind queue, so it sees every response the proxy already answered as stored.
async fn blocking<T: Serialize + Send + 'static>(
    shared: &Shared,
    what: &'static str,
    call: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Response {
    let store = shared.store.clone();
    let run = move || {
        store.flush()?;
        call(&store)
    };
    match tokio::task::spawn_blocking(run).await {
        Ok(Ok(value)) => Json(value).into_response(),
        Ok(Err(e)) => {
            tracing::warn!("admin {what} failed: {e}");
            error(StatusCode::INTERNAL_SERVER_ERROR, &format!("{what}: {e}"))
        }
        Err(e) => {
            tracing::warn!("admin {what} task failed: {e}");
            error(StatusCode::INTERNAL_SERVER_ERROR, &format!("{what}: {e}"))
        }
    }
}

async fn stats(_: Authorized, State(shared): State<Arc<Shared>>) -> Response {
    blocking(&shared, "store stats", StoreSummary::of).await
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<usize>,
}

async fn entries(
    _: Authorized,
    State(shared): State<Arc<Shared>>,
    Query(query): Query<ListQuery>,
) -> Response {
    let limit = query.limit.unwrap_or(50);
    blocking(&shared, "listing entries", move |store| {
        Ok(store
            .list(limit)?
            .iter()
            .map(ListedEntry::from)
            .collect::<Vec<_>>())
    })
    .await
}

async fn verify(_: Authorized, State(shared): State<Arc<Shared>>) -> Response {
    blocking(&shared, "verify", |store| {
        store.verify_all().map(VerifySummary::from)
    })
    .await
}

#[derive(Deserialize)]
struct PruneQuery {
    grace_secs: Option<u64>,
}

async fn prune(
    _: Authorized,
    State(shared): State<Arc<Shared>>,
    Query(query): Query<PruneQuery>,
) -> Response {
    let grace = query.grace_secs.unwrap_or(0);
    let response = blocking(&shared, "prune", move |store| {
        Ok(Removed {
            removed: store.prune(unix_now(), grace)?,
            path: store.path().to_path_buf(),
        })
    })
    .await;
    // After the store, as for a write: the memory layer must not keep serving removed entries.
    shared.hot.clear();
    response
}

async fn clear(_: Authorized, State(shared): State<Arc<Shared>>) -> Response {
    let response = blocking(&shared, "clear", |store| {
        Ok(Removed {
            removed: store.clear()?,
            path: store.path().to_path_buf(),
        })
    })
    .await;
    shared.hot.clear();
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_64_hex_digits_and_differ() {
        let a = AdminToken::generate().unwrap();
        let b = AdminToken::generate().unwrap();
        assert_eq!(a.expose().len(), 64);
        assert!(a.expose().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a.expose(), b.expose());
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn only_the_exact_token_matches() {
        let token = AdminToken("ab".repeat(32));
        assert!(token.matches("ab".repeat(32).as_bytes()));
        assert!(!token.matches("ab".repeat(31).as_bytes()));
        assert!(!token.matches(("ab".repeat(32) + "x").as_bytes()));
        assert!(!token.matches(b""));
    }

    #[test]
    fn bearer_takes_the_credential_of_the_bearer_scheme_only() {
        assert_eq!(bearer(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"bearer  abc "), Some(&b"abc"[..]));
        assert_eq!(bearer(b"token abc"), None);
        assert_eq!(bearer(b"Basic YWJj"), None);
        assert_eq!(bearer(b"Bearer"), None);
    }
}

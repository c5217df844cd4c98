//! A local GitHub Actions cache service (v2) for tests: the Twirp `CacheService`
//! (`CreateCacheEntry`, `FinalizeCacheEntryUpload`, `GetCacheEntryDownloadURL`) with the JSON
//! shapes `@actions/cache` 6.3.0 sends and reads, Twirp errors (`{"code", "msg"}`), and a blob
//! store behind signed URLs that takes Azure block-blob `PUT`s (`x-ms-blob-type: BlockBlob`).
//!
//! Like the service: bearer token checked on every call, entries immutable (a second
//! `CreateCacheEntry` for a key answers `409 already_exists`), lookups match the key exactly or
//! the newest finalized entry under the first matching restore prefix, and only for the same
//! `version`. Failure modes ([`Failure`]) are switched at run time.
//!
//! Used in-process by the system tests and, through `#[path]`, by the unit tests of
//! `ghmesh::mesh::registry`, so it depends only on axum, tokio and serde_json.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use serde_json::{Value, json};

/// The Twirp service path.
pub const SERVICE: &str = "github.actions.results.api.v1.CacheService";

/// How the server misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Failure {
    /// It does not.
    #[default]
    None,
    /// Every Twirp call answers `401 unauthenticated`, whatever the token.
    RejectToken,
    /// Every Twirp call answers `403 permission_denied`.
    Forbidden,
    /// Every Twirp call answers `429 resource_exhausted` with `Retry-After: <secs>`.
    RateLimit {
        /// The `Retry-After` value.
        retry_after_secs: u64,
    },
    /// Every Twirp call answers `500 internal`.
    ServerError,
    /// Every Twirp call waits this long before answering normally.
    Slow(Duration),
    /// Blob uploads answer `500` and store nothing.
    DropUploads,
    /// Blob downloads answer 200 with bytes that are no record.
    GarbageBlob,
}

#[derive(Debug, Clone)]
struct Entry {
    version: String,
    /// Creation order: the newest entry under a prefix has the highest.
    seq: u64,
    blob: Option<Vec<u8>>,
    finalized: bool,
}

#[derive(Default)]
struct Books {
    token: String,
    /// Part of every signed URL; a request without it is refused as Azure refuses a bad SAS.
    signature: String,
    failure: Failure,
    entries: BTreeMap<String, Entry>,
    next_seq: u64,
    calls: BTreeMap<String, usize>,
    /// Blob requests that carried an `Authorization` header (the runtime token must not leave
    /// for blob storage).
    authorized_blob_requests: usize,
}

/// A running cache service; the server stops when this drops (in-process) or with the process
/// ([`ActionsCacheServer::start_in_thread`]).
pub struct ActionsCacheServer {
    url: String,
    books: Arc<Mutex<Books>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for ActionsCacheServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl ActionsCacheServer {
    /// Serves on `addr` in the current runtime, accepting `token`.
    pub async fn bind(addr: SocketAddr, token: &str) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let (url, books, app) = Self::prepare(listener.local_addr()?, token);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            url,
            books,
            task: Some(task),
        })
    }

    /// Serves on a free loopback port from a thread with its own runtime, for the life of the
    /// process (for synchronous tests).
    pub fn start_in_thread(token: &str) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the cache server");
        listener.set_nonblocking(true).expect("nonblocking");
        let (url, books, app) = Self::prepare(listener.local_addr().expect("addr"), token);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("cache server runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                axum::serve(listener, app)
                    .await
                    .expect("cache server serves");
            });
        });
        Self {
            url,
            books,
            task: None,
        }
    }

    fn prepare(addr: SocketAddr, token: &str) -> (String, Arc<Mutex<Books>>, Router) {
        let signature = format!(
            "{:016x}",
            std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish()
        );
        let books = Arc::new(Mutex::new(Books {
            token: token.to_string(),
            signature,
            ..Books::default()
        }));
        let url = format!("http://{addr}");
        let app = Router::new()
            .route(&format!("/twirp/{SERVICE}/{{method}}"), post(twirp))
            .route("/blob/{key}", put(upload).get(download))
            .with_state((books.clone(), url.clone()));
        (url, books, app)
    }

    /// Its base URL: the value of `ACTIONS_RESULTS_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Switches the failure mode.
    pub fn set_failure(&self, failure: Failure) {
        self.books().failure = failure;
    }

    /// Keys of the finalized entries, in creation order.
    pub fn keys(&self) -> Vec<String> {
        let books = self.books();
        let mut entries: Vec<(&String, &Entry)> =
            books.entries.iter().filter(|(_, e)| e.finalized).collect();
        entries.sort_by_key(|(_, e)| e.seq);
        entries.into_iter().map(|(k, _)| k.clone()).collect()
    }

    /// The stored blob of `key`.
    pub fn blob(&self, key: &str) -> Option<Vec<u8>> {
        self.books().entries.get(key)?.blob.clone()
    }

    /// Stores a finalized entry directly (e.g. a record of another fleet), as the newest.
    pub fn insert(&self, key: &str, version: &str, blob: Vec<u8>) {
        let mut books = self.books();
        books.next_seq += 1;
        let seq = books.next_seq;
        books.entries.insert(
            key.to_string(),
            Entry {
                version: version.to_string(),
                seq,
                blob: Some(blob),
                finalized: true,
            },
        );
    }

    /// The `version` `key` was created with.
    pub fn version_of(&self, key: &str) -> Option<String> {
        Some(self.books().entries.get(key)?.version.clone())
    }

    /// How many times the Twirp `method` was called (any outcome).
    pub fn calls(&self, method: &str) -> usize {
        self.books().calls.get(method).copied().unwrap_or(0)
    }

    /// Blob requests that carried an `Authorization` header.
    pub fn authorized_blob_requests(&self) -> usize {
        self.books().authorized_blob_requests
    }

    fn books(&self) -> std::sync::MutexGuard<'_, Books> {
        self.books.lock().expect("cache server books")
    }
}

type Shared = (Arc<Mutex<Books>>, String);

/// A Twirp error as twirp servers write them.
fn twirp_error(status: StatusCode, code: &str, msg: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "code": code, "msg": msg }).to_string(),
    )
        .into_response()
}

fn ok_json(value: Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

async fn twirp(
    State((books, base)): State<Shared>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (failure, token) = {
        let mut b = books.lock().expect("books");
        *b.calls.entry(method.clone()).or_default() += 1;
        (b.failure, b.token.clone())
    };
    match failure {
        Failure::RejectToken => {
            return twirp_error(StatusCode::UNAUTHORIZED, "unauthenticated", "invalid token");
        }
        Failure::Forbidden => {
            return twirp_error(StatusCode::FORBIDDEN, "permission_denied", "cache denied");
        }
        Failure::RateLimit { retry_after_secs } => {
            let mut response = twirp_error(
                StatusCode::TOO_MANY_REQUESTS,
                "resource_exhausted",
                "rate limited",
            );
            response.headers_mut().insert(
                header::RETRY_AFTER,
                retry_after_secs.to_string().parse().expect("header value"),
            );
            return response;
        }
        Failure::ServerError => {
            return twirp_error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "boom");
        }
        Failure::Slow(delay) => tokio::time::sleep(delay).await,
        Failure::None | Failure::DropUploads | Failure::GarbageBlob => {}
    }
    let expected = format!("Bearer {token}");
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(&expected)
    {
        return twirp_error(StatusCode::UNAUTHORIZED, "unauthenticated", "invalid token");
    }
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json_body {
        return twirp_error(
            StatusCode::NOT_FOUND,
            "bad_route",
            "unexpected Content-Type",
        );
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return twirp_error(StatusCode::BAD_REQUEST, "malformed", "body is not JSON");
    };
    let text = |field: &str| request[field].as_str().unwrap_or_default().to_string();
    let (key, version) = (text("key"), text("version"));
    if key.is_empty() || version.is_empty() || key.len() > 512 || key.contains(',') {
        return twirp_error(
            StatusCode::BAD_REQUEST,
            "invalid_argument",
            "bad key or version",
        );
    }
    let mut b = books.lock().expect("books");
    match method.as_str() {
        "CreateCacheEntry" => {
            if b.entries.contains_key(&key) {
                return twirp_error(
                    StatusCode::CONFLICT,
                    "already_exists",
                    "cache entry with the same key, version, and scope already exists",
                );
            }
            b.next_seq += 1;
            let seq = b.next_seq;
            b.entries.insert(
                key.clone(),
                Entry {
                    version,
                    seq,
                    blob: None,
                    finalized: false,
                },
            );
            ok_json(json!({
                "ok": true,
                "signed_upload_url": signed(&base, &key, &b.signature),
            }))
        }
        "FinalizeCacheEntryUpload" => {
            // int64 arrives as a string in proto3 JSON; a number is accepted too.
            let size = match &request["size_bytes"] {
                Value::String(s) => s.parse::<usize>().ok(),
                Value::Number(n) => n.as_u64().map(|n| n as usize),
                _ => None,
            };
            let Some(entry) = b.entries.get_mut(&key).filter(|e| e.version == version) else {
                return twirp_error(StatusCode::NOT_FOUND, "not_found", "no such entry");
            };
            let uploaded = entry.blob.as_ref().map(Vec::len);
            if entry.finalized || uploaded.is_none() || uploaded != size {
                return ok_json(
                    json!({ "ok": false, "entry_id": "0", "message": "upload incomplete" }),
                );
            }
            entry.finalized = true;
            ok_json(json!({ "ok": true, "entry_id": entry.seq.to_string() }))
        }
        "GetCacheEntryDownloadURL" => {
            let restore: Vec<String> = request["restore_keys"]
                .as_array()
                .map(|keys| {
                    keys.iter()
                        .filter_map(|k| k.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let usable = |e: &&Entry| e.finalized && e.version == version;
            let exact = b.entries.get(&key).filter(usable).map(|_| key.clone());
            let matched = exact.or_else(|| {
                restore.iter().find_map(|prefix| {
                    b.entries
                        .iter()
                        .filter(|(k, e)| k.starts_with(prefix.as_str()) && usable(e))
                        .max_by_key(|(_, e)| e.seq)
                        .map(|(k, _)| k.clone())
                })
            });
            match matched {
                Some(k) => ok_json(json!({
                    "ok": true,
                    "signed_download_url": signed(&base, &k, &b.signature),
                    "matched_key": k,
                })),
                None => {
                    ok_json(json!({ "ok": false, "signed_download_url": "", "matched_key": "" }))
                }
            }
        }
        _ => twirp_error(StatusCode::NOT_FOUND, "bad_route", "no such method"),
    }
}

fn signed(base: &str, key: &str, signature: &str) -> String {
    // Keys here are `[A-Za-z0-9-]`, safe in a path.
    format!("{base}/blob/{key}?sv=2025-01-05&sig={signature}")
}

/// Checks what Azure checks of a SAS request; notes a stray `Authorization` header.
fn blob_refusal(
    books: &mut Books,
    query: &BTreeMap<String, String>,
    headers: &HeaderMap,
) -> Option<Response> {
    if headers.contains_key(header::AUTHORIZATION) {
        books.authorized_blob_requests += 1;
    }
    if query.get("sig") != Some(&books.signature) {
        return Some((StatusCode::FORBIDDEN, "AuthenticationFailed").into_response());
    }
    None
}

async fn upload(
    State((books, _)): State<Shared>,
    Path(key): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut b = books.lock().expect("books");
    if let Some(refusal) = blob_refusal(&mut b, &query, &headers) {
        return refusal;
    }
    if headers.get("x-ms-blob-type").and_then(|v| v.to_str().ok()) != Some("BlockBlob") {
        return (StatusCode::BAD_REQUEST, "MissingRequiredHeader").into_response();
    }
    if b.failure == Failure::DropUploads {
        return (StatusCode::INTERNAL_SERVER_ERROR, "InternalError").into_response();
    }
    match b.entries.get_mut(&key) {
        Some(entry) if !entry.finalized => {
            entry.blob = Some(body.to_vec());
            StatusCode::CREATED.into_response()
        }
        _ => (StatusCode::NOT_FOUND, "BlobNotFound").into_response(),
    }
}

async fn download(
    State((books, _)): State<Shared>,
    Path(key): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut b = books.lock().expect("books");
    if let Some(refusal) = blob_refusal(&mut b, &query, &headers) {
        return refusal;
    }
    if b.failure == Failure::GarbageBlob {
        return (StatusCode::OK, b"<html>not a record</html>".to_vec()).into_response();
    }
    match b
        .entries
        .get(&key)
        .filter(|e| e.finalized)
        .and_then(|e| e.blob.clone())
    {
        Some(blob) => (StatusCode::OK, blob).into_response(),
        None => (StatusCode::NOT_FOUND, "BlobNotFound").into_response(),
    }
}

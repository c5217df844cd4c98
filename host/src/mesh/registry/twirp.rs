//! A client of GitHub's Actions cache service (v2): the Twirp `CacheService` that
//! `@actions/cache` speaks, and the signed blob URLs it hands out.
//!
//! Shapes read from `@actions/cache` 6.3.0 (`lib/generated/results/api/v1/cache.js`,
//! `lib/internal/shared/cacheTwirpClient.js`, `lib/cache.js`, `lib/internal/uploadUtils.js`):
//! JSON POSTs to `<ACTIONS_RESULTS_URL>/twirp/github.actions.results.api.v1.CacheService/<Method>`
//! with `Authorization: Bearer <ACTIONS_RUNTIME_TOKEN>`, proto field names (`restore_keys`,
//! `size_bytes` as an int64 string, `signed_upload_url`, `matched_key`, ...), `ok: false` for a
//! miss or a refused reservation, Twirp errors as `{"code", "msg"}` with an HTTP status. The
//! blob goes up as one Azure block-blob `PUT` (`x-ms-blob-type: BlockBlob`) and comes down as a
//! plain `GET`; the signed URLs carry their own authorisation, so the runtime token never goes to
//! them. Nothing here logs a URL: signed URLs are credentials.

use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

/// The Twirp service path.
const SERVICE: &str = "github.actions.results.api.v1.CacheService";

/// The `version` of every registry entry, computed as `@actions/cache`'s `getCacheVersion` does:
/// SHA-256 of the components joined by `|` (here one "path" and the client's salt `1.0`).
pub fn entry_version() -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b"ghmesh/peer-registry|1.0"))
}

/// Why a call to the cache service failed, by category. Messages carry no URL and no token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// 401: the runtime token was refused.
    #[error("unauthenticated")]
    Unauthenticated,
    /// 403: the token may not read or write the cache.
    #[error("permission denied")]
    Forbidden,
    /// 429; `Retry-After` when the service gave one.
    #[error("rate limited")]
    RateLimited(Option<Duration>),
    /// Any other non-success status of a Twirp call.
    #[error("service answered {0}")]
    Status(u16),
    /// The signed blob URL refused the upload or download.
    #[error("blob storage answered {0}")]
    Blob(u16),
    /// No answer within the request timeout.
    #[error("timed out")]
    Timeout,
    /// Connection refused, reset, DNS...
    #[error("unreachable")]
    Unreachable,
    /// An answer that is not the expected JSON.
    #[error("malformed answer")]
    Malformed,
    /// An answer larger than the cap.
    #[error("answer too large")]
    TooLarge,
    /// Finalize answered `ok: false`.
    #[error("finalize refused")]
    FinalizeRefused,
}

impl ServiceError {
    /// A short stable name, for counters and status.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::RateLimited(_) => "rate_limited",
            Self::Status(s) if *s >= 500 => "server_error",
            Self::Status(_) => "bad_status",
            Self::Blob(_) => "blob_error",
            Self::Timeout => "timeout",
            Self::Unreachable => "unreachable",
            Self::Malformed => "malformed",
            Self::TooLarge => "too_large",
            Self::FinalizeRefused => "finalize_refused",
        }
    }

    fn of(e: &reqwest::Error) -> Self {
        // Never format `e`: its text contains the URL, and a signed URL is a credential.
        if e.is_timeout() {
            Self::Timeout
        } else if e.is_body() || e.is_decode() {
            Self::Malformed
        } else {
            Self::Unreachable
        }
    }
}

/// Largest JSON answer read from the service.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The cache service of one workflow run.
#[derive(Clone)]
pub struct CacheService {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl std::fmt::Debug for CacheService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheService")
            .field("token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// `GetCacheEntryDownloadURL`'s answer when an entry matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The key that matched (the primary key or the newest under a restore prefix).
    pub matched_key: String,
    /// Where to GET the blob.
    pub download_url: String,
}

#[derive(Deserialize)]
struct CreateAnswer {
    #[serde(default)]
    ok: bool,
    #[serde(default)]
    signed_upload_url: String,
}

#[derive(Deserialize)]
struct FinalizeAnswer {
    #[serde(default)]
    ok: bool,
}

#[derive(Deserialize)]
struct DownloadAnswer {
    #[serde(default)]
    ok: bool,
    #[serde(default)]
    signed_download_url: String,
    #[serde(default)]
    matched_key: String,
}

impl CacheService {
    /// A client of the service at `results_url` (`ACTIONS_RESULTS_URL`), authenticating with
    /// `token` (`ACTIONS_RUNTIME_TOKEN`); each request may take up to `timeout`.
    pub fn new(results_url: &str, token: &str, timeout: Duration) -> anyhow::Result<Self> {
        let parsed = url::Url::parse(results_url)
            .map_err(|e| anyhow::anyhow!("ACTIONS_RESULTS_URL is not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            anyhow::bail!("ACTIONS_RESULTS_URL must be http(s)");
        }
        // rustls needs a process-wide crypto provider; installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .build()?;
        Ok(Self {
            http,
            base: results_url.trim_end_matches('/').to_string(),
            token: token.to_string(),
        })
    }

    /// Reserves `key`: the signed upload URL, or `None` when the key is already taken (the
    /// service answers `ok: false`, or Twirp `already_exists` as it does for a finished entry).
    pub async fn create(&self, key: &str, version: &str) -> Result<Option<String>, ServiceError> {
        let body = json!({ "key": key, "version": version });
        match self.call("CreateCacheEntry", body).await {
            Ok(answer) => {
                let answer: CreateAnswer =
                    serde_json::from_value(answer).map_err(|_| ServiceError::Malformed)?;
                Ok((answer.ok && !answer.signed_upload_url.is_empty())
                    .then_some(answer.signed_upload_url))
            }
            Err(ServiceError::Status(409)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Uploads `blob` to a signed URL as one block blob.
    pub async fn upload(&self, url: &str, blob: Vec<u8>) -> Result<(), ServiceError> {
        let response = self
            .http
            .put(url)
            .header("x-ms-blob-type", "BlockBlob")
            .header("content-type", "application/octet-stream")
            .body(blob)
            .send()
            .await
            .map_err(|e| ServiceError::of(&e))?;
        if !response.status().is_success() {
            return Err(ServiceError::Blob(response.status().as_u16()));
        }
        Ok(())
    }

    /// Commits the uploaded `size` bytes under `key`.
    pub async fn finalize(
        &self,
        key: &str,
        version: &str,
        size: usize,
    ) -> Result<(), ServiceError> {
        // int64 travels as a string in proto3 JSON, as the client sends it.
        let body = json!({ "key": key, "version": version, "size_bytes": size.to_string() });
        let answer: FinalizeAnswer =
            serde_json::from_value(self.call("FinalizeCacheEntryUpload", body).await?)
                .map_err(|_| ServiceError::Malformed)?;
        if answer.ok {
            Ok(())
        } else {
            Err(ServiceError::FinalizeRefused)
        }
    }

    /// The entry under `key`, else the newest under the first matching `restore_keys` prefix;
    /// `None` when nothing matches (`ok: false`, or Twirp `not_found`).
    pub async fn lookup(
        &self,
        key: &str,
        restore_keys: &[String],
        version: &str,
    ) -> Result<Option<Found>, ServiceError> {
        let body = json!({ "key": key, "restore_keys": restore_keys, "version": version });
        let answer = match self.call("GetCacheEntryDownloadURL", body).await {
            Ok(answer) => answer,
            Err(ServiceError::Status(404)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let answer: DownloadAnswer =
            serde_json::from_value(answer).map_err(|_| ServiceError::Malformed)?;
        if !answer.ok {
            return Ok(None);
        }
        if answer.signed_download_url.is_empty() {
            return Err(ServiceError::Malformed);
        }
        Ok(Some(Found {
            matched_key: answer.matched_key,
            download_url: answer.signed_download_url,
        }))
    }

    /// GETs a blob from a signed URL, refusing more than `cap` bytes.
    pub async fn download(&self, url: &str, cap: usize) -> Result<Vec<u8>, ServiceError> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| ServiceError::of(&e))?;
        if !response.status().is_success() {
            return Err(ServiceError::Blob(response.status().as_u16()));
        }
        read_capped(response, cap).await
    }

    async fn call(&self, method: &str, body: Value) -> Result<Value, ServiceError> {
        let url = format!("{}/twirp/{SERVICE}/{method}", self.base);
        let response = self
            .http
            .post(url)
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| ServiceError::of(&e))?;
        let status = response.status().as_u16();
        match status {
            200..=299 => {}
            401 => return Err(ServiceError::Unauthenticated),
            403 => return Err(ServiceError::Forbidden),
            429 => {
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                return Err(ServiceError::RateLimited(retry_after));
            }
            _ => return Err(ServiceError::Status(status)),
        }
        let bytes = read_capped(response, MAX_ANSWER_BYTES).await?;
        serde_json::from_slice(&bytes).map_err(|_| ServiceError::Malformed)
    }
}

/// Reads a body chunk by chunk, failing as soon as it passes `cap`: a broken or hostile server
/// cannot make the node buffer more.
async fn read_capped(mut response: reqwest::Response, cap: usize) -> Result<Vec<u8>, ServiceError> {
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Err(ServiceError::TooLarge);
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| ServiceError::of(&e))? {
        if bytes.len() + chunk.len() > cap {
            return Err(ServiceError::TooLarge);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

//! The client side of a running serve's admin endpoints (`/_ghmesh/cache/*`, see
//! [`crate::proxy::admin`], and `/_ghmesh/codeql/*`, see [`crate::proxy::codeql_admin`]),
//! authorised with the token from its discovery file.

use super::discovery::ServeRecord;
use super::serve_client;
use crate::codeql::results::ResultQuery;
use crate::proxy::Announced;
use crate::proxy::admin::{self, ListedEntry, Removed, StoreSummary, VerifySummary};
use crate::proxy::codeql_admin::{self, FoundScan};
use anyhow::Context;
use reqwest::Method;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde::de::DeserializeOwned;
use std::time::Duration;

/// Admin calls to one serve.
pub struct AdminClient {
    client: reqwest::Client,
    base: String,
    authorization: HeaderValue,
}

impl AdminClient {
    /// A client for the serve of `record`, giving up after `timeout` per call.
    pub fn new(record: &ServeRecord, timeout: Duration) -> anyhow::Result<Self> {
        let mut authorization = HeaderValue::from_str(&format!("Bearer {}", record.admin_token))
            .ok()
            .context("the admin token in serve.json is not a valid header value")?;
        authorization.set_sensitive(true);
        Ok(Self {
            client: serve_client::client(timeout)?,
            base: record.url.trim_end_matches('/').to_string(),
            authorization,
        })
    }

    /// The store's counts and bounds.
    pub async fn stats(&self) -> anyhow::Result<StoreSummary> {
        self.call(Method::GET, "stats").await
    }

    /// Up to `limit` entries, most recently used first.
    pub async fn entries(&self, limit: usize) -> anyhow::Result<Vec<ListedEntry>> {
        self.call(Method::GET, &format!("entries?limit={limit}"))
            .await
    }

    /// Every body checked against its CID.
    pub async fn verify(&self) -> anyhow::Result<VerifySummary> {
        self.call(Method::GET, "verify").await
    }

    /// Removes entries expired more than `grace_secs` ago.
    pub async fn prune(&self, grace_secs: u64) -> anyhow::Result<Removed> {
        self.call(Method::POST, &format!("prune?grace_secs={grace_secs}"))
            .await
    }

    /// Removes every entry.
    pub async fn clear(&self) -> anyhow::Result<Removed> {
        self.call(Method::POST, "clear").await
    }

    /// Asks the serve to announce the CodeQL result stored under `key` to the fleet.
    pub async fn announce_scan(&self, key: &str) -> anyhow::Result<Announced> {
        let url = format!("{}{}/announce", self.base, codeql_admin::PREFIX);
        let (status, body) = self.send(Method::POST, &url, &[("key", key)]).await?;
        decode(&url, status, &body)
    }

    /// Asks the serve to look the fleet up for a result answering `query`; `None` when no peer
    /// has one.
    pub async fn lookup_scan(&self, query: &ResultQuery) -> anyhow::Result<Option<FoundScan>> {
        let url = format!("{}{}/lookup", self.base, codeql_admin::PREFIX);
        let mut params = vec![("key", query.key.as_str())];
        if let Some((repo, commit, category)) = &query.base {
            params.extend([
                ("repo", repo.as_str()),
                ("commit", commit.as_str()),
                ("category", category.as_str()),
            ]);
        }
        let (status, body) = self.send(Method::GET, &url, &params).await?;
        // 404: no peer has it; 409: the serve is not in a mesh. Either way, nothing found.
        if matches!(
            status,
            reqwest::StatusCode::NOT_FOUND | reqwest::StatusCode::CONFLICT
        ) {
            return Ok(None);
        }
        decode(&url, status, &body).map(Some)
    }

    async fn call<T: DeserializeOwned>(&self, method: Method, endpoint: &str) -> anyhow::Result<T> {
        let url = format!("{}{}/{endpoint}", self.base, admin::PREFIX);
        let (status, body) = self.send(method, &url, &[]).await?;
        decode(&url, status, &body)
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        query: &[(&str, &str)],
    ) -> anyhow::Result<(reqwest::StatusCode, bytes::Bytes)> {
        let url = url::Url::parse_with_params(url, query)
            .with_context(|| format!("{url} is not a URL"))?;
        let response = self
            .client
            .request(method, url.clone())
            .header(AUTHORIZATION, self.authorization.clone())
            .send()
            .await
            .map_err(|e| anyhow::Error::new(e.without_url()))
            .with_context(|| format!("no ghmesh serve answering at {}", self.base))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .with_context(|| format!("reading the answer of {url}"))?;
        Ok((status, body))
    }
}

/// The JSON answer of `url`, or an error with the serve's message.
fn decode<T: DeserializeOwned>(
    url: &str,
    status: reqwest::StatusCode,
    body: &[u8],
) -> anyhow::Result<T> {
    if !status.is_success() {
        let message = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("message")?.as_str().map(str::to_string))
            .unwrap_or_default();
        anyhow::bail!("{url} answered {status} {message}");
    }
    serde_json::from_slice(body)
        .with_context(|| format!("{url} did not answer with the expected JSON"))
}

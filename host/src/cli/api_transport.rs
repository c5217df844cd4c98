//! Where `ghmesh api` sends its calls: the serve named by `--url`/`GHMESH_URL`; else the serve
//! named by the cache directory's discovery file, if it answers; else the proxy itself, built
//! in this process over the configured store and called through its router, so the call gets
//! the same policy, keys, partitions, revalidation and invalidation as through `serve`.
//!
//! In-process, the proxy rewrites pagination links to the base the request named, the fixed
//! [`IN_PROCESS_BASE`]; [`Transport::send`] maps that base back to the router.

use super::discovery::{self, Discovery};
use super::proxy_setup::{self, UpstreamArgs};
use super::serve_client::{self, ServeTarget};
use crate::config::Config;
use crate::proxy;
use crate::store::{Store, StoreError};
use anyhow::Context;
use axum::body::Body;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Version, header};
use std::time::Duration;
use tower::ServiceExt;

/// The origin of in-process calls: `.invalid` can never resolve (RFC 6761), so a link to it can
/// only mean this process.
pub const IN_PROCESS_BASE: &str = "http://ghmesh.invalid";
/// The host of [`IN_PROCESS_BASE`].
const IN_PROCESS_HOST: &str = "ghmesh.invalid";

/// How calls reach the proxy.
pub enum Transport {
    /// HTTP to a running `ghmesh serve` at `base`.
    Serve {
        /// Its base URL (with a GHES-style `/api/v3`, if given).
        base: String,
        /// The client.
        client: reqwest::Client,
    },
    /// The proxy's router, in this process, over `store`.
    InProcess {
        /// The router.
        router: axum::Router,
        /// The store under it, to commit queued writes before the process ends.
        store: Store,
    },
}

/// A complete answer.
pub struct Answer {
    /// HTTP version (printed by `-i`).
    pub version: Version,
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Transport {
    /// Picks the transport (see the module doc); `timeout` bounds each call through a serve.
    pub async fn choose(
        target: &ServeTarget,
        config: &Config,
        upstream: &UpstreamArgs,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        if let Some(url) = target.parse()? {
            return Self::serve(url.as_str(), timeout);
        }
        let stale = match discovery::discover(&config.cache.dir).await? {
            Discovery::Live(record) => {
                tracing::debug!(url = %record.url, "using the serve named by the discovery file");
                return Self::serve(&record.url, timeout);
            }
            Discovery::Stale(record, reason) => Some((record, reason)),
            Discovery::Absent => None,
        };
        let store = match proxy_setup::open_store(config) {
            Ok(store) => store,
            Err(StoreError::Locked { path }) => {
                let holder = match stale {
                    Some((record, reason)) => format!(
                        "the ghmesh serve recorded in {} (pid {}) holds it, but {reason}",
                        config.cache.dir.join(discovery::FILE).display(),
                        record.pid
                    ),
                    None => "another process holds it and left no serve.json (an older \
                             ghmesh serve, or a running `ghmesh cache` command)"
                        .to_string(),
                };
                anyhow::bail!(
                    "cannot answer from the store {}: it is locked; {holder}. Pass --url to reach \
                     that serve, or stop it",
                    path.display()
                );
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("opening the store in {}", config.cache.dir.display())
                });
            }
        };
        tracing::debug!(store = %store.path().display(), "answering in-process");
        let shared = proxy_setup::shared(config, upstream, store.clone(), None, None)?;
        Ok(Self::InProcess {
            router: proxy::router(shared),
            store,
        })
    }

    fn serve(base: &str, timeout: Duration) -> anyhow::Result<Self> {
        Ok(Self::Serve {
            base: base.trim_end_matches('/').to_string(),
            client: serve_client::client(timeout)?,
        })
    }

    /// The base URL calls are made against.
    pub fn base(&self) -> &str {
        match self {
            Self::Serve { base, .. } => base,
            Self::InProcess { .. } => IN_PROCESS_BASE,
        }
    }

    /// Sends one call to `url` (under [`Transport::base`]) and reads the whole answer.
    pub async fn send(
        &self,
        method: Method,
        url: &url::Url,
        headers: &HeaderMap,
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<Answer> {
        match self {
            Self::Serve { base, client } => {
                let mut request = client
                    .request(method.clone(), url.clone())
                    .headers(headers.clone());
                if let Some(bytes) = body {
                    request = request.body(bytes);
                }
                let response = request.send().await.map_err(|error| {
                    if error.is_connect() || error.is_timeout() {
                        anyhow::anyhow!(
                            "no ghmesh serve answering at {base}: start one with `ghmesh serve`, \
                             or leave out --url / GHMESH_URL to answer from the store"
                        )
                    } else {
                        anyhow::Error::new(error.without_url())
                            .context(format!("{method} {}", url.path()))
                    }
                })?;
                let (version, status, headers) = (
                    response.version(),
                    response.status(),
                    response.headers().clone(),
                );
                let body = response
                    .bytes()
                    .await
                    .with_context(|| format!("reading the answer to {}", url.path()))?;
                Ok(Answer {
                    version,
                    status,
                    headers,
                    body,
                })
            }
            Self::InProcess { router, .. } => in_process(router, method, url, headers, body).await,
        }
    }

    /// Ends the calls: in-process, waits until every response answered as stored is committed
    /// (the proxy stores behind its answers), so the next run finds it.
    pub async fn finish(self) -> anyhow::Result<()> {
        if let Self::InProcess { router, store } = self {
            drop(router);
            let path = store.path().display().to_string();
            tokio::task::spawn_blocking(move || store.flush())
                .await
                .context("store flush task failed")?
                .with_context(|| format!("committing stored responses to {path}"))?;
        }
        Ok(())
    }
}

/// One call through the router: the URL's path and query, with `Host` naming the in-process
/// origin so rewritten links point at it.
async fn in_process(
    router: &axum::Router,
    method: Method,
    url: &url::Url,
    headers: &HeaderMap,
    body: Option<Vec<u8>>,
) -> anyhow::Result<Answer> {
    let target = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    };
    let mut request = http::Request::builder()
        .method(method)
        .uri(&target)
        .body(Body::from(body.unwrap_or_default()))
        .with_context(|| format!("invalid API path `{target}`"))?;
    *request.headers_mut() = headers.clone();
    request
        .headers_mut()
        .insert(header::HOST, HeaderValue::from_static(IN_PROCESS_HOST));
    let response = router
        .clone()
        .oneshot(request)
        .await
        .context("in-process proxy")?;
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .with_context(|| format!("reading the answer to {}", url.path()))?;
    Ok(Answer {
        version: parts.version,
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

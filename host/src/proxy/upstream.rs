//! The client side: one pooled HTTP client talking to GitHub (api.github.com or a GHES
//! `https://HOST/api/v3`). No redirects are followed and no retries are made here: a redirect is
//! rewritten for the client, and a write must never be sent twice.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, Method, StatusCode, header};
use std::time::Duration;

/// A complete upstream answer, body read into memory (API responses are small; the store needs
/// the whole body to address it anyway).
#[derive(Clone, Debug)]
pub struct UpstreamResponse {
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers, hop-by-hop ones removed.
    pub headers: HeaderMap,
    /// Response body.
    pub body: Bytes,
}

/// Why GitHub could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No answer within the configured timeout.
    #[error("upstream did not answer within {0:?}")]
    Timeout(Duration),
    /// Connection refused, reset, TLS failure, malformed response, ...
    #[error("upstream request failed: {0}")]
    Transport(String),
}

/// Headers that describe one hop, not the message (RFC 9110 §7.6.1), plus those the client
/// library sets itself.
const HOP_BY_HOP: &[HeaderName] = &[
    header::CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::HOST,
    header::CONTENT_LENGTH,
];

/// Removes hop-by-hop headers, including any named in `connection`.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in HOP_BY_HOP.iter().chain(named.iter()) {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
}

/// GitHub, as seen from the proxy.
#[derive(Clone)]
pub struct Upstream {
    client: reqwest::Client,
    base: String,
    timeout: Duration,
}

impl Upstream {
    /// A client for `base` (e.g. `https://api.github.com`, `https://ghe.example/api/v3`).
    pub fn new(base: &str, timeout: Duration) -> anyhow::Result<Self> {
        let parsed = url::Url::parse(base)
            .map_err(|e| anyhow::anyhow!("invalid upstream URL `{base}`: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            anyhow::bail!("invalid upstream URL `{base}`: expected http(s)://host[/prefix]");
        }
        // rustls needs a process-wide crypto provider; installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // The proxy's own environment may point HTTP_PROXY at itself (that is how gh is set
            // up); never route upstream traffic through an environment proxy.
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(90))
            .build()?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_string(),
            timeout,
        })
    }

    /// The base URL, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends one request; `path_and_query` is relative to the API root (`/repos/o/r?x=1`).
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        mut headers: HeaderMap,
        body: Bytes,
    ) -> Result<UpstreamResponse, UpstreamError> {
        strip_hop_by_hop(&mut headers);
        // Stored bodies are plain: a loopback client gains nothing from compression, and one
        // encoding per entry keeps keys and CIDs simple.
        headers.remove(header::ACCEPT_ENCODING);
        let url = format!("{}{}", self.base, path_and_query);
        let response = self
            .client
            .request(method, &url)
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(|e| self.classify(e))?;
        let status = response.status();
        let mut headers = response.headers().clone();
        let body = response.bytes().await.map_err(|e| self.classify(e))?;
        strip_hop_by_hop(&mut headers);
        Ok(UpstreamResponse {
            status,
            headers,
            body,
        })
    }

    fn classify(&self, error: reqwest::Error) -> UpstreamError {
        if error.is_timeout() {
            UpstreamError::Timeout(self.timeout)
        } else {
            // Without the URL: it is ours and adds nothing; the source chain says what failed.
            let error = error.without_url();
            let mut text = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                text.push_str(": ");
                text.push_str(&cause.to_string());
                source = cause.source();
            }
            UpstreamError::Transport(text)
        }
    }
}

//! Talking to a running `ghmesh serve` from the command line (`ghmesh stats`, `ghmesh api`,
//! `ghmesh cache`): where it answers, and an HTTP client fit to reach it.

use anyhow::Context;
use clap::Args;
use std::time::Duration;

/// Longest wait for a connection; a local proxy accepts at once, so longer only hides a hung one.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where `serve` listens when nothing else says where it is.
const DEFAULT_SERVE_URL: &str = "http://127.0.0.1:8080";

/// Where the running `ghmesh serve` answers.
#[derive(Debug, Args)]
pub struct ServeUrl {
    /// Base URL of the running `ghmesh serve` [default: the serve named by CACHE_DIR/serve.json
    /// if it answers, else http://127.0.0.1:8080].
    #[arg(long, env = "GHMESH_URL", value_name = "URL")]
    pub url: Option<String>,
}

impl ServeUrl {
    /// The named URL; else the live serve of the discovery file in `cache_dir`; else the
    /// default listen address. Checked to be http(s).
    pub async fn resolve(&self, cache_dir: &std::path::Path) -> anyhow::Result<url::Url> {
        if let Some(url) = &self.url {
            return parse_url(url);
        }
        match super::discovery::discover(cache_dir).await? {
            super::discovery::Discovery::Live(record) => parse_url(&record.url),
            _ => parse_url(DEFAULT_SERVE_URL),
        }
    }
}

/// Which serve `ghmesh api` talks to, if one is named.
#[derive(Debug, Args)]
pub struct ServeTarget {
    /// Base URL of a running `ghmesh serve` [default: the serve named by CACHE_DIR/serve.json if
    /// it answers, else none: the call is answered in-process from the store].
    #[arg(long, env = "GHMESH_URL", value_name = "URL")]
    pub url: Option<String>,
}

impl ServeTarget {
    /// The named URL, checked to be http(s); `None` when none was given.
    pub fn parse(&self) -> anyhow::Result<Option<url::Url>> {
        self.url.as_deref().map(parse_url).transpose()
    }
}

/// `text` as a serve's base URL: http(s) only.
fn parse_url(text: &str) -> anyhow::Result<url::Url> {
    let parsed = url::Url::parse(text).with_context(|| format!("invalid --url `{text}`"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        anyhow::bail!("invalid --url `{text}`: expected http(s)://host:port");
    }
    Ok(parsed)
}

/// A client for the proxy, giving up after `timeout` per request.
pub fn client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    // rustls needs a process-wide crypto provider for an https URL; installing twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // No environment proxy: gh users set HTTP_PROXY to ghmesh itself, which would refuse these
    // requests as ones for a foreign host.
    Ok(reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(CONNECT_TIMEOUT.min(timeout))
        .timeout(timeout)
        .build()?)
}

/// GETs `path` (e.g. `/_ghmesh/stats`) from the running serve (see [`ServeUrl::resolve`]) on a small current-thread runtime
/// (one request needs no more) and returns the body of a 2xx answer; any other status is an
/// error carrying the proxy's message.
pub fn get_text(
    serve: &ServeUrl,
    cache_dir: &std::path::Path,
    path: &str,
    timeout: Duration,
) -> anyhow::Result<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let base = serve.resolve(cache_dir).await?;
        let base = base.as_str().trim_end_matches('/');
        let endpoint = format!("{base}{path}");
        let response = client(timeout)?
            .get(&endpoint)
            .send()
            .await
            .with_context(|| format!("no ghmesh serve answering at {base}"))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .with_context(|| format!("reading the answer of {endpoint}"))?;
        if !status.is_success() {
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|doc| doc["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| format!("is {base} a ghmesh serve?"));
            anyhow::bail!("{endpoint} answered {status}: {message}");
        }
        Ok(text)
    })
}

//! Talking to a running `ghmesh serve` from the command line (`ghmesh stats`, `ghmesh api`): where
//! it answers, and an HTTP client fit to reach it.

use anyhow::Context;
use clap::Args;
use std::time::Duration;

/// Longest wait for a connection; a local proxy accepts at once, so longer only hides a hung one.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the running `ghmesh serve` answers.
#[derive(Debug, Args)]
pub struct ServeUrl {
    /// Base URL of the running `ghmesh serve`.
    #[arg(
        long,
        default_value = "http://127.0.0.1:8080",
        env = "GHMESH_URL",
        value_name = "URL"
    )]
    pub url: String,
}

impl ServeUrl {
    /// The URL, checked to be http(s).
    pub fn parse(&self) -> anyhow::Result<url::Url> {
        let parsed =
            url::Url::parse(&self.url).with_context(|| format!("invalid --url `{}`", self.url))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            anyhow::bail!("invalid --url `{}`: expected http(s)://host:port", self.url);
        }
        Ok(parsed)
    }
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

/// GETs `path` (e.g. `/_ghmesh/stats`) from the running serve on a small current-thread runtime
/// (one request needs no more) and returns the body of a 2xx answer; any other status is an
/// error carrying the proxy's message.
pub fn get_text(serve: &ServeUrl, path: &str, timeout: Duration) -> anyhow::Result<String> {
    serve.parse()?;
    let base = &serve.url;
    let endpoint = format!("{}{path}", base.trim_end_matches('/'));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
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

//! The issuer's signing keys: discovered, fetched, cached for a while, fetched again (at a
//! bounded rate) when a token names a key not seen yet — which is how key rotation shows up.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm, PublicKeyUse};
use serde::Deserialize;

use super::{OidcConfig, OidcError};

/// Largest discovery document or JWKS read: both are a few KiB in practice.
const MAX_DOCUMENT: usize = 1 << 20;

/// Where keys come from and what is cached of them.
pub(super) struct KeySource {
    client: reqwest::Client,
    issuer: String,
    ttl: Duration,
    min_refetch_interval: Duration,
    /// One lock for the cache and the fetching: concurrent verifications that need keys wait
    /// for one fetch instead of each starting their own.
    state: tokio::sync::Mutex<KeyState>,
}

#[derive(Default)]
struct KeyState {
    /// Configured, or discovered on the first fetch.
    jwks_url: Option<String>,
    keys: HashMap<String, Arc<DecodingKey>>,
    fetched_at: Option<Instant>,
    /// The last fetch caused by an unknown key id.
    last_unknown_fetch: Option<Instant>,
}

impl KeySource {
    pub fn new(client: reqwest::Client, config: &OidcConfig) -> Self {
        Self {
            client,
            issuer: config.issuer.trim_end_matches('/').to_string(),
            ttl: config.jwks_ttl,
            min_refetch_interval: config.min_refetch_interval,
            state: tokio::sync::Mutex::new(KeyState {
                jwks_url: config.jwks_url.clone(),
                ..KeyState::default()
            }),
        }
    }

    /// The key with id `kid`: from the cache while it is fresh; otherwise, or when the id is
    /// unknown (at most once per `min_refetch_interval`), from the issuer.
    pub async fn key_for(&self, kid: &str) -> Result<Arc<DecodingKey>, OidcError> {
        let mut state = self.state.lock().await;
        let fresh = state.fetched_at.is_some_and(|at| at.elapsed() < self.ttl);
        let mut fetched_now = false;
        if !fresh {
            match self.refresh(&mut state).await {
                Ok(()) => fetched_now = true,
                // Keys that were good a moment ago stay usable while the issuer is unreachable.
                Err(e) if !state.keys.is_empty() => {
                    tracing::warn!(error = %e, "cannot refresh OIDC keys; using the cached ones");
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(key) = state.keys.get(kid) {
            return Ok(key.clone());
        }
        let recently = state
            .last_unknown_fetch
            .is_some_and(|at| at.elapsed() < self.min_refetch_interval);
        if fetched_now || recently {
            return Err(OidcError::UnknownKey(kid.to_string()));
        }
        state.last_unknown_fetch = Some(Instant::now());
        self.refresh(&mut state).await?;
        state
            .keys
            .get(kid)
            .cloned()
            .ok_or_else(|| OidcError::UnknownKey(kid.to_string()))
    }

    /// Fetches the key set (discovering its address first when needed) and replaces the cache.
    async fn refresh(&self, state: &mut KeyState) -> Result<(), OidcError> {
        let jwks_url = match &state.jwks_url {
            Some(url) => url.clone(),
            None => {
                let url = self.discover().await?;
                state.jwks_url = Some(url.clone());
                url
            }
        };
        let set: KeySet = self.get_json("JWKS", &jwks_url).await?;
        state.keys = set
            .keys
            .into_iter()
            .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
            .filter_map(usable_key)
            .collect();
        state.fetched_at = Some(Instant::now());
        tracing::debug!(keys = state.keys.len(), url = %jwks_url, "fetched OIDC keys");
        Ok(())
    }

    /// `jwks_uri` from the issuer's discovery document, which must name the same issuer.
    async fn discover(&self) -> Result<String, OidcError> {
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let doc: Discovery = self.get_json("openid-configuration", &url).await?;
        let fail = |reason: String| OidcError::Fetch {
            what: "openid-configuration",
            url: url.clone(),
            reason,
        };
        if doc.issuer.trim_end_matches('/') != self.issuer {
            return Err(fail(format!("it names another issuer, {}", doc.issuer)));
        }
        check_url(&doc.jwks_uri)?;
        Ok(doc.jwks_uri)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        what: &'static str,
        url: &str,
    ) -> Result<T, OidcError> {
        let fail = |reason: String| OidcError::Fetch {
            what,
            url: url.to_string(),
            reason,
        };
        let response = self
            .client
            .get(url)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| fail(e.without_url().to_string()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(fail(format!("HTTP {status}")));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_DOCUMENT as u64)
        {
            return Err(fail("the document is too large".into()));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| fail(e.without_url().to_string()))?;
        if body.len() > MAX_DOCUMENT {
            return Err(fail("the document is too large".into()));
        }
        serde_json::from_slice(&body).map_err(|e| fail(e.to_string()))
    }
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

/// Keys as raw values: one key of a type this crate cannot read must not hide the others.
#[derive(Deserialize)]
struct KeySet {
    keys: Vec<serde_json::Value>,
}

/// `(kid, key)` for an RSA signing key usable with RS256; `None` for anything else.
fn usable_key(jwk: Jwk) -> Option<(String, Arc<DecodingKey>)> {
    let kid = jwk.common.key_id.clone()?;
    let AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
        return None;
    };
    if !matches!(jwk.common.key_algorithm, None | Some(KeyAlgorithm::RS256)) {
        return None;
    }
    if !matches!(
        jwk.common.public_key_use,
        None | Some(PublicKeyUse::Signature)
    ) {
        return None;
    }
    let key = DecodingKey::from_rsa_components(&rsa.n, &rsa.e).ok()?;
    Some((kid, Arc::new(key)))
}

/// Accepts https addresses, and http ones only to a loopback host (tests, local issuers).
pub(super) fn check_url(raw: &str) -> Result<(), OidcError> {
    let insecure = || OidcError::InsecureUrl(raw.to_string());
    let url = url::Url::parse(raw).map_err(|_| insecure())?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(insecure()),
    }
}

#[cfg(test)]
mod tests {
    use super::check_url;

    #[test]
    fn only_https_or_loopback_http() {
        for ok in [
            "https://token.actions.githubusercontent.com",
            "http://127.0.0.1:8080",
            "http://[::1]:1/x",
            "http://localhost:3000",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://token.actions.githubusercontent.com",
            "http://10.0.0.1",
            "ftp://127.0.0.1",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}

//! Asking the runner for an ID token from inside a job (`permissions: id-token: write`), the
//! way `@actions/core`'s `getIDToken` does.

use serde::Deserialize;

use super::OidcError;

/// The runner's token endpoint and the bearer token that unlocks it
/// (`ACTIONS_ID_TOKEN_REQUEST_URL` / `ACTIONS_ID_TOKEN_REQUEST_TOKEN`). `Debug` hides the bearer.
#[derive(Clone)]
pub struct ActionsTokenRequest {
    url: String,
    bearer: String,
}

impl std::fmt::Debug for ActionsTokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionsTokenRequest")
            .field("url", &self.url)
            .field("bearer", &"<redacted>")
            .finish()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    value: String,
}

impl ActionsTokenRequest {
    /// An endpoint and its bearer token.
    pub fn new(url: impl Into<String>, bearer: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            bearer: bearer.into(),
        }
    }

    /// From the job's environment; `None` unless both variables are set and not empty (outside
    /// Actions, or without `id-token: write`).
    pub fn from_env() -> Option<Self> {
        let var = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
        Some(Self::new(
            var("ACTIONS_ID_TOKEN_REQUEST_URL")?,
            var("ACTIONS_ID_TOKEN_REQUEST_TOKEN")?,
        ))
    }

    /// Requests a token for `audience`: `GET <url>&audience=<audience>` with
    /// `Authorization: bearer <token>`, answering the JSON's `value`.
    pub async fn fetch(
        &self,
        client: &reqwest::Client,
        audience: &str,
    ) -> Result<String, OidcError> {
        super::jwks::check_url(&self.url)?;
        let mut url = url::Url::parse(&self.url).map_err(|_| fail("the request URL is invalid"))?;
        url.query_pairs_mut().append_pair("audience", audience);
        let response = client
            .get(url)
            .header(
                http::header::AUTHORIZATION,
                format!("bearer {}", self.bearer),
            )
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            // Without the URL: it is the runner's, and errors should stay short.
            .map_err(|e| fail(&e.without_url().to_string()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(fail(&format!("HTTP {status}")));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| fail(&e.without_url().to_string()))?;
        let answer: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|_| fail("the answer is not JSON with a `value`"))?;
        Ok(answer.value)
    }
}

/// An ID token for `audience` from the runner, or `None` when the job cannot request one (the
/// `ACTIONS_ID_TOKEN_REQUEST_*` variables are unset: not in Actions, or no `id-token: write`).
pub async fn request_actions_token(
    client: &reqwest::Client,
    audience: &str,
) -> Result<Option<String>, OidcError> {
    match ActionsTokenRequest::from_env() {
        Some(request) => request.fetch(client, audience).await.map(Some),
        None => Ok(None),
    }
}

fn fail(reason: &str) -> OidcError {
    OidcError::TokenRequest(reason.to_string())
}

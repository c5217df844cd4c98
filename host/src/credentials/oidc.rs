//! Verifying GitHub Actions OIDC ID tokens: who a job really is (repository, workflow, ref,
//! runner environment), proven by GitHub's signature rather than claimed by the job.
//!
//! A token is accepted only when it is an RS256 JWT signed by a key in the issuer's JWKS, from
//! the configured issuer, for the configured audience, and within its validity window (with
//! leeway). Every other algorithm is refused before any key is looked at — including `none` and
//! HS256 (which would otherwise let a public key act as an HMAC secret). The token itself never
//! appears in an error, a log line or a `Debug` output.

mod actions_token;
mod jwks;

use std::time::Duration;

use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

pub use actions_token::{ActionsTokenRequest, request_actions_token};

/// GitHub's issuer for Actions ID tokens (github.com; GHES has its own).
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// Who is trusted to issue tokens, for whom, and how keys are cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcConfig {
    /// The expected `iss` claim; also where discovery starts.
    pub issuer: String,
    /// The JWKS address; `None` discovers it from `<issuer>/.well-known/openid-configuration`.
    pub jwks_url: Option<String>,
    /// The expected `aud` claim: the audience the job asked its token for.
    pub audience: String,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
    pub leeway_secs: u64,
    /// How long fetched keys are trusted before they are fetched again.
    pub jwks_ttl: Duration,
    /// Least time between two fetches caused by a token with an unknown key id, so a stream of
    /// forged key ids cannot make ghmesh hammer the issuer.
    pub min_refetch_interval: Duration,
}

impl OidcConfig {
    /// GitHub's issuer, keys discovered, 60 s leeway, keys kept 15 minutes, unknown-key
    /// refetches at most every 30 s.
    pub fn new(audience: impl Into<String>) -> Self {
        Self {
            issuer: GITHUB_ISSUER.to_string(),
            jwks_url: None,
            audience: audience.into(),
            leeway_secs: 60,
            jwks_ttl: Duration::from_secs(15 * 60),
            min_refetch_interval: Duration::from_secs(30),
        }
    }
}

/// The identity a verified token proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedClaims {
    /// `owner/name` of the repository the workflow runs in.
    pub repository: String,
    /// The repository's owner.
    pub repository_owner: String,
    /// The workflow file and ref: `owner/repo/.github/workflows/ci.yml@refs/heads/main`.
    pub workflow_ref: String,
    /// The workflow file the job is defined in (differs for reusable workflows).
    pub job_workflow_ref: String,
    /// The git ref (`ref` claim): `refs/heads/main`, `refs/pull/1/merge`, …
    pub ref_: String,
    /// The commit.
    pub sha: String,
    /// `github-hosted` or `self-hosted`, when the issuer says.
    pub runner_environment: Option<String>,
    /// Who triggered the run.
    pub actor: String,
    /// The `sub` claim, e.g. `repo:owner/name:ref:refs/heads/main`.
    pub subject: String,
    /// `exp`, in seconds since the Unix epoch.
    pub expires_at: u64,
}

/// Why a token was refused, or keys could not be had. Never contains the token.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// Not three base64url parts with a JSON header.
    #[error("not a JWT: {0}")]
    Malformed(String),
    /// The header names an algorithm other than RS256.
    #[error("token algorithm {0:?} is not accepted (only RS256)")]
    DisallowedAlgorithm(String),
    /// The header has no `kid`, so no key can be chosen.
    #[error("token header names no key (kid)")]
    MissingKeyId,
    /// No key of the issuer has this id, even after fetching the keys again.
    #[error("the issuer has no key {0:?}")]
    UnknownKey(String),
    /// The signature does not verify with the issuer's key.
    #[error("token signature is invalid")]
    BadSignature,
    /// `exp` has passed (beyond the leeway).
    #[error("token has expired")]
    Expired,
    /// `nbf` or `iat` is in the future (beyond the leeway).
    #[error("token is not valid yet")]
    NotYetValid,
    /// `aud` is not the configured audience.
    #[error("token audience is not the expected one")]
    WrongAudience,
    /// `iss` is not the configured issuer.
    #[error("token issuer is not the expected one")]
    WrongIssuer,
    /// A claim is missing or of the wrong type.
    #[error("token claims are invalid: {0}")]
    InvalidClaims(String),
    /// An address that is neither https nor http to a loopback host.
    #[error("refusing {0}: OIDC addresses must be https (http only to loopback)")]
    InsecureUrl(String),
    /// Discovery or JWKS fetching failed.
    #[error("cannot fetch {what} from {url}: {reason}")]
    Fetch {
        /// `openid-configuration` or `JWKS`.
        what: &'static str,
        /// Where from.
        url: String,
        /// Why.
        reason: String,
    },
    /// Asking the runner for a token failed.
    #[error("cannot get an ID token from the runner: {0}")]
    TokenRequest(String),
}

/// Checks tokens against one issuer; keeps its keys between calls. Share one per process.
pub struct Verifier {
    config: OidcConfig,
    validation: Validation,
    keys: jwks::KeySource,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The claims read from a token (`aud`, `nbf` are checked by jsonwebtoken itself).
#[derive(Deserialize)]
struct RawClaims {
    sub: String,
    exp: u64,
    iat: u64,
    repository: String,
    repository_owner: String,
    workflow_ref: String,
    job_workflow_ref: String,
    #[serde(rename = "ref")]
    ref_: String,
    sha: String,
    #[serde(default)]
    runner_environment: Option<String>,
    actor: String,
}

/// The part of a JWT header read before anything is verified.
#[derive(Deserialize)]
struct PeekedHeader {
    alg: String,
    kid: Option<String>,
}

impl Verifier {
    /// A verifier for `config`, fetching with `client` (the caller sets its timeouts). Fails
    /// when the issuer or JWKS address is not https (http is allowed to loopback hosts only).
    pub fn new(config: OidcConfig, client: reqwest::Client) -> Result<Self, OidcError> {
        jwks::check_url(&config.issuer)?;
        if let Some(url) = &config.jwks_url {
            jwks::check_url(url)?;
        }
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.leeway = config.leeway_secs;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let keys = jwks::KeySource::new(client, &config);
        Ok(Self {
            config,
            validation,
            keys,
        })
    }

    /// The configuration this verifier checks against.
    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// Verifies `token` and returns the identity it proves.
    pub async fn verify(&self, token: &str) -> Result<VerifiedClaims, OidcError> {
        let header = peek_header(token)?;
        if header.alg != "RS256" {
            return Err(OidcError::DisallowedAlgorithm(header.alg));
        }
        let kid = header.kid.ok_or(OidcError::MissingKeyId)?;
        let key = self.keys.key_for(&kid).await?;
        let claims = jsonwebtoken::decode::<RawClaims>(token, &key, &self.validation)
            .map_err(|e| refusal(e.into_kind()))?
            .claims;
        if claims.iat > crate::clock::unix_now() + self.config.leeway_secs {
            return Err(OidcError::NotYetValid);
        }
        Ok(VerifiedClaims {
            repository: claims.repository,
            repository_owner: claims.repository_owner,
            workflow_ref: claims.workflow_ref,
            job_workflow_ref: claims.job_workflow_ref,
            ref_: claims.ref_,
            sha: claims.sha,
            runner_environment: claims.runner_environment,
            actor: claims.actor,
            subject: claims.sub,
            expires_at: claims.exp,
        })
    }
}

/// Reads the header's `alg` and `kid` without trusting them, so a refused algorithm can be named.
fn peek_header(token: &str) -> Result<PeekedHeader, OidcError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(OidcError::Malformed(
            "expected three dot-separated parts".into(),
        ));
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| OidcError::Malformed("the header is not base64url".into()))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| OidcError::Malformed("the header is not a JSON object with alg".into()))
}

/// jsonwebtoken's verdict as an [`OidcError`].
fn refusal(kind: ErrorKind) -> OidcError {
    match kind {
        ErrorKind::InvalidSignature => OidcError::BadSignature,
        ErrorKind::ExpiredSignature => OidcError::Expired,
        ErrorKind::ImmatureSignature => OidcError::NotYetValid,
        ErrorKind::InvalidAudience => OidcError::WrongAudience,
        ErrorKind::InvalidIssuer => OidcError::WrongIssuer,
        ErrorKind::InvalidAlgorithm => OidcError::DisallowedAlgorithm("(mismatch)".into()),
        ErrorKind::MissingRequiredClaim(claim) => {
            OidcError::InvalidClaims(format!("missing claim {claim}"))
        }
        ErrorKind::InvalidClaimFormat(claim) => {
            OidcError::InvalidClaims(format!("claim {claim} has the wrong type"))
        }
        ErrorKind::Json(e) => OidcError::InvalidClaims(e.to_string()),
        ErrorKind::Base64(_) => OidcError::Malformed("a part is not base64url".into()),
        ErrorKind::Utf8(_) => OidcError::Malformed("a part is not UTF-8".into()),
        // Named, never formatted with its payload: some kinds carry bytes of the token.
        _ => OidcError::Malformed("the token cannot be decoded".into()),
    }
}

#[cfg(test)]
mod tests;

//! A test OIDC issuer shaped like GitHub Actions': discovery document, JWKS, the runner's
//! ID-token request endpoint, and RS256 tokens with Actions claims, signed with fixture keys
//! (`tests/fixtures/oidc/*.pem`, test-only, never trusted anywhere else).
//!
//! Used in-process by tests (`TestIssuer::start`), by the `oidc-issuer` binary for system tests,
//! and — through `#[path]` — by the unit tests of `ghmesh::credentials::oidc`, so it depends only
//! on crates both crates have: axum, tokio, serde_json, jsonwebtoken.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// The fixture signing keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestKey {
    /// The key published and used first.
    A,
    /// The key rotated to.
    B,
    /// A key the issuer never publishes (forgeries).
    Other,
}

impl TestKey {
    /// The private key, PKCS#8 PEM.
    pub fn pem(self) -> &'static str {
        match self {
            Self::A => include_str!("../fixtures/oidc/key-a.pem"),
            Self::B => include_str!("../fixtures/oidc/key-b.pem"),
            Self::Other => include_str!("../fixtures/oidc/key-other.pem"),
        }
    }

    /// The key id the issuer publishes it under.
    pub fn kid(self) -> &'static str {
        match self {
            Self::A => "test-key-a",
            Self::B => "test-key-b",
            Self::Other => "test-key-other",
        }
    }

    /// The key for signing.
    pub fn encoding_key(self) -> EncodingKey {
        EncodingKey::from_rsa_pem(self.pem().as_bytes()).expect("fixture keys parse")
    }

    /// The public key as a JWK (`kty` RSA, `alg` RS256, `use` sig, `kid`).
    pub fn jwk(self) -> Value {
        let mut jwk = Jwk::from_encoding_key(&self.encoding_key(), Algorithm::RS256)
            .expect("an RSA key has a JWK");
        jwk.common.key_id = Some(self.kid().to_string());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        serde_json::to_value(jwk).expect("a JWK serializes")
    }
}

/// Signs `claims` with RS256, `key` and header `kid`.
pub fn sign(key: TestKey, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, claims, &key.encoding_key()).expect("signing works")
}

/// Signs `claims` with HS256 under `secret` (the key-confusion attack uses public key bytes).
pub fn sign_hs256(secret: &[u8], kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).expect("signing works")
}

/// An unsigned token: header `{"alg":"none","kid":…}`, empty signature.
pub fn unsigned(kid: &str, claims: &Value) -> String {
    use base64::Engine as _;
    let b64 = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    };
    let header = json!({"alg": "none", "typ": "JWT", "kid": kid});
    format!("{}.{}.", b64(&header), b64(claims))
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is past 1970")
        .as_secs()
}

struct Inner {
    issuer: String,
    request_token: String,
    published: Vec<TestKey>,
    signing: TestKey,
    jwks_fetches: usize,
    discovery_fetches: usize,
}

type Shared = Arc<Mutex<Inner>>;

/// A running issuer on loopback; stops when dropped.
pub struct TestIssuer {
    addr: SocketAddr,
    inner: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestIssuer {
    /// Starts on `127.0.0.1`, a free port; publishes and signs with [`TestKey::A`].
    pub async fn start() -> std::io::Result<Self> {
        Self::bind("127.0.0.1:0".parse().expect("an address")).await
    }

    /// Starts on `addr`.
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Mutex::new(Inner {
            issuer: format!("http://{addr}"),
            request_token: format!("test-request-token-{}", addr.port()),
            published: vec![TestKey::A],
            signing: TestKey::A,
            jwks_fetches: 0,
            discovery_fetches: 0,
        }));
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/.well-known/jwks", get(jwks))
            .route("/_apis/idtoken", get(id_token))
            .route("/mint", post(mint))
            .route("/rotate", post(rotate))
            .with_state(inner.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, inner, task })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("issuer state")
    }

    /// The issuer (`iss`), `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The JWKS address (also named by the discovery document).
    pub fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks", self.url())
    }

    /// `ACTIONS_ID_TOKEN_REQUEST_URL`: the runner's endpoint shape, query included.
    pub fn token_request_url(&self) -> String {
        format!("{}/_apis/idtoken?api-version=2.0", self.url())
    }

    /// `ACTIONS_ID_TOKEN_REQUEST_TOKEN`: the bearer the endpoint requires.
    pub fn request_token(&self) -> String {
        self.lock().request_token.clone()
    }

    /// Actions claims for `audience`, valid for five minutes from now: repository
    /// `octo-org/octo-repo`, workflow `ci.yml` on `refs/heads/main`, actor `octocat`,
    /// `github-hosted`. Change fields with [`merge`] before [`TestIssuer::mint`].
    pub fn claims(&self, audience: &str) -> Value {
        claims(&self.url(), audience)
    }

    /// Signs `claims` with the current signing key under its kid.
    pub fn mint(&self, claims: &Value) -> String {
        let key = self.lock().signing;
        sign(key, key.kid(), claims)
    }

    /// A valid token for `audience`.
    pub fn mint_for(&self, audience: &str) -> String {
        self.mint(&self.claims(audience))
    }

    /// Publishes `next` instead of the current keys and signs with it from now on.
    pub fn rotate_to(&self, next: TestKey) {
        rotate_inner(&mut self.lock(), next);
    }

    /// How often the JWKS was fetched.
    pub fn jwks_fetches(&self) -> usize {
        self.lock().jwks_fetches
    }

    /// How often the discovery document was fetched.
    pub fn discovery_fetches(&self) -> usize {
        self.lock().discovery_fetches
    }
}

/// Actions claims from `issuer` for `audience`, valid for five minutes from now.
pub fn claims(issuer: &str, audience: &str) -> Value {
    let now = now();
    json!({
        "iss": issuer,
        "aud": audience,
        "sub": "repo:octo-org/octo-repo:ref:refs/heads/main",
        "jti": format!("jti-{now}"),
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "repository": "octo-org/octo-repo",
        "repository_owner": "octo-org",
        "repository_id": "42",
        "workflow_ref": "octo-org/octo-repo/.github/workflows/ci.yml@refs/heads/main",
        "job_workflow_ref": "octo-org/octo-repo/.github/workflows/ci.yml@refs/heads/main",
        "ref": "refs/heads/main",
        "ref_type": "branch",
        "sha": "0123456789abcdef0123456789abcdef01234567",
        "runner_environment": "github-hosted",
        "actor": "octocat",
        "event_name": "push",
    })
}

/// `base` with the members of `changes` set (a `null` removes one).
pub fn merge(mut base: Value, changes: &Value) -> Value {
    if let (Some(base), Some(changes)) = (base.as_object_mut(), changes.as_object()) {
        for (k, v) in changes {
            if v.is_null() {
                base.remove(k);
            } else {
                base.insert(k.clone(), v.clone());
            }
        }
    }
    base
}

async fn discovery(State(inner): State<Shared>) -> Json<Value> {
    let mut inner = inner.lock().expect("issuer state");
    inner.discovery_fetches += 1;
    Json(json!({
        "issuer": inner.issuer,
        "jwks_uri": format!("{}/.well-known/jwks", inner.issuer),
        "subject_types_supported": ["public", "pairwise"],
        "response_types_supported": ["id_token"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid"],
    }))
}

async fn jwks(State(inner): State<Shared>) -> Json<Value> {
    let mut inner = inner.lock().expect("issuer state");
    inner.jwks_fetches += 1;
    let keys: Vec<Value> = inner.published.iter().map(|k| k.jwk()).collect();
    Json(json!({ "keys": keys }))
}

/// The runner's endpoint: `GET ?api-version=2.0&audience=…` with `Authorization: bearer …`.
async fn id_token(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Result<Json<Value>, StatusCode> {
    let (issuer, expected, key) = {
        let inner = inner.lock().expect("issuer state");
        (
            inner.issuer.clone(),
            inner.request_token.clone(),
            inner.signing,
        )
    };
    let authorized = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .is_some_and(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer") && token == expected);
    if !authorized {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let audience = query
        .get("audience")
        .cloned()
        .unwrap_or_else(|| "https://github.com/octo-org".into());
    let token = sign(key, key.kid(), &claims(&issuer, &audience));
    Ok(Json(json!({ "count": 1, "value": token })))
}

/// `POST /mint` `{"audience": …, "claims": {changes}}` → `{"value": token}`, for system tests
/// that drive the `oidc-issuer` binary.
async fn mint(State(inner): State<Shared>, Json(body): Json<Value>) -> Json<Value> {
    let (issuer, key) = {
        let inner = inner.lock().expect("issuer state");
        (inner.issuer.clone(), inner.signing)
    };
    let audience = body["audience"].as_str().unwrap_or("ghmesh").to_string();
    let claims = merge(claims(&issuer, &audience), &body["claims"]);
    Json(json!({ "value": sign(key, key.kid(), &claims) }))
}

fn rotate_inner(inner: &mut Inner, next: TestKey) {
    inner.published = vec![next];
    inner.signing = next;
}

/// `POST /rotate`: publish and sign with [`TestKey::B`] from now on (A is withdrawn).
async fn rotate(State(inner): State<Shared>) -> Json<Value> {
    rotate_inner(&mut inner.lock().expect("issuer state"), TestKey::B);
    Json(json!({ "kid": TestKey::B.kid() }))
}

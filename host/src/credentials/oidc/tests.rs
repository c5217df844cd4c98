//! The verifier against a real (test) issuer over loopback HTTP.

// The system tests' issuer, shared rather than copied: it only needs crates ghmesh also has.
#[allow(dead_code)]
#[path = "../../../../tests/src/oidc_issuer.rs"]
mod issuer;

use super::*;
use issuer::{TestIssuer, TestKey, merge};
use serde_json::json;

const AUDIENCE: &str = "ghmesh-creds";

fn client() -> reqwest::Client {
    // rustls needs a process-wide crypto provider; installing twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn config(issuer: &TestIssuer) -> OidcConfig {
    OidcConfig {
        issuer: issuer.url(),
        ..OidcConfig::new(AUDIENCE)
    }
}

async fn setup() -> (TestIssuer, Verifier) {
    let issuer = TestIssuer::start().await.unwrap();
    let verifier = Verifier::new(config(&issuer), client()).unwrap();
    (issuer, verifier)
}

#[tokio::test]
async fn a_valid_token_is_accepted_with_its_claims() {
    let (issuer, verifier) = setup().await;
    let claims = verifier.verify(&issuer.mint_for(AUDIENCE)).await.unwrap();
    assert_eq!(claims.repository, "octo-org/octo-repo");
    assert_eq!(claims.repository_owner, "octo-org");
    assert_eq!(
        claims.workflow_ref,
        "octo-org/octo-repo/.github/workflows/ci.yml@refs/heads/main"
    );
    assert_eq!(claims.job_workflow_ref, claims.workflow_ref);
    assert_eq!(claims.ref_, "refs/heads/main");
    assert_eq!(claims.sha.len(), 40);
    assert_eq!(claims.runner_environment.as_deref(), Some("github-hosted"));
    assert_eq!(claims.actor, "octocat");
    assert_eq!(
        claims.subject,
        "repo:octo-org/octo-repo:ref:refs/heads/main"
    );
    assert!(claims.expires_at > crate::clock::unix_now());
    // Discovered once, keys fetched once, then cached.
    verifier.verify(&issuer.mint_for(AUDIENCE)).await.unwrap();
    assert_eq!((issuer.discovery_fetches(), issuer.jwks_fetches()), (1, 1));
}

#[tokio::test]
async fn a_configured_jwks_url_skips_discovery() {
    let issuer = TestIssuer::start().await.unwrap();
    let config = OidcConfig {
        jwks_url: Some(issuer.jwks_url()),
        ..config(&issuer)
    };
    let verifier = Verifier::new(config, client()).unwrap();
    verifier.verify(&issuer.mint_for(AUDIENCE)).await.unwrap();
    assert_eq!((issuer.discovery_fetches(), issuer.jwks_fetches()), (0, 1));
}

#[tokio::test]
async fn a_token_signed_by_another_key_is_forged() {
    let (issuer, verifier) = setup().await;
    let forged = issuer::sign(TestKey::Other, TestKey::A.kid(), &issuer.claims(AUDIENCE));
    assert!(matches!(
        verifier.verify(&forged).await,
        Err(OidcError::BadSignature)
    ));
}

#[tokio::test]
async fn a_tampered_payload_breaks_the_signature() {
    let (issuer, verifier) = setup().await;
    let token = issuer.mint_for(AUDIENCE);
    let other = issuer.mint(&merge(
        issuer.claims(AUDIENCE),
        &json!({"repository": "evil/repo"}),
    ));
    // header and signature of one token, payload of another
    let parts: Vec<&str> = token.split('.').collect();
    let other_parts: Vec<&str> = other.split('.').collect();
    let spliced = format!("{}.{}.{}", parts[0], other_parts[1], parts[2]);
    assert!(matches!(
        verifier.verify(&spliced).await,
        Err(OidcError::BadSignature)
    ));
}

#[tokio::test]
async fn time_audience_and_issuer_are_checked() {
    let (issuer, verifier) = setup().await;
    let now = crate::clock::unix_now();
    let cases = [
        (
            json!({"exp": now - 120, "iat": now - 600, "nbf": now - 600}),
            "expired",
        ),
        (json!({"nbf": now + 600}), "nbf"),
        (json!({"iat": now + 600}), "iat"),
        (json!({"aud": "someone-else"}), "audience"),
        (
            json!({"iss": "https://token.actions.githubusercontent.com"}),
            "issuer",
        ),
        (json!({"repository": null}), "claims"),
    ];
    for (changes, case) in cases {
        let token = issuer.mint(&merge(issuer.claims(AUDIENCE), &changes));
        let result = verifier.verify(&token).await;
        let ok = match case {
            "expired" => matches!(result, Err(OidcError::Expired)),
            "nbf" | "iat" => matches!(result, Err(OidcError::NotYetValid)),
            "audience" => matches!(result, Err(OidcError::WrongAudience)),
            "issuer" => matches!(result, Err(OidcError::WrongIssuer)),
            _ => matches!(result, Err(OidcError::InvalidClaims(_))),
        };
        assert!(ok, "{case}: {result:?}");
    }
}

#[tokio::test]
async fn leeway_absorbs_small_clock_skew() {
    let (issuer, verifier) = setup().await;
    let now = crate::clock::unix_now();
    let skewed = merge(
        issuer.claims(AUDIENCE),
        &json!({"exp": now - 10, "iat": now + 10, "nbf": now + 10}),
    );
    verifier.verify(&issuer.mint(&skewed)).await.unwrap();
}

#[tokio::test]
async fn alg_none_is_refused() {
    let (issuer, verifier) = setup().await;
    let token = issuer::unsigned(TestKey::A.kid(), &issuer.claims(AUDIENCE));
    match verifier.verify(&token).await {
        Err(OidcError::DisallowedAlgorithm(alg)) => assert_eq!(alg, "none"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn hs256_with_the_public_key_as_secret_is_refused() {
    let (issuer, verifier) = setup().await;
    let public = TestKey::A.jwk().to_string();
    for secret in [public.as_bytes(), TestKey::A.pem().as_bytes()] {
        let token = issuer::sign_hs256(secret, TestKey::A.kid(), &issuer.claims(AUDIENCE));
        match verifier.verify(&token).await {
            Err(OidcError::DisallowedAlgorithm(alg)) => assert_eq!(alg, "HS256"),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        issuer.jwks_fetches(),
        0,
        "refused before any key is fetched"
    );
}

#[tokio::test]
async fn an_unknown_kid_is_refused_and_refetches_are_rate_limited() {
    let (issuer, verifier) = setup().await;
    verifier.verify(&issuer.mint_for(AUDIENCE)).await.unwrap();
    assert_eq!(issuer.jwks_fetches(), 1);
    let claims = issuer.claims(AUDIENCE);
    let stranger = issuer::sign(TestKey::Other, "no-such-key", &claims);
    match verifier.verify(&stranger).await {
        Err(OidcError::UnknownKey(kid)) => assert_eq!(kid, "no-such-key"),
        other => panic!("{other:?}"),
    }
    assert_eq!(issuer.jwks_fetches(), 2, "one refetch for an unknown kid");
    for _ in 0..5 {
        assert!(matches!(
            verifier.verify(&stranger).await,
            Err(OidcError::UnknownKey(_))
        ));
    }
    assert_eq!(issuer.jwks_fetches(), 2, "no more within the interval");
}

#[tokio::test]
async fn a_missing_kid_is_refused() {
    let (issuer, verifier) = setup().await;
    let mut header = jsonwebtoken::Header::new(Algorithm::RS256);
    header.kid = None;
    let token = jsonwebtoken::encode(
        &header,
        &issuer.claims(AUDIENCE),
        &TestKey::A.encoding_key(),
    )
    .unwrap();
    assert!(matches!(
        verifier.verify(&token).await,
        Err(OidcError::MissingKeyId)
    ));
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_by_refetching() {
    let (issuer, verifier) = setup().await;
    verifier.verify(&issuer.mint_for(AUDIENCE)).await.unwrap();
    issuer.rotate_to(TestKey::B);
    let claims = verifier.verify(&issuer.mint_for(AUDIENCE)).await.unwrap();
    assert_eq!(claims.repository, "octo-org/octo-repo");
    assert_eq!(issuer.jwks_fetches(), 2);
    // The old key is gone from the issuer's set after the refetch.
    let old = issuer::sign(TestKey::A, TestKey::A.kid(), &issuer.claims(AUDIENCE));
    assert!(matches!(
        verifier.verify(&old).await,
        Err(OidcError::UnknownKey(_))
    ));
}

#[tokio::test]
async fn stale_keys_are_refetched_after_the_ttl() {
    let issuer = TestIssuer::start().await.unwrap();
    let config = OidcConfig {
        jwks_ttl: std::time::Duration::ZERO,
        ..config(&issuer)
    };
    let verifier = Verifier::new(config, client()).unwrap();
    verifier.verify(&issuer.mint_for(AUDIENCE)).await.unwrap();
    verifier.verify(&issuer.mint_for(AUDIENCE)).await.unwrap();
    assert_eq!(issuer.jwks_fetches(), 2);
}

#[tokio::test]
async fn garbage_is_malformed_and_errors_never_hold_the_token() {
    let (issuer, verifier) = setup().await;
    for token in ["", "abc", "a.b", "a.b.c.d", "!!!.e30.x"] {
        assert!(
            matches!(verifier.verify(token).await, Err(OidcError::Malformed(_))),
            "{token:?}"
        );
    }
    let forged = issuer::sign(TestKey::Other, TestKey::A.kid(), &issuer.claims(AUDIENCE));
    let expired = issuer.mint(&merge(
        issuer.claims(AUDIENCE),
        &json!({"exp": 1000, "iat": 900}),
    ));
    for token in [forged, expired] {
        let err = verifier.verify(&token).await.unwrap_err();
        let text = format!("{err} {err:?}");
        for part in token.split('.') {
            assert!(!text.contains(part), "{text}");
        }
    }
}

#[tokio::test]
async fn insecure_issuers_are_refused_up_front() {
    let config = OidcConfig {
        issuer: "http://token.example".into(),
        ..OidcConfig::new(AUDIENCE)
    };
    assert!(matches!(
        Verifier::new(config, client()),
        Err(OidcError::InsecureUrl(_))
    ));
    assert_eq!(OidcConfig::new("a").issuer, GITHUB_ISSUER);
}

#[tokio::test]
async fn an_unreachable_issuer_is_a_fetch_error() {
    let issuer = TestIssuer::start().await.unwrap();
    let token = issuer.mint_for(AUDIENCE);
    let config = config(&issuer);
    drop(issuer);
    let verifier = Verifier::new(config, client()).unwrap();
    assert!(matches!(
        verifier.verify(&token).await,
        Err(OidcError::Fetch { .. })
    ));
}

#[tokio::test]
async fn the_runner_hands_out_tokens_that_verify() {
    let (issuer, verifier) = setup().await;
    let request = ActionsTokenRequest::new(issuer.token_request_url(), issuer.request_token());
    assert!(!format!("{request:?}").contains(&issuer.request_token()));
    let token = request.fetch(&client(), AUDIENCE).await.unwrap();
    let claims = verifier.verify(&token).await.unwrap();
    assert_eq!(claims.actor, "octocat");

    let wrong = ActionsTokenRequest::new(issuer.token_request_url(), "wrong-bearer");
    let err = wrong.fetch(&client(), AUDIENCE).await.unwrap_err();
    assert!(matches!(err, OidcError::TokenRequest(_)));
    assert!(err.to_string().contains("401"), "{err}");
    assert!(!err.to_string().contains("wrong-bearer"));
}

//! Issue 6, identity, hand-over and record: OIDC-verified contexts (a token from the test issuer,
//! given or requested from the runner endpoint) and the denial of any token that does not verify;
//! `creds inject` masking first and writing `GITHUB_ENV` all or nothing; the audit log recording
//! every action with the deciding component's sha256 and `audit verify` catching an edit.

use super::credentials::Vault;
use ghmesh_system_tests::oidc_issuer::{TestIssuer, merge};
use ghmesh_system_tests::{stderr, stdout};
use serde_json::{Value, json};

fn issuer() -> (tokio::runtime::Runtime, TestIssuer) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let issuer = runtime.block_on(TestIssuer::start()).unwrap();
    (runtime, issuer)
}

fn audit(vault: &Vault) -> Vec<Value> {
    stdout(&vault.ok(&["audit", "show", "--json"], b""))
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn a_verified_token_grants_and_a_bad_token_denies_without_fallback() {
    let (_runtime, issuer) = issuer();
    let vault = Vault::new();
    vault.store(
        "DEPLOY",
        "deploy-value",
        &[
            "--scope",
            "repo",
            "--scope-filter",
            "octo-org/*",
            "--require-verified",
        ],
    );
    vault.store("OPEN", "open-value", &["--scope", "global"]);
    let url = issuer.url();
    fn with_token<'a>(url: &'a str, token: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["--oidc-issuer", url, "--oidc-token", token];
        args.extend_from_slice(extra);
        args
    }

    // Claims from the environment are not an identity.
    let (code, why) = vault
        .get("DEPLOY", &["--repo", "octo-org/octo-repo"])
        .unwrap_err();
    assert_eq!(code, 3, "{why}");
    assert!(why.contains("verified"), "{why}");

    // A valid token is; its repository wins over a claimed one.
    let good = issuer.mint_for("ghmesh");
    assert_eq!(
        vault.get("DEPLOY", &with_token(&url, &good, &[])).unwrap(),
        "deploy-value"
    );
    assert_eq!(
        vault
            .get(
                "DEPLOY",
                &with_token(&url, &good, &["--repo", "octo-org/other"])
            )
            .unwrap(),
        "deploy-value"
    );

    // A token that fails denies, even a credential that needs no verification.
    let wrong_audience = issuer.mint_for("someone-else");
    let expired = issuer.mint(&merge(
        issuer.claims("ghmesh"),
        &json!({"exp": 1_000, "iat": 900, "nbf": 900}),
    ));
    let other_repo = issuer.mint(&merge(
        issuer.claims("ghmesh"),
        &json!({"repository": "acme/app"}),
    ));
    for (token, expected) in [
        (wrong_audience.as_str(), "audience"),
        (expired.as_str(), "expired"),
        ("not-a-jwt", "not a JWT"),
    ] {
        for name in ["DEPLOY", "OPEN"] {
            let (code, why) = vault.get(name, &with_token(&url, token, &[])).unwrap_err();
            assert_eq!(code, 3, "{name}: {why}");
            assert!(
                why.contains("OIDC token refused") && why.contains(expected),
                "{why}"
            );
        }
    }
    let (_, why) = vault
        .get("DEPLOY", &with_token(&url, &other_repo, &[]))
        .unwrap_err();
    assert!(why.contains("repo scope"), "{why}");

    // Inside a job: the token is requested from the runner's endpoint.
    let runner = vault.creds(
        &["get", "DEPLOY", "--oidc-issuer", &url],
        b"",
        &[
            ("ACTIONS_ID_TOKEN_REQUEST_URL", &issuer.token_request_url()),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", &issuer.request_token()),
        ],
    );
    assert_eq!(stdout(&runner), "deploy-value", "{}", stderr(&runner));

    let records = audit(&vault);
    let grants: Vec<&Value> = records
        .iter()
        .filter(|r| r["decision"] == "grant")
        .collect();
    assert_eq!(grants.len(), 3);
    assert!(grants.iter().all(|r| r["verified"] == true), "{grants:?}");
    assert_eq!(grants[0]["context"]["repo"], "octo-org/octo-repo");
    let refused = records
        .iter()
        .filter(|r| {
            r["reason"]
                .as_str()
                .unwrap()
                .starts_with("OIDC token refused")
        })
        .count();
    assert_eq!(refused, 6);
}

#[test]
fn inject_masks_first_writes_github_env_and_is_all_or_nothing() {
    let vault = Vault::new();
    vault.store(
        "NPM_TOKEN",
        "npm-line-1\nnpm-line-2",
        &["--scope", "global"],
    );
    vault.store(
        "PYPI_TOKEN",
        "pypi-value",
        &["--scope", "repo", "--scope-filter", "octo/*"],
    );
    vault.store("LD_PRELOAD", "/tmp/evil.so", &["--scope", "global"]);
    let env_file = vault.sandbox.path("github_env");
    std::fs::write(&env_file, "").unwrap();
    let env_path = env_file.to_str().unwrap();
    let inject = |names: &str, repo: &str| {
        vault.creds(
            &["inject", "--names", names, "--repo", repo],
            b"",
            &[("GITHUB_ENV", env_path)],
        )
    };

    let output = inject("NPM_TOKEN,PYPI_TOKEN", "octo/app");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "::add-mask::npm-line-1\n::add-mask::npm-line-2\n::add-mask::pypi-value\n"
    );
    let written = std::fs::read_to_string(&env_file).unwrap();
    assert!(written.starts_with("NPM_TOKEN<<ghadelimiter_"), "{written}");
    assert!(
        written.contains("\nnpm-line-1\nnpm-line-2\nghadelimiter_"),
        "{written}"
    );
    assert!(written.contains("PYPI_TOKEN<<ghadelimiter_"), "{written}");

    // One denial writes nothing at all, not even masks.
    let denied = inject("NPM_TOKEN,PYPI_TOKEN", "acme/app");
    assert_eq!(denied.status.code(), Some(3), "{}", stderr(&denied));
    assert_eq!(stdout(&denied), "");
    assert_eq!(std::fs::read_to_string(&env_file).unwrap(), written);

    // A name that would hijack the job is refused at injection.
    let hijack = inject("NPM_TOKEN,LD_PRELOAD", "octo/app");
    assert!(!hijack.status.success());
    assert!(
        stderr(&hijack).contains("LD_PRELOAD"),
        "{}",
        stderr(&hijack)
    );
    assert_eq!(std::fs::read_to_string(&env_file).unwrap(), written);

    // Outside a job there is nowhere to inject to: refused before any decision.
    let outside = vault.creds(&["inject", "--names", "NPM_TOKEN"], b"", &[]);
    assert!(
        stderr(&outside).contains("GITHUB_ENV is not set"),
        "{}",
        stderr(&outside)
    );
    let injected = audit(&vault)
        .into_iter()
        .filter(|r| r["action"] == "inject")
        .count();
    assert_eq!(
        injected, 6,
        "two granted, two in the denied call, two in the hijack call"
    );
}

#[test]
fn the_audit_log_records_every_action_and_verify_catches_an_edit() {
    let vault = Vault::new();
    vault.store(
        "A",
        "alpha",
        &["--scope", "repo", "--scope-filter", "octo/*"],
    );
    vault.get("A", &["--repo", "octo/app"]).unwrap();
    vault.get("A", &["--repo", "acme/app"]).unwrap_err();
    vault.ok(&["rotate", "A"], b"alpha-2");
    vault.ok(&["delete", "A"], b"");
    let records = audit(&vault);
    let summary: Vec<(String, String)> = records
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_owned(),
                r["decision"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("store", "done"),
        ("get", "grant"),
        ("get", "deny"),
        ("rotate", "done"),
        ("delete", "done"),
    ];
    assert_eq!(summary, expected.map(|(a, d)| (a.to_owned(), d.to_owned())));
    let listed: Value = serde_json::from_str(&stdout(
        &vault.sandbox.run(&["policy", "list", "--json"], &[]),
    ))
    .unwrap();
    let scope_sha = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["world"] == "credential-scope")
        .unwrap()["sha256"]
        .clone();
    assert_eq!(records[1]["component_sha256"], scope_sha);
    assert_eq!(records[2]["component_sha256"], scope_sha);
    assert_eq!(records[1]["scope"], "repo:octo/*");
    let verify = vault.ok(&["audit", "verify"], b"");
    assert!(
        stdout(&verify).contains("intact: 5 records"),
        "{}",
        stdout(&verify)
    );

    // Turn the denial into a grant after the fact.
    let log = vault.dir().join("audit.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    let edited = text.replacen("\"decision\":\"deny\"", "\"decision\":\"grant\"", 1);
    assert_ne!(edited, text);
    std::fs::write(&log, edited).unwrap();
    let verify = vault.creds(&["audit", "verify"], b"", &[]);
    assert_eq!(verify.status.code(), Some(1));
    assert!(
        stdout(&verify).contains("FAILED verification after 2 good records"),
        "{}",
        stdout(&verify)
    );
    // A tampered log takes no more records, so nothing more is handed out.
    vault.store_fails_on_tampered_log();
}

impl Vault {
    fn store_fails_on_tampered_log(&self) {
        let output = self.creds(&["store", "B", "--scope", "global"], b"b", &[]);
        assert!(!output.status.success());
        assert!(
            stderr(&output).contains("failed verification"),
            "{}",
            stderr(&output)
        );
    }
}

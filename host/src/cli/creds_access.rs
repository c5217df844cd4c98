//! `ghmesh creds get` and `ghmesh creds inject`: who is asking (flags or the Actions environment,
//! or — verified — an OIDC ID token's claims), the scope component's decision, and the hand-over
//! (stdout for `get`; `::add-mask::` then `GITHUB_ENV` for `inject`).
//!
//! A token that does not verify denies: there is no falling back to the unverified context.

use crate::config::Config;
use crate::credentials::access::AccessContext;
use crate::credentials::audit::Action;
use crate::credentials::inject::{self, InjectTargets};
use crate::credentials::manager::{Granted, Manager};
use crate::credentials::oidc::{self, OidcConfig, Verifier};
use crate::policy::World;
use anyhow::Context;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Exit code of an access the scope policy (or identity verification) denied.
pub const EXIT_DENIED: u8 = 3;

/// The asking job. Flags override the GitHub Actions environment; a verified OIDC token
/// overrides both for the repository and workflow.
#[derive(Args)]
pub struct ContextArgs {
    /// `owner/name` of the job's repository.
    #[arg(long, env = "GITHUB_REPOSITORY", value_name = "O/R")]
    repo: Option<String>,
    /// The job's workflow ref (`owner/name/.github/workflows/f.yml@ref`).
    #[arg(long, env = "GITHUB_WORKFLOW_REF", value_name = "REF")]
    workflow_ref: Option<String>,
    /// The runner's name (never part of a token: runner scopes rest on the runner's word).
    #[arg(long, env = "RUNNER_NAME", value_name = "NAME")]
    runner: Option<String>,
    /// A GitHub Actions OIDC ID token proving the job's identity. Inside a job with
    /// `id-token: write`, one is requested from the runner when this is not given.
    #[arg(
        long,
        env = "GHMESH_OIDC_TOKEN",
        hide_env_values = true,
        value_name = "JWT"
    )]
    oidc_token: Option<String>,
    /// The token issuer to trust.
    #[arg(long, env = "GHMESH_OIDC_ISSUER", value_name = "URL", default_value = oidc::GITHUB_ISSUER)]
    oidc_issuer: String,
    /// The issuer's JWKS address (default: from its discovery document).
    #[arg(long, env = "GHMESH_OIDC_JWKS_URL", value_name = "URL")]
    oidc_jwks_url: Option<String>,
    /// The audience tokens must be issued for (and requested with).
    #[arg(
        long,
        env = "GHMESH_OIDC_AUDIENCE",
        value_name = "AUD",
        default_value = "ghmesh"
    )]
    oidc_audience: String,
}

impl std::fmt::Debug for ContextArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContextArgs")
            .field("repo", &self.repo)
            .field("workflow_ref", &self.workflow_ref)
            .field("runner", &self.runner)
            .field(
                "oidc_token",
                &self.oidc_token.as_ref().map(|_| "<redacted>"),
            )
            .field("oidc_issuer", &self.oidc_issuer)
            .finish()
    }
}

/// `ghmesh creds inject`.
#[derive(Debug, Args)]
pub struct InjectArgs {
    /// Credentials to inject, comma-separated.
    #[arg(long, value_delimiter = ',', required = true, value_name = "A,B")]
    names: Vec<String>,
    /// Also write them as step outputs to this file (default: only `GITHUB_ENV`).
    #[arg(long, value_name = "FILE")]
    github_output: Option<PathBuf>,
    #[command(flatten)]
    context: ContextArgs,
}

/// `get`: the value on stdout, no newline added.
pub fn get(
    manager: &Manager,
    config: &Config,
    name: String,
    args: &ContextArgs,
) -> anyhow::Result<ExitCode> {
    let names = [name];
    let granted = match decide(manager, config, &names, args, Action::Get)? {
        Ok(granted) => granted,
        Err(code) => return Ok(code),
    };
    let mut out = std::io::stdout().lock();
    for credential in &granted {
        out.write_all(&credential.value)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `inject`: every credential granted, masked, then appended to `GITHUB_ENV`; all or nothing.
pub fn inject(manager: &Manager, config: &Config, args: &InjectArgs) -> anyhow::Result<ExitCode> {
    // Where the values go is checked before anything is decided or decrypted.
    let mut targets = InjectTargets::from_env()?;
    targets.github_output = args.github_output.clone();
    let granted = match decide(manager, config, &args.names, &args.context, Action::Inject)? {
        Ok(granted) => granted,
        Err(code) => return Ok(code),
    };
    let pairs = granted
        .iter()
        .map(|g| {
            std::str::from_utf8(&g.value)
                .map(|value| (g.meta.name.as_str(), value))
                .with_context(|| format!("credential {} is not UTF-8 text", g.meta.name))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut stdout = std::io::stdout().lock();
    let injected = inject::inject(&pairs, &mut stdout, &targets)?.into_result()?;
    drop(stdout);
    eprintln!("injected {}", injected.join(", "));
    Ok(ExitCode::SUCCESS)
}

/// Resolves the context and asks the manager; a denial is printed and becomes exit code 3.
fn decide(
    manager: &Manager,
    config: &Config,
    names: &[String],
    args: &ContextArgs,
    action: Action,
) -> anyhow::Result<Result<Vec<Granted>, ExitCode>> {
    let context = match resolve_context(args) {
        Ok(context) => context,
        Err(refusal) => {
            let reason = format!("OIDC token refused: {refusal:#}");
            let unverified = unverified_context(args);
            manager.record_refusal(names, &unverified, action, &reason)?;
            eprintln!("error: access denied: {reason}");
            return Ok(Err(ExitCode::from(EXIT_DENIED)));
        }
    };
    let scope = crate::cli::policy_cmd::runtime(config)?.credential_scope(
        &crate::cli::policy_cmd::source_for(config, World::CredentialScope),
    )?;
    Ok(match manager.access(&scope, names, &context, action)? {
        Ok(granted) => Ok(granted),
        Err(denied) => {
            eprintln!("error: {denied}");
            Err(ExitCode::from(EXIT_DENIED))
        }
    })
}

fn unverified_context(args: &ContextArgs) -> AccessContext {
    AccessContext {
        repo: args.repo.clone().filter(|s| !s.is_empty()),
        workflow_ref: args.workflow_ref.clone().filter(|s| !s.is_empty()),
        runner: args.runner.clone().filter(|s| !s.is_empty()),
        verified: false,
    }
}

/// The context: verified from a token when there is one (given, or requested from the runner),
/// else from flags and environment, unverified. An error means a token was there and failed.
fn resolve_context(args: &ContextArgs) -> anyhow::Result<AccessContext> {
    let unverified = unverified_context(args);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the OIDC client")?;
    runtime.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(15))
            .build()
            .context("building the OIDC client")?;
        let token = match &args.oidc_token {
            Some(token) if !token.is_empty() => Some(token.clone()),
            _ => oidc::request_actions_token(&client, &args.oidc_audience).await?,
        };
        let Some(token) = token else {
            return Ok(unverified);
        };
        let config = OidcConfig {
            issuer: args.oidc_issuer.clone(),
            jwks_url: args.oidc_jwks_url.clone(),
            ..OidcConfig::new(args.oidc_audience.clone())
        };
        let claims = Verifier::new(config, client)?.verify(&token).await?;
        for (what, claimed, proven) in [
            ("repository", &unverified.repo, &claims.repository),
            ("workflow ref", &unverified.workflow_ref, &claims.workflow_ref),
        ] {
            if claimed.as_ref().is_some_and(|c| c != proven) {
                tracing::warn!("the {what} claimed ({claimed:?}) differs from the token's ({proven:?}); using the token's");
            }
        }
        Ok(AccessContext {
            repo: Some(claims.repository),
            workflow_ref: Some(claims.workflow_ref),
            runner: unverified.runner,
            verified: true,
        })
    })
}

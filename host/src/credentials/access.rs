//! Who is asking ([`AccessContext`]) and the scope component's answer ([`Access`]). The host only
//! gathers facts; the `credential-scope` component decides, and any failure of it denies.

use super::record::Metadata;
use crate::policy::{CredentialScope, credentials as wit};
use serde::Serialize;

/// The job asking for a credential.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AccessContext {
    /// `owner/name` of the job's repository.
    pub repo: Option<String>,
    /// `owner/name/.github/workflows/f.yml@ref`.
    pub workflow_ref: Option<String>,
    /// Runner name.
    pub runner: Option<String>,
    /// The three facts above come from a verified OIDC token, not from flags or the environment.
    pub verified: bool,
}

impl AccessContext {
    fn to_wit(&self, now: u64) -> wit::Context {
        wit::Context {
            repo: self.repo.clone(),
            workflow_ref: self.workflow_ref.clone(),
            runner: self.runner.clone(),
            verified: self.verified,
            now,
        }
    }
}

/// A decision on one access, with what made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Access {
    /// Whether the credential may be handed out.
    pub granted: bool,
    /// The component's reason (or the failure that stood in for it).
    pub reason: String,
    /// sha256 of the component that decided.
    pub component_sha256: String,
}

/// Asks `scope` whether `context` may read `credential` at `now`. Fails closed.
///
/// Two rules hold whatever the component says, so a replaced component cannot weaken them: an
/// expired credential is never handed out, and a `require_verified` one never to an unverified
/// context.
pub fn decide(
    scope: &CredentialScope,
    credential: &Metadata,
    context: &AccessContext,
    now: u64,
) -> Access {
    let verdict = scope.decide(&credential.to_wit(), &context.to_wit(now));
    let (granted, reason) = match verdict.decision {
        wit::AccessDecision::Allow(reason) => (true, reason),
        wit::AccessDecision::Deny(reason) => (false, reason),
    };
    let floor = if credential.expired(now) {
        Some("host: the credential has expired")
    } else if credential.require_verified && !context.verified {
        Some("host: the credential requires a verified OIDC identity")
    } else {
        None
    };
    let (granted, reason) = match floor {
        Some(rule) if granted => (false, format!("{rule} (the component allowed: {reason})")),
        _ => (granted, reason),
    };
    Access {
        granted,
        reason,
        component_sha256: verdict.component.sha256.clone(),
    }
}

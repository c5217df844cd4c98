//! The access decision: expiry first, then identity, then the scope rule. Fails closed: the only
//! way to `allow` is through a rule that positively matched.

use crate::api::{AccessDecision, Context, Credential};
use crate::scope;

/// Decides whether `context` may read `credential`.
pub fn decide(credential: &Credential, context: &Context) -> AccessDecision {
    let name = &credential.name;
    if let Some(expires_at) = credential.expires_at
        && expires_at <= context.now
    {
        return AccessDecision::Deny(format!(
            "expiry: credential {name:?} expired at {expires_at} (now {})",
            context.now
        ));
    }
    if credential.require_verified && !context.verified {
        return AccessDecision::Deny(format!(
            "verified identity: credential {name:?} requires a verified OIDC identity"
        ));
    }
    match scope::check(credential, context) {
        Ok(reason) => AccessDecision::Allow(reason),
        Err(reason) => AccessDecision::Deny(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Scope;

    fn credential() -> Credential {
        Credential {
            name: "NPM_TOKEN".to_owned(),
            scope: Scope::Repo,
            scope_filter: Some("octo/*".to_owned()),
            expires_at: Some(2_000),
            require_verified: true,
        }
    }

    fn context() -> Context {
        Context {
            repo: Some("octo/app".to_owned()),
            workflow_ref: None,
            runner: None,
            verified: true,
            now: 1_000,
        }
    }

    fn reason(decision: AccessDecision) -> Result<String, String> {
        match decision {
            AccessDecision::Allow(why) => Ok(why),
            AccessDecision::Deny(why) => Err(why),
        }
    }

    #[test]
    fn allows_when_everything_holds() {
        assert_eq!(
            reason(decide(&credential(), &context())),
            Ok("repo scope: repository \"octo/app\" matches \"octo/*\"".to_owned())
        );
    }

    #[test]
    fn expired_credentials_are_denied_from_the_expiry_second_on() {
        for now in [2_000, 2_001] {
            let why = reason(decide(&credential(), &Context { now, ..context() })).unwrap_err();
            assert!(
                why.starts_with("expiry: credential \"NPM_TOKEN\" expired at 2000"),
                "{why}"
            );
        }
        assert!(
            reason(decide(
                &credential(),
                &Context {
                    now: 1_999,
                    ..context()
                }
            ))
            .is_ok()
        );
    }

    #[test]
    fn credentials_without_expiry_never_expire() {
        let forever = Credential {
            expires_at: None,
            ..credential()
        };
        assert!(
            reason(decide(
                &forever,
                &Context {
                    now: u64::MAX,
                    ..context()
                }
            ))
            .is_ok()
        );
    }

    #[test]
    fn a_verified_identity_is_required_when_asked_for() {
        let unverified = Context {
            verified: false,
            ..context()
        };
        let why = reason(decide(&credential(), &unverified)).unwrap_err();
        assert_eq!(
            why,
            "verified identity: credential \"NPM_TOKEN\" requires a verified OIDC identity"
        );
        let relaxed = Credential {
            require_verified: false,
            ..credential()
        };
        assert!(reason(decide(&relaxed, &unverified)).is_ok());
    }

    #[test]
    fn global_credentials_still_expire_and_still_require_verification() {
        let global = Credential {
            scope: Scope::Global,
            scope_filter: None,
            ..credential()
        };
        assert!(reason(decide(&global, &context())).is_ok());
        assert!(
            reason(decide(
                &global,
                &Context {
                    now: 5_000,
                    ..context()
                }
            ))
            .unwrap_err()
            .starts_with("expiry:")
        );
        assert!(
            reason(decide(
                &global,
                &Context {
                    verified: false,
                    ..context()
                }
            ))
            .unwrap_err()
            .starts_with("verified identity:")
        );
    }

    #[test]
    fn scope_denials_pass_through_with_their_rule() {
        let other = Context {
            repo: Some("acme/app".to_owned()),
            ..context()
        };
        assert!(
            reason(decide(&credential(), &other))
                .unwrap_err()
                .starts_with("repo scope:")
        );
    }
}

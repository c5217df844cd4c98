//! Who may be served an entry: the share scope of a cacheable read.
//!
//! Nothing is `fleet` by default: serving one token's answer to another without asking GitHub is
//! an operator's explicit choice. Data about the caller itself is `token`; the rest is `revalidate`.

use crate::api::ShareScope;
use crate::path::ApiPath;

/// Paths whose answer depends on who asks: the authenticated user, installation or app, their
/// notifications and subscriptions, and searches (which see each token's private repositories).
const TOKEN_SCOPED: &[&str] = &[
    "/user/**",
    "/installation/**",
    "/app/**",
    "/notifications/**",
    "/graphql",
    "/issues",
    "/gists",
    "/gists/starred",
    "/search/**",
    "/repos/*/*/notifications",
    "/repos/*/*/subscription",
];

/// The share scope for a read of `path`, and why.
pub fn scope(path: &ApiPath) -> (ShareScope, &'static str) {
    if path.matches_any(TOKEN_SCOPED) {
        (
            ShareScope::Token,
            "share token: the answer depends on the caller",
        )
    } else {
        (
            ShareScope::Revalidate,
            "share revalidate: other tokens revalidate with their own credential",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope_of(raw: &str) -> ShareScope {
        scope(&ApiPath::parse(raw).expect("valid path")).0
    }

    #[test]
    fn data_about_the_caller_stays_with_its_token() {
        for raw in [
            "/user",
            "/user/repos",
            "/user/orgs",
            "/installation/repositories",
            "/app",
            "/notifications",
            "/graphql",
            "/search/repositories",
            "/repos/o/r/subscription",
        ] {
            assert_eq!(scope_of(raw), ShareScope::Token, "{raw}");
        }
    }

    #[test]
    fn repository_and_organisation_data_revalidates() {
        for raw in [
            "/repos/o/r",
            "/repos/o/r/actions/runs",
            "/orgs/o/repos",
            "/users/u",
            "/users/u/repos",
            "/meta",
        ] {
            assert_eq!(scope_of(raw), ShareScope::Revalidate, "{raw}");
        }
    }

    #[test]
    fn nothing_is_fleet_by_default() {
        for raw in [
            "/",
            "/meta",
            "/repos/o/r",
            "/user",
            "/orgs/o/actions/runners",
        ] {
            assert_ne!(scope_of(raw), ShareScope::Fleet, "{raw}");
        }
    }
}

//! Reads that must never be cached, whatever their method: live counters, credentials, secrets and
//! redirects to short-lived signed URLs.

use crate::path::ApiPath;

/// Never-cache rules: the patterns and why, in the words the bypass reason uses.
const RULES: &[(&[&str], &str)] = &[
    (&["/rate_limit/**"], "the rate limit must be read live"),
    (
        &["/app/installations/*/access_tokens", "/authorizations/**"],
        "it hands out credentials",
    ),
    (
        &[
            "/repos/*/*/actions/runners/registration-token",
            "/repos/*/*/actions/runners/remove-token",
            "/orgs/*/actions/runners/registration-token",
            "/orgs/*/actions/runners/remove-token",
            "/enterprises/*/actions/runners/registration-token",
            "/enterprises/*/actions/runners/remove-token",
            "**/actions/oidc/**",
        ],
        "it hands out credentials",
    ),
    (
        &[
            "**/actions/secrets/**",
            "**/actions/variables/**",
            "**/dependabot/secrets/**",
            "**/codespaces/secrets/**",
            "/repos/*/*/environments/*/secrets/**",
            "/repos/*/*/environments/*/variables/**",
        ],
        "secrets and variables are never cached",
    ),
    (
        &[
            "/repos/*/*/actions/**/logs",
            "/repos/*/*/actions/artifacts/*/zip",
            "/repos/*/*/tarball/**",
            "/repos/*/*/zipball/**",
        ],
        "it redirects to a short-lived signed URL",
    ),
];

/// Every rule above names at least one of these segments literally (a test keeps it so). A path
/// naming none of them cannot match any rule, which settles most requests with one pass over their
/// segments instead of matching every pattern — this runs on every request.
const RULE_SEGMENTS: &[&str] = &[
    "rate_limit",
    "access_tokens",
    "authorizations",
    "registration-token",
    "remove-token",
    "oidc",
    "secrets",
    "variables",
    "logs",
    "zip",
    "tarball",
    "zipball",
];

/// Why `path` must never be cached, or `None` when it may be.
pub fn reason(path: &ApiPath) -> Option<&'static str> {
    let names_a_rule_segment = path.segments().iter().any(|segment| {
        RULE_SEGMENTS
            .iter()
            .any(|k| segment.eq_ignore_ascii_case(k))
    });
    if !names_a_rule_segment {
        return None;
    }
    RULES
        .iter()
        .find(|(patterns, _)| path.matches_any(patterns))
        .map(|(_, why)| *why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_pattern_names_a_prefilter_segment() {
        for (patterns, _) in RULES {
            for pattern in *patterns {
                assert!(
                    pattern
                        .split('/')
                        .any(|segment| RULE_SEGMENTS.contains(&segment)),
                    "{pattern} names none of RULE_SEGMENTS, so the prefilter would hide it"
                );
            }
        }
    }

    fn never_cached(raw: &str) -> bool {
        reason(&ApiPath::parse(raw).expect("valid path")).is_some()
    }

    #[test]
    fn live_and_credential_endpoints_are_never_cached() {
        for raw in [
            "/rate_limit",
            "/app/installations/12/access_tokens",
            "/authorizations",
            "/authorizations/3",
            "/repos/o/r/actions/runners/registration-token",
            "/orgs/o/actions/runners/remove-token",
            "/enterprises/e/actions/runners/registration-token",
            "/repos/o/r/actions/oidc/customization/sub",
            "/orgs/o/actions/oidc/customization/sub",
        ] {
            assert!(never_cached(raw), "{raw}");
        }
    }

    #[test]
    fn secrets_and_variables_are_never_cached() {
        for raw in [
            "/repos/o/r/actions/secrets",
            "/repos/o/r/actions/secrets/public-key",
            "/orgs/o/actions/secrets/NPM_TOKEN",
            "/repos/o/r/actions/variables",
            "/orgs/o/actions/variables/X",
            "/repos/o/r/dependabot/secrets",
            "/orgs/o/dependabot/secrets/public-key",
            "/user/codespaces/secrets",
            "/repos/o/r/environments/prod/secrets",
            "/repos/o/r/environments/prod/variables/X",
        ] {
            assert!(never_cached(raw), "{raw}");
        }
    }

    #[test]
    fn signed_url_redirects_are_never_cached() {
        for raw in [
            "/repos/o/r/actions/runs/1/logs",
            "/repos/o/r/actions/jobs/2/logs",
            "/repos/o/r/actions/runs/1/attempts/2/logs",
            "/repos/o/r/actions/artifacts/7/zip",
            "/repos/o/r/tarball",
            "/repos/o/r/tarball/main",
            "/repos/o/r/zipball/refs/heads/main",
        ] {
            assert!(never_cached(raw), "{raw}");
        }
    }

    #[test]
    fn ordinary_reads_may_be_cached() {
        for raw in [
            "/meta",
            "/user",
            "/repos/o/r",
            "/repos/o/r/actions/runs/1",
            "/repos/o/r/actions/runners",
            "/repos/o/r/actions/artifacts/7",
            "/repos/o/r/contents/logs",
            "/repos/o/r/contents/secrets",
        ] {
            assert!(!never_cached(raw), "{raw}");
        }
    }
}

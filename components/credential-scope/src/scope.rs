//! The scope rules: does the job's repository, workflow or runner match the credential's filter.
//!
//! Each rule returns `Ok(reason)` to allow and `Err(reason)` to deny; every reason starts with the
//! rule's name. A missing filter, a missing context value or a filter that does not compile denies.

use crate::api::{Context, Credential, Scope};
use crate::pattern::{self, Case, Patterns};
use crate::repo_name;
use crate::workflow_ref::{WorkflowPattern, WorkflowRef};

/// Applies the credential's scope rule to the context.
pub fn check(credential: &Credential, context: &Context) -> Result<String, String> {
    match credential.scope {
        Scope::Global => global(credential),
        Scope::Repo => repo(credential, context),
        Scope::Workflow => workflow(credential, context),
        Scope::Runner => runner(credential, context),
    }
}

/// Every job may read a global credential; a filter on one is a contradiction, so it denies.
fn global(credential: &Credential) -> Result<String, String> {
    match &credential.scope_filter {
        None => Ok("global scope: every job on this runner".to_owned()),
        Some(filter) => Err(format!(
            "global scope: a global credential must not carry a scope filter (has {filter:?})"
        )),
    }
}

/// The job's `owner/name` must match one of the filter's globs, ignoring case.
fn repo(credential: &Credential, context: &Context) -> Result<String, String> {
    const RULE: &str = "repo scope";
    let filter = required_filter(RULE, credential)?;
    let repo = required_context(RULE, "repository", context.repo.as_deref())?;
    if !repo_name::is_well_formed(repo) {
        return Err(format!(
            "{RULE}: the job's repository {repo:?} is not owner/name"
        ));
    }
    let patterns =
        Patterns::compile(filter, Case::Insensitive).map_err(|e| format!("{RULE}: {e}"))?;
    match patterns.find(repo) {
        Some(glob) => Ok(format!("{RULE}: repository {repo:?} matches {glob:?}")),
        None => Err(format!(
            "{RULE}: repository {repo:?} does not match {filter:?}"
        )),
    }
}

/// The job's workflow ref must match one of the filter's workflow patterns.
fn workflow(credential: &Credential, context: &Context) -> Result<String, String> {
    const RULE: &str = "workflow scope";
    let filter = required_filter(RULE, credential)?;
    let text = required_context(RULE, "workflow ref", context.workflow_ref.as_deref())?;
    let workflow = WorkflowRef::parse(text).map_err(|e| format!("{RULE}: {e}"))?;
    let patterns = pattern::split_list(filter)
        .and_then(|items| {
            items
                .into_iter()
                .map(WorkflowPattern::compile)
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(|e| format!("{RULE}: {e}"))?;
    match patterns.iter().find(|p| p.is_match(&workflow)) {
        Some(p) => Ok(format!("{RULE}: workflow {text:?} matches {:?}", p.text())),
        None => Err(format!(
            "{RULE}: workflow {text:?} does not match {filter:?}"
        )),
    }
}

/// The job's runner name must match one of the filter's globs, in case.
fn runner(credential: &Credential, context: &Context) -> Result<String, String> {
    const RULE: &str = "runner scope";
    let filter = required_filter(RULE, credential)?;
    let runner = required_context(RULE, "runner name", context.runner.as_deref())?;
    if runner.chars().any(char::is_control) {
        return Err(format!("{RULE}: the runner name {runner:?} is malformed"));
    }
    let patterns =
        Patterns::compile(filter, Case::Sensitive).map_err(|e| format!("{RULE}: {e}"))?;
    match patterns.find(runner) {
        Some(glob) => Ok(format!("{RULE}: runner {runner:?} matches {glob:?}")),
        None => Err(format!(
            "{RULE}: runner {runner:?} does not match {filter:?}"
        )),
    }
}

fn required_filter<'a>(rule: &str, credential: &'a Credential) -> Result<&'a str, String> {
    match credential.scope_filter.as_deref().map(str::trim) {
        Some(filter) if !filter.is_empty() => Ok(filter),
        _ => Err(format!("{rule}: the credential has no scope filter")),
    }
}

fn required_context<'a>(rule: &str, what: &str, value: Option<&'a str>) -> Result<&'a str, String> {
    match value {
        Some(value) if !value.trim().is_empty() => Ok(value),
        _ => Err(format!("{rule}: the job's {what} is unknown")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential(scope: Scope, filter: Option<&str>) -> Credential {
        Credential {
            name: "NPM_TOKEN".to_owned(),
            scope,
            scope_filter: filter.map(str::to_owned),
            expires_at: None,
            require_verified: false,
        }
    }

    fn context() -> Context {
        Context {
            repo: Some("octo/app".to_owned()),
            workflow_ref: Some("octo/app/.github/workflows/ci.yml@refs/heads/main".to_owned()),
            runner: Some("linux-x64-1".to_owned()),
            verified: true,
            now: 1_000,
        }
    }

    fn allowed(scope: Scope, filter: Option<&str>, context: &Context) -> bool {
        check(&credential(scope, filter), context).is_ok()
    }

    fn denial(scope: Scope, filter: Option<&str>, context: &Context) -> String {
        check(&credential(scope, filter), context).expect_err("should deny")
    }

    #[test]
    fn global_allows_without_a_filter() {
        assert!(allowed(Scope::Global, None, &context()));
        let bare = Context {
            repo: None,
            workflow_ref: None,
            runner: None,
            verified: false,
            now: 0,
        };
        assert!(allowed(Scope::Global, None, &bare));
    }

    #[test]
    fn global_with_a_filter_is_inconsistent() {
        for filter in ["octo/*", ""] {
            assert!(denial(Scope::Global, Some(filter), &context()).starts_with("global scope:"));
        }
    }

    #[test]
    fn repo_matches_exact_names_ignoring_case() {
        assert!(allowed(Scope::Repo, Some("octo/app"), &context()));
        assert!(allowed(Scope::Repo, Some("Octo/App"), &context()));
        let upper = Context {
            repo: Some("OCTO/APP".to_owned()),
            ..context()
        };
        assert!(allowed(Scope::Repo, Some("octo/app"), &upper));
        assert!(!allowed(Scope::Repo, Some("octo/app2"), &context()));
    }

    #[test]
    fn repo_globs_and_lists() {
        assert!(allowed(Scope::Repo, Some("octo/*"), &context()));
        assert!(allowed(Scope::Repo, Some("acme/api, octo/a*"), &context()));
        assert!(allowed(Scope::Repo, Some("{acme,octo}/app"), &context()));
        assert!(!allowed(Scope::Repo, Some("acme/*"), &context()));
        assert!(
            !allowed(Scope::Repo, Some("*"), &context()),
            "* must not cross /"
        );
        assert!(
            !allowed(Scope::Repo, Some("oct*"), &context()),
            "* must not cross /"
        );
    }

    #[test]
    fn repo_requires_a_filter_and_a_repository() {
        for filter in [None, Some(""), Some("  ")] {
            assert!(
                denial(Scope::Repo, filter, &context()).contains("no scope filter"),
                "{filter:?}"
            );
        }
        for repo in [None, Some(String::new())] {
            let ctx = Context { repo, ..context() };
            assert!(denial(Scope::Repo, Some("octo/*"), &ctx).contains("repository is unknown"));
        }
    }

    #[test]
    fn repo_denies_malformed_values() {
        let odd = Context {
            repo: Some("octo/app/extra".to_owned()),
            ..context()
        };
        assert!(denial(Scope::Repo, Some("**"), &odd).contains("not owner/name"));
        assert!(denial(Scope::Repo, Some("octo/app,,x/y"), &context()).contains("empty pattern"));
        assert!(denial(Scope::Repo, Some("octo/[z-a]"), &context()).contains("does not compile"));
    }

    #[test]
    fn repo_reasons_name_the_rule_and_the_match() {
        let reason = check(&credential(Scope::Repo, Some("acme/x, octo/*")), &context()).unwrap();
        assert_eq!(
            reason,
            "repo scope: repository \"octo/app\" matches \"octo/*\""
        );
        let denied = denial(Scope::Repo, Some("acme/*"), &context());
        assert_eq!(
            denied,
            "repo scope: repository \"octo/app\" does not match \"acme/*\""
        );
    }

    #[test]
    fn workflow_matches_any_ref_or_an_exact_ref() {
        assert!(allowed(
            Scope::Workflow,
            Some("octo/app/.github/workflows/ci.yml"),
            &context()
        ));
        assert!(allowed(
            Scope::Workflow,
            Some("octo/app/.github/workflows/ci.yml@refs/heads/main"),
            &context()
        ));
        assert!(!allowed(
            Scope::Workflow,
            Some("octo/app/.github/workflows/ci.yml@refs/heads/dev"),
            &context()
        ));
        assert!(!allowed(
            Scope::Workflow,
            Some("octo/app/.github/workflows/release.yml"),
            &context()
        ));
    }

    #[test]
    fn workflow_owner_and_name_ignore_case_path_and_ref_do_not() {
        assert!(allowed(
            Scope::Workflow,
            Some("OCTO/App/.github/workflows/ci.yml"),
            &context()
        ));
        assert!(!allowed(
            Scope::Workflow,
            Some("octo/app/.github/workflows/CI.yml"),
            &context()
        ));
        assert!(!allowed(
            Scope::Workflow,
            Some("octo/app/.github/workflows/ci.yml@refs/heads/MAIN"),
            &context()
        ));
    }

    #[test]
    fn workflow_globs_and_lists() {
        assert!(allowed(
            Scope::Workflow,
            Some("octo/*/.github/workflows/*.yml@refs/heads/*"),
            &context()
        ));
        assert!(allowed(
            Scope::Workflow,
            Some(
                "acme/x/.github/workflows/a.yml, octo/app/.github/workflows/ci.yml@refs/heads/main"
            ),
            &context()
        ));
    }

    #[test]
    fn workflow_requires_a_filter_and_a_well_formed_ref() {
        assert!(
            denial(Scope::Workflow, None, &context())
                .starts_with("workflow scope: the credential has no scope filter")
        );
        let none = Context {
            workflow_ref: None,
            ..context()
        };
        assert!(
            denial(
                Scope::Workflow,
                Some("octo/app/.github/workflows/ci.yml"),
                &none
            )
            .contains("workflow ref is unknown")
        );
        let odd = Context {
            workflow_ref: Some("octo/app/ci.yml".to_owned()),
            ..context()
        };
        assert!(denial(Scope::Workflow, Some("**"), &odd).contains("malformed"));
        assert!(
            denial(Scope::Workflow, Some("octo/app"), &context()).starts_with("workflow scope:")
        );
    }

    #[test]
    fn runner_matches_globs_in_case() {
        assert!(allowed(Scope::Runner, Some("linux-x64-1"), &context()));
        assert!(allowed(Scope::Runner, Some("linux-*"), &context()));
        assert!(allowed(
            Scope::Runner,
            Some("mac-*, linux-x64-?"),
            &context()
        ));
        assert!(!allowed(Scope::Runner, Some("Linux-*"), &context()));
        assert!(!allowed(Scope::Runner, Some("mac-*"), &context()));
    }

    #[test]
    fn runner_requires_a_filter_and_a_name() {
        assert!(denial(Scope::Runner, None, &context()).starts_with("runner scope:"));
        let none = Context {
            runner: None,
            ..context()
        };
        assert!(denial(Scope::Runner, Some("*"), &none).contains("runner name is unknown"));
        let odd = Context {
            runner: Some("a\nb".to_owned()),
            ..context()
        };
        assert!(denial(Scope::Runner, Some("*"), &odd).contains("malformed"));
    }
}

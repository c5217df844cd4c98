//! Workflow refs (`owner/name/.github/workflows/ci.yml@refs/heads/main`) and the filters that
//! match them: owner and name ignore case, the file path and the ref do not.
//!
//! The ref starts at the first `@`, so workflow files whose names contain `@` are not supported:
//! they fail to match and the credential is denied.

use globset::GlobMatcher;

use crate::pattern::{self, Case};
use crate::repo_name;

/// A job's workflow ref, split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowRef<'a> {
    /// `owner/name`.
    pub repo: &'a str,
    /// `.github/workflows/<file>`.
    pub file: &'a str,
    /// `refs/...`.
    pub git_ref: &'a str,
}

impl<'a> WorkflowRef<'a> {
    /// Parses a context's workflow ref; `Err` says what is wrong with it.
    pub fn parse(text: &'a str) -> Result<Self, String> {
        let malformed = |why: &str| Err(format!("workflow ref {text:?} is malformed: {why}"));
        let Some((path, git_ref)) = text.split_once('@') else {
            return malformed("no @ref");
        };
        if !git_ref.starts_with("refs/")
            || git_ref.len() == "refs/".len()
            || git_ref.chars().any(char::is_control)
        {
            return malformed("the ref is not a full refs/... name");
        }
        let mut parts = path.splitn(3, '/');
        let (Some(owner), Some(name), Some(file)) = (parts.next(), parts.next(), parts.next())
        else {
            return malformed("no owner/name/.github/workflows/<file> path");
        };
        let repo = &path[..owner.len() + 1 + name.len()];
        let Some(file_name) = file.strip_prefix(".github/workflows/") else {
            return malformed("the file is not under .github/workflows/");
        };
        if !repo_name::is_well_formed(repo) {
            return malformed("the repository is not owner/name");
        }
        if file_name.is_empty()
            || file_name.contains('/')
            || file_name.chars().any(char::is_control)
        {
            return malformed("the file name is empty or nested");
        }
        Ok(Self {
            repo,
            file,
            git_ref,
        })
    }
}

/// One workflow filter item: `owner/name/<file glob>[@<ref glob>]`, globs in every part.
#[derive(Debug)]
pub struct WorkflowPattern {
    text: String,
    repo: GlobMatcher,
    file: GlobMatcher,
    git_ref: Option<GlobMatcher>,
}

impl WorkflowPattern {
    /// Compiles one item of a workflow filter.
    pub fn compile(text: &str) -> Result<Self, String> {
        let (path, git_ref) = match text.split_once('@') {
            Some((path, git_ref)) => (path, Some(git_ref)),
            None => (text, None),
        };
        let mut parts = path.splitn(3, '/');
        let (Some(owner), Some(name), Some(file)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(format!(
                "workflow filter {text:?} is not owner/name/<file>[@ref]"
            ));
        };
        if owner.is_empty()
            || name.is_empty()
            || file.is_empty()
            || git_ref.is_some_and(str::is_empty)
        {
            return Err(format!("workflow filter {text:?} has an empty part"));
        }
        Ok(Self {
            text: text.to_owned(),
            repo: pattern::glob(&path[..owner.len() + 1 + name.len()], Case::Insensitive)?,
            file: pattern::glob(file, Case::Sensitive)?,
            git_ref: git_ref
                .map(|g| pattern::glob(g, Case::Sensitive))
                .transpose()?,
        })
    }

    /// The filter item as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the workflow ref matches: repository, file, and the ref when the item names one.
    pub fn is_match(&self, workflow: &WorkflowRef<'_>) -> bool {
        self.repo.is_match(workflow.repo)
            && self.file.is_match(workflow.file)
            && self
                .git_ref
                .as_ref()
                .is_none_or(|g| g.is_match(workflow.git_ref))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CI_MAIN: &str = "octo/app/.github/workflows/ci.yml@refs/heads/main";

    fn matches(filter: &str, workflow: &str) -> bool {
        let pattern = WorkflowPattern::compile(filter).expect("filter compiles");
        pattern.is_match(&WorkflowRef::parse(workflow).expect("workflow ref parses"))
    }

    #[test]
    fn parses_a_workflow_ref() {
        assert_eq!(
            WorkflowRef::parse(CI_MAIN).unwrap(),
            WorkflowRef {
                repo: "octo/app",
                file: ".github/workflows/ci.yml",
                git_ref: "refs/heads/main"
            }
        );
        let with_at =
            WorkflowRef::parse("o/r/.github/workflows/ci.yml@refs/heads/user@fix").unwrap();
        assert_eq!(with_at.git_ref, "refs/heads/user@fix");
    }

    #[test]
    fn malformed_workflow_refs_are_errors() {
        for text in [
            "",
            "octo/app/.github/workflows/ci.yml",
            "octo/app/.github/workflows/ci.yml@",
            "octo/app/.github/workflows/ci.yml@main",
            "octo/app/.github/workflows/ci.yml@refs/",
            "octo/app@refs/heads/main",
            "octo/app/ci.yml@refs/heads/main",
            "octo/app/.github/workflows/@refs/heads/main",
            "octo/app/.github/workflows/sub/ci.yml@refs/heads/main",
            "octo/a pp/.github/workflows/ci.yml@refs/heads/main",
            "octo/app/.github/workflows/ci.yml@refs/heads/ma\nin",
        ] {
            assert!(WorkflowRef::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn without_a_ref_any_ref_matches() {
        assert!(matches("octo/app/.github/workflows/ci.yml", CI_MAIN));
        assert!(matches(
            "octo/app/.github/workflows/ci.yml",
            "octo/app/.github/workflows/ci.yml@refs/tags/v1"
        ));
    }

    #[test]
    fn with_a_ref_only_that_ref_matches() {
        assert!(matches(
            "octo/app/.github/workflows/ci.yml@refs/heads/main",
            CI_MAIN
        ));
        assert!(!matches(
            "octo/app/.github/workflows/ci.yml@refs/heads/main",
            "octo/app/.github/workflows/ci.yml@refs/heads/dev"
        ));
        assert!(!matches(
            "octo/app/.github/workflows/ci.yml@refs/heads/main",
            "octo/app/.github/workflows/ci.yml@refs/heads/main2"
        ));
    }

    #[test]
    fn owner_and_name_ignore_case_file_and_ref_do_not() {
        assert!(matches("Octo/APP/.github/workflows/ci.yml", CI_MAIN));
        assert!(!matches("octo/app/.github/workflows/CI.yml", CI_MAIN));
        assert!(!matches(
            "octo/app/.github/workflows/ci.yml@refs/heads/Main",
            CI_MAIN
        ));
    }

    #[test]
    fn globs_are_allowed_in_every_part() {
        assert!(matches(
            "octo/*/.github/workflows/*.yml@refs/heads/*",
            CI_MAIN
        ));
        assert!(matches(
            "*/*/.github/workflows/ci.yml@refs/tags/v*",
            "octo/app/.github/workflows/ci.yml@refs/tags/v1.2"
        ));
        assert!(!matches(
            "octo/app/.github/workflows/ci.yml@refs/heads/*",
            "octo/app/.github/workflows/ci.yml@refs/heads/feature/x"
        ));
        assert!(matches(
            "octo/app/.github/workflows/ci.yml@refs/heads/**",
            "octo/app/.github/workflows/ci.yml@refs/heads/feature/x"
        ));
        assert!(!matches("octo/app/*", CI_MAIN));
        assert!(!matches(
            "octo/*/.github/workflows/ci.yml",
            "octo2/app/.github/workflows/ci.yml@refs/heads/main"
        ));
    }

    #[test]
    fn malformed_filters_are_errors() {
        for filter in [
            "octo",
            "octo/app",
            "octo//ci.yml",
            "/app/.github/workflows/ci.yml",
            "octo/app/ci.yml@",
            "octo/app/[z-a].yml",
        ] {
            assert!(WorkflowPattern::compile(filter).is_err(), "{filter:?}");
        }
    }
}

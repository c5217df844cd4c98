//! Operation classes: which GitHub API paths share a freshness profile, and the seed TTL of each.
//!
//! The class names are part of the contract: operators override TTLs with `operation_ttls.<class>`,
//! and the host reports statistics per class.

use crate::path::ApiPath;

/// An operation class and the TTL the seed table gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Class {
    /// Contract name, e.g. `workflow-runs`.
    pub name: &'static str,
    /// Seed TTL in seconds; `None` means "the configured default TTL".
    pub seed_ttl: Option<u32>,
}

/// Anything cacheable that no row of the table names.
pub const DEFAULT: Class = Class {
    name: "default",
    seed_ttl: None,
};

/// GraphQL queries (`POST /graphql`): the document, not the path, says what is read.
pub const GRAPHQL: Class = Class {
    name: "graphql",
    seed_ttl: None,
};

/// The seed table, first match wins. TTLs follow how fast the data moves: repository lists and
/// workflow definitions change rarely, runs and jobs change by the minute, runner status by the
/// second, and a code-scanning result belongs to a commit.
const TABLE: &[(Class, &[&str])] = &[
    (
        Class {
            name: "repos-list",
            seed_ttl: Some(600),
        },
        &[
            "/user/repos",
            "/orgs/*/repos",
            "/users/*/repos",
            "/installation/repositories",
        ],
    ),
    (
        Class {
            name: "repo",
            seed_ttl: Some(300),
        },
        &["/repos/*/*"],
    ),
    (
        Class {
            name: "workflow-runs",
            seed_ttl: Some(120),
        },
        &[
            "/repos/*/*/actions/runs",
            "/repos/*/*/actions/runs/*",
            "/repos/*/*/actions/runs/*/jobs",
            "/repos/*/*/actions/runs/*/attempts/**",
            "/repos/*/*/actions/workflows/*/runs",
            "/repos/*/*/actions/jobs/*",
        ],
    ),
    (
        Class {
            name: "workflows",
            seed_ttl: Some(300),
        },
        &[
            "/repos/*/*/actions/workflows",
            "/repos/*/*/actions/workflows/*",
        ],
    ),
    (
        Class {
            name: "runners",
            seed_ttl: Some(60),
        },
        &[
            "/repos/*/*/actions/runners/**",
            "/orgs/*/actions/runners/**",
            "/enterprises/*/actions/runners/**",
            "/orgs/*/actions/runner-groups/**",
            "/enterprises/*/actions/runner-groups/**",
        ],
    ),
    (
        Class {
            name: "codeql",
            seed_ttl: Some(86_400),
        },
        &["/repos/*/*/code-scanning/**"],
    ),
];

/// The class of a cacheable read of `path`.
pub fn classify(path: &ApiPath) -> Class {
    TABLE
        .iter()
        .find(|(_, patterns)| path.matches_any(patterns))
        .map_or(DEFAULT, |(class, _)| *class)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class_of(raw: &str) -> (&'static str, Option<u32>) {
        let class = classify(&ApiPath::parse(raw).expect("valid path"));
        (class.name, class.seed_ttl)
    }

    #[test]
    fn repository_lists_live_ten_minutes() {
        for raw in [
            "/user/repos",
            "/orgs/o/repos",
            "/users/u/repos",
            "/installation/repositories",
        ] {
            assert_eq!(class_of(raw), ("repos-list", Some(600)), "{raw}");
        }
    }

    #[test]
    fn a_repository_lives_five_minutes_but_only_the_root() {
        assert_eq!(class_of("/repos/o/r"), ("repo", Some(300)));
        assert_eq!(class_of("/repos/O/R/"), ("repo", Some(300)));
        assert_eq!(class_of("/repos/o/r/issues"), ("default", None));
    }

    #[test]
    fn workflows_live_five_minutes() {
        assert_eq!(
            class_of("/repos/o/r/actions/workflows"),
            ("workflows", Some(300))
        );
        assert_eq!(
            class_of("/repos/o/r/actions/workflows/ci.yml"),
            ("workflows", Some(300))
        );
        assert_eq!(
            class_of("/repos/o/r/actions/workflows/42/timing"),
            ("default", None)
        );
    }

    #[test]
    fn workflow_runs_and_jobs_live_two_minutes() {
        for raw in [
            "/repos/o/r/actions/runs",
            "/repos/o/r/actions/runs/1",
            "/repos/o/r/actions/runs/1/jobs",
            "/repos/o/r/actions/runs/1/attempts/2",
            "/repos/o/r/actions/runs/1/attempts/2/jobs",
            "/repos/o/r/actions/workflows/42/runs",
            "/repos/o/r/actions/workflows/ci.yml/runs",
            "/repos/o/r/actions/jobs/9",
        ] {
            assert_eq!(class_of(raw), ("workflow-runs", Some(120)), "{raw}");
        }
    }

    #[test]
    fn runners_live_one_minute() {
        for raw in [
            "/repos/o/r/actions/runners",
            "/repos/o/r/actions/runners/5",
            "/repos/o/r/actions/runners/5/labels",
            "/orgs/o/actions/runners",
            "/enterprises/e/actions/runners/downloads",
            "/orgs/o/actions/runner-groups",
            "/orgs/o/actions/runner-groups/3/runners",
        ] {
            assert_eq!(class_of(raw), ("runners", Some(60)), "{raw}");
        }
    }

    #[test]
    fn code_scanning_lives_a_day() {
        for raw in [
            "/repos/o/r/code-scanning/analyses",
            "/repos/o/r/code-scanning/alerts/3",
        ] {
            assert_eq!(class_of(raw), ("codeql", Some(86_400)), "{raw}");
        }
    }

    #[test]
    fn everything_else_is_default() {
        for raw in ["/", "/meta", "/repos/o/r/pulls/1", "/users/u", "/orgs/o"] {
            assert_eq!(class_of(raw), ("default", None), "{raw}");
        }
    }
}

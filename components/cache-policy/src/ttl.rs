//! Resolving a class's TTL: configured override, else seed table, else the configured default.

use crate::api::OperationTtl;
use crate::operation::Class;

/// A resolved TTL and where it came from, for the decision's reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ttl {
    /// Seconds; 0 means every use revalidates first.
    pub seconds: u32,
    /// Where the number came from.
    pub source: Source,
}

/// Where a TTL came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `operation_ttls.<class>` in the host's configuration.
    Config,
    /// The policy's own seed table.
    SeedTable,
    /// `cache.default_ttl`, for classes the seed table leaves open.
    DefaultTtl,
}

impl Ttl {
    /// Appends `"<class>: <n> s from <source>"`, the start of every cache plan's reason, to `out`:
    /// the request path builds its reason in one buffer, since formatting is a large share of a
    /// decision's cost.
    pub fn describe_into(&self, class: &Class, out: &mut String) {
        use std::fmt::Write;
        let source = match self.source {
            Source::Config => "from config (operation_ttls)",
            Source::SeedTable => "from the seed table",
            Source::DefaultTtl => "from the default TTL",
        };
        let note = if self.seconds == 0 {
            ", always revalidate"
        } else {
            ""
        };
        let _ = write!(out, "{}: {} s {source}{note}", class.name, self.seconds);
    }
}

/// The TTL for `class`. A configured override wins (the last one, if the list names the class
/// twice, as a later config layer would); then the seed table; then `default_seconds`.
pub fn resolve(class: &Class, overrides: &[OperationTtl], default_seconds: u32) -> Ttl {
    if let Some(found) = overrides.iter().rev().find(|o| o.operation == class.name) {
        return Ttl {
            seconds: found.ttl_seconds,
            source: Source::Config,
        };
    }
    match class.seed_ttl {
        Some(seconds) => Ttl {
            seconds,
            source: Source::SeedTable,
        },
        None => Ttl {
            seconds: default_seconds,
            source: Source::DefaultTtl,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Ttl {
        fn describe(&self, class: &Class) -> String {
            let mut text = String::new();
            self.describe_into(class, &mut text);
            text
        }
    }
    use crate::operation::{DEFAULT, classify};
    use crate::path::ApiPath;

    fn runs() -> Class {
        classify(&ApiPath::parse("/repos/o/r/actions/runs").expect("valid path"))
    }

    fn ttl(operation: &str, ttl_seconds: u32) -> OperationTtl {
        OperationTtl {
            operation: operation.to_owned(),
            ttl_seconds,
        }
    }

    #[test]
    fn seed_table_applies_without_overrides() {
        let resolved = resolve(&runs(), &[], 300);
        assert_eq!(
            resolved,
            Ttl {
                seconds: 120,
                source: Source::SeedTable
            }
        );
        assert_eq!(
            resolved.describe(&runs()),
            "workflow-runs: 120 s from the seed table"
        );
    }

    #[test]
    fn config_overrides_the_seed_table() {
        let resolved = resolve(&runs(), &[ttl("repo", 1), ttl("workflow-runs", 30)], 300);
        assert_eq!(
            resolved,
            Ttl {
                seconds: 30,
                source: Source::Config
            }
        );
        assert_eq!(
            resolved.describe(&runs()),
            "workflow-runs: 30 s from config (operation_ttls)"
        );
    }

    #[test]
    fn the_last_override_wins() {
        let resolved = resolve(
            &runs(),
            &[ttl("workflow-runs", 30), ttl("workflow-runs", 45)],
            300,
        );
        assert_eq!(resolved.seconds, 45);
    }

    #[test]
    fn a_zero_override_means_always_revalidate() {
        let resolved = resolve(&runs(), &[ttl("workflow-runs", 0)], 300);
        assert_eq!(resolved.seconds, 0);
        assert_eq!(
            resolved.describe(&runs()),
            "workflow-runs: 0 s from config (operation_ttls), always revalidate"
        );
    }

    #[test]
    fn unclassified_operations_use_the_configured_default() {
        assert_eq!(
            resolve(&DEFAULT, &[], 90),
            Ttl {
                seconds: 90,
                source: Source::DefaultTtl
            }
        );
        assert_eq!(
            resolve(&DEFAULT, &[ttl("default", 10)], 90).source,
            Source::Config
        );
        assert_eq!(
            resolve(&DEFAULT, &[], 90).describe(&DEFAULT),
            "default: 90 s from the default TTL"
        );
    }

    #[test]
    fn class_names_match_exactly() {
        assert_eq!(
            resolve(&runs(), &[ttl("Workflow-Runs", 5)], 300).source,
            Source::SeedTable
        );
    }
}

//! Scope filters as lists of globs: `octo/*`, or several separated by commas (`octo/*, acme/api`).
//!
//! Globs come from `globset` with literal separators, so `*` and `?` never cross a `/`. A filter
//! that does not split or compile cleanly is an error, and the caller denies.

use globset::{GlobBuilder, GlobMatcher};

/// Whether letters must match in case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// `Octo/App` matches `octo/app` (GitHub account and repository names).
    Insensitive,
    /// Exact bytes (file paths, refs, runner names).
    Sensitive,
}

/// A compiled list of globs, remembering each glob's text for reasons.
#[derive(Debug)]
pub struct Patterns(Vec<(String, GlobMatcher)>);

impl Patterns {
    /// Compiles a comma-separated list of globs.
    pub fn compile(filter: &str, case: Case) -> Result<Self, String> {
        split_list(filter)?
            .into_iter()
            .map(|item| Ok((item.to_owned(), glob(item, case)?)))
            .collect::<Result<_, String>>()
            .map(Self)
    }

    /// The first glob that matches `candidate`, if any.
    pub fn find(&self, candidate: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(_, matcher)| matcher.is_match(candidate))
            .map(|(text, _)| text.as_str())
    }
}

/// Compiles one glob with literal separators.
pub fn glob(text: &str, case: Case) -> Result<GlobMatcher, String> {
    GlobBuilder::new(text)
        .literal_separator(true)
        .backslash_escape(true)
        .case_insensitive(case == Case::Insensitive)
        .build()
        .map(|glob| glob.compile_matcher())
        .map_err(|error| format!("glob {text:?} does not compile: {error}"))
}

/// Splits a filter at the commas that separate globs, leaving those inside `{a,b}` alternates
/// and `[...]` classes alone. Items are trimmed; an empty item or an unbalanced bracket is an error.
pub fn split_list(filter: &str) -> Result<Vec<&str>, String> {
    let mut items = Vec::new();
    let (mut start, mut braces, mut in_class, mut escaped) = (0, 0usize, false, false);
    for (at, c) in filter.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '{' if !in_class => braces += 1,
            '}' if !in_class => {
                braces = braces
                    .checked_sub(1)
                    .ok_or_else(|| format!("filter {filter:?} has an unbalanced '}}'"))?;
            }
            ',' if !in_class && braces == 0 => {
                items.push(&filter[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    if braces != 0 || in_class || escaped {
        return Err(format!(
            "filter {filter:?} has an unbalanced bracket or a trailing escape"
        ));
    }
    items.push(&filter[start..]);
    items
        .into_iter()
        .map(|item| {
            let item = item.trim();
            if item.is_empty() {
                Err(format!("filter {filter:?} holds an empty pattern"))
            } else {
                Ok(item)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(filter: &str, case: Case, candidate: &str) -> bool {
        Patterns::compile(filter, case)
            .expect("compiles")
            .find(candidate)
            .is_some()
    }

    #[test]
    fn lists_split_at_top_level_commas_only() {
        assert_eq!(split_list("a/b").unwrap(), ["a/b"]);
        assert_eq!(split_list(" a/b , c/* ").unwrap(), ["a/b", "c/*"]);
        assert_eq!(split_list("{a,b}/*,c/d").unwrap(), ["{a,b}/*", "c/d"]);
        assert_eq!(split_list("a/[,x],c/d").unwrap(), ["a/[,x]", "c/d"]);
        assert_eq!(split_list("a/\\,b").unwrap(), ["a/\\,b"]);
    }

    #[test]
    fn malformed_lists_are_errors() {
        for filter in [
            "", " ", "a/b,", ",a/b", "a/b,,c/d", "{a,b/*", "a}/b", "a/[bc", "a/b\\",
        ] {
            assert!(split_list(filter).is_err(), "{filter:?}");
        }
    }

    #[test]
    fn star_does_not_cross_a_slash() {
        assert!(matches("octo/*", Case::Insensitive, "octo/app"));
        assert!(!matches("*", Case::Insensitive, "octo/app"));
        assert!(!matches("octo*", Case::Insensitive, "octo/app"));
        assert!(!matches("octo/?pp", Case::Insensitive, "octo//pp"));
    }

    #[test]
    fn case_follows_the_setting() {
        assert!(matches("Octo/App", Case::Insensitive, "octo/app"));
        assert!(!matches("Octo/App", Case::Sensitive, "octo/app"));
    }

    #[test]
    fn any_item_of_a_list_may_match_and_is_named() {
        let patterns = Patterns::compile("octo/web, acme/*", Case::Insensitive).expect("compiles");
        assert_eq!(patterns.find("acme/api"), Some("acme/*"));
        assert_eq!(patterns.find("octo/web"), Some("octo/web"));
        assert_eq!(patterns.find("octo/api"), None);
    }

    #[test]
    fn alternates_work_inside_an_item() {
        assert!(matches("{octo,acme}/api", Case::Insensitive, "acme/api"));
    }

    #[test]
    fn compile_failures_are_errors() {
        assert!(Patterns::compile("a/[z-a]", Case::Sensitive).is_err());
    }
}

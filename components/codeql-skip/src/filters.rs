//! The configuration's `paths` and `paths-ignore`, validated and matched the way the CodeQL action
//! does: entries are relative to the root, `**` spans directories and must stand between slashes,
//! `*` stays within one, and an entry that names a directory covers everything below it.

use std::fmt;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// Why a path is outside what the configuration analyses. Displays as the end of a sentence
/// starting with the path and "is".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exclusion<'a> {
    /// `paths` is non-empty and no entry matches.
    OutsidePaths,
    /// This `paths-ignore` entry matches.
    Ignored(&'a str),
}

impl fmt::Display for Exclusion<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exclusion::OutsidePaths => f.write_str("outside the configured paths"),
            Exclusion::Ignored(entry) => write!(f, "excluded by paths-ignore entry {entry:?}"),
        }
    }
}

/// Compiled `paths` and `paths-ignore`.
#[derive(Debug)]
pub struct PathFilters {
    include: Option<GlobSet>,
    ignore: GlobSet,
    /// Original `paths-ignore` entries, one per glob in `ignore`, to name the one that matched.
    ignore_entries: Vec<String>,
}

impl PathFilters {
    /// Compiles both lists; an entry CodeQL would reject, or one globset cannot compile, is an
    /// error, since the scan's real filter is then unknown.
    pub fn new(paths: &[String], paths_ignore: &[String]) -> Result<Self, String> {
        let include = if paths.is_empty() {
            None
        } else {
            let mut set = GlobSetBuilder::new();
            for entry in paths {
                add_entry(&mut set, entry, "paths")?;
            }
            Some(
                set.build()
                    .map_err(|e| format!("invalid paths filter: {e}"))?,
            )
        };
        let mut ignore = GlobSetBuilder::new();
        let mut ignore_entries = Vec::new();
        for entry in paths_ignore {
            let added = add_entry(&mut ignore, entry, "paths-ignore")?;
            ignore_entries.extend(std::iter::repeat_n(entry.clone(), added));
        }
        let ignore = ignore
            .build()
            .map_err(|e| format!("invalid paths-ignore filter: {e}"))?;
        Ok(PathFilters {
            include,
            ignore,
            ignore_entries,
        })
    }

    /// Whether the configuration leaves `path` out of the analysis, and why.
    pub fn exclusion(&self, path: &str) -> Option<Exclusion<'_>> {
        if let Some(&index) = self.ignore.matches(path).first() {
            return Some(Exclusion::Ignored(&self.ignore_entries[index]));
        }
        match &self.include {
            Some(include) if !include.is_match(path) => Some(Exclusion::OutsidePaths),
            _ => None,
        }
    }
}

/// Adds the globs for one entry and returns how many were added.
fn add_entry(set: &mut GlobSetBuilder, entry: &str, list: &str) -> Result<usize, String> {
    let invalid = |why: &str| format!("invalid {list} entry {entry:?}: {why}");
    let mut pattern = entry.trim_start_matches('/');
    // `dir/**` means the same as `dir/`.
    if let Some(dir) = pattern.strip_suffix("/**") {
        pattern = &pattern[..dir.len() + 1];
    }
    if pattern.is_empty() {
        return Err(invalid("it is empty"));
    }
    if pattern.contains('\\') {
        return Err(invalid("backslashes are not allowed"));
    }
    if !double_stars_are_whole_segments(pattern) {
        return Err(invalid("\"**\" must be preceded and followed by a slash"));
    }
    // Only `*` is special to CodeQL; `?`, `[`, `]`, `{` and `}` match themselves.
    let escaped: Vec<String> = pattern.split('*').map(globset::escape).collect();
    let escaped = escaped.join("*");
    let globs = match escaped.strip_suffix('/') {
        Some(dir) => vec![format!("{dir}/**")],
        None => vec![escaped.clone(), format!("{escaped}/**")],
    };
    for glob in &globs {
        let glob = GlobBuilder::new(glob)
            .literal_separator(true)
            .backslash_escape(false)
            .build()
            .map_err(|e| invalid(&e.to_string()))?;
        set.add(glob);
    }
    Ok(globs.len())
}

/// CodeQL refuses `**` unless it is a whole path segment (`a/**/b`, `**/b`); `a**` and a bare
/// trailing `**` are errors there, so they must not be guessed at here.
fn double_stars_are_whole_segments(pattern: &str) -> bool {
    let bytes = pattern.as_bytes();
    let mut i = 0;
    while let Some(offset) = pattern[i..].find("**") {
        let at = i + offset;
        let preceded = at == 0 || bytes[at - 1] == b'/';
        let followed = bytes.get(at + 2) == Some(&b'/');
        if !preceded || !followed {
            return false;
        }
        i = at + 2;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(paths: &[&str], ignore: &[&str]) -> PathFilters {
        let list = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        PathFilters::new(&list(paths), &list(ignore)).expect("valid filters")
    }

    fn error(paths: &[&str], ignore: &[&str]) -> String {
        let list = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        PathFilters::new(&list(paths), &list(ignore)).expect_err("invalid filters")
    }

    #[test]
    fn no_filters_exclude_nothing() {
        assert_eq!(filters(&[], &[]).exclusion("src/app.py"), None);
    }

    #[test]
    fn a_plain_directory_covers_everything_below_it() {
        for entry in ["tests", "tests/", "/tests", "tests/**"] {
            let f = filters(&[], &[entry]);
            assert!(f.exclusion("tests/unit/test_app.py").is_some(), "{entry}");
            assert_eq!(f.exclusion("src/tests.py"), None, "{entry}");
            assert_eq!(f.exclusion("src/tests/x.py"), None, "{entry}");
        }
    }

    #[test]
    fn single_star_stays_within_a_directory() {
        let f = filters(&[], &["src/*.py"]);
        assert!(f.exclusion("src/app.py").is_some());
        assert_eq!(f.exclusion("src/pkg/app.py"), None);
        let f = filters(&[], &["*.py"]);
        assert_eq!(f.exclusion("src/app.py"), None);
    }

    #[test]
    fn double_star_crosses_directories() {
        let f = filters(&[], &["**/test/**", "src/**/generated"]);
        assert!(f.exclusion("test/a.py").is_some());
        assert!(f.exclusion("a/b/test/c/d.py").is_some());
        assert!(f.exclusion("src/generated/x.py").is_some());
        assert!(f.exclusion("src/a/b/generated/x.py").is_some());
        assert_eq!(f.exclusion("src/a/b/gen/x.py"), None);
    }

    #[test]
    fn paths_exclude_what_they_do_not_match() {
        let f = filters(&["src", "lib/*.js"], &[]);
        assert_eq!(f.exclusion("src/deep/app.py"), None);
        assert_eq!(f.exclusion("lib/a.js"), None);
        assert_eq!(f.exclusion("scripts/x.py"), Some(Exclusion::OutsidePaths));
    }

    #[test]
    fn ignore_names_the_matching_entry() {
        let f = filters(&["src"], &["docs", "src/vendor/**"]);
        assert_eq!(
            f.exclusion("src/vendor/x.js"),
            Some(Exclusion::Ignored("src/vendor/**"))
        );
        assert_eq!(f.exclusion("docs/x.js"), Some(Exclusion::Ignored("docs")));
    }

    #[test]
    fn glob_metacharacters_other_than_star_match_literally() {
        let f = filters(&[], &["a?b", "[x]", "{c,d}"]);
        assert!(f.exclusion("a?b/x.py").is_some());
        assert_eq!(f.exclusion("acb/x.py"), None);
        assert!(f.exclusion("[x]/y.py").is_some());
        assert_eq!(f.exclusion("x/y.py"), None);
        assert!(f.exclusion("{c,d}/y.py").is_some());
        assert_eq!(f.exclusion("c/y.py"), None);
    }

    #[test]
    fn entries_codeql_rejects_are_errors() {
        assert!(error(&[], &["src/a**"]).contains("\"**\""));
        assert!(error(&[], &["**"]).contains("\"**\""));
        assert!(error(&["**.py"], &[]).contains("paths entry"));
        assert!(error(&[], &["/"]).contains("empty"));
        assert!(error(&[], &["src\\x"]).contains("backslash"));
    }
}

//! API paths as segments: parsing, GitHub's case rules and a small segment-glob matcher.
//!
//! Owner, repository, organisation, user and enterprise names are case-insensitive on GitHub, so
//! they are lower-cased once here; everything else (refs, file paths, ids) keeps its case.

use std::fmt;

/// A parsed API path: the segments between `/`, with names in canonical (lower) case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiPath {
    segments: Vec<String>,
}

/// First segments whose next segment(s) are GitHub account or repository names.
const NAMESPACES: [(&str, usize); 4] =
    [("repos", 2), ("orgs", 1), ("users", 1), ("enterprises", 1)];

impl ApiPath {
    /// Parses a path relative to the API root. Trailing slashes are ignored; empty, `.` or `..`
    /// segments and control characters make the path malformed (`None`), because a policy that
    /// guessed what such a path means could cache it under the wrong name.
    pub fn parse(raw: &str) -> Option<Self> {
        let rest = raw.strip_prefix('/')?;
        if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return None;
        }
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() {
            return Some(Self {
                segments: Vec::new(),
            });
        }
        let mut segments: Vec<String> = Vec::new();
        for segment in rest.split('/') {
            if segment.is_empty() || segment == "." || segment == ".." {
                return None;
            }
            segments.push(segment.to_owned());
        }
        if let Some((namespace, names)) = NAMESPACES
            .iter()
            .find(|(namespace, _)| segments[0].eq_ignore_ascii_case(namespace))
        {
            segments[0] = (*namespace).to_owned();
            for name in segments.iter_mut().skip(1).take(*names) {
                name.make_ascii_lowercase();
            }
        }
        Some(Self { segments })
    }

    /// The segments, names already lower-cased.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// Whether the path matches `pattern`, written as a path whose segments are literals
    /// (compared ASCII-case-insensitively), `*` (exactly one segment) or `**` (any number,
    /// including none). `/` matches the API root only.
    pub fn matches(&self, pattern: &str) -> bool {
        glob(pattern, &self.segments)
    }

    /// Whether the path matches any of `patterns`.
    pub fn matches_any(&self, patterns: &[&str]) -> bool {
        patterns.iter().any(|pattern| self.matches(pattern))
    }

    /// The first `len` segments as a path of their own.
    pub fn prefix(&self, len: usize) -> Self {
        Self {
            segments: self.segments[..len.min(self.segments.len())].to_vec(),
        }
    }

    /// The path one segment up; `None` for the API root.
    pub fn parent(&self) -> Option<Self> {
        let len = self.segments.len().checked_sub(1)?;
        Some(self.prefix(len))
    }

    /// `/repos/{owner}/{repo}` when the path lies at or below a repository.
    pub fn repo_root(&self) -> Option<Self> {
        (self.segments.len() >= 3 && self.segments[0] == "repos").then(|| self.prefix(3))
    }

    /// Whether `self` is `other` or lies below it.
    pub fn starts_with(&self, other: &Self) -> bool {
        self.segments.starts_with(&other.segments)
    }
}

impl fmt::Display for ApiPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segments.is_empty() {
            return f.write_str("/");
        }
        for segment in &self.segments {
            write!(f, "/{segment}")?;
        }
        Ok(())
    }
}

/// Segment glob: `*` is one segment, `**` any number of segments, anything else a literal.
/// Works on the pattern text directly: this runs dozens of times per request on the hot path, and
/// splitting patterns into vectors cost more than the whole rest of the decision.
fn glob(pattern: &str, segments: &[String]) -> bool {
    let pattern = pattern.trim_start_matches('/');
    if pattern.is_empty() {
        return segments.is_empty();
    }
    let (head, rest) = pattern.split_once('/').unwrap_or((pattern, ""));
    match head {
        "**" => (0..=segments.len()).any(|skip| glob(rest, &segments[skip..])),
        "*" => !segments.is_empty() && glob(rest, &segments[1..]),
        literal => {
            segments
                .first()
                .is_some_and(|s| s.eq_ignore_ascii_case(literal))
                && glob(rest, &segments[1..])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(raw: &str) -> ApiPath {
        ApiPath::parse(raw).unwrap_or_else(|| panic!("{raw} should parse"))
    }

    #[test]
    fn trailing_slashes_are_ignored() {
        assert_eq!(path("/repos/o/r/"), path("/repos/o/r"));
        assert_eq!(path("/repos/o/r//").to_string(), "/repos/o/r");
    }

    #[test]
    fn root_is_the_empty_path() {
        assert_eq!(path("/").to_string(), "/");
        assert!(path("/").segments().is_empty());
        assert!(path("/").matches("/"));
        assert!(!path("/user").matches("/"));
    }

    #[test]
    fn owner_and_repo_names_are_lower_cased() {
        assert_eq!(
            path("/repos/Octo/Hello/Issues/5").to_string(),
            "/repos/octo/hello/Issues/5"
        );
        assert_eq!(path("/Repos/Octo/Hello").to_string(), "/repos/octo/hello");
        assert_eq!(path("/orgs/GitHub/repos").to_string(), "/orgs/github/repos");
        assert_eq!(path("/users/Mona/repos").to_string(), "/users/mona/repos");
        assert_eq!(
            path("/enterprises/ACME/actions/runners").to_string(),
            "/enterprises/acme/actions/runners"
        );
    }

    #[test]
    fn refs_and_file_paths_keep_their_case() {
        assert_eq!(
            path("/repos/O/R/contents/README.md").to_string(),
            "/repos/o/r/contents/README.md"
        );
        assert_eq!(
            path("/repos/o/r/branches/Main").to_string(),
            "/repos/o/r/branches/Main"
        );
    }

    #[test]
    fn malformed_paths_are_refused() {
        for raw in [
            "",
            "repos/o/r",
            "/repos//r",
            "/repos/o/../x",
            "/repos/./r",
            "/repos/o r",
            "/a\nb",
        ] {
            assert_eq!(ApiPath::parse(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn single_star_matches_exactly_one_segment() {
        assert!(path("/repos/o/r").matches("/repos/*/*"));
        assert!(!path("/repos/o/r/issues").matches("/repos/*/*"));
        assert!(!path("/repos/o").matches("/repos/*/*"));
    }

    #[test]
    fn double_star_matches_any_number_of_segments() {
        assert!(path("/repos/o/r/actions/runners").matches("/repos/*/*/actions/runners/**"));
        assert!(
            path("/repos/o/r/actions/runners/7/labels").matches("/repos/*/*/actions/runners/**")
        );
        assert!(path("/orgs/o/actions/secrets/X").matches("**/actions/secrets/**"));
        assert!(
            path("/repos/o/r/actions/runs/1/attempts/2/logs").matches("/repos/*/*/actions/**/logs")
        );
        assert!(!path("/repos/o/r/actions/runs/1").matches("/repos/*/*/actions/**/logs"));
    }

    #[test]
    fn literals_compare_case_insensitively() {
        assert!(path("/repos/o/r/Actions/Runs").matches("/repos/*/*/actions/runs"));
    }

    #[test]
    fn parent_prefix_and_repo_root() {
        let p = path("/repos/o/r/issues/5");
        assert_eq!(
            p.parent().map(|p| p.to_string()).as_deref(),
            Some("/repos/o/r/issues")
        );
        assert_eq!(
            p.repo_root().map(|p| p.to_string()).as_deref(),
            Some("/repos/o/r")
        );
        assert_eq!(path("/").parent(), None);
        assert_eq!(path("/user/repos").repo_root(), None);
        assert!(p.starts_with(&path("/repos/o/r")));
        assert!(!path("/repos/o/rx").starts_with(&path("/repos/o/r")));
    }
}

//! Request keys: what makes two requests "the same" for the store. Method, normalised path, query,
//! the headers that change the representation, a digest of a GraphQL body, and — for entries
//! shared only with the same token — the token partition.

use sha2::{Digest, Sha256};

/// Request headers that select a different representation of the same resource.
pub const VARY_HEADERS: &[&str] = &["accept", "x-github-api-version"];

/// Parts of a request that identify a stored response.
pub struct KeyParts<'a> {
    /// Uppercase method.
    pub method: &'a str,
    /// Path relative to the API root.
    pub path: &'a str,
    /// Raw query.
    pub query: &'a str,
    /// Values of [`VARY_HEADERS`], in order (empty when absent).
    pub vary: Vec<&'a str>,
    /// Request body, for cached POSTs (GraphQL queries).
    pub body: &'a [u8],
    /// Token partition, when the entry may only serve that token.
    pub partition: Option<&'a str>,
}

/// A readable key (`ghmesh cache ls` shows it). Owner and repository names are case-insensitive on
/// GitHub, so the path is lowercased; the query is sorted so parameter order does not split
/// entries.
pub fn request_key(parts: &KeyParts<'_>) -> String {
    let mut query: Vec<&str> = parts.query.split('&').filter(|p| !p.is_empty()).collect();
    query.sort_unstable();
    let mut key = format!(
        "{} {}",
        parts.method,
        parts.path.trim_end_matches('/').to_ascii_lowercase()
    );
    if !query.is_empty() {
        key.push('?');
        key.push_str(&query.join("&"));
    }
    for (name, value) in VARY_HEADERS.iter().zip(&parts.vary) {
        let value = if *name == "accept" {
            representation(value)
        } else {
            value
        };
        if !value.is_empty() {
            key.push_str(&format!(" {name}={value}"));
        }
    }
    if !parts.body.is_empty() {
        key.push_str(&format!(
            " body={}",
            hex::encode(&Sha256::digest(parts.body)[..16])
        ));
    }
    if let Some(partition) = parts.partition {
        key.push_str(&format!(" token={partition}"));
    }
    key
}

/// `Accept` values for which GitHub returns its default JSON representation, so clients that
/// spell it differently (Octokit, PyGithub's `*/*`, gh's empty header) share one entry. Anything
/// else (raw, html, diff, preview media types) keeps its own entry.
const DEFAULT_JSON: &[&str] = &[
    "",
    "*/*",
    "application/json",
    "application/vnd.github+json",
    "application/vnd.github.v3+json",
];

/// The `Accept` value as it matters for the key: empty for GitHub's default JSON.
fn representation(accept: &str) -> &str {
    let trimmed = accept.trim();
    if DEFAULT_JSON.iter().any(|d| d.eq_ignore_ascii_case(trimmed)) {
        ""
    } else {
        trimmed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts<'a>(path: &'a str, query: &'a str, partition: Option<&'a str>) -> KeyParts<'a> {
        KeyParts {
            method: "GET",
            path,
            query,
            vary: vec!["application/json", ""],
            body: b"",
            partition,
        }
    }

    #[test]
    fn case_and_query_order_do_not_split_entries() {
        assert_eq!(
            request_key(&parts("/repos/Octo/Hello", "b=2&a=1", None)),
            request_key(&parts("/repos/octo/hello/", "a=1&b=2", None))
        );
    }

    #[test]
    fn spellings_of_the_default_json_share_an_entry() {
        let mut octokit = parts("/repos/o/r", "", None);
        octokit.vary = vec!["application/vnd.github.v3+json", ""];
        let mut pygithub = parts("/repos/o/r", "", None);
        pygithub.vary = vec!["*/*", ""];
        let mut gh = parts("/repos/o/r", "", None);
        gh.vary = vec!["", ""];
        assert_eq!(request_key(&octokit), request_key(&pygithub));
        assert_eq!(request_key(&octokit), request_key(&gh));
    }

    #[test]
    fn token_scoped_keys_differ_per_partition_and_accept_matters() {
        assert_ne!(
            request_key(&parts("/user", "", Some("p1"))),
            request_key(&parts("/user", "", Some("p2")))
        );
        let mut raw = parts("/repos/o/r", "", None);
        let json = request_key(&raw);
        raw.vary = vec!["application/vnd.github.raw", ""];
        assert_ne!(json, request_key(&raw));
    }
}

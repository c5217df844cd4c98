//! API paths as the invalidation index sees them, and the row keys of that index.
//!
//! A row is `path ‖ "\0" ‖ key`. NUL sorts before every other byte, so all rows of one path are
//! contiguous and come before the rows of `path/...`; a descendant scan over the prefix `path/`
//! cannot reach a sibling such as `path2` or `path-x`.

/// Lowercases (GitHub owner and repository names are case-insensitive) and drops trailing `/`,
/// so `/Repos/O/R/` and `/repos/o/r` are one path. The root stays `/`. Idempotent: applied both
/// when storing and when invalidating, so callers need not agree on the spelling.
pub(super) fn normalize(path: &str) -> String {
    let lower = path.to_lowercase();
    let trimmed = lower.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// Why `path` cannot be indexed, if it cannot: NUL separates the path from the key in a row.
pub(super) fn check(path: &str) -> Result<(), String> {
    if path.contains('\0') {
        Err(format!("path {path:?} contains NUL"))
    } else if !path.starts_with('/') {
        Err(format!("path {path:?} does not start with '/'"))
    } else {
        Ok(())
    }
}

/// The index row of entry `key` at (normalised) `path`.
pub(super) fn row(path: &str, key: &str) -> String {
    format!("{path}\0{key}")
}

/// The entry key a row points at.
pub(super) fn key_of(row: &str) -> &str {
    row.split_once('\0').map_or("", |(_, key)| key)
}

/// Row prefixes to scan: the path itself, and everything below it when asked.
pub(super) fn prefixes(path: &str, include_descendants: bool) -> Vec<String> {
    let mut prefixes = vec![format!("{path}\0")];
    if include_descendants {
        prefixes.push(if path == "/" {
            "/".to_owned()
        } else {
            format!("{path}/")
        });
    }
    prefixes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_lowercases_and_trims() {
        assert_eq!(normalize("/Repos/O/R/"), "/repos/o/r");
        assert_eq!(normalize("/"), "/");
        assert_eq!(normalize(&normalize("/A//")), "/a");
    }

    #[test]
    fn rows_sort_path_first_and_keep_siblings_apart() {
        let exact = row("/repos/o/r", "k1");
        let child = row("/repos/o/r/issues", "k2");
        let sibling = row("/repos/o/r2", "k3");
        let [p_exact, p_below] = &prefixes("/repos/o/r", true)[..] else {
            panic!("two prefixes")
        };
        assert!(exact.starts_with(p_exact.as_str()) && !exact.starts_with(p_below.as_str()));
        assert!(child.starts_with(p_below.as_str()) && !child.starts_with(p_exact.as_str()));
        assert!(!sibling.starts_with(p_exact.as_str()) && !sibling.starts_with(p_below.as_str()));
        assert_eq!(key_of(&child), "k2");
    }

    #[test]
    fn check_refuses_nul_and_relative_paths() {
        assert!(check("/repos/o/r").is_ok());
        assert!(check("/a\0b").is_err());
        assert!(check("repos").is_err());
    }
}

//! Well-formed `owner/name` repository names, as GitHub allows them.

/// Whether `repo` is `owner/name` with GitHub's characters: owners are letters, digits and `-`;
/// names add `.` and `_` but are never `.` or `..`. Anything else is malformed and denied, so a
/// strange context value can never happen to match a glob.
pub fn is_well_formed(repo: &str) -> bool {
    let Some((owner, name)) = repo.split_once('/') else {
        return false;
    };
    let owner_ok =
        !owner.is_empty() && owner.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let name_ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    owner_ok && name_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_are_well_formed() {
        for repo in ["octo/app", "Octo-Org/my.repo_2", "a/b", "o/.github"] {
            assert!(is_well_formed(repo), "{repo}");
        }
    }

    #[test]
    fn anything_else_is_malformed() {
        for repo in [
            "",
            "octo",
            "octo/",
            "/app",
            "octo/app/x",
            "octo/..",
            "oc to/app",
            "octo/app*",
            "oc_to/app",
            "octo/app\n",
        ] {
            assert!(!is_well_formed(repo), "{repo:?}");
        }
    }
}

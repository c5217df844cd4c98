//! The cache key of a CodeQL scan: a digest of the git tree of the analysed source (not the
//! commit, so identical trees on different commits meet), the CodeQL CLI version, the effective
//! configuration and the SARIF category. Computing it fails closed: a dirty worktree, a
//! submodule out of step, a checkout that is not the commit, or unreadable input is an error, and
//! an error means the scan runs.

use super::config::{self, EffectiveConfig};
use super::git::Repo;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Everything that went into a key, and the key.
#[derive(Debug, Clone, Serialize)]
pub struct KeyInputs {
    /// `sha256:` + hex digest of the fields below.
    pub key: String,
    /// Commit analysed (full id).
    pub commit: String,
    /// Git tree id of that commit.
    pub tree: String,
    /// `sha1` or `sha256`: the repository's object format.
    pub object_format: String,
    /// CodeQL CLI version.
    pub codeql_version: String,
    /// SARIF category.
    pub category: String,
    /// Digest of the effective configuration.
    pub config_digest: String,
    /// Where the configuration came from.
    pub config_source: String,
    /// Canonical configuration document.
    pub config: String,
    /// The referenced config file and the sha256 of its bytes.
    pub config_file: Option<(String, String)>,
    /// Languages analysed.
    pub languages: Vec<String>,
    /// Build mode, empty when not given.
    pub build_mode: String,
    /// `paths` filter.
    pub paths: Vec<String>,
    /// `paths-ignore` filter.
    pub paths_ignore: Vec<String>,
}

/// The request to key: a commit in a checked-out repository.
#[derive(Debug, Clone)]
pub struct KeyRequest<'a> {
    /// The repository's worktree.
    pub repo: &'a Repo,
    /// Commit to analyse; must be the one checked out.
    pub commit: &'a str,
    /// `--config`: inline JSON or a file.
    pub config: &'a str,
    /// CodeQL CLI version.
    pub codeql_version: &'a str,
    /// SARIF category; defaults to `/language:<languages>`.
    pub category: Option<&'a str>,
}

/// Computes the key of `request`, failing closed on anything that cannot be vouched for.
pub fn compute(request: &KeyRequest<'_>) -> anyhow::Result<KeyInputs> {
    let version = request.codeql_version.trim();
    if version.is_empty() || version.contains(char::is_whitespace) {
        anyhow::bail!(
            "CodeQL version {:?} is empty or contains whitespace",
            request.codeql_version
        );
    }
    let repo = request.repo;
    let config = config::load(request.config, repo.dir())?;
    repo.check_clean()?;
    let commit = repo.commit_id(request.commit)?;
    let tree = repo.tree_id(&commit)?;
    let head_tree = repo.tree_id("HEAD")?;
    if head_tree != tree {
        anyhow::bail!(
            "the checked-out tree {head_tree} is not the tree {tree} of commit {commit}; a cached result cannot stand for it"
        );
    }
    let object_format = repo.object_format()?;
    let category = match request.category {
        Some(c) if !c.trim().is_empty() => c.trim().to_string(),
        _ => format!("/language:{}", config.languages.join(",")),
    };
    Ok(assemble(
        commit,
        tree,
        object_format,
        version.to_string(),
        category,
        config,
    ))
}

fn assemble(
    commit: String,
    tree: String,
    object_format: String,
    codeql_version: String,
    category: String,
    config: EffectiveConfig,
) -> KeyInputs {
    let mut hasher = Sha256::new();
    // Length-prefixed fields: no two different inputs concatenate to the same bytes.
    for field in [
        "ghmesh-codeql-key/1",
        &object_format,
        &tree,
        &codeql_version,
        &config.digest,
        &category,
    ] {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    KeyInputs {
        key: format!("sha256:{}", hex::encode(hasher.finalize())),
        commit,
        tree,
        object_format,
        codeql_version,
        category,
        config_digest: config.digest,
        config_source: config.source,
        config: config.canonical,
        config_file: config.config_file,
        languages: config.languages,
        build_mode: config.build_mode,
        paths: config.paths,
        paths_ignore: config.paths_ignore,
    }
}

impl KeyInputs {
    /// `(name, value)` rows for a table: every input that went into the key.
    pub fn rows(&self) -> Vec<(&'static str, String)> {
        let list = |l: &[String]| {
            if l.is_empty() {
                "-".to_string()
            } else {
                l.join(", ")
            }
        };
        let config_file = self
            .config_file
            .as_ref()
            .map_or("-".to_string(), |(path, sha)| {
                format!("{path} (sha256 {sha})")
            });
        vec![
            ("key", self.key.clone()),
            ("commit", self.commit.clone()),
            ("tree", format!("{} ({})", self.tree, self.object_format)),
            ("codeql-version", self.codeql_version.clone()),
            ("category", self.category.clone()),
            ("config-digest", self.config_digest.clone()),
            ("config-source", self.config_source.clone()),
            ("config-file", config_file),
            ("languages", list(&self.languages)),
            (
                "build-mode",
                if self.build_mode.is_empty() {
                    "-".into()
                } else {
                    self.build_mode.clone()
                },
            ),
            ("paths", list(&self.paths)),
            ("paths-ignore", list(&self.paths_ignore)),
            ("config", self.config.clone()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> EffectiveConfig {
        config::load(json, std::path::Path::new("/nonexistent")).unwrap()
    }

    fn key(tree: &str, version: &str, category: &str, json: &str) -> String {
        let c = config(json);
        assemble(
            "c".into(),
            tree.into(),
            "sha1".into(),
            version.into(),
            category.into(),
            c,
        )
        .key
    }

    #[test]
    fn the_key_ignores_the_commit_but_not_any_input() {
        let base = key(
            "t1",
            "2.21.0",
            "/language:python",
            r#"{"languages":"python"}"#,
        );
        let c = config(r#"{"languages":"python"}"#);
        let other_commit = assemble(
            "d".into(),
            "t1".into(),
            "sha1".into(),
            "2.21.0".into(),
            "/language:python".into(),
            c,
        )
        .key;
        assert_eq!(base, other_commit);
        assert_ne!(
            base,
            key(
                "t2",
                "2.21.0",
                "/language:python",
                r#"{"languages":"python"}"#
            )
        );
        assert_ne!(
            base,
            key(
                "t1",
                "2.21.1",
                "/language:python",
                r#"{"languages":"python"}"#
            )
        );
        assert_ne!(
            base,
            key("t1", "2.21.0", "/language:py", r#"{"languages":"python"}"#)
        );
        assert_ne!(
            base,
            key(
                "t1",
                "2.21.0",
                "/language:python",
                r#"{"languages":"python,go"}"#
            )
        );
    }
}

//! The effective CodeQL configuration a scan runs with: the `--config` document (inline JSON or a
//! YAML/JSON file) holding the codeql-action inputs (`languages`, `build-mode`, `config-file`)
//! and any CodeQL config keys (`queries`, `packs`, `paths`, `paths-ignore`, `threat-models`,
//! `query-filters`, ...), plus the content of the referenced config file. Everything goes into
//! the digest, known or not, so an unfamiliar setting can only cause a scan, never a skip.

use anyhow::Context;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A configuration resolved for keying and for the skip policy's path filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveConfig {
    /// Where the document came from: `inline JSON` or the file's path.
    pub source: String,
    /// Languages to analyse, lowercased, sorted, without duplicates.
    pub languages: Vec<String>,
    /// `build-mode`, empty when not given.
    pub build_mode: String,
    /// `paths` (the document's, else the config file's).
    pub paths: Vec<String>,
    /// `paths-ignore` (the document's, else the config file's).
    pub paths_ignore: Vec<String>,
    /// The referenced `config-file`, with the sha256 of its bytes.
    pub config_file: Option<(String, String)>,
    /// The document in canonical form (keys sorted, languages normalised).
    pub canonical: String,
    /// `sha256:` + hex digest of everything above.
    pub digest: String,
}

/// Reads `spec` (text starting with `{` is inline JSON, anything else a file path) and the
/// `config-file` it names, relative to `repo_dir`. Unreadable or malformed input is an error
/// naming the file and the reason.
pub fn load(spec: &str, repo_dir: &Path) -> anyhow::Result<EffectiveConfig> {
    let (source, text) = if spec.trim_start().starts_with('{') {
        ("inline JSON".to_string(), spec.to_string())
    } else {
        let path = PathBuf::from(spec);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read CodeQL config {}", path.display()))?;
        (path.display().to_string(), text)
    };
    let mut document = parse_mapping(&text).with_context(|| format!("CodeQL config {source}"))?;
    let languages = languages(&document).with_context(|| format!("CodeQL config {source}"))?;
    let build_mode = optional_string(&document, "build-mode")
        .with_context(|| format!("CodeQL config {source}"))?
        .unwrap_or_default();
    let mut paths =
        string_list(&document, "paths").with_context(|| format!("CodeQL config {source}"))?;
    let mut paths_ignore = string_list(&document, "paths-ignore")
        .with_context(|| format!("CodeQL config {source}"))?;
    let mut config_file = None;
    if let Some(file) = optional_string(&document, "config-file")? {
        let path = safe_join(repo_dir, &file)?;
        let bytes = std::fs::read(&path)
            .with_context(|| format!("cannot read config-file {}", path.display()))?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| anyhow::anyhow!("config-file {} is not UTF-8", path.display()))?;
        let inner =
            parse_mapping(text).with_context(|| format!("config-file {}", path.display()))?;
        if document.get("paths").is_none() {
            paths = string_list(&inner, "paths")
                .with_context(|| format!("config-file {}", path.display()))?;
        }
        if document.get("paths-ignore").is_none() {
            paths_ignore = string_list(&inner, "paths-ignore")
                .with_context(|| format!("config-file {}", path.display()))?;
        }
        config_file = Some((file, hex::encode(Sha256::digest(&bytes))));
    }
    if let Some(map) = document.as_object_mut() {
        map.insert("languages".into(), Value::from(languages.clone()));
    }
    let canonical = canonical_json(&document);
    let mut hasher = Sha256::new();
    hasher.update(b"ghmesh-codeql-config/1\0");
    hasher.update(canonical.as_bytes());
    hasher.update(b"\0");
    if let Some((file, sha)) = &config_file {
        hasher.update(format!("config-file\0{file}\0{sha}").as_bytes());
    }
    let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
    Ok(EffectiveConfig {
        source,
        languages,
        build_mode,
        paths,
        paths_ignore,
        config_file,
        canonical,
        digest,
    })
}

/// YAML is a superset of JSON, so one parser reads both.
fn parse_mapping(text: &str) -> anyhow::Result<Value> {
    let value: Value = serde_yaml_ng::from_str(text)
        .map_err(|e| anyhow::anyhow!("not valid YAML or JSON: {e}"))?;
    if !value.is_object() {
        anyhow::bail!("must be a mapping of settings");
    }
    Ok(value)
}

fn languages(document: &Value) -> anyhow::Result<Vec<String>> {
    let raw: Vec<String> = match document.get("languages") {
        Some(Value::String(s)) => s.split(',').map(str::to_string).collect(),
        Some(Value::Array(_)) => string_list(document, "languages")?,
        Some(_) => anyhow::bail!("`languages` must be a string or a list of strings"),
        None => anyhow::bail!("`languages` is required"),
    };
    let mut languages: Vec<String> = raw
        .iter()
        .map(|l| l.trim().to_lowercase())
        .filter(|l| !l.is_empty())
        .collect();
    languages.sort();
    languages.dedup();
    if languages.is_empty() {
        anyhow::bail!("`languages` is empty");
    }
    Ok(languages)
}

fn optional_string(document: &Value, key: &str) -> anyhow::Result<Option<String>> {
    match document.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => anyhow::bail!("`{key}` must be a string"),
    }
}

fn string_list(document: &Value, key: &str) -> anyhow::Result<Vec<String>> {
    match document.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| anyhow::anyhow!("`{key}` must be a list of strings"))
            })
            .collect(),
        Some(_) => anyhow::bail!("`{key}` must be a list of strings"),
    }
}

/// `file` inside `repo_dir`: a config file outside the repository would not be in the tree.
fn safe_join(repo_dir: &Path, file: &str) -> anyhow::Result<PathBuf> {
    let relative = Path::new(file);
    let escapes = relative.is_absolute()
        || relative
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir));
    if escapes {
        anyhow::bail!("config-file {file:?} must be a path inside the repository");
    }
    Ok(repo_dir.join(relative))
}

/// JSON with object keys sorted at every level and no insignificant whitespace.
pub fn canonical_json(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::from(k.as_str()), canonical_json(&map[k])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical_json).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_inline(json: &str) -> anyhow::Result<EffectiveConfig> {
        load(json, Path::new("/nonexistent"))
    }

    #[test]
    fn key_order_and_language_spelling_do_not_change_the_digest() {
        let a = load_inline(r#"{"languages":"python, go","paths":["src"],"queries":[{"uses":"security-extended"}]}"#).unwrap();
        let b = load_inline(r#"{"queries":[{"uses":"security-extended"}],"paths":["src"],"languages":["go","python"]}"#).unwrap();
        assert_eq!(a.digest, b.digest);
        assert_eq!(a.languages, ["go", "python"]);
    }

    #[test]
    fn any_setting_changes_the_digest() {
        let base = load_inline(r#"{"languages":"python"}"#).unwrap();
        for other in [
            r#"{"languages":"python","queries":[{"uses":"security-extended"}]}"#,
            r#"{"languages":"python","packs":["acme/queries@1.0.0"]}"#,
            r#"{"languages":"python","threat-models":["local"]}"#,
            r#"{"languages":"python","build-mode":"none"}"#,
            r#"{"languages":"python","paths-ignore":["tests"]}"#,
            r#"{"languages":"python,go"}"#,
            r#"{"languages":"python","unknown-future-key":true}"#,
        ] {
            assert_ne!(load_inline(other).unwrap().digest, base.digest, "{other}");
        }
    }

    #[test]
    fn config_file_is_read_from_the_repository_and_hashed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cq.yml"), "paths-ignore:\n  - docs\n").unwrap();
        let spec = r#"{"languages":"python","config-file":"cq.yml"}"#;
        let a = load(spec, dir.path()).unwrap();
        assert_eq!(a.paths_ignore, ["docs"]);
        std::fs::write(
            dir.path().join("cq.yml"),
            "paths-ignore:\n  - docs\n  - tests\n",
        )
        .unwrap();
        let b = load(spec, dir.path()).unwrap();
        assert_ne!(a.digest, b.digest);
        std::fs::remove_file(dir.path().join("cq.yml")).unwrap();
        let err = load(spec, dir.path()).unwrap_err();
        assert!(
            format!("{err:#}").contains("cannot read config-file"),
            "{err:#}"
        );
    }

    #[test]
    fn bad_documents_are_refused_with_the_reason() {
        for (spec, expected) in [
            (r#"{"paths":["a"]}"#, "`languages` is required"),
            (
                r#"{"languages":"python","paths":"src"}"#,
                "`paths` must be a list",
            ),
            (
                r#"{"languages":"python","config-file":"../x.yml"}"#,
                "inside the repository",
            ),
            ("{not json", "not valid YAML or JSON"),
        ] {
            let err = format!("{:#}", load_inline(spec).unwrap_err());
            assert!(err.contains(expected), "{spec}: {err}");
        }
        let err = format!(
            "{:#}",
            load("/nonexistent/config.yml", Path::new(".")).unwrap_err()
        );
        assert!(
            err.contains("cannot read CodeQL config /nonexistent/config.yml"),
            "{err}"
        );
    }
}

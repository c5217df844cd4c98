//! Applying one parsed file over the config: each value set records its file and key, and every
//! key ghmesh reads is noted, so whatever else the file holds can be reported as unused.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_yaml_ng::Value as Yaml;

use crate::config::provenance::{Ignored, Provenance, Source};
use crate::config::{ComponentPin, ConfigError, validate};

/// One file being applied.
pub(super) struct Layer<'a> {
    path: &'a Path,
    /// Relative paths in a file are relative to the repository root, not the process cwd.
    root: &'a Path,
    /// Expands a leading `~/` (the seed's default cache directory is written that way).
    home: Option<&'a Path>,
    provenance: &'a mut Provenance,
    /// File keys ghmesh reads, whether this file sets them or not. Deriving the unused keys from
    /// what was read, rather than from a second list, means no key can be dropped silently.
    read: BTreeSet<String>,
}

impl<'a> Layer<'a> {
    pub(super) fn new(
        path: &'a Path,
        root: &'a Path,
        home: Option<&'a Path>,
        provenance: &'a mut Provenance,
    ) -> Layer<'a> {
        Layer {
            path,
            root,
            home,
            provenance,
            read: BTreeSet::new(),
        }
    }

    /// Sets the effective `key` from the file key of the same name.
    pub(super) fn set<T>(&mut self, slot: &mut T, value: Option<T>, key: &str) {
        self.set_from(slot, value, key, key);
    }

    /// Sets the effective `key` from `file_key` (a seed name, or another spelling).
    pub(super) fn set_from<T>(
        &mut self,
        slot: &mut T,
        value: Option<T>,
        key: &str,
        file_key: &str,
    ) {
        self.mark_read(file_key);
        if let Some(value) = value {
            *slot = value;
            self.record(key, file_key);
        }
    }

    /// Sets the effective `key` from whichever of two file keys naming the same setting is given
    /// (`key` itself, then `alias`); both at once is an error, since one would silently lose.
    pub(super) fn set_either<T>(
        &mut self,
        slot: &mut T,
        key: &str,
        value: Option<T>,
        alias: &str,
        alias_value: Option<T>,
    ) -> Result<(), ConfigError> {
        if let Some((value, file_key)) = self.either(key, value, alias, alias_value)? {
            self.set_from(slot, Some(value), key, &file_key);
        }
        Ok(())
    }

    /// The value of whichever of the two file keys is given, with that key; both is an error.
    pub(super) fn either<T>(
        &mut self,
        key: &str,
        value: Option<T>,
        alias: &str,
        alias_value: Option<T>,
    ) -> Result<Option<(T, String)>, ConfigError> {
        self.mark_read(key);
        self.mark_read(alias);
        match (value, alias_value) {
            (Some(_), Some(_)) => Err(self.conflict(key, alias)),
            (Some(v), None) => Ok(Some((v, key.to_owned()))),
            (None, Some(v)) => Ok(Some((v, alias.to_owned()))),
            (None, None) => Ok(None),
        }
    }

    /// Two file keys set the same setting.
    pub(super) fn conflict(&self, key: &str, other: &str) -> ConfigError {
        let reason = format!("`{key}` and `{other}` are two names for one setting; keep one");
        self.invalid(key, reason)
    }

    /// Records the source of a key whose only valid value is the built-in one (the seed let it
    /// vary; ghmesh does not), so `config show` still says the file named it.
    pub(super) fn restate<T>(&mut self, value: Option<T>, key: &str) {
        self.mark_read(key);
        if value.is_some() {
            self.record(key, key);
        }
    }

    /// Sets a path, resolved against the repository root.
    pub(super) fn set_path(
        &mut self,
        slot: &mut PathBuf,
        value: Option<PathBuf>,
        key: &str,
        file_key: &str,
    ) -> Result<(), ConfigError> {
        let value = value.map(|p| self.resolve(p, file_key)).transpose()?;
        self.set_from(slot, value, key, file_key);
        Ok(())
    }

    /// `~/x` is `$HOME/x`; a relative path is relative to the repository root.
    fn resolve(&self, path: PathBuf, file_key: &str) -> Result<PathBuf, ConfigError> {
        let Ok(rest) = path.strip_prefix("~") else {
            return Ok(self.root.join(path));
        };
        match self.home {
            Some(home) => Ok(home.join(rest)),
            None => Err(self.invalid(
                file_key,
                format!("{} starts with ~ but HOME is not set", path.display()),
            )),
        }
    }

    /// Adds bootstrap peers from `file_key`: the lists of every key and both files are merged,
    /// first occurrence kept, because the seed read peers from several places and dialled all.
    pub(super) fn add_peers(
        &mut self,
        peers: &mut Vec<String>,
        list: Option<Vec<String>>,
        file_key: &str,
    ) {
        self.mark_read(file_key);
        let Some(list) = list else { return };
        for peer in list {
            if !peers.contains(&peer) {
                peers.push(peer);
            }
        }
        let source = self.source(file_key);
        self.provenance
            .record_merged("network.bootstrap_peers", source);
    }

    /// Sets a component and its pin, validating the hash.
    pub(super) fn pin(
        &mut self,
        slot: &mut Option<ComponentPin>,
        value: Option<(PathBuf, String)>,
        key: &str,
    ) -> Result<(), ConfigError> {
        self.mark_read(key);
        let Some((path, sha256)) = value else {
            return Ok(());
        };
        let (path_key, sha_key) = (format!("{key}.path"), format!("{key}.sha256"));
        let sha256 = validate::sha256(&sha256).map_err(|r| self.invalid(&sha_key, r))?;
        let path = self.resolve(path, &path_key)?;
        *slot = Some(ComponentPin { path, sha256 });
        self.record(&path_key, &path_key);
        self.record(&sha_key, &sha_key);
        Ok(())
    }

    /// Whether no file has set the effective `key` so far.
    pub(super) fn unset(&self, key: &str) -> bool {
        self.provenance.source(key) == Source::Default
    }

    /// Notes that ghmesh reads `file_key`, set or not.
    pub(super) fn mark_read(&mut self, file_key: &str) {
        self.read.insert(file_key.to_owned());
    }

    fn record(&mut self, key: &str, file_key: &str) {
        let source = self.source(file_key);
        self.provenance.record(key, source);
    }

    fn source(&self, file_key: &str) -> Source {
        Source::File {
            path: self.path.to_owned(),
            key: file_key.to_owned(),
        }
    }

    /// A value of this file that parsed but is not acceptable.
    pub(super) fn invalid(&self, file_key: &str, reason: String) -> ConfigError {
        ConfigError::Invalid {
            origin: self.path.display().to_string(),
            key: file_key.to_owned(),
            reason,
        }
    }

    /// Reports every key of `raw` (the whole file) that ghmesh did not read: one warning for the
    /// file, and an entry each for `config show`.
    pub(super) fn report_unused(self, raw: &Yaml) {
        let mut leaves = Vec::new();
        collect_leaves("", raw, &mut leaves);
        let unused: Vec<(String, &Yaml)> = leaves
            .into_iter()
            .filter(|(key, _)| !self.is_read(key))
            .collect();
        if unused.is_empty() {
            return;
        }
        let keys: Vec<&str> = unused.iter().map(|(key, _)| key.as_str()).collect();
        tracing::warn!(
            "{}: accepted but not used by ghmesh: {}",
            self.path.display(),
            keys.join(", ")
        );
        for (key, value) in unused {
            let value = serde_json::to_value(value)
                .unwrap_or_else(|_| serde_json::Value::String(format!("{value:?}")));
            self.provenance.ignore(Ignored {
                path: self.path.to_owned(),
                key,
                value,
            });
        }
    }

    /// A leaf is read if ghmesh read it, a section holding it, or (for a section written as
    /// `null`) something inside it.
    fn is_read(&self, leaf: &str) -> bool {
        self.read.iter().any(|read| {
            leaf == read
                || leaf
                    .strip_prefix(read.as_str())
                    .is_some_and(|r| r.starts_with('.'))
                || read.strip_prefix(leaf).is_some_and(|r| r.starts_with('.'))
        })
    }
}

/// Every scalar or list in `value` with its dotted key, in document order; an empty mapping
/// holds nothing and yields nothing.
fn collect_leaves<'v>(prefix: &str, value: &'v Yaml, out: &mut Vec<(String, &'v Yaml)>) {
    match value {
        Yaml::Mapping(map) => {
            for (key, value) in map {
                let key = match key {
                    Yaml::String(s) => s.clone(),
                    other => serde_yaml_ng::to_string(other)
                        .map(|s| s.trim_end().to_owned())
                        .unwrap_or_default(),
                };
                let path = if prefix.is_empty() {
                    key
                } else {
                    format!("{prefix}.{key}")
                };
                collect_leaves(&path, value, out);
            }
        }
        Yaml::Tagged(tagged) => collect_leaves(prefix, &tagged.value, out),
        _ => out.push((prefix.to_owned(), value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(yaml: &str) -> Vec<String> {
        let value: Yaml = serde_yaml_ng::from_str(yaml).unwrap();
        let mut out = Vec::new();
        collect_leaves("", &value, &mut out);
        out.into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn leaves_are_dotted_in_document_order() {
        let yaml = "b: {y: 1, x: [1, 2]}\na: ~\nc: {}\nd: {e: {f: s}}\n";
        assert_eq!(leaves(yaml), ["b.y", "b.x", "a", "d.e.f"]);
    }

    #[test]
    fn read_keys_cover_their_sections_and_null_parents() {
        let mut provenance = Provenance::default();
        let mut layer = Layer::new(Path::new("f.yml"), Path::new(""), None, &mut provenance);
        layer.mark_read("policy");
        layer.mark_read("cache.enabled");
        assert!(layer.is_read("policy.cache_policy.path"));
        assert!(layer.is_read("cache.enabled"));
        assert!(layer.is_read("cache"), "cache: ~ sets nothing ghmesh reads");
        assert!(!layer.is_read("cache.enabled_x"));
        assert!(!layer.is_read("cache.enable"));
        assert!(!layer.is_read("policyx"));
    }
}

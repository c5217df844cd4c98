//! The two YAML files, `cache-config.yml` and `p2p-config.yml`, in ghmesh's layout and in the
//! layout of the seed (the Python tool ghmesh replaces), which used the same file names.
//!
//! Every field is optional (an absent key keeps the layer below) and every struct denies unknown
//! keys, so a typo is an error naming file and dotted key rather than a silently ignored setting.
//! Seed keys ghmesh has no use for are type-checked all the same, then reported as ignored.

mod cache;
mod layer;
mod p2p;
mod seed;

use std::fmt;
use std::path::Path;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, de::DeserializeOwned};

use super::{Config, ConfigError, validate};
use cache::CacheFile;
use layer::Layer;
use p2p::P2pFile;

/// File name of the cache settings inside the config dir.
pub(super) const CACHE_FILE: &str = "cache-config.yml";
/// File name of the mesh settings inside the config dir.
pub(super) const P2P_FILE: &str = "p2p-config.yml";

/// Reads both files from the config dir, if present, and applies them over `config`:
/// `cache-config.yml` first, so `p2p-config.yml` (the more specific file) wins where both set a key.
///
/// `home` expands a leading `~/` in the cache dir.
pub(super) fn apply(config: &mut Config, home: Option<&Path>) -> Result<(), ConfigError> {
    let Config {
        cache,
        p2p,
        policy,
        config_dir,
        provenance,
    } = config;
    // Relative paths in a file are relative to the repository root, not the process cwd.
    let root = config_dir.parent().unwrap_or(Path::new("")).to_owned();

    let path = config_dir.join(CACHE_FILE);
    if let Some((file, raw)) = read::<CacheFile>(&path)? {
        let mut layer = Layer::new(&path, &root, home, provenance);
        file.apply(&mut layer, cache, p2p, policy)?;
        layer.report_unused(&raw);
    }
    let path = config_dir.join(P2P_FILE);
    if let Some((file, raw)) = read::<P2pFile>(&path)? {
        let mut layer = Layer::new(&path, &root, home, provenance);
        file.apply(&mut layer, p2p)?;
        layer.report_unused(&raw);
    }
    Ok(())
}

/// A byte count written either as an integer or as a string with a unit (`1GB`, `512MiB`).
#[derive(Debug, Clone, Copy)]
struct Size(u64);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SizeVisitor;
        impl Visitor<'_> for SizeVisitor {
            type Value = Size;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte count or a size such as \"512MiB\" or \"1GB\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Size, E> {
                Ok(Size(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Size, E> {
                u64::try_from(v)
                    .map(Size)
                    .map_err(|_| E::custom(format!("size must not be negative, got {v}")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Size, E> {
                validate::size(v).map(Size).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(SizeVisitor)
    }
}

/// Reads and parses `path` into the schema and the raw document (for the unused-key report);
/// `Ok(None)` when the file does not exist (absent = defaults).
fn read<T: DeserializeOwned>(
    path: &Path,
) -> Result<Option<(T, serde_yaml_ng::Value)>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ConfigError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    parse(path, &text).map(Some)
}

/// Parses `text` (the contents of `path`); an empty or comment-only file is all defaults.
fn parse<T: DeserializeOwned>(
    path: &Path,
    text: &str,
) -> Result<(T, serde_yaml_ng::Value), ConfigError> {
    let parse_error = |key: String, reason: String| ConfigError::Parse {
        path: path.to_owned(),
        key,
        reason,
    };
    // An empty document is YAML null; a file holding only comments means "no settings".
    let value: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).map_err(|e| parse_error(String::new(), e.to_string()))?;
    if value.is_null() {
        return parse(path, "{}");
    }
    // Deserialize from the text rather than `value` so reasons keep their line and column.
    let schema = serde_path_to_error::deserialize(serde_yaml_ng::Deserializer::from_str(text))
        .map_err(|e| {
            let mut key = e.path().to_string();
            if key == "." {
                key.clear();
            }
            let reason = e.into_inner().to_string();
            parse_error(key.clone(), strip_yaml_path(&key, &reason).to_owned())
        })?;
    Ok((schema, value))
}

/// serde_yaml_ng prefixes its own copy of the path to a reason: the path of the value, or of
/// its parent for an unknown key. The error names the key already, so drop the repetition.
fn strip_yaml_path<'r>(key: &str, reason: &'r str) -> &'r str {
    let parent = key.rsplit_once('.').map(|(parent, _)| parent);
    [Some(key), parent]
        .into_iter()
        .flatten()
        .filter(|prefix| !prefix.is_empty())
        .find_map(|prefix| reason.strip_prefix(prefix)?.strip_prefix(": "))
        .unwrap_or(reason)
}

/// Helpers shared by the tests of the file modules.
#[cfg(test)]
mod testing {
    use std::path::Path;

    use crate::config::{Config, ConfigError, Overrides};

    /// Loads a repo whose `.github` holds `files` (name, yaml); only `HOME=/home/runner` is set.
    pub(super) fn load_files(files: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let repo = tempfile::tempdir().unwrap();
        let dir = repo.path().join(".github");
        std::fs::create_dir(&dir).unwrap();
        for (name, yaml) in files {
            std::fs::write(dir.join(name), yaml).unwrap();
        }
        let overrides = Overrides {
            config_dir: Some(dir),
            ..Overrides::default()
        };
        Config::load(&overrides, &|name| {
            (name == "HOME").then(|| "/home/runner".to_owned())
        })
    }

    /// Loads a repo whose `.github` holds only `file` with `yaml`.
    pub(super) fn load_with(file: &str, yaml: &str) -> Result<Config, ConfigError> {
        load_files(&[(file, yaml)])
    }

    /// The `(file name, key, message)` of a load error.
    pub(super) fn failure(file: &str, yaml: &str) -> (String, String, String) {
        let err = load_with(file, yaml).unwrap_err();
        let message = err.to_string();
        let name = |path: &Path| path.file_name().unwrap().to_string_lossy().into_owned();
        match err {
            ConfigError::Parse { path, key, .. } => (name(&path), key, message),
            ConfigError::Invalid { origin, key, .. } => (name(Path::new(&origin)), key, message),
            ConfigError::Io { .. } => panic!("unexpected {message}"),
        }
    }

    /// The source `config show` gives for `key`, as text.
    pub(super) fn source(config: &Config, key: &str) -> String {
        let found = config.provenance().into_iter().find(|(k, _, _)| k == key);
        found
            .unwrap_or_else(|| panic!("no key {key}"))
            .2
            .to_string()
    }

    /// Everything logged while `f` runs, as plain text.
    pub(super) fn logged<T>(f: impl FnOnce() -> T) -> (T, String) {
        use std::sync::{Arc, Mutex};

        #[derive(Clone, Default)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Sink {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .without_time()
            .finish();
        let out = tracing::subscriber::with_default(subscriber, f);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        (out, text)
    }

    /// The `(file name, dotted key)` of every ignored key, in report order.
    pub(super) fn ignored(config: &Config) -> Vec<(String, String)> {
        config
            .provenance
            .ignored()
            .iter()
            .map(|i| {
                let file = i.path.file_name().unwrap().to_string_lossy().into_owned();
                (file, i.key.clone())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{failure, load_files, load_with, logged};
    use super::*;

    #[test]
    fn wrong_type_names_file_and_dotted_key() {
        let (file, key, msg) = failure(CACHE_FILE, "cache:\n  default_ttl: soon\n");
        assert_eq!(
            (file.as_str(), key.as_str()),
            (CACHE_FILE, "cache.default_ttl")
        );
        assert!(
            msg.contains("cache-config.yml: cache.default_ttl: invalid type"),
            "{msg}"
        );
        assert!(msg.contains("line 2"), "{msg}");
        assert_eq!(msg.matches("cache.default_ttl").count(), 1, "{msg}");

        let yaml = "security:\n  encryption:\n    key_derivation:\n      use_github_token: maybe\n";
        let (file, key, _) = failure(P2P_FILE, yaml);
        assert_eq!(file, P2P_FILE);
        assert_eq!(key, "security.encryption.key_derivation.use_github_token");

        let (_, key, _) = failure(P2P_FILE, "network:\n  bootstrap_peers: [a, [b]]\n");
        assert_eq!(key, "network.bootstrap_peers[1]");
    }

    #[test]
    fn unknown_keys_are_errors() {
        let (file, key, msg) = failure(CACHE_FILE, "cache:\n  enabled: true\n  max_szie: 1GB\n");
        assert_eq!(
            (file.as_str(), key.as_str()),
            (CACHE_FILE, "cache.max_szie")
        );
        assert!(
            msg.contains("cache.max_szie: unknown field `max_szie`"),
            "{msg}"
        );
        assert!(msg.contains("line 3"), "{msg}");

        let (_, key, _) = failure(P2P_FILE, "discovery:\n  methods:\n    dhtt: true\n");
        assert_eq!(key, "discovery.methods.dhtt");
        let (_, key, _) = failure(P2P_FILE, "rate_limit: {}\n");
        assert_eq!(key, "rate_limit");
        // An unknown key named like its parent is still reported in full.
        let (_, key, _) = failure(CACHE_FILE, "cache:\n  cache: 1\n");
        assert_eq!(key, "cache.cache");
    }

    #[test]
    fn syntax_error_names_file() {
        let (file, key, msg) = failure(P2P_FILE, "p2p: [unclosed\n");
        assert_eq!((file.as_str(), key.as_str()), (P2P_FILE, ""));
        assert!(msg.contains("p2p-config.yml: "), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
    }

    #[test]
    fn one_warning_a_file_lists_its_unused_keys() {
        let cache = "cache:\n  enabled: true\nmonitoring: {enabled: true, log_stats: false}\n\
                     operation_ttls: {copilot_completion: 60, list_repos: 60}\n";
        let p2p = "logging: {level: debug}\nnetwork: {max_peers: 5}\n";
        let (c, log) = logged(|| load_files(&[(CACHE_FILE, cache), (P2P_FILE, p2p)]));
        c.unwrap();
        let unused: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("accepted but not used by ghmesh"))
            .collect();
        assert_eq!(unused.len(), 2, "{log}");
        assert!(
            unused[0].contains("cache-config.yml: accepted but not used by ghmesh: monitoring.enabled, monitoring.log_stats"),
            "{log}"
        );
        assert!(
            unused[1].ends_with("p2p-config.yml: accepted but not used by ghmesh: logging.level"),
            "{log}"
        );
        let classless: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("no operation class"))
            .collect();
        assert_eq!(
            classless.len(),
            1,
            "only the seed name without a class: {log}"
        );
        assert!(
            classless[0].contains("operation_ttls.copilot_completion"),
            "{log}"
        );

        let (_, log) = logged(|| load_with(CACHE_FILE, "cache:\n  enabled: true\n"));
        assert!(
            log.is_empty(),
            "a file ghmesh reads in full is quiet: {log}"
        );
    }

    #[test]
    fn port_out_of_range_is_a_parse_error() {
        let (_, key, _) = failure(P2P_FILE, "p2p:\n  listen_port: 70000\n");
        assert_eq!(key, "p2p.listen_port");
    }

    #[test]
    fn sizes_in_files() {
        let c = load_with(
            CACHE_FILE,
            "cache:\n  max_size: 1GB\npolicy:\n  memory_limit: 64MiB\n",
        );
        let c = c.unwrap();
        assert_eq!(c.cache.max_size_bytes, 1_000_000_000);
        assert_eq!(c.policy.memory_limit_bytes, 64 << 20);
        let (_, key, msg) = failure(CACHE_FILE, "cache:\n  max_size: huge\n");
        assert_eq!(key, "cache.max_size");
        assert!(msg.contains("512MiB"), "{msg}");
        let (_, key, _) = failure(CACHE_FILE, "cache:\n  max_size: -5\n");
        assert_eq!(key, "cache.max_size");
        let (_, key, _) = failure(CACHE_FILE, "policy:\n  memory_limit: 0\n");
        assert_eq!(key, "policy.memory_limit");
    }
}

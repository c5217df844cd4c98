//! The two YAML files, `cache-config.yml` and `p2p-config.yml`, mirrored key for key.
//!
//! Every field is optional (an absent key keeps the layer below) and every struct denies unknown
//! keys, so a typo is an error naming file and dotted key rather than a silently ignored setting.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, de::DeserializeOwned};

use super::provenance::{Provenance, Source};
use super::{CacheConfig, ComponentPin, ConfigError, P2pConfig, PolicyConfig, validate};

/// File name of the cache settings inside the config dir.
pub(super) const CACHE_FILE: &str = "cache-config.yml";
/// File name of the mesh settings inside the config dir.
pub(super) const P2P_FILE: &str = "p2p-config.yml";

/// `cache-config.yml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CacheFile {
    #[serde(default)]
    cache: CacheSection,
    #[serde(default)]
    operation_ttls: BTreeMap<String, u32>,
    #[serde(default)]
    policy: PolicySection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheSection {
    enabled: Option<bool>,
    max_size: Option<Size>,
    max_entries: Option<u64>,
    default_ttl: Option<u32>,
    persistence: Option<bool>,
    dir: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicySection {
    cache_policy: Option<PinSection>,
    codeql_skip: Option<PinSection>,
    credential_scope: Option<PinSection>,
    fuel_per_call: Option<u64>,
    memory_limit: Option<Size>,
    compile_cache_dir: Option<PathBuf>,
}

/// Both keys are required: a component path without its pin is refused at parse time.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PinSection {
    path: PathBuf,
    sha256: String,
}

/// `p2p-config.yml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct P2pFile {
    #[serde(default)]
    p2p: P2pSection,
    #[serde(default)]
    network: NetworkSection,
    #[serde(default)]
    discovery: DiscoverySection,
    #[serde(default)]
    security: SecuritySection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct P2pSection {
    enabled: Option<bool>,
    listen_port: Option<u16>,
    peer_discovery: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkSection {
    bootstrap_peers: Option<Vec<String>>,
    max_peers: Option<u32>,
    /// Seconds.
    connection_timeout: Option<u32>,
    fetch_timeout_ms: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DiscoverySection {
    #[serde(default)]
    methods: MethodsSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MethodsSection {
    mdns: Option<bool>,
    bootstrap: Option<bool>,
    kademlia: Option<bool>,
    github_cache: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecuritySection {
    #[serde(default)]
    encryption: EncryptionSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EncryptionSection {
    enabled: Option<bool>,
    #[serde(default)]
    key_derivation: KeyDerivationSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyDerivationSection {
    iterations: Option<u32>,
    use_github_token: Option<bool>,
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

/// Reads and parses `path`; `Ok(None)` when the file does not exist (absent = defaults).
pub(super) fn read<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, ConfigError> {
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
pub(super) fn parse<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, ConfigError> {
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
    serde_path_to_error::deserialize(serde_yaml_ng::Deserializer::from_str(text)).map_err(|e| {
        let mut key = e.path().to_string();
        if key == "." {
            key.clear();
        }
        let reason = e.into_inner().to_string();
        parse_error(key.clone(), strip_yaml_path(&key, &reason).to_owned())
    })
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

/// Applies one file's values onto the config, recording each key's source.
struct Layer<'a> {
    path: &'a Path,
    /// Relative paths in a file are relative to the repository root, not the process cwd.
    root: &'a Path,
    provenance: &'a mut Provenance,
}

impl Layer<'_> {
    fn set<T>(&mut self, slot: &mut T, value: Option<T>, key: &str) {
        if let Some(value) = value {
            *slot = value;
            self.record(key);
        }
    }

    fn set_path(&mut self, slot: &mut PathBuf, value: Option<PathBuf>, key: &str) {
        let value = value.map(|p| self.root.join(p));
        self.set(slot, value, key);
    }

    fn record(&mut self, key: &str) {
        let source = Source::File {
            path: self.path.to_owned(),
            key: key.to_owned(),
        };
        self.provenance.record(key, source);
    }

    fn invalid(&self, key: &str, reason: String) -> ConfigError {
        ConfigError::Invalid {
            origin: self.path.display().to_string(),
            key: key.to_owned(),
            reason,
        }
    }

    fn pin(
        &mut self,
        slot: &mut Option<ComponentPin>,
        value: Option<PinSection>,
        key: &str,
    ) -> Result<(), ConfigError> {
        let Some(PinSection { path, sha256 }) = value else {
            return Ok(());
        };
        let sha_key = format!("{key}.sha256");
        let sha256 = validate::sha256(&sha256).map_err(|r| self.invalid(&sha_key, r))?;
        *slot = Some(ComponentPin {
            path: self.root.join(path),
            sha256,
        });
        self.record(&format!("{key}.path"));
        self.record(&sha_key);
        Ok(())
    }
}

impl CacheFile {
    /// Applies this file (found at `path`) over `cache` and `policy`.
    pub(super) fn apply(
        self,
        path: &Path,
        root: &Path,
        cache: &mut CacheConfig,
        policy: &mut PolicyConfig,
        provenance: &mut Provenance,
    ) -> Result<(), ConfigError> {
        let mut l = Layer {
            path,
            root,
            provenance,
        };
        let c = self.cache;
        l.set(&mut cache.enabled, c.enabled, "cache.enabled");
        l.set(
            &mut cache.max_size_bytes,
            c.max_size.map(|s| s.0),
            "cache.max_size",
        );
        l.set(&mut cache.max_entries, c.max_entries, "cache.max_entries");
        l.set(
            &mut cache.default_ttl_secs,
            c.default_ttl,
            "cache.default_ttl",
        );
        l.set(&mut cache.persistence, c.persistence, "cache.persistence");
        l.set_path(&mut cache.dir, c.dir, "cache.dir");
        for (class, ttl) in self.operation_ttls {
            let key = format!("operation_ttls.{class}");
            validate::operation_class(&class).map_err(|r| l.invalid(&key, r))?;
            cache.operation_ttls.insert(class, ttl);
            l.record(&key);
        }

        let p = self.policy;
        l.pin(
            &mut policy.cache_policy,
            p.cache_policy,
            "policy.cache_policy",
        )?;
        l.pin(&mut policy.codeql_skip, p.codeql_skip, "policy.codeql_skip")?;
        l.pin(
            &mut policy.credential_scope,
            p.credential_scope,
            "policy.credential_scope",
        )?;
        if let Some(fuel) = p.fuel_per_call {
            validate::nonzero(fuel).map_err(|r| l.invalid("policy.fuel_per_call", r))?;
        }
        l.set(
            &mut policy.fuel_per_call,
            p.fuel_per_call,
            "policy.fuel_per_call",
        );
        let memory = p.memory_limit.map(|s| s.0);
        if let Some(memory) = memory {
            validate::nonzero(memory).map_err(|r| l.invalid("policy.memory_limit", r))?;
        }
        l.set(
            &mut policy.memory_limit_bytes,
            memory,
            "policy.memory_limit",
        );
        l.set_path(
            &mut policy.compile_cache_dir,
            p.compile_cache_dir,
            "policy.compile_cache_dir",
        );
        Ok(())
    }
}

impl P2pFile {
    /// Applies this file (found at `path`) over `p2p`.
    pub(super) fn apply(
        self,
        path: &Path,
        root: &Path,
        p2p: &mut P2pConfig,
        provenance: &mut Provenance,
    ) -> Result<(), ConfigError> {
        let mut l = Layer {
            path,
            root,
            provenance,
        };
        l.set(&mut p2p.enabled, self.p2p.enabled, "p2p.enabled");
        l.set(
            &mut p2p.listen_port,
            self.p2p.listen_port,
            "p2p.listen_port",
        );
        l.set(
            &mut p2p.peer_discovery,
            self.p2p.peer_discovery,
            "p2p.peer_discovery",
        );

        let (n, net) = (self.network, &mut p2p.network);
        l.set(
            &mut net.bootstrap_peers,
            n.bootstrap_peers,
            "network.bootstrap_peers",
        );
        l.set(&mut net.max_peers, n.max_peers, "network.max_peers");
        l.set(
            &mut net.connection_timeout_secs,
            n.connection_timeout,
            "network.connection_timeout",
        );
        l.set(
            &mut net.fetch_timeout_ms,
            n.fetch_timeout_ms,
            "network.fetch_timeout_ms",
        );

        let (m, d) = (self.discovery.methods, &mut p2p.discovery);
        l.set(&mut d.mdns, m.mdns, "discovery.methods.mdns");
        l.set(&mut d.bootstrap, m.bootstrap, "discovery.methods.bootstrap");
        l.set(&mut d.kademlia, m.kademlia, "discovery.methods.kademlia");
        l.set(
            &mut d.github_cache,
            m.github_cache,
            "discovery.methods.github_cache",
        );

        let (e, s) = (self.security.encryption, &mut p2p.security);
        l.set(&mut s.encryption, e.enabled, "security.encryption.enabled");
        let kdf = e.key_derivation;
        const ITERATIONS: &str = "security.encryption.key_derivation.iterations";
        if let Some(n) = kdf.iterations {
            validate::pbkdf2_iterations(n).map_err(|r| l.invalid(ITERATIONS, r))?;
        }
        l.set(&mut s.pbkdf2_iterations, kdf.iterations, ITERATIONS);
        l.set(
            &mut s.use_github_token,
            kdf.use_github_token,
            "security.encryption.key_derivation.use_github_token",
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Overrides};

    const PIN: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    /// Loads a repo whose `.github` holds `file` with `yaml`; no environment.
    fn load_with(file: &str, yaml: &str) -> Result<Config, ConfigError> {
        let repo = tempfile::tempdir().unwrap();
        let dir = repo.path().join(".github");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join(file), yaml).unwrap();
        let overrides = Overrides {
            config_dir: Some(dir),
            ..Overrides::default()
        };
        Config::load(&overrides, &|_| None)
    }

    /// The `(file name, key, message)` of a load error.
    fn failure(file: &str, yaml: &str) -> (String, String, String) {
        let err = load_with(file, yaml).unwrap_err();
        let message = err.to_string();
        match err {
            ConfigError::Parse { path, key, .. } => (
                path.file_name().unwrap().to_string_lossy().into(),
                key,
                message,
            ),
            ConfigError::Invalid { origin, key, .. } => {
                let name = Path::new(&origin)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into();
                (name, key, message)
            }
            ConfigError::Io { .. } => panic!("unexpected {message}"),
        }
    }

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

        let (_, key, _) = failure(P2P_FILE, "discovery:\n  methods:\n    dht: true\n");
        assert_eq!(key, "discovery.methods.dht");
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
    fn bad_sha256_pin_is_invalid() {
        let yaml = "policy:\n  credential_scope: {path: c.wasm, sha256: abc123}\n";
        let (file, key, msg) = failure(CACHE_FILE, yaml);
        assert_eq!(file, CACHE_FILE);
        assert_eq!(key, "policy.credential_scope.sha256");
        assert!(msg.contains("64 hex digits"), "{msg}");
    }

    #[test]
    fn component_path_without_pin_is_refused() {
        let (_, key, msg) = failure(CACHE_FILE, "policy:\n  cache_policy: {path: c.wasm}\n");
        assert_eq!(key, "policy.cache_policy");
        assert!(msg.contains("missing field `sha256`"), "{msg}");
    }

    #[test]
    fn pin_with_path_loads() {
        let yaml =
            format!("policy:\n  codeql_skip:\n    path: /abs/skip.wasm\n    sha256: {PIN}\n");
        let c = load_with(CACHE_FILE, &yaml).unwrap();
        let pin = c.policy.codeql_skip.unwrap();
        assert_eq!(
            pin.path,
            Path::new("/abs/skip.wasm"),
            "absolute paths stay as given"
        );
    }

    #[test]
    fn weak_key_derivation_is_refused() {
        let yaml = "security:\n  encryption:\n    key_derivation:\n      iterations: 1000\n";
        let (_, key, msg) = failure(P2P_FILE, yaml);
        assert_eq!(key, "security.encryption.key_derivation.iterations");
        assert!(msg.contains("at least 10000"), "{msg}");
    }

    #[test]
    fn operation_class_names_are_checked() {
        let (_, key, _) = failure(CACHE_FILE, "operation_ttls:\n  Workflow_Runs: 60\n");
        assert_eq!(key, "operation_ttls.Workflow_Runs");
        let c = load_with(
            CACHE_FILE,
            "operation_ttls:\n  repos-list: 600\n  codeql: 86400\n",
        );
        assert_eq!(c.unwrap().cache.operation_ttls.len(), 2);
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

    #[test]
    fn port_out_of_range_is_a_parse_error() {
        let (_, key, _) = failure(P2P_FILE, "p2p:\n  listen_port: 70000\n");
        assert_eq!(key, "p2p.listen_port");
    }
}

//! Validated configuration: defaults, then `.github/cache-config.yml` and `.github/p2p-config.yml`
//! (in ghmesh's layout or the seed's, see docs/configuration.md), then the environment (the seed's
//! variable names included), then command-line flags.
//!
//! [`Config::load`] is the second parse phase: everything downstream gets typed, checked values and
//! never re-reads a file or a variable. Each value remembers where it came from ([`Source`]) so
//! `ghmesh config show` ([`render_show`], [`show_json`]) can explain the effective setup.

mod env;
mod file;
mod provenance;
mod validate;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use provenance::{Source, render_show, show_json};

use provenance::Provenance;

/// The whole effective configuration of the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The GitHub API cache.
    pub cache: CacheConfig,
    /// The fleet mesh.
    pub p2p: P2pConfig,
    /// Policy components and the limits they run under.
    pub policy: PolicyConfig,
    /// Where the two YAML files were looked for.
    config_dir: PathBuf,
    provenance: Provenance,
}

/// Settings of the GitHub API cache (`cache-config.yml`: `cache.*`, `operation_ttls.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// Whether the cache is used at all; off means every request goes upstream.
    pub enabled: bool,
    /// Upper bound of stored response bodies, in bytes (`cache.max_bytes`, or `cache.max_size`
    /// written with a unit such as `1GiB`).
    pub max_size_bytes: u64,
    /// Upper bound of index entries (`cache.max_entries`, or the seed's `cache.max_size` written
    /// as a plain integer: the seed counted entries).
    pub max_entries: u64,
    /// TTL of an operation class the policy and `operation_ttls` do not name, in seconds.
    pub default_ttl_secs: u32,
    /// Keep the store on disk across runs (off: memory only).
    pub persistence: bool,
    /// Where the store lives.
    pub dir: PathBuf,
    /// Per operation class TTL overrides in seconds; the cache-policy component holds the seed
    /// table, these only replace entries of it. Class names are lowercase `[a-z0-9-]+` (written
    /// with `_` or `-`; the seed's operation names are mapped to ghmesh's classes).
    pub operation_ttls: BTreeMap<String, u32>,
}

/// Settings of the fleet mesh (`p2p-config.yml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct P2pConfig {
    /// Whether this runner joins the mesh; off by default, the cache then works alone.
    pub enabled: bool,
    /// TCP port the mesh listens on (0: any free port).
    pub listen_port: u16,
    /// Whether peers are discovered at all, beyond those dialled explicitly.
    pub peer_discovery: bool,
    /// Connection settings.
    pub network: NetworkConfig,
    /// Which discovery methods run.
    pub discovery: DiscoveryConfig,
    /// Payload encryption and key derivation.
    pub security: SecurityConfig,
}

/// Mesh connection settings (`network.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    /// Multiaddrs dialled at start (seed env `CACHE_BOOTSTRAP_PEERS`).
    pub bootstrap_peers: Vec<String>,
    /// Multiaddrs the mesh listens on (`network.listen.addresses`, env `GHMESH_P2P_LISTEN`);
    /// empty means `/ip4/0.0.0.0/tcp/<p2p.listen_port>`.
    pub listen_addresses: Vec<String>,
    /// Most peers kept connected.
    pub max_peers: u32,
    /// Time allowed to establish a connection, in seconds (`network.connection_timeout`).
    pub connection_timeout_secs: u32,
    /// Time allowed to fetch a body from a peer before going upstream, in milliseconds.
    pub fetch_timeout_ms: u32,
    /// New mesh connections are refused while the process uses more than this percentage of
    /// the machine's memory (`network.connections.max_memory_percent`, 1-100).
    pub max_memory_percent: u8,
}

/// Discovery methods (`discovery.methods.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryConfig {
    /// Multicast DNS on the local network.
    pub mdns: bool,
    /// Dial the bootstrap peers.
    pub bootstrap: bool,
    /// Kademlia content routing on a private protocol name: provider records say who holds
    /// an entry, and a miss asks those instead of every connected peer.
    pub kademlia: bool,
    /// Rendezvous through the GitHub Actions cache; on by default, active only where
    /// `ACTIONS_RESULTS_URL` and `ACTIONS_RUNTIME_TOKEN` are set.
    pub github_cache: bool,
    /// Reach peers behind NAT through a relay (seed `discovery.methods.circuit_relay`).
    pub circuit_relay: bool,
    /// Ask peers whether this runner is publicly reachable (seed `discovery.methods.autonat`).
    pub autonat: bool,
    /// Upgrade relayed connections to direct ones (seed `discovery.methods.hole_punching`).
    pub hole_punching: bool,
    /// Register at, and discover peers through, rendezvous points: peers run with `--relay`
    /// (`discovery.methods.rendezvous`).
    pub rendezvous: bool,
    /// Be a relay and rendezvous point for the fleet (`discovery.relay.enable_server`, env
    /// `GHMESH_RELAY`, `ghmesh serve --relay`).
    pub relay_server: bool,
    /// Relays to reserve at whatever AutoNAT says, as multiaddrs, best ending in
    /// `/p2p/<peer id>` (`discovery.relay.relay_addrs`, env `GHMESH_RELAY_ADDRS`).
    pub relay_addrs: Vec<String>,
}

/// Mesh security (`security.encryption.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityConfig {
    /// Seal payloads exchanged with peers (`security.encryption.enabled`).
    pub encryption: bool,
    /// PBKDF2-HMAC-SHA256 iterations deriving keys from the fleet secret; at least 10 000.
    pub pbkdf2_iterations: u32,
    /// Derive the fleet secret from the workflow's GitHub token when no secret is given.
    pub use_github_token: bool,
    /// Largest body accepted from a peer, in bytes: a peer cannot make this runner buffer more
    /// (`security.content_verification.max_content_size`).
    pub max_content_size: u64,
}

/// Policy components and their limits (`cache-config.yml`: `policy.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyConfig {
    /// Replacement cache-policy component; `None` runs the built-in one.
    pub cache_policy: Option<ComponentPin>,
    /// Replacement codeql-skip component; `None` runs the built-in one.
    pub codeql_skip: Option<ComponentPin>,
    /// Replacement credential-scope component; `None` runs the built-in one.
    pub credential_scope: Option<ComponentPin>,
    /// Fuel granted to each call into a component; running out traps the call.
    pub fuel_per_call: u64,
    /// Linear memory a component instance may grow to, in bytes.
    pub memory_limit_bytes: u64,
    /// Where compiled components are cached (default `<cache dir>/compiled`).
    pub compile_cache_dir: PathBuf,
}

/// A third-party component: where it is and the sha256 its bytes must hash to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentPin {
    /// The `.wasm` file.
    pub path: PathBuf,
    /// Expected sha256 of the file: 64 lowercase hex digits (validated; uppercase input is
    /// lowered). A mismatch is refused before compiling.
    pub sha256: String,
}

/// Values from command-line flags; a flag wins over the environment and the files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--config-dir`: where the two YAML files are (default `.github`, or `GHMESH_CONFIG_DIR`).
    pub config_dir: Option<PathBuf>,
    /// `--cache-dir`: where the store lives.
    pub cache_dir: Option<PathBuf>,
    /// `--p2p` / `--no-p2p`: join the fleet mesh or not.
    pub p2p_enabled: Option<bool>,
    /// `--listen-port`: the mesh's TCP port.
    pub listen_port: Option<u16>,
}

/// Why a configuration could not be loaded; each variant names where the bad value came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A config file exists but could not be read.
    #[error("cannot read config file {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// A config file is not valid YAML, has a value of the wrong type or an unknown key.
    #[error("{}: {}{reason}", path.display(), key_prefix(key))]
    Parse {
        /// The file.
        path: PathBuf,
        /// Dotted key path of the bad value, e.g. `cache.default_ttl`; empty for a syntax error.
        key: String,
        /// What is wrong, with line and column where known.
        reason: String,
    },
    /// A value parsed but is not acceptable (bad pin, out of range, malformed variable).
    #[error("{origin}: {key}: {reason}")]
    Invalid {
        /// The file path or the environment variable (or flag) that set the value.
        origin: String,
        /// Dotted key of the setting, e.g. `policy.cache_policy.sha256`.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

fn key_prefix(key: &str) -> String {
    if key.is_empty() {
        String::new()
    } else {
        format!("{key}: ")
    }
}

/// Defaults that are not derived from other values.
const DEFAULT_CONFIG_DIR: &str = ".github";
const DEFAULT_MAX_SIZE: u64 = 1 << 30;
const DEFAULT_MAX_ENTRIES: u64 = 100_000;
const DEFAULT_TTL_SECS: u32 = 300;
const DEFAULT_LISTEN_PORT: u16 = 4001;
const DEFAULT_MAX_PEERS: u32 = 128;
const DEFAULT_CONNECTION_TIMEOUT_SECS: u32 = 30;
const DEFAULT_FETCH_TIMEOUT_MS: u32 = 5_000;
const DEFAULT_MAX_MEMORY_PERCENT: u8 = 90;
const DEFAULT_PBKDF2_ITERATIONS: u32 = 100_000;
const DEFAULT_MAX_CONTENT_SIZE: u64 = 100 << 20;
/// The one payload cipher ghmesh implements; a file may name it (the seed did) but not change it.
const ENCRYPTION_ALGORITHM: &str = "AES-256-GCM";
/// Key size of [`ENCRYPTION_ALGORITHM`], in bits.
const ENCRYPTION_KEY_BITS: u32 = 256;
const DEFAULT_FUEL_PER_CALL: u64 = 50_000_000;
const DEFAULT_MEMORY_LIMIT: u64 = 64 << 20;

impl Config {
    /// Reads `<config_dir>/cache-config.yml` and `<config_dir>/p2p-config.yml` if present
    /// (absent = fine, defaults), then the environment (passed in, not read from the process, so
    /// tests are hermetic), then flags.
    ///
    /// Relative paths in the files resolve against the repository root (the parent of the config
    /// dir); relative paths from variables and flags are left relative to the working directory.
    pub fn load(
        overrides: &Overrides,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut config = Config::defaults(env);
        if let Some(dir) = &overrides.config_dir {
            config.config_dir = dir.clone();
            config.record_flag("config_dir", "--config-dir");
        } else if let Some((var, dir)) = env::lookup(env, &[env::CONFIG_DIR]) {
            config.config_dir = PathBuf::from(dir);
            config
                .provenance
                .record("config_dir", Source::Env(var.into()));
        }

        // The seed wrote `directory: ~/.cache/...`; `~` means the HOME of this environment.
        let home = env::lookup(env, &["HOME"]).map(|(_, home)| PathBuf::from(home));
        file::apply(&mut config, home.as_deref())?;

        let Config {
            cache,
            p2p,
            policy,
            provenance,
            ..
        } = &mut config;
        env::apply(env, cache, p2p, policy, provenance)?;
        config.apply_flags(overrides);

        // The compile cache follows wherever the cache ended up unless it was placed explicitly.
        if config.provenance.source("policy.compile_cache_dir") == Source::Default {
            config.policy.compile_cache_dir = config.cache.dir.join("compiled");
        }
        Ok(config)
    }

    /// Every effective key (dotted, e.g. `cache.default_ttl`) with its rendered value and source,
    /// sorted. Values of sensitive keys render as `<redacted>`.
    pub fn provenance(&self) -> Vec<(String, String, Source)> {
        provenance::entries(self)
            .into_iter()
            .map(|e| {
                let text = e.text();
                (e.key, text, e.source)
            })
            .collect()
    }

    /// Built-in defaults; only the cache dir depends on the environment (`XDG_CACHE_HOME`, `HOME`).
    fn defaults(env: &dyn Fn(&str) -> Option<String>) -> Config {
        let dir = env::default_cache_dir(env);
        Config {
            policy: PolicyConfig {
                cache_policy: None,
                codeql_skip: None,
                credential_scope: None,
                fuel_per_call: DEFAULT_FUEL_PER_CALL,
                memory_limit_bytes: DEFAULT_MEMORY_LIMIT,
                compile_cache_dir: dir.join("compiled"),
            },
            cache: CacheConfig {
                enabled: true,
                max_size_bytes: DEFAULT_MAX_SIZE,
                max_entries: DEFAULT_MAX_ENTRIES,
                default_ttl_secs: DEFAULT_TTL_SECS,
                persistence: true,
                dir,
                operation_ttls: BTreeMap::new(),
            },
            p2p: P2pConfig {
                enabled: false,
                listen_port: DEFAULT_LISTEN_PORT,
                peer_discovery: true,
                network: NetworkConfig {
                    bootstrap_peers: Vec::new(),
                    listen_addresses: Vec::new(),
                    max_peers: DEFAULT_MAX_PEERS,
                    connection_timeout_secs: DEFAULT_CONNECTION_TIMEOUT_SECS,
                    fetch_timeout_ms: DEFAULT_FETCH_TIMEOUT_MS,
                    max_memory_percent: DEFAULT_MAX_MEMORY_PERCENT,
                },
                discovery: DiscoveryConfig {
                    mdns: true,
                    bootstrap: true,
                    kademlia: false,
                    github_cache: true,
                    circuit_relay: true,
                    autonat: true,
                    hole_punching: true,
                    rendezvous: true,
                    relay_server: false,
                    relay_addrs: Vec::new(),
                },
                security: SecurityConfig {
                    encryption: true,
                    pbkdf2_iterations: DEFAULT_PBKDF2_ITERATIONS,
                    use_github_token: false,
                    max_content_size: DEFAULT_MAX_CONTENT_SIZE,
                },
            },
            config_dir: PathBuf::from(DEFAULT_CONFIG_DIR),
            provenance: Provenance::default(),
        }
    }

    fn apply_flags(&mut self, overrides: &Overrides) {
        if let Some(dir) = &overrides.cache_dir {
            self.cache.dir = dir.clone();
            self.record_flag("cache.dir", "--cache-dir");
        }
        if let Some(enabled) = overrides.p2p_enabled {
            self.p2p.enabled = enabled;
            self.record_flag("p2p.enabled", if enabled { "--p2p" } else { "--no-p2p" });
        }
        if let Some(port) = overrides.listen_port {
            self.p2p.listen_port = port;
            self.record_flag("p2p.listen_port", "--listen-port");
        }
    }

    fn record_flag(&mut self, key: &str, flag: &str) {
        self.provenance.record(key, Source::Flag(flag.to_owned()));
    }
}

/// The built-in defaults with no files, variables or flags; the cache dir is `.ghmesh-cache`.
impl Default for Config {
    fn default() -> Config {
        Config::defaults(&|_| None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const PIN: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    /// A repository checkout in a temp dir, with files under its `.github`.
    struct Repo(tempfile::TempDir);

    impl Repo {
        fn new() -> Repo {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir(dir.path().join(".github")).unwrap();
            Repo(dir)
        }

        fn root(&self) -> &Path {
            self.0.path()
        }

        fn config_dir(&self) -> PathBuf {
            self.root().join(".github")
        }

        fn with(self, name: &str, yaml: &str) -> Repo {
            std::fs::write(self.config_dir().join(name), yaml).unwrap();
            self
        }

        fn overrides(&self) -> Overrides {
            Overrides {
                config_dir: Some(self.config_dir()),
                ..Overrides::default()
            }
        }

        fn load(&self, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
            Config::load(&self.overrides(), &env_of(vars))
        }
    }

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    fn source_of(config: &Config, key: &str) -> Source {
        config
            .provenance()
            .into_iter()
            .find(|(k, _, _)| k == key)
            .unwrap_or_else(|| panic!("no key {key}"))
            .2
    }

    fn file_source(repo: &Repo, file: &str, key: &str) -> Source {
        Source::File {
            path: repo.config_dir().join(file),
            key: key.to_owned(),
        }
    }

    #[test]
    fn defaults_without_files() {
        let repo = Repo::new();
        let c = repo.load(&[("HOME", "/home/runner")]).unwrap();
        assert!(c.cache.enabled);
        assert_eq!(c.cache.max_size_bytes, 1 << 30);
        assert_eq!(c.cache.max_entries, 100_000);
        assert_eq!(c.cache.default_ttl_secs, 300);
        assert!(c.cache.persistence);
        assert_eq!(c.cache.dir, Path::new("/home/runner/.cache/ghmesh"));
        assert!(c.cache.operation_ttls.is_empty());
        assert!(!c.p2p.enabled);
        assert_eq!(c.p2p.listen_port, 4001);
        assert!(c.p2p.peer_discovery);
        let d = &c.p2p.discovery;
        assert!(d.mdns && d.bootstrap && !d.kademlia && d.github_cache);
        assert_eq!(c.p2p.security.pbkdf2_iterations, 100_000);
        assert!(!c.p2p.security.use_github_token);
        assert_eq!(c.policy.cache_policy, None);
        assert_eq!(c.policy.fuel_per_call, 50_000_000);
        assert_eq!(c.policy.memory_limit_bytes, 64 << 20);
        assert_eq!(
            c.policy.compile_cache_dir,
            Path::new("/home/runner/.cache/ghmesh/compiled")
        );
        for (key, _, source) in c.provenance() {
            if key != "config_dir" {
                assert_eq!(source, Source::Default, "{key}");
            }
        }
    }

    #[test]
    fn default_cache_dir_prefers_xdg_then_home_then_cwd() {
        let repo = Repo::new();
        let both = [("XDG_CACHE_HOME", "/xdg"), ("HOME", "/home/r")];
        assert_eq!(
            repo.load(&both).unwrap().cache.dir,
            Path::new("/xdg/ghmesh")
        );
        let empty_xdg = [("XDG_CACHE_HOME", ""), ("HOME", "/home/r")];
        assert_eq!(
            repo.load(&empty_xdg).unwrap().cache.dir,
            Path::new("/home/r/.cache/ghmesh")
        );
        assert_eq!(
            repo.load(&[]).unwrap().cache.dir,
            Path::new(".ghmesh-cache")
        );
        assert_eq!(Config::default().cache.dir, Path::new(".ghmesh-cache"));
    }

    #[test]
    fn files_override_defaults() {
        let yaml = format!(
            "cache:\n  enabled: false\n  max_size: 512MiB\n  default_ttl: 600\n  dir: var/cache\n\
             operation_ttls:\n  workflow-runs: 30\n\
             policy:\n  cache_policy: {{path: policies/cache.wasm, sha256: {PIN}}}\n  memory_limit: 32MiB\n"
        );
        let repo = Repo::new().with("cache-config.yml", &yaml).with(
            "p2p-config.yml",
            "p2p:\n  enabled: true\n  listen_port: 4100\n\
             network:\n  bootstrap_peers: [/ip4/10.0.0.1/tcp/4001]\n  max_peers: 8\n  connection_timeout: 10\n  fetch_timeout_ms: 250\n\
             discovery:\n  methods: {mdns: false, kademlia: true}\n\
             security:\n  encryption:\n    enabled: true\n    key_derivation: {iterations: 200000, use_github_token: true}\n",
        );
        let c = repo.load(&[]).unwrap();
        assert!(!c.cache.enabled);
        assert_eq!(c.cache.max_size_bytes, 512 << 20);
        assert_eq!(c.cache.default_ttl_secs, 600);
        assert_eq!(c.cache.dir, repo.root().join("var/cache"));
        assert_eq!(c.cache.operation_ttls["workflow-runs"], 30);
        let pin = c.policy.cache_policy.as_ref().unwrap();
        assert_eq!(pin.path, repo.root().join("policies/cache.wasm"));
        assert_eq!(pin.sha256, PIN);
        assert_eq!(c.policy.memory_limit_bytes, 32 << 20);
        assert_eq!(
            c.policy.compile_cache_dir,
            repo.root().join("var/cache/compiled")
        );
        assert!(c.p2p.enabled);
        assert_eq!(c.p2p.listen_port, 4100);
        assert_eq!(c.p2p.network.bootstrap_peers, ["/ip4/10.0.0.1/tcp/4001"]);
        assert_eq!(c.p2p.network.max_peers, 8);
        assert_eq!(c.p2p.network.connection_timeout_secs, 10);
        assert_eq!(c.p2p.network.fetch_timeout_ms, 250);
        assert!(!c.p2p.discovery.mdns && c.p2p.discovery.kademlia && c.p2p.discovery.bootstrap);
        assert_eq!(c.p2p.security.pbkdf2_iterations, 200_000);
        assert!(c.p2p.security.use_github_token);
    }

    #[test]
    fn empty_or_comment_only_files_are_defaults() {
        let repo = Repo::new()
            .with("cache-config.yml", "")
            .with("p2p-config.yml", "# nothing yet\n");
        let c = repo.load(&[]).unwrap();
        assert_eq!(c.cache.default_ttl_secs, 300);
        assert_eq!(source_of(&c, "cache.default_ttl"), Source::Default);
    }

    #[test]
    fn env_overrides_file() {
        let repo = Repo::new()
            .with(
                "cache-config.yml",
                "cache:\n  default_ttl: 600\n  max_size: 1GB\n",
            )
            .with("p2p-config.yml", "p2p:\n  enabled: false\n");
        let c = repo
            .load(&[
                ("CACHE_DEFAULT_TTL", "42"),
                ("ENABLE_P2P_CACHE", "yes"),
                ("CACHE_MAX_SIZE", "2GiB"),
            ])
            .unwrap();
        assert_eq!(c.cache.default_ttl_secs, 42);
        assert!(c.p2p.enabled);
        assert_eq!(c.cache.max_size_bytes, 2 << 30);
        assert_eq!(
            source_of(&c, "cache.default_ttl"),
            Source::Env("CACHE_DEFAULT_TTL".into())
        );
    }

    #[test]
    fn flag_overrides_env() {
        let repo = Repo::new().with("cache-config.yml", "cache:\n  dir: from-file\n");
        let overrides = Overrides {
            cache_dir: Some(PathBuf::from("/from/flag")),
            p2p_enabled: Some(false),
            listen_port: Some(5000),
            ..repo.overrides()
        };
        let env = env_of(&[
            ("CACHE_DIR", "/from/env"),
            ("CACHE_ENABLE_P2P", "true"),
            ("P2P_LISTEN_PORT", "4500"),
        ]);
        let c = Config::load(&overrides, &env).unwrap();
        assert_eq!(c.cache.dir, Path::new("/from/flag"));
        assert_eq!(c.policy.compile_cache_dir, Path::new("/from/flag/compiled"));
        assert!(!c.p2p.enabled);
        assert_eq!(c.p2p.listen_port, 5000);
        assert_eq!(
            source_of(&c, "cache.dir"),
            Source::Flag("--cache-dir".into())
        );
        assert_eq!(
            source_of(&c, "p2p.enabled"),
            Source::Flag("--no-p2p".into())
        );
    }

    #[test]
    fn config_dir_from_env_when_no_flag() {
        let repo = Repo::new().with("cache-config.yml", "cache:\n  default_ttl: 77\n");
        let dir = repo.config_dir().display().to_string();
        let c = Config::load(
            &Overrides::default(),
            &env_of(&[("GHMESH_CONFIG_DIR", &dir)]),
        )
        .unwrap();
        assert_eq!(c.cache.default_ttl_secs, 77);
        assert_eq!(
            source_of(&c, "config_dir"),
            Source::Env("GHMESH_CONFIG_DIR".into())
        );
    }

    #[test]
    fn provenance_names_each_layer() {
        let repo = Repo::new()
            .with(
                "cache-config.yml",
                "cache:\n  default_ttl: 600\n  max_entries: 10\n",
            )
            .with(
                "p2p-config.yml",
                "security:\n  encryption:\n    key_derivation:\n      iterations: 20000\n",
            );
        let overrides = Overrides {
            cache_dir: Some(PathBuf::from("/flag")),
            ..repo.overrides()
        };
        let c = Config::load(&overrides, &env_of(&[("CACHE_MAX_ENTRIES", "5")])).unwrap();
        assert_eq!(
            source_of(&c, "cache.default_ttl"),
            file_source(&repo, "cache-config.yml", "cache.default_ttl")
        );
        assert_eq!(
            source_of(&c, "security.encryption.key_derivation.iterations"),
            file_source(
                &repo,
                "p2p-config.yml",
                "security.encryption.key_derivation.iterations"
            )
        );
        assert_eq!(
            source_of(&c, "cache.max_entries"),
            Source::Env("CACHE_MAX_ENTRIES".into())
        );
        assert_eq!(
            source_of(&c, "cache.dir"),
            Source::Flag("--cache-dir".into())
        );
        assert_eq!(source_of(&c, "cache.persistence"), Source::Default);
        assert_eq!(source_of(&c, "policy.cache_policy"), Source::Default);

        let keys: Vec<String> = c.provenance().into_iter().map(|(k, _, _)| k).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);

        let table = render_show(&c);
        let ttl_line = table
            .lines()
            .find(|l| l.starts_with("cache.default_ttl"))
            .unwrap();
        assert!(ttl_line.contains("600"), "{ttl_line}");
        assert!(
            ttl_line.ends_with("cache-config.yml: cache.default_ttl"),
            "{ttl_line}"
        );
        assert!(table.contains("env CACHE_MAX_ENTRIES"));
        assert!(table.contains("flag --cache-dir"));
        let json = show_json(&c);
        assert_eq!(json["cache.max_entries"]["value"], 5);
        assert_eq!(json["cache.max_entries"]["source"], "env CACHE_MAX_ENTRIES");
    }

    #[test]
    fn pinned_component_shows_path_and_hash() {
        let repo = Repo::new();
        let c = repo
            .load(&[
                ("GHMESH_CODEQL_SKIP", "/opt/skip.wasm"),
                ("GHMESH_CODEQL_SKIP_SHA256", &PIN.to_uppercase()),
            ])
            .unwrap();
        let pin = c.policy.codeql_skip.as_ref().unwrap();
        assert_eq!(pin.sha256, PIN, "stored lowercase");
        assert_eq!(
            source_of(&c, "policy.codeql_skip.sha256"),
            Source::Env("GHMESH_CODEQL_SKIP_SHA256".into())
        );
        assert_eq!(
            source_of(&c, "policy.codeql_skip.path"),
            Source::Env("GHMESH_CODEQL_SKIP".into())
        );
    }

    #[test]
    fn max_size_counts_entries_and_max_bytes_bounds_bytes() {
        let repo = Repo::new().with("cache-config.yml", "cache:\n  max_size: 2048\n");
        let c = repo.load(&[]).unwrap();
        assert_eq!(
            (c.cache.max_entries, c.cache.max_size_bytes),
            (2048, 1 << 30)
        );
        assert_eq!(
            source_of(&c, "cache.max_entries"),
            file_source(&repo, "cache-config.yml", "cache.max_size")
        );
        let c = repo.load(&[("CACHE_MAX_BYTES", "512MiB")]).unwrap();
        assert_eq!(c.cache.max_size_bytes, 512 << 20);
        assert_eq!(
            source_of(&c, "cache.max_bytes"),
            Source::Env("CACHE_MAX_BYTES".into())
        );
    }

    #[test]
    fn error_messages_name_origin_key_and_reason() {
        let e = ConfigError::Invalid {
            origin: "CACHE_ENABLED".into(),
            key: "cache.enabled".into(),
            reason: "expected true/false/1/0/yes/no, got \"maybe\"".into(),
        };
        assert_eq!(
            e.to_string(),
            "CACHE_ENABLED: cache.enabled: expected true/false/1/0/yes/no, got \"maybe\""
        );
        let e = ConfigError::Parse {
            path: ".github/p2p-config.yml".into(),
            key: String::new(),
            reason: "did not find expected key".into(),
        };
        assert_eq!(
            e.to_string(),
            ".github/p2p-config.yml: did not find expected key"
        );
    }

    #[test]
    fn unreadable_file_is_an_io_error() {
        let repo = Repo::new();
        // A directory where the file should be cannot be read as text.
        std::fs::create_dir(repo.config_dir().join("cache-config.yml")).unwrap();
        let err = repo.load(&[]).unwrap_err();
        assert!(matches!(err, ConfigError::Io { .. }), "{err}");
        assert!(err.to_string().contains("cache-config.yml"));
    }
}

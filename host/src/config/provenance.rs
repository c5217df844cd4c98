//! Where each effective configuration value came from, and `ghmesh config show`.
//!
//! Loading records a [`Source`] per dotted key; [`render_show`] and [`show_json`] join those sources
//! with the values rendered from [`Config`] itself, so what is shown is what the host will use.
//! File keys that were accepted but have no effect (seed settings ghmesh has no use for) are
//! listed after the effective keys, so a migrating user sees every line of their files accounted for.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use bytesize::ByteSize;

use super::{ComponentPin, Config, ENCRYPTION_ALGORITHM, ENCRYPTION_KEY_BITS};

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Built-in default: no file, variable or flag set it.
    Default,
    /// A key in one of the YAML configuration files.
    File {
        /// The file, as found (config dir joined with the file name).
        path: PathBuf,
        /// Dotted key inside the file, e.g. `cache.default_ttl`.
        key: String,
    },
    /// An environment variable, by name.
    Env(String),
    /// A command-line flag, spelled as typed (e.g. `--cache-dir`).
    Flag(String),
    /// Several file keys whose lists were merged (bootstrap peers may be listed in up to four
    /// places across the two files), in the order they were merged.
    Merged(Vec<Source>),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File { path, key } => write!(f, "{}: {key}", path.display()),
            Source::Env(name) => write!(f, "env {name}"),
            Source::Flag(name) => write!(f, "flag {name}"),
            Source::Merged(sources) => {
                for (i, source) in sources.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" + ")?;
                    }
                    write!(f, "{source}")?;
                }
                Ok(())
            }
        }
    }
}

/// Shown instead of the value of a key marked sensitive.
const REDACTED: &str = "<redacted>";

/// The sources recorded while loading, by dotted key; a key never recorded is a default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Provenance {
    sources: BTreeMap<String, Source>,
    /// File keys accepted but not used, in file then document order.
    ignored: Vec<Ignored>,
}

/// A file key that parsed and type-checked but configures nothing in ghmesh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Ignored {
    /// The file, as found.
    pub(super) path: PathBuf,
    /// Dotted key inside the file.
    pub(super) key: String,
    /// The value as written, so `config show` can echo it back.
    pub(super) value: serde_json::Value,
}

impl Provenance {
    /// Records that `key` was last set by `source` (a later layer replaces an earlier one).
    pub(super) fn record(&mut self, key: impl Into<String>, source: Source) {
        self.sources.insert(key.into(), source);
    }

    /// Records that `source` added to the list at `key`: sources of earlier file keys that fed the
    /// same list are kept, anything else (the default) is replaced.
    pub(super) fn record_merged(&mut self, key: &str, source: Source) {
        let merged = match self.sources.remove(key) {
            Some(Source::Merged(mut sources)) => {
                sources.push(source);
                Source::Merged(sources)
            }
            Some(earlier @ Source::File { .. }) => Source::Merged(vec![earlier, source]),
            _ => source,
        };
        self.sources.insert(key.to_owned(), merged);
    }

    /// Records a file key that was accepted but has no effect.
    pub(super) fn ignore(&mut self, ignored: Ignored) {
        self.ignored.push(ignored);
    }

    /// The file keys accepted but not used, in file then document order.
    pub(super) fn ignored(&self) -> &[Ignored] {
        &self.ignored
    }

    /// The source of `key`, [`Source::Default`] when nothing set it.
    pub(super) fn source(&self, key: &str) -> Source {
        self.sources.get(key).cloned().unwrap_or(Source::Default)
    }
}

/// A value in the shape it is shown: text in the table, typed in JSON.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Bool(bool),
    Int(u64),
    /// A byte count: shown with its IEC rendering next to the exact number.
    Bytes(u64),
    Text(String),
    List(Vec<String>),
    /// A value copied from a file as written (an ignored key): any YAML scalar or list.
    Raw(serde_json::Value),
}

impl Value {
    fn text(&self) -> String {
        match self {
            Value::Bool(b) => b.to_string(),
            Value::Int(n) => n.to_string(),
            Value::Bytes(n) => format!("{n} ({})", ByteSize(*n).display().iec()),
            Value::Text(s) => s.clone(),
            Value::List(items) if items.is_empty() => "(none)".to_owned(),
            Value::List(items) => items.join(","),
            Value::Raw(serde_json::Value::String(s)) => s.clone(),
            Value::Raw(other) => other.to_string(),
        }
    }

    fn json(&self) -> serde_json::Value {
        match self {
            Value::Bool(b) => (*b).into(),
            Value::Int(n) | Value::Bytes(n) => (*n).into(),
            Value::Text(s) => s.clone().into(),
            Value::List(items) => items.clone().into(),
            Value::Raw(raw) => raw.clone(),
        }
    }
}

/// One effective key as shown: the value is already redacted when the key is sensitive.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Entry {
    pub(super) key: String,
    /// `None` when the key is sensitive: the value never leaves [`Config`] through here.
    pub(super) value: Option<Value>,
    pub(super) source: Source,
}

impl Entry {
    pub(super) fn text(&self) -> String {
        self.value
            .as_ref()
            .map_or_else(|| REDACTED.to_owned(), Value::text)
    }

    fn json(&self) -> serde_json::Value {
        self.value
            .as_ref()
            .map_or_else(|| REDACTED.into(), Value::json)
    }
}

/// Collects every effective key of a config with its value and source.
struct Collector<'a> {
    provenance: &'a Provenance,
    entries: Vec<Entry>,
}

impl Collector<'_> {
    fn push(&mut self, key: &str, value: Value) {
        self.push_with(key, value, false);
    }

    /// `sensitive` keys are listed (with their source) but their value is replaced by
    /// `<redacted>`: no key holds a secret today, this is the hook for the first one that does.
    fn push_with(&mut self, key: &str, value: Value, sensitive: bool) {
        self.entries.push(Entry {
            key: key.to_owned(),
            value: (!sensitive).then_some(value),
            source: self.provenance.source(key),
        });
    }

    fn pin(&mut self, key: &str, pin: Option<&ComponentPin>) {
        match pin {
            Some(pin) => {
                self.push(&format!("{key}.path"), path(&pin.path));
                self.push(&format!("{key}.sha256"), Value::Text(pin.sha256.clone()));
            }
            None => self.push(key, Value::Text("builtin".to_owned())),
        }
    }
}

fn path(p: &std::path::Path) -> Value {
    Value::Text(p.display().to_string())
}

/// Every effective key of `config`, sorted by key.
pub(super) fn entries(config: &Config) -> Vec<Entry> {
    let mut c = Collector {
        provenance: &config.provenance,
        entries: Vec::new(),
    };
    c.push("config_dir", path(&config.config_dir));

    let cache = &config.cache;
    c.push("cache.enabled", Value::Bool(cache.enabled));
    c.push("cache.max_bytes", Value::Bytes(cache.max_size_bytes));
    c.push("cache.max_entries", Value::Int(cache.max_entries));
    c.push(
        "cache.default_ttl",
        Value::Int(cache.default_ttl_secs.into()),
    );
    c.push("cache.persistence", Value::Bool(cache.persistence));
    c.push("cache.dir", path(&cache.dir));
    for (class, ttl) in &cache.operation_ttls {
        c.push(
            &format!("operation_ttls.{class}"),
            Value::Int((*ttl).into()),
        );
    }

    let policy = &config.policy;
    c.pin("policy.cache_policy", policy.cache_policy.as_ref());
    c.pin("policy.codeql_skip", policy.codeql_skip.as_ref());
    c.pin("policy.credential_scope", policy.credential_scope.as_ref());
    c.push("policy.fuel_per_call", Value::Int(policy.fuel_per_call));
    c.push(
        "policy.memory_limit",
        Value::Bytes(policy.memory_limit_bytes),
    );
    c.push("policy.compile_cache_dir", path(&policy.compile_cache_dir));

    let p2p = &config.p2p;
    c.push("p2p.enabled", Value::Bool(p2p.enabled));
    c.push("p2p.listen_port", Value::Int(p2p.listen_port.into()));
    c.push("p2p.peer_discovery", Value::Bool(p2p.peer_discovery));
    let net = &p2p.network;
    c.push(
        "network.bootstrap_peers",
        Value::List(net.bootstrap_peers.clone()),
    );
    c.push(
        "network.listen.addresses",
        Value::List(net.listen_addresses.clone()),
    );
    c.push("network.max_peers", Value::Int(net.max_peers.into()));
    c.push(
        "network.connection_timeout",
        Value::Int(net.connection_timeout_secs.into()),
    );
    c.push(
        "network.fetch_timeout_ms",
        Value::Int(net.fetch_timeout_ms.into()),
    );
    let methods = &p2p.discovery;
    c.push("discovery.methods.mdns", Value::Bool(methods.mdns));
    c.push(
        "discovery.methods.bootstrap",
        Value::Bool(methods.bootstrap),
    );
    c.push("discovery.methods.kademlia", Value::Bool(methods.kademlia));
    c.push(
        "discovery.methods.github_cache",
        Value::Bool(methods.github_cache),
    );
    c.push(
        "discovery.methods.circuit_relay",
        Value::Bool(methods.circuit_relay),
    );
    c.push("discovery.methods.autonat", Value::Bool(methods.autonat));
    c.push(
        "discovery.methods.hole_punching",
        Value::Bool(methods.hole_punching),
    );
    c.push(
        "discovery.methods.rendezvous",
        Value::Bool(methods.rendezvous),
    );
    c.push(
        "discovery.relay.enable_server",
        Value::Bool(methods.relay_server),
    );
    c.push(
        "discovery.relay.relay_addrs",
        Value::List(methods.relay_addrs.clone()),
    );
    c.push(
        "network.connections.max_memory_percent",
        Value::Int(net.max_memory_percent.into()),
    );
    let sec = &p2p.security;
    c.push("security.encryption.enabled", Value::Bool(sec.encryption));
    c.push(
        "security.encryption.key_derivation.iterations",
        Value::Int(sec.pbkdf2_iterations.into()),
    );
    c.push(
        "security.encryption.key_derivation.use_github_token",
        Value::Bool(sec.use_github_token),
    );
    // Fixed: ghmesh implements exactly one cipher; shown so a file naming them is accounted for.
    c.push(
        "security.encryption.algorithm",
        Value::Text(ENCRYPTION_ALGORITHM.to_owned()),
    );
    c.push(
        "security.encryption.key_derivation.key_size",
        Value::Int(ENCRYPTION_KEY_BITS.into()),
    );
    c.push(
        "security.content_verification.max_content_size",
        Value::Bytes(sec.max_content_size),
    );

    c.entries.sort_by(|a, b| a.key.cmp(&b.key));
    c.entries
}

/// One line of `config show`: effective keys first (sorted), then the ignored file keys.
struct Row {
    /// Key in the table: the dotted key.
    key: String,
    /// Key in JSON, unique: an ignored key is prefixed with its file name, since both seed files
    /// have e.g. `monitoring.enabled`.
    json_key: String,
    text: String,
    json: serde_json::Value,
    source: String,
    ignored: bool,
}

fn rows(config: &Config) -> Vec<Row> {
    let effective = entries(config).into_iter().map(|e| Row {
        text: e.text(),
        json: e.json(),
        source: e.source.to_string(),
        json_key: e.key.clone(),
        key: e.key,
        ignored: false,
    });
    let ignored = config.provenance.ignored().iter().map(|i| {
        let file = i.path.file_name().unwrap_or(i.path.as_os_str());
        let value = Value::Raw(i.value.clone());
        Row {
            key: i.key.clone(),
            json_key: format!("{}: {}", file.to_string_lossy(), i.key),
            text: value.text(),
            json: value.json(),
            source: format!("{}: {} (ignored)", i.path.display(), i.key),
            ignored: true,
        }
    });
    effective.chain(ignored).collect()
}

/// The effective configuration as an aligned `key  value  source` table, one key a line, sorted;
/// then every file key that was accepted but is not used, with source `<file>: <key> (ignored)`.
///
/// This is what `ghmesh config show` prints. Sensitive values render as `<redacted>`.
pub fn render_show(config: &Config) -> String {
    let rows: Vec<[String; 3]> = rows(config)
        .into_iter()
        .map(|r| [r.key, r.text, r.source])
        .collect();
    let header = ["key".to_owned(), "value".to_owned(), "source".to_owned()];
    let width = |col: usize| {
        rows.iter()
            .chain(std::iter::once(&header))
            .map(|r| r[col].chars().count())
            .max()
            .unwrap_or(0)
    };
    let (w0, w1) = (width(0), width(1));
    let mut out = String::new();
    for [key, value, source] in std::iter::once(&header).chain(&rows) {
        let line = format!("{key:<w0$}  {value:<w1$}  {source}");
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The effective configuration as JSON: an object from dotted key to `{"value", "source"}`.
///
/// Values keep their type (booleans, numbers, strings, arrays of strings); `source` is the same
/// text as in [`render_show`]. Sensitive values are the string `<redacted>`. A file key accepted
/// but not used appears as `"<file name>: <dotted key>"` with its value as written, its
/// `(ignored)` source and `"ignored": true`.
pub fn show_json(config: &Config) -> serde_json::Value {
    let map = rows(config)
        .into_iter()
        .map(|r| {
            let mut body = serde_json::json!({ "value": r.json, "source": r.source });
            if r.ignored {
                body["ignored"] = true.into();
            }
            (r.json_key, body)
        })
        .collect::<serde_json::Map<_, _>>();
    serde_json::Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_display() {
        assert_eq!(Source::Default.to_string(), "default");
        let file = Source::File {
            path: PathBuf::from(".github/cache-config.yml"),
            key: "cache.default_ttl".into(),
        };
        assert_eq!(
            file.to_string(),
            ".github/cache-config.yml: cache.default_ttl"
        );
        assert_eq!(
            Source::Env("CACHE_DEFAULT_TTL".into()).to_string(),
            "env CACHE_DEFAULT_TTL"
        );
        assert_eq!(
            Source::Flag("--cache-dir".into()).to_string(),
            "flag --cache-dir"
        );
    }

    #[test]
    fn sensitive_values_are_redacted() {
        let provenance = Provenance::default();
        let mut c = Collector {
            provenance: &provenance,
            entries: Vec::new(),
        };
        c.push_with("mesh.secret", Value::Text("hunter2".into()), true);
        let entry = &c.entries[0];
        assert_eq!(entry.text(), "<redacted>");
        assert_eq!(entry.json(), serde_json::json!("<redacted>"));
        assert!(!format!("{entry:?}").contains("hunter2"));
    }

    #[test]
    fn table_is_aligned_and_json_is_typed() {
        let config = Config::default();
        let table = render_show(&config);
        let mut lines = table.lines();
        let header = lines.next().unwrap();
        let value_col = header.find("value").unwrap();
        assert!(header.starts_with("key"));
        for line in lines {
            assert!(line[..value_col].ends_with("  "), "misaligned: {line:?}");
        }
        assert!(table.contains("cache.default_ttl"));
        let json = show_json(&config);
        assert_eq!(json["cache.default_ttl"]["value"], 300);
        assert_eq!(json["cache.enabled"]["value"], true);
        assert_eq!(json["cache.default_ttl"]["source"], "default");
        assert_eq!(
            json["network.bootstrap_peers"]["value"],
            serde_json::json!([])
        );
    }
}

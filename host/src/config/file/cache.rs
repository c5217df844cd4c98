//! `cache-config.yml`: the cache, operation TTLs and policy components, in ghmesh's keys and the
//! seed's (`cache.max_size` as an entry count, `cache.directory`, the seed's operation names and
//! its `p2p:` section), plus the seed sections ghmesh accepts without using.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::layer::Layer;
use super::p2p::P2pSection;
use super::{Size, seed};
use crate::config::{CacheConfig, ConfigError, P2pConfig, PolicyConfig, validate};

/// `cache-config.yml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(
    dead_code,
    reason = "seed sections are only type-checked; unused keys are reported from the raw document"
)]
pub(super) struct CacheFile {
    #[serde(default)]
    cache: CacheSection,
    #[serde(default)]
    operation_ttls: BTreeMap<String, u32>,
    #[serde(default)]
    policy: PolicySection,
    /// The seed kept the mesh switch next to the cache's; `p2p-config.yml` wins over it.
    #[serde(default)]
    p2p: P2pSection,
    content_addressing: Option<seed::ContentAddressing>,
    rate_limiting: Option<seed::RateLimiting>,
    monitoring: Option<seed::CacheMonitoring>,
    ipfs_accelerate_integration: Option<seed::AccelerateIntegration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheSection {
    enabled: Option<bool>,
    max_size: Option<MaxSize>,
    max_bytes: Option<Size>,
    max_entries: Option<u64>,
    default_ttl: Option<u32>,
    persistence: Option<bool>,
    dir: Option<PathBuf>,
    /// The seed's name for `dir`.
    directory: Option<PathBuf>,
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

/// `cache.max_size`: the seed wrote a plain number of entries there, while a size with a unit
/// can only mean bytes. Reading it by its form keeps both kinds of file working.
#[derive(Debug, Clone, Copy)]
enum MaxSize {
    Entries(u64),
    Bytes(u64),
}

impl<'de> Deserialize<'de> for MaxSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MaxSizeVisitor;
        impl Visitor<'_> for MaxSizeVisitor {
            type Value = MaxSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of entries, or a size with a unit such as \"512MiB\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<MaxSize, E> {
                Ok(MaxSize::Entries(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<MaxSize, E> {
                u64::try_from(v)
                    .map(MaxSize::Entries)
                    .map_err(|_| E::custom(format!("size must not be negative, got {v}")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MaxSize, E> {
                if let Ok(entries) = v.trim().parse::<u64>() {
                    return Ok(MaxSize::Entries(entries));
                }
                validate::size(v).map(MaxSize::Bytes).map_err(|_| {
                    E::custom(format!(
                        "expected a number of entries or a size with a unit such as 512MiB, \
                         got {v:?}"
                    ))
                })
            }
        }
        deserializer.deserialize_any(MaxSizeVisitor)
    }
}

/// The seed's operation names and the default cache policy's class for each; `None` where the
/// default policy has no such class (the TTL is kept for components that define one).
const SEED_OPERATIONS: &[(&str, Option<&str>)] = &[
    ("list_repos", Some("repos-list")),
    ("get_repo_info", Some("repo")),
    ("list_workflows", Some("workflows")),
    ("get_workflow_runs", Some("workflow-runs")),
    ("list_runners", Some("runners")),
    ("get_workflow_run", None),
    ("get_runner_status", None),
    ("copilot_completion", None),
];

/// The class an `operation_ttls` key names: a seed operation's class, else the name itself in
/// kebab-case. `Err` holds the reason the name is refused.
fn operation_class(name: &str) -> Result<(String, bool), String> {
    let kebab = validate::operation_class(name)?;
    let seed = SEED_OPERATIONS
        .iter()
        .find(|(seed, _)| seed.replace('_', "-") == kebab);
    Ok(match seed {
        Some((_, Some(class))) => ((*class).to_owned(), false),
        Some((_, None)) => (kebab, true),
        None => (kebab, false),
    })
}

impl CacheFile {
    /// Applies this file over `cache`, `policy` and (its `p2p:` section) `p2p`.
    pub(super) fn apply(
        self,
        l: &mut Layer<'_>,
        cache: &mut CacheConfig,
        p2p: &mut P2pConfig,
        policy: &mut PolicyConfig,
    ) -> Result<(), ConfigError> {
        let c = self.cache;
        l.set(&mut cache.enabled, c.enabled, "cache.enabled");
        let max_bytes = c.max_bytes.map(|s| s.0);
        apply_bounds(l, c.max_size, c.max_entries, max_bytes, cache)?;
        l.set(
            &mut cache.default_ttl_secs,
            c.default_ttl,
            "cache.default_ttl",
        );
        l.set(&mut cache.persistence, c.persistence, "cache.persistence");
        if let Some((dir, key)) = l.either("cache.dir", c.dir, "cache.directory", c.directory)? {
            l.set_path(&mut cache.dir, Some(dir), "cache.dir", &key)?;
        }
        apply_operation_ttls(l, self.operation_ttls, &mut cache.operation_ttls)?;

        self.p2p.apply(l, p2p);
        apply_policy(l, self.policy, policy)
    }
}

/// `cache.max_size` sets the entry bound or the byte bound by its form. Giving it together with
/// the ghmesh key for the same bound is an error: one of the two would be silently lost.
fn apply_bounds(
    l: &mut Layer<'_>,
    max_size: Option<MaxSize>,
    max_entries: Option<u64>,
    max_bytes: Option<u64>,
    cache: &mut CacheConfig,
) -> Result<(), ConfigError> {
    const MAX_SIZE: &str = "cache.max_size";
    const MAX_ENTRIES: &str = "cache.max_entries";
    const MAX_BYTES: &str = "cache.max_bytes";
    // ghmesh reads all three even when one is written `~`: none of them is unused.
    l.mark_read(MAX_SIZE);
    match max_size {
        Some(MaxSize::Entries(_)) if max_entries.is_some() => {
            let reason = "`cache.max_size` without a unit is a number of entries (the seed's \
                          meaning) and `cache.max_entries` is set too; keep one, or give \
                          max_size a unit for a byte bound";
            return Err(l.invalid(MAX_SIZE, reason.into()));
        }
        Some(MaxSize::Bytes(_)) if max_bytes.is_some() => {
            let reason = "`cache.max_size` with a unit is a byte bound and `cache.max_bytes` is \
                          set too; keep one";
            return Err(l.invalid(MAX_SIZE, reason.into()));
        }
        Some(MaxSize::Entries(n)) => {
            l.set_from(&mut cache.max_entries, Some(n), MAX_ENTRIES, MAX_SIZE)
        }
        Some(MaxSize::Bytes(n)) => {
            l.set_from(&mut cache.max_size_bytes, Some(n), MAX_BYTES, MAX_SIZE)
        }
        None => {}
    }
    l.set(&mut cache.max_entries, max_entries, MAX_ENTRIES);
    l.set(&mut cache.max_size_bytes, max_bytes, MAX_BYTES);
    Ok(())
}

/// `operation_ttls`: each key is validated, mapped to its class and recorded under the class;
/// two keys landing on one class (`list_repos` and `repos-list`) is an error naming both.
fn apply_operation_ttls(
    l: &mut Layer<'_>,
    ttls: BTreeMap<String, u32>,
    out: &mut BTreeMap<String, u32>,
) -> Result<(), ConfigError> {
    l.mark_read("operation_ttls");
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (name, ttl) in ttls {
        let file_key = format!("operation_ttls.{name}");
        let (class, unknown_seed) = operation_class(&name).map_err(|r| l.invalid(&file_key, r))?;
        if let Some(earlier) = seen.insert(class.clone(), file_key.clone()) {
            return Err(l.conflict(&earlier, &file_key));
        }
        if unknown_seed {
            tracing::warn!(
                "{file_key}: the default cache policy has no operation class `{class}`; \
                 the TTL is kept as operation_ttls.{class} for a policy component that defines it"
            );
        }
        let key = format!("operation_ttls.{class}");
        l.set_from(out.entry(class).or_default(), Some(ttl), &key, &file_key);
    }
    Ok(())
}

fn apply_policy(
    l: &mut Layer<'_>,
    p: PolicySection,
    policy: &mut PolicyConfig,
) -> Result<(), ConfigError> {
    let pin = |p: Option<PinSection>| p.map(|p| (p.path, p.sha256));
    l.pin(
        &mut policy.cache_policy,
        pin(p.cache_policy),
        "policy.cache_policy",
    )?;
    l.pin(
        &mut policy.codeql_skip,
        pin(p.codeql_skip),
        "policy.codeql_skip",
    )?;
    l.pin(
        &mut policy.credential_scope,
        pin(p.credential_scope),
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
    let dir = p.compile_cache_dir;
    let key = "policy.compile_cache_dir";
    l.set_path(&mut policy.compile_cache_dir, dir, key, key)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::testing::{failure, ignored, load_files, load_with, source};
    use super::super::{CACHE_FILE, P2P_FILE};

    const PIN: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn max_size_integer_is_the_seeds_entry_count() {
        let c = load_with(CACHE_FILE, "cache:\n  max_size: 5000\n").unwrap();
        assert_eq!(c.cache.max_entries, 5000);
        assert_eq!(c.cache.max_size_bytes, 1 << 30, "byte bound stays default");
        assert!(source(&c, "cache.max_entries").ends_with("cache-config.yml: cache.max_size"));
        assert_eq!(source(&c, "cache.max_bytes"), "default");
        // A number written as a string is still a count: only a unit makes it a size.
        let c = load_with(CACHE_FILE, "cache:\n  max_size: '750'\n").unwrap();
        assert_eq!(c.cache.max_entries, 750);
    }

    #[test]
    fn max_size_with_a_unit_and_max_bytes_are_byte_bounds() {
        let c = load_with(CACHE_FILE, "cache:\n  max_size: 2GiB\n").unwrap();
        assert_eq!(c.cache.max_size_bytes, 2 << 30);
        assert_eq!(c.cache.max_entries, 100_000);
        assert!(source(&c, "cache.max_bytes").ends_with("cache-config.yml: cache.max_size"));
        let c = load_with(CACHE_FILE, "cache:\n  max_bytes: 4096\n  max_size: 10\n").unwrap();
        assert_eq!((c.cache.max_size_bytes, c.cache.max_entries), (4096, 10));
        assert!(source(&c, "cache.max_bytes").ends_with("cache-config.yml: cache.max_bytes"));
    }

    #[test]
    fn max_size_conflicts_name_both_keys() {
        let (_, key, msg) = failure(CACHE_FILE, "cache:\n  max_size: 10\n  max_entries: 20\n");
        assert_eq!(key, "cache.max_size");
        assert!(msg.contains("`cache.max_entries`"), "{msg}");
        let (_, _, msg) = failure(CACHE_FILE, "cache:\n  max_size: 1GB\n  max_bytes: 1GB\n");
        assert!(
            msg.contains("cache.max_size") && msg.contains("`cache.max_bytes`"),
            "{msg}"
        );
    }

    #[test]
    fn directory_is_the_seeds_dir_and_expands_home() {
        let c = load_with(CACHE_FILE, "cache:\n  directory: ~/.cache/github-api-p2p\n").unwrap();
        assert_eq!(c.cache.dir, Path::new("/home/runner/.cache/github-api-p2p"));
        assert!(source(&c, "cache.dir").ends_with("cache-config.yml: cache.directory"));
        assert_eq!(
            c.policy.compile_cache_dir,
            Path::new("/home/runner/.cache/github-api-p2p/compiled")
        );
        let c = load_with(CACHE_FILE, "cache:\n  dir: ~/c\n").unwrap();
        assert_eq!(c.cache.dir, Path::new("/home/runner/c"));

        let (_, key, msg) = failure(CACHE_FILE, "cache:\n  dir: a\n  directory: b\n");
        assert_eq!(key, "cache.dir");
        assert!(msg.contains("`cache.dir` and `cache.directory`"), "{msg}");
    }

    #[test]
    fn seed_operation_names_map_to_policy_classes() {
        let yaml = "operation_ttls:\n  list_repos: 900\n  get_repo_info: 30\n  list_workflows: 40\n\
                    \x20 get_workflow_runs: 50\n  list_runners: 60\n  codeql: 86400\n";
        let c = load_with(CACHE_FILE, yaml).unwrap();
        let ttls: Vec<(&str, u32)> = c
            .cache
            .operation_ttls
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        assert_eq!(
            ttls,
            [
                ("codeql", 86400),
                ("repo", 30),
                ("repos-list", 900),
                ("runners", 60),
                ("workflow-runs", 50),
                ("workflows", 40)
            ]
        );
        assert!(
            source(&c, "operation_ttls.repos-list")
                .ends_with("cache-config.yml: operation_ttls.list_repos")
        );
    }

    #[test]
    fn seed_operations_without_a_class_are_kept_in_kebab_case() {
        let yaml = "operation_ttls:\n  get_workflow_run: 61\n  get_runner_status: 62\n  \
                    copilot_completion: 3600\n  my_custom_class: 5\n";
        let c = load_with(CACHE_FILE, yaml).unwrap();
        let t = &c.cache.operation_ttls;
        assert_eq!(t["get-workflow-run"], 61);
        assert_eq!(t["get-runner-status"], 62);
        assert_eq!(t["copilot-completion"], 3600);
        assert_eq!(t["my-custom-class"], 5);
        assert!(
            source(&c, "operation_ttls.get-runner-status")
                .ends_with("operation_ttls.get_runner_status")
        );
    }

    #[test]
    fn seed_and_ghmesh_names_for_one_class_conflict() {
        let (_, key, msg) = failure(
            CACHE_FILE,
            "operation_ttls:\n  list_repos: 1\n  repos-list: 2\n",
        );
        assert_eq!(key, "operation_ttls.list_repos");
        assert!(msg.contains("`operation_ttls.repos-list`"), "{msg}");
        let (_, _, msg) = failure(
            CACHE_FILE,
            "operation_ttls:\n  workflow_runs: 1\n  workflow-runs: 2\n",
        );
        assert!(
            msg.contains("workflow_runs") && msg.contains("workflow-runs"),
            "{msg}"
        );
    }

    #[test]
    fn operation_class_names_are_checked() {
        let (_, key, _) = failure(CACHE_FILE, "operation_ttls:\n  Workflow_Runs: 60\n");
        assert_eq!(key, "operation_ttls.Workflow_Runs");
        let (_, key, _) = failure(CACHE_FILE, "operation_ttls:\n  'runs/all': 60\n");
        assert_eq!(key, "operation_ttls.runs/all");
    }

    #[test]
    fn p2p_section_of_the_cache_file_is_overridden_by_the_p2p_file() {
        let cache = "p2p:\n  enabled: true\n  listen_port: 9100\n  peer_discovery: false\n";
        let c = load_with(CACHE_FILE, cache).unwrap();
        assert!(c.p2p.enabled && !c.p2p.peer_discovery);
        assert_eq!(c.p2p.listen_port, 9100);
        assert!(source(&c, "p2p.listen_port").ends_with("cache-config.yml: p2p.listen_port"));

        let c = load_files(&[
            (CACHE_FILE, cache),
            (P2P_FILE, "p2p:\n  listen_port: 9200\n"),
        ]);
        let c = c.unwrap();
        assert_eq!(c.p2p.listen_port, 9200);
        assert!(source(&c, "p2p.listen_port").ends_with("p2p-config.yml: p2p.listen_port"));
        assert!(source(&c, "p2p.enabled").ends_with("cache-config.yml: p2p.enabled"));
    }

    #[test]
    fn unused_seed_sections_are_type_checked_and_reported() {
        let yaml = "cache:\n  enabled: true\np2p:\n  encryption: {enabled: true, token_based: true}\n\
                    rate_limiting: {warning_threshold: 100, cache_first_mode: true}\n\
                    monitoring: {metrics_format: prometheus}\n";
        let c = load_with(CACHE_FILE, yaml).unwrap();
        let keys: Vec<String> = ignored(&c).into_iter().map(|(_, k)| k).collect();
        assert_eq!(
            keys,
            [
                "p2p.encryption.enabled",
                "p2p.encryption.token_based",
                "rate_limiting.warning_threshold",
                "rate_limiting.cache_first_mode",
                "monitoring.metrics_format"
            ]
        );
        let (_, key, _) = failure(CACHE_FILE, "rate_limiting:\n  warning_threshold: high\n");
        assert_eq!(key, "rate_limiting.warning_threshold");
        let (_, key, _) = failure(
            CACHE_FILE,
            "content_addressing:\n  validation: {repo: true}\n",
        );
        assert_eq!(key, "content_addressing.validation.repo");
    }

    #[test]
    fn pins_resolve_against_the_root_and_validate() {
        let yaml =
            format!("policy:\n  codeql_skip:\n    path: /abs/skip.wasm\n    sha256: {PIN}\n");
        let pin = load_with(CACHE_FILE, &yaml)
            .unwrap()
            .policy
            .codeql_skip
            .unwrap();
        assert_eq!(
            pin.path,
            Path::new("/abs/skip.wasm"),
            "absolute paths stay as given"
        );
        let yaml = "policy:\n  credential_scope: {path: c.wasm, sha256: abc123}\n";
        let (_, key, msg) = failure(CACHE_FILE, yaml);
        assert_eq!(key, "policy.credential_scope.sha256");
        assert!(msg.contains("64 hex digits"), "{msg}");
        let (_, key, msg) = failure(CACHE_FILE, "policy:\n  cache_policy: {path: c.wasm}\n");
        assert_eq!(key, "policy.cache_policy");
        assert!(msg.contains("missing field `sha256`"), "{msg}");
    }
}

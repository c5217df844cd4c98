//! Environment variables: their names (the seed's names kept as aliases) and their parsing.
//!
//! The environment is passed in as a lookup function, never read from the process here, so tests
//! stay hermetic. An empty variable counts as unset: workflows often pass `''` for "not given".

use std::path::PathBuf;

use super::provenance::{Provenance, Source};
use super::{CacheConfig, ComponentPin, ConfigError, P2pConfig, PolicyConfig, validate};

/// The environment as a lookup: name to value.
pub(super) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Overrides the config dir (`.github` by default).
pub(super) const CONFIG_DIR: &str = "GHMESH_CONFIG_DIR";
const CACHE_ENABLED: &str = "CACHE_ENABLED";
/// Both spellings come from the seed; the first one set wins.
const P2P_ENABLED: [&str; 2] = ["ENABLE_P2P_CACHE", "CACHE_ENABLE_P2P"];
const DEFAULT_TTL: &str = "CACHE_DEFAULT_TTL";
const LISTEN_PORT: [&str; 2] = ["P2P_LISTEN_PORT", "CACHE_LISTEN_PORT"];
const BOOTSTRAP_PEERS: &str = "CACHE_BOOTSTRAP_PEERS";
const P2P_LISTEN: &str = "GHMESH_P2P_LISTEN";
const RELAY_SERVER: &str = "GHMESH_RELAY";
const RELAY_ADDRS: &str = "GHMESH_RELAY_ADDRS";
const P2P_MDNS: &str = "GHMESH_P2P_MDNS";
const P2P_KADEMLIA: &str = "GHMESH_P2P_KADEMLIA";
const CACHE_DIR: &str = "CACHE_DIR";
const MAX_ENTRIES: &str = "CACHE_MAX_ENTRIES";
const MAX_BYTES: &str = "CACHE_MAX_BYTES";
/// The seed's variable: a plain number of entries, or (ghmesh) a size with a unit.
const MAX_SIZE: &str = "CACHE_MAX_SIZE";
const POLICY_FUEL: &str = "GHMESH_POLICY_FUEL";
const POLICY_MEMORY: &str = "GHMESH_POLICY_MEMORY";

/// The first of `names` that is set to a non-empty value, with that value.
pub(super) fn lookup(env: Env<'_>, names: &[&'static str]) -> Option<(&'static str, String)> {
    names.iter().find_map(|&name| {
        env(name)
            .filter(|v| !v.trim().is_empty())
            .map(|v| (name, v))
    })
}

/// The default cache dir: `$XDG_CACHE_HOME/ghmesh`, else `$HOME/.cache/ghmesh`, else
/// `.ghmesh-cache` in the working directory (a runner without `HOME` still gets a cache).
pub(super) fn default_cache_dir(env: Env<'_>) -> PathBuf {
    if let Some((_, xdg)) = lookup(env, &["XDG_CACHE_HOME"]) {
        return PathBuf::from(xdg).join("ghmesh");
    }
    if let Some((_, home)) = lookup(env, &["HOME"]) {
        return PathBuf::from(home).join(".cache").join("ghmesh");
    }
    PathBuf::from(".ghmesh-cache")
}

fn invalid(var: &str, key: &str, reason: String) -> ConfigError {
    ConfigError::Invalid {
        origin: var.to_owned(),
        key: key.to_owned(),
        reason,
    }
}

/// Parses a boolean the way people write them in workflow files.
pub(super) fn parse_bool(var: &str, key: &str, raw: &str) -> Result<bool, ConfigError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(invalid(
            var,
            key,
            format!("expected true/false/1/0/yes/no, got {raw:?}"),
        )),
    }
}

fn parse_num<T>(var: &str, key: &str, raw: &str) -> Result<T, ConfigError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    raw.trim().parse().map_err(|e| {
        invalid(
            var,
            key,
            format!("expected a whole number, got {raw:?}: {e}"),
        )
    })
}

/// Applies the environment over the file layers, recording each key's source.
struct Layer<'a> {
    env: Env<'a>,
    provenance: &'a mut Provenance,
}

impl Layer<'_> {
    /// Sets `slot` from the first of `names` that is set, parsed by `parse`.
    fn set<T>(
        &mut self,
        slot: &mut T,
        names: &[&'static str],
        key: &str,
        parse: impl Fn(&str, &str, &str) -> Result<T, ConfigError>,
    ) -> Result<(), ConfigError> {
        if let Some((var, raw)) = lookup(self.env, names) {
            *slot = parse(var, key, &raw)?;
            self.provenance.record(key, Source::Env(var.to_owned()));
        }
        Ok(())
    }

    /// A component path and its pin travel together: one without the other is an error.
    fn pin(
        &mut self,
        slot: &mut Option<ComponentPin>,
        var: &'static str,
        key: &str,
    ) -> Result<(), ConfigError> {
        let sha_var = format!("{var}_SHA256");
        let (path_key, sha_key) = (format!("{key}.path"), format!("{key}.sha256"));
        let path = (self.env)(var).filter(|v| !v.trim().is_empty());
        let sha = (self.env)(&sha_var).filter(|v| !v.trim().is_empty());
        match (path, sha) {
            (None, None) => Ok(()),
            (Some(_), None) => Err(invalid(
                var,
                &sha_key,
                format!("a component path needs its sha256 pin: set {sha_var}"),
            )),
            (None, Some(_)) => Err(invalid(
                &sha_var,
                &path_key,
                format!("a sha256 pin without a component path: set {var}"),
            )),
            (Some(path), Some(sha)) => {
                let sha256 = validate::sha256(&sha).map_err(|r| invalid(&sha_var, &sha_key, r))?;
                *slot = Some(ComponentPin {
                    path: PathBuf::from(path),
                    sha256,
                });
                self.provenance
                    .record(path_key, Source::Env(var.to_owned()));
                self.provenance.record(sha_key, Source::Env(sha_var));
                Ok(())
            }
        }
    }
}

fn parse_size(var: &str, key: &str, raw: &str) -> Result<u64, ConfigError> {
    validate::size(raw).map_err(|r| invalid(var, key, r))
}

fn parse_nonzero_size(var: &str, key: &str, raw: &str) -> Result<u64, ConfigError> {
    let n = parse_size(var, key, raw)?;
    validate::nonzero(n).map_err(|r| invalid(var, key, r))?;
    Ok(n)
}

fn parse_path(_: &str, _: &str, raw: &str) -> Result<PathBuf, ConfigError> {
    Ok(PathBuf::from(raw))
}

fn parse_peers(_: &str, _: &str, raw: &str) -> Result<Vec<String>, ConfigError> {
    Ok(raw
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Applies every recognised variable over `cache`, `p2p` and `policy`.
pub(super) fn apply(
    env: Env<'_>,
    cache: &mut CacheConfig,
    p2p: &mut P2pConfig,
    policy: &mut PolicyConfig,
    provenance: &mut Provenance,
) -> Result<(), ConfigError> {
    let mut l = Layer { env, provenance };
    l.set(
        &mut cache.enabled,
        &[CACHE_ENABLED],
        "cache.enabled",
        parse_bool,
    )?;
    l.set(
        &mut cache.default_ttl_secs,
        &[DEFAULT_TTL],
        "cache.default_ttl",
        parse_num,
    )?;
    l.set(&mut cache.dir, &[CACHE_DIR], "cache.dir", parse_path)?;
    // CACHE_MAX_SIZE first, so the unambiguous ghmesh variable for the same bound wins over it.
    if let Some((var, raw)) = lookup(env, &[MAX_SIZE]) {
        let (slot, value, key) = match raw.trim().parse::<u64>() {
            Ok(entries) => (&mut cache.max_entries, entries, "cache.max_entries"),
            Err(_) => {
                let bytes = validate::size(&raw).map_err(|_| {
                    let reason = format!(
                        "expected a number of entries or a size with a unit such as 512MiB, \
                         got {raw:?}"
                    );
                    invalid(var, "cache.max_size", reason)
                })?;
                (&mut cache.max_size_bytes, bytes, "cache.max_bytes")
            }
        };
        *slot = value;
        l.provenance.record(key, Source::Env(var.to_owned()));
    }
    l.set(
        &mut cache.max_entries,
        &[MAX_ENTRIES],
        "cache.max_entries",
        parse_num,
    )?;
    l.set(
        &mut cache.max_size_bytes,
        &[MAX_BYTES],
        "cache.max_bytes",
        parse_size,
    )?;

    l.set(&mut p2p.enabled, &P2P_ENABLED, "p2p.enabled", parse_bool)?;
    l.set(
        &mut p2p.listen_port,
        &LISTEN_PORT,
        "p2p.listen_port",
        parse_num,
    )?;
    l.set(
        &mut p2p.network.bootstrap_peers,
        &[BOOTSTRAP_PEERS],
        "network.bootstrap_peers",
        parse_peers,
    )?;
    l.set(
        &mut p2p.network.listen_addresses,
        &[P2P_LISTEN],
        "network.listen.addresses",
        parse_peers,
    )?;
    l.set(
        &mut p2p.discovery.mdns,
        &[P2P_MDNS],
        "discovery.methods.mdns",
        parse_bool,
    )?;
    l.set(
        &mut p2p.discovery.kademlia,
        &[P2P_KADEMLIA],
        "discovery.methods.kademlia",
        parse_bool,
    )?;
    l.set(
        &mut p2p.discovery.relay_server,
        &[RELAY_SERVER],
        "discovery.relay.enable_server",
        parse_bool,
    )?;
    l.set(
        &mut p2p.discovery.relay_addrs,
        &[RELAY_ADDRS],
        "discovery.relay.relay_addrs",
        parse_peers,
    )?;

    // Each component variable has a mandatory `<NAME>_SHA256` companion.
    l.pin(
        &mut policy.cache_policy,
        "GHMESH_CACHE_POLICY",
        "policy.cache_policy",
    )?;
    l.pin(
        &mut policy.codeql_skip,
        "GHMESH_CODEQL_SKIP",
        "policy.codeql_skip",
    )?;
    l.pin(
        &mut policy.credential_scope,
        "GHMESH_CREDENTIAL_SCOPE",
        "policy.credential_scope",
    )?;
    l.set(
        &mut policy.fuel_per_call,
        &[POLICY_FUEL],
        "policy.fuel_per_call",
        |var, key, raw| {
            let n: u64 = parse_num(var, key, raw)?;
            validate::nonzero(n).map_err(|r| invalid(var, key, r))?;
            Ok(n)
        },
    )?;
    l.set(
        &mut policy.memory_limit_bytes,
        &[POLICY_MEMORY],
        "policy.memory_limit",
        parse_nonzero_size,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Overrides};
    use std::path::Path;

    const PIN: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    /// Loads with no config files (the config dir does not exist) and only `vars` set.
    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let nowhere = tempfile::tempdir().unwrap();
        let overrides = Overrides {
            config_dir: Some(nowhere.path().join("absent")),
            ..Overrides::default()
        };
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let env = move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        Config::load(&overrides, &env)
    }

    /// The `(origin, key)` of an `Invalid` error.
    fn invalid_at(vars: &[(&str, &str)]) -> (String, String, String) {
        match load(vars).unwrap_err() {
            e @ ConfigError::Invalid { .. } => {
                let msg = e.to_string();
                let ConfigError::Invalid { origin, key, .. } = e else {
                    unreachable!()
                };
                (origin, key, msg)
            }
            e => panic!("expected invalid, got {e}"),
        }
    }

    #[test]
    fn each_seed_alias_is_honoured() {
        assert!(load(&[("ENABLE_P2P_CACHE", "true")]).unwrap().p2p.enabled);
        assert!(load(&[("CACHE_ENABLE_P2P", "1")]).unwrap().p2p.enabled);
        assert_eq!(
            load(&[("P2P_LISTEN_PORT", "4100")])
                .unwrap()
                .p2p
                .listen_port,
            4100
        );
        assert_eq!(
            load(&[("CACHE_LISTEN_PORT", "4200")])
                .unwrap()
                .p2p
                .listen_port,
            4200
        );
        assert_eq!(
            load(&[("CACHE_DEFAULT_TTL", "60")])
                .unwrap()
                .cache
                .default_ttl_secs,
            60
        );
        assert_eq!(
            load(&[("CACHE_DIR", "/c")]).unwrap().cache.dir,
            Path::new("/c")
        );
        assert_eq!(
            load(&[("CACHE_MAX_ENTRIES", "7")])
                .unwrap()
                .cache
                .max_entries,
            7
        );
        assert!(!load(&[("CACHE_ENABLED", "No")]).unwrap().cache.enabled);
        let peers = "/ip4/10.0.0.1/tcp/4001, /ip4/10.0.0.2/tcp/4001,";
        let c = load(&[("CACHE_BOOTSTRAP_PEERS", peers)]).unwrap();
        assert_eq!(
            c.p2p.network.bootstrap_peers,
            ["/ip4/10.0.0.1/tcp/4001", "/ip4/10.0.0.2/tcp/4001"]
        );
    }

    #[test]
    fn max_size_counts_entries_unless_it_has_a_unit() {
        let c = load(&[("CACHE_MAX_SIZE", "5000")]).unwrap();
        assert_eq!(
            (c.cache.max_entries, c.cache.max_size_bytes),
            (5000, 1 << 30)
        );
        let src = c
            .provenance()
            .into_iter()
            .find(|(k, _, _)| k == "cache.max_entries");
        assert_eq!(src.unwrap().2, Source::Env("CACHE_MAX_SIZE".into()));
        let c = load(&[("CACHE_MAX_SIZE", "2GiB")]).unwrap();
        assert_eq!(
            (c.cache.max_entries, c.cache.max_size_bytes),
            (100_000, 2 << 30)
        );
        let c = load(&[("CACHE_MAX_SIZE", "5000"), ("CACHE_MAX_ENTRIES", "7")]).unwrap();
        assert_eq!(c.cache.max_entries, 7, "the ghmesh variable wins");
        let c = load(&[("CACHE_MAX_SIZE", "1GB"), ("CACHE_MAX_BYTES", "4096")]).unwrap();
        assert_eq!(c.cache.max_size_bytes, 4096);
    }

    #[test]
    fn first_alias_wins_and_empty_counts_as_unset() {
        let both = [("P2P_LISTEN_PORT", "4100"), ("CACHE_LISTEN_PORT", "4200")];
        let c = load(&both).unwrap();
        assert_eq!(c.p2p.listen_port, 4100);
        let src = c
            .provenance()
            .into_iter()
            .find(|(k, _, _)| k == "p2p.listen_port");
        assert_eq!(src.unwrap().2, Source::Env("P2P_LISTEN_PORT".into()));

        let c = load(&[("ENABLE_P2P_CACHE", ""), ("CACHE_ENABLE_P2P", "true")]).unwrap();
        assert!(c.p2p.enabled);
    }

    #[test]
    fn relay_variables_make_a_relay_or_name_relays() {
        let c = load(&[("GHMESH_RELAY", "1")]).unwrap();
        assert!(c.p2p.discovery.relay_server);
        let relays = "/ip4/10.0.0.1/tcp/4001/p2p/A, /ip4/10.0.0.2/tcp/4001/p2p/B";
        let c = load(&[("GHMESH_RELAY_ADDRS", relays)]).unwrap();
        assert_eq!(
            c.p2p.discovery.relay_addrs,
            [
                "/ip4/10.0.0.1/tcp/4001/p2p/A",
                "/ip4/10.0.0.2/tcp/4001/p2p/B"
            ]
        );
    }

    #[test]
    fn booleans_accept_common_spellings() {
        for (raw, want) in [
            ("TRUE", true),
            ("yes", true),
            ("1", true),
            ("False", false),
            ("NO", false),
            ("0", false),
        ] {
            assert_eq!(parse_bool("V", "k", raw).unwrap(), want, "{raw}");
        }
    }

    #[test]
    fn bool_error_names_the_variable() {
        let (origin, key, msg) = invalid_at(&[("CACHE_ENABLE_P2P", "sometimes")]);
        assert_eq!(
            (origin.as_str(), key.as_str()),
            ("CACHE_ENABLE_P2P", "p2p.enabled")
        );
        assert!(msg.starts_with("CACHE_ENABLE_P2P: p2p.enabled: "), "{msg}");
        assert!(msg.contains("\"sometimes\""), "{msg}");
    }

    #[test]
    fn number_errors_name_the_variable() {
        let (origin, key, _) = invalid_at(&[("CACHE_LISTEN_PORT", "99999")]);
        assert_eq!(
            (origin.as_str(), key.as_str()),
            ("CACHE_LISTEN_PORT", "p2p.listen_port")
        );
        let (origin, _, _) = invalid_at(&[("CACHE_DEFAULT_TTL", "5m")]);
        assert_eq!(origin, "CACHE_DEFAULT_TTL");
        let (origin, _, _) = invalid_at(&[("CACHE_MAX_SIZE", "big")]);
        assert_eq!(origin, "CACHE_MAX_SIZE");
        let (origin, _, _) = invalid_at(&[("GHMESH_POLICY_FUEL", "0")]);
        assert_eq!(origin, "GHMESH_POLICY_FUEL");
    }

    #[test]
    fn policy_limits_from_env() {
        let c = load(&[
            ("GHMESH_POLICY_FUEL", "1000"),
            ("GHMESH_POLICY_MEMORY", "16MiB"),
        ])
        .unwrap();
        assert_eq!(c.policy.fuel_per_call, 1000);
        assert_eq!(c.policy.memory_limit_bytes, 16 << 20);
        assert!(load(&[("GHMESH_POLICY_MEMORY", "0")]).is_err());
    }

    #[test]
    fn component_path_without_pin_is_an_error() {
        let (origin, key, msg) = invalid_at(&[("GHMESH_CACHE_POLICY", "/p/cache.wasm")]);
        assert_eq!(origin, "GHMESH_CACHE_POLICY");
        assert_eq!(key, "policy.cache_policy.sha256");
        assert!(msg.contains("GHMESH_CACHE_POLICY_SHA256"), "{msg}");

        let (origin, key, _) = invalid_at(&[("GHMESH_CREDENTIAL_SCOPE_SHA256", PIN)]);
        assert_eq!(origin, "GHMESH_CREDENTIAL_SCOPE_SHA256");
        assert_eq!(key, "policy.credential_scope.path");
    }

    #[test]
    fn bad_pin_from_env_names_the_variable() {
        let vars = [
            ("GHMESH_CACHE_POLICY", "/p.wasm"),
            ("GHMESH_CACHE_POLICY_SHA256", "deadbeef"),
        ];
        let (origin, key, _) = invalid_at(&vars);
        assert_eq!(origin, "GHMESH_CACHE_POLICY_SHA256");
        assert_eq!(key, "policy.cache_policy.sha256");

        let vars = [
            ("GHMESH_CACHE_POLICY", "p.wasm"),
            ("GHMESH_CACHE_POLICY_SHA256", PIN),
        ];
        let pin = load(&vars).unwrap().policy.cache_policy.unwrap();
        assert_eq!(
            pin.path,
            Path::new("p.wasm"),
            "env paths stay relative to the cwd"
        );
    }
}

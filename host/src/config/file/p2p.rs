//! `p2p-config.yml`: the mesh, in ghmesh's keys and the seed's (`network.connections.*`,
//! `network.listen.port_range`, `discovery.enabled`, the seed's method names, `pbkdf2_iterations`,
//! `content_verification`), plus the `p2p:` section both files may hold.

use serde::Deserialize;

use super::layer::Layer;
use super::{Size, seed};
use crate::config::{
    ConfigError, DiscoveryConfig, ENCRYPTION_ALGORITHM, ENCRYPTION_KEY_BITS, P2pConfig,
    SecurityConfig, validate,
};

/// `p2p-config.yml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(
    dead_code,
    reason = "seed sections are only type-checked; unused keys are reported from the raw document"
)]
pub(super) struct P2pFile {
    #[serde(default)]
    p2p: P2pSection,
    #[serde(default)]
    network: NetworkSection,
    #[serde(default)]
    discovery: DiscoverySection,
    #[serde(default)]
    security: SecuritySection,
    cache_protocol: Option<seed::CacheProtocol>,
    performance: Option<seed::Performance>,
    ipfs_accelerate: Option<seed::IpfsAccelerate>,
    logging: Option<seed::Logging>,
    monitoring: Option<seed::P2pMonitoring>,
}

/// `p2p:`, in either file: the seed kept it in `cache-config.yml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "`encryption` is only type-checked")]
pub(super) struct P2pSection {
    enabled: Option<bool>,
    listen_port: Option<u16>,
    peer_discovery: Option<bool>,
    bootstrap_peers: Option<Vec<String>>,
    encryption: Option<seed::P2pEncryption>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "seed keys only type-checked")]
struct NetworkSection {
    bootstrap_peers: Option<Vec<String>>,
    max_peers: Option<u32>,
    /// Seconds.
    connection_timeout: Option<u32>,
    fetch_timeout_ms: Option<u32>,
    protocol_version: Option<String>,
    network_id: Option<String>,
    #[serde(default)]
    listen: ListenSection,
    #[serde(default)]
    connections: ConnectionsSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "seed keys only type-checked")]
struct ListenSection {
    addresses: Option<Vec<String>>,
    #[serde(default)]
    port_range: PortRange,
    transports: Option<Vec<String>>,
}

/// ghmesh listens on one port: the start of the seed's range.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "`end` is only type-checked")]
struct PortRange {
    start: Option<u16>,
    end: Option<u16>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "seed keys only type-checked")]
struct ConnectionsSection {
    max_peers: Option<u32>,
    min_peers: Option<u32>,
    /// Seconds, like `network.connection_timeout`.
    timeout: Option<u32>,
    keepalive_interval: Option<u64>,
    max_memory_percent: Option<u8>,
}

/// `discovery.relay`: the seed's relay list, and whether this node is a relay.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "`hop_limit` and `timeout` are only type-checked")]
struct RelaySection {
    enable_server: Option<bool>,
    relay_addrs: Option<Vec<String>>,
    hop_limit: Option<u64>,
    timeout: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "seed tuning sections only type-checked")]
struct DiscoverySection {
    /// The seed's name for `p2p.peer_discovery`.
    enabled: Option<bool>,
    #[serde(default)]
    methods: MethodsSection,
    bootstrap_peers: Option<Vec<String>>,
    github: Option<seed::GithubDiscovery>,
    mdns: Option<seed::Mdns>,
    dht: Option<seed::Dht>,
    #[serde(default)]
    relay: RelaySection,
    autonat: Option<seed::Autonat>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MethodsSection {
    mdns: Option<bool>,
    bootstrap: Option<bool>,
    kademlia: Option<bool>,
    /// The seed's name for `kademlia`.
    dht: Option<bool>,
    github_cache: Option<bool>,
    /// The seed's name for `github_cache`.
    github_cache_api: Option<bool>,
    circuit_relay: Option<bool>,
    autonat: Option<bool>,
    hole_punching: Option<bool>,
    rendezvous: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "`access_control` is only type-checked")]
struct SecuritySection {
    #[serde(default)]
    encryption: EncryptionSection,
    access_control: Option<seed::AccessControl>,
    #[serde(default)]
    content_verification: ContentVerification,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EncryptionSection {
    enabled: Option<bool>,
    algorithm: Option<String>,
    #[serde(default)]
    key_derivation: KeyDerivationSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyDerivationSection {
    iterations: Option<u32>,
    /// The seed's name for `iterations`.
    pbkdf2_iterations: Option<u32>,
    use_github_token: Option<bool>,
    key_size: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(
    dead_code,
    reason = "ghmesh always verifies hashes; these are only type-checked"
)]
struct ContentVerification {
    verify_hashes: Option<bool>,
    reject_invalid: Option<bool>,
    max_content_size: Option<Size>,
}

impl P2pSection {
    /// Applies the section over `p2p`; bootstrap peers add to those already listed.
    pub(super) fn apply(self, l: &mut Layer<'_>, p2p: &mut P2pConfig) {
        l.set(&mut p2p.enabled, self.enabled, "p2p.enabled");
        l.set(&mut p2p.listen_port, self.listen_port, "p2p.listen_port");
        l.set(
            &mut p2p.peer_discovery,
            self.peer_discovery,
            "p2p.peer_discovery",
        );
        let peers = &mut p2p.network.bootstrap_peers;
        l.add_peers(peers, self.bootstrap_peers, "p2p.bootstrap_peers");
    }
}

impl P2pFile {
    /// Applies this file over `p2p`, after `cache-config.yml`'s `p2p:` section.
    pub(super) fn apply(self, l: &mut Layer<'_>, p2p: &mut P2pConfig) -> Result<(), ConfigError> {
        let (mut section, discovery) = (self.p2p, self.discovery);
        let on = section.peer_discovery.take();
        let (key, alias) = ("p2p.peer_discovery", "discovery.enabled");
        l.set_either(&mut p2p.peer_discovery, key, on, alias, discovery.enabled)?;
        section.apply(l, p2p);
        apply_network(l, self.network, discovery.bootstrap_peers, p2p)?;
        apply_methods(l, discovery.methods, &mut p2p.discovery)?;
        apply_relay(l, discovery.relay, &mut p2p.discovery);
        apply_security(l, self.security, &mut p2p.security)
    }
}

/// `network.*`, with the seed's `listen` and `connections` spellings; `discovery_peers` (the
/// seed's `discovery.bootstrap_peers`) joins the same peer list.
fn apply_network(
    l: &mut Layer<'_>,
    n: NetworkSection,
    discovery_peers: Option<Vec<String>>,
    p2p: &mut P2pConfig,
) -> Result<(), ConfigError> {
    // The seed listened on a range; an explicit port from either file wins over its start.
    const PORT_START: &str = "network.listen.port_range.start";
    l.mark_read(PORT_START);
    if l.unset("p2p.listen_port") {
        let start = n.listen.port_range.start;
        l.set_from(&mut p2p.listen_port, start, "p2p.listen_port", PORT_START);
    }

    let net = &mut p2p.network;
    let peers = &mut net.bootstrap_peers;
    l.add_peers(peers, n.bootstrap_peers, "network.bootstrap_peers");
    l.add_peers(peers, discovery_peers, "discovery.bootstrap_peers");
    let (key, alias) = ("network.max_peers", "network.connections.max_peers");
    let (value, alias_value) = (n.max_peers, n.connections.max_peers);
    l.set_either(&mut net.max_peers, key, value, alias, alias_value)?;
    let (key, alias) = ("network.connection_timeout", "network.connections.timeout");
    let (value, alias_value) = (n.connection_timeout, n.connections.timeout);
    l.set_either(
        &mut net.connection_timeout_secs,
        key,
        value,
        alias,
        alias_value,
    )?;
    let key = "network.listen.addresses";
    l.set(&mut net.listen_addresses, n.listen.addresses, key);
    let key = "network.fetch_timeout_ms";
    l.set(&mut net.fetch_timeout_ms, n.fetch_timeout_ms, key);
    const MAX_MEMORY: &str = "network.connections.max_memory_percent";
    if let Some(percent) = n.connections.max_memory_percent
        && !(1..=100).contains(&percent)
    {
        let reason = format!("expected a percentage from 1 to 100, got {percent}");
        return Err(l.invalid(MAX_MEMORY, reason));
    }
    let percent = n.connections.max_memory_percent;
    l.set(&mut net.max_memory_percent, percent, MAX_MEMORY);
    Ok(())
}

/// `discovery.relay.*`: relays to use, and whether to be one.
fn apply_relay(l: &mut Layer<'_>, r: RelaySection, d: &mut DiscoveryConfig) {
    let key = "discovery.relay.enable_server";
    l.set(&mut d.relay_server, r.enable_server, key);
    let key = "discovery.relay.relay_addrs";
    l.set(&mut d.relay_addrs, r.relay_addrs, key);
}

/// `discovery.methods.*`, where the seed said `dht` for Kademlia and `github_cache_api`.
fn apply_methods(
    l: &mut Layer<'_>,
    m: MethodsSection,
    d: &mut DiscoveryConfig,
) -> Result<(), ConfigError> {
    const PREFIX: &str = "discovery.methods";
    let key = |name: &str| format!("{PREFIX}.{name}");
    l.set(&mut d.mdns, m.mdns, &key("mdns"));
    l.set(&mut d.bootstrap, m.bootstrap, &key("bootstrap"));
    l.set_either(
        &mut d.kademlia,
        &key("kademlia"),
        m.kademlia,
        &key("dht"),
        m.dht,
    )?;
    let (ghmesh, seed) = (key("github_cache"), key("github_cache_api"));
    l.set_either(
        &mut d.github_cache,
        &ghmesh,
        m.github_cache,
        &seed,
        m.github_cache_api,
    )?;
    l.set(&mut d.circuit_relay, m.circuit_relay, &key("circuit_relay"));
    l.set(&mut d.autonat, m.autonat, &key("autonat"));
    l.set(&mut d.hole_punching, m.hole_punching, &key("hole_punching"));
    l.set(&mut d.rendezvous, m.rendezvous, &key("rendezvous"));
    Ok(())
}

fn apply_security(
    l: &mut Layer<'_>,
    security: SecuritySection,
    s: &mut SecurityConfig,
) -> Result<(), ConfigError> {
    let e = security.encryption;
    l.set(&mut s.encryption, e.enabled, "security.encryption.enabled");
    // The seed let these vary; ghmesh seals with one cipher, so they may only restate it.
    const ALGORITHM: &str = "security.encryption.algorithm";
    if let Some(algorithm) = &e.algorithm
        && !algorithm.eq_ignore_ascii_case(ENCRYPTION_ALGORITHM)
    {
        let reason = format!("ghmesh supports only {ENCRYPTION_ALGORITHM}, got {algorithm:?}");
        return Err(l.invalid(ALGORITHM, reason));
    }
    l.restate(e.algorithm, ALGORITHM);

    let kdf = e.key_derivation;
    const KEY_SIZE: &str = "security.encryption.key_derivation.key_size";
    if let Some(bits) = kdf.key_size
        && bits != ENCRYPTION_KEY_BITS
    {
        let reason = format!("ghmesh supports only {ENCRYPTION_KEY_BITS}-bit keys, got {bits}");
        return Err(l.invalid(KEY_SIZE, reason));
    }
    l.restate(kdf.key_size, KEY_SIZE);

    const ITERATIONS: &str = "security.encryption.key_derivation.iterations";
    const SEED_ITERATIONS: &str = "security.encryption.key_derivation.pbkdf2_iterations";
    let (n, seed_n) = (kdf.iterations, kdf.pbkdf2_iterations);
    if let Some((n, key)) = l.either(ITERATIONS, n, SEED_ITERATIONS, seed_n)? {
        validate::pbkdf2_iterations(n).map_err(|r| l.invalid(&key, r))?;
        l.set_from(&mut s.pbkdf2_iterations, Some(n), ITERATIONS, &key);
    }
    let key = "security.encryption.key_derivation.use_github_token";
    l.set(&mut s.use_github_token, kdf.use_github_token, key);

    const MAX_CONTENT: &str = "security.content_verification.max_content_size";
    let max = security.content_verification.max_content_size.map(|s| s.0);
    if let Some(max) = max {
        validate::nonzero(max).map_err(|r| l.invalid(MAX_CONTENT, r))?;
    }
    l.set(&mut s.max_content_size, max, MAX_CONTENT);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testing::{failure, ignored, load_files, load_with, source};
    use super::super::{CACHE_FILE, P2P_FILE};

    #[test]
    fn connections_feed_max_peers_and_timeout() {
        let yaml = "network:\n  connections: {max_peers: 12, min_peers: 2, timeout: 7}\n";
        let c = load_with(P2P_FILE, yaml).unwrap();
        assert_eq!(c.p2p.network.max_peers, 12);
        assert_eq!(c.p2p.network.connection_timeout_secs, 7);
        assert!(
            source(&c, "network.max_peers")
                .ends_with("p2p-config.yml: network.connections.max_peers")
        );
        assert!(source(&c, "network.connection_timeout").ends_with("network.connections.timeout"));
        let (_, key, msg) = failure(
            P2P_FILE,
            "network:\n  max_peers: 3\n  connections: {max_peers: 4}\n",
        );
        assert_eq!(key, "network.max_peers");
        assert!(msg.contains("`network.connections.max_peers`"), "{msg}");
        let yaml = "network:\n  connection_timeout: 3\n  connections: {timeout: 4}\n";
        let (_, key, _) = failure(P2P_FILE, yaml);
        assert_eq!(key, "network.connection_timeout");
    }

    #[test]
    fn port_range_start_is_the_listen_port_unless_one_is_set() {
        let range = "network:\n  listen: {port_range: {start: 4300, end: 4310}}\n";
        let c = load_with(P2P_FILE, range).unwrap();
        assert_eq!(c.p2p.listen_port, 4300);
        assert!(source(&c, "p2p.listen_port").ends_with("network.listen.port_range.start"));

        let both = format!("p2p:\n  listen_port: 4400\n{range}");
        assert_eq!(load_with(P2P_FILE, &both).unwrap().p2p.listen_port, 4400);
        // An explicit port in the other file counts as set too.
        let c = load_files(&[
            (CACHE_FILE, "p2p:\n  listen_port: 4500\n"),
            (P2P_FILE, range),
        ]);
        assert_eq!(c.unwrap().p2p.listen_port, 4500);
    }

    #[test]
    fn bootstrap_peers_from_every_key_are_merged_in_order() {
        let cache = "p2p:\n  bootstrap_peers: [/ip4/10.0.0.1/tcp/4001, /ip4/10.0.0.2/tcp/4001]\n";
        let p2p = "p2p:\n  bootstrap_peers: [/ip4/10.0.0.3/tcp/4001]\n\
                   network:\n  bootstrap_peers: [/ip4/10.0.0.2/tcp/4001, /ip4/10.0.0.4/tcp/4001]\n\
                   discovery:\n  bootstrap_peers: [/ip4/10.0.0.1/tcp/4001, /ip4/10.0.0.5/tcp/4001]\n";
        let c = load_files(&[(CACHE_FILE, cache), (P2P_FILE, p2p)]).unwrap();
        // Order of first appearance, duplicates dropped.
        let want: Vec<String> = (1..=5)
            .map(|i| format!("/ip4/10.0.0.{i}/tcp/4001"))
            .collect();
        assert_eq!(c.p2p.network.bootstrap_peers, want);
        let shown = source(&c, "network.bootstrap_peers");
        let parts: Vec<&str> = shown.split(" + ").collect();
        assert_eq!(parts.len(), 4, "{shown}");
        assert!(
            parts[0].ends_with("cache-config.yml: p2p.bootstrap_peers"),
            "{shown}"
        );
        assert!(
            parts[3].ends_with("p2p-config.yml: discovery.bootstrap_peers"),
            "{shown}"
        );
    }

    #[test]
    fn relay_settings_and_the_memory_bound_are_read() {
        let relay = "/ip4/10.0.0.1/tcp/4001/p2p/12D3KooWRelay";
        let yaml = format!(
            "discovery:\n  relay: {{enable_server: true, relay_addrs: [{relay}], hop_limit: 2}}\n\
             \x20 methods: {{rendezvous: false}}\n\
             network:\n  connections: {{max_memory_percent: 75}}\n"
        );
        let c = load_with(P2P_FILE, &yaml).unwrap();
        let d = &c.p2p.discovery;
        assert!(d.relay_server && !d.rendezvous);
        assert_eq!(d.relay_addrs, [relay]);
        assert_eq!(c.p2p.network.max_memory_percent, 75);
        assert!(
            source(&c, "discovery.relay.enable_server").ends_with("discovery.relay.enable_server")
        );
        // The seed's hop limit is accepted, and reported as unused.
        let unused = ignored(&c);
        assert!(
            unused.iter().any(|(_, k)| k == "discovery.relay.hop_limit"),
            "{unused:?}"
        );
        let (_, key, msg) = failure(
            P2P_FILE,
            "network:\n  connections: {max_memory_percent: 0}\n",
        );
        assert_eq!(key, "network.connections.max_memory_percent");
        assert!(msg.contains("1 to 100"), "{msg}");
    }

    #[test]
    fn seed_discovery_names_are_aliases() {
        let yaml = "discovery:\n  enabled: false\n  methods:\n    dht: true\n    github_cache_api: false\n\
                    \x20   circuit_relay: true\n    autonat: true\n    hole_punching: true\n";
        let c = load_with(P2P_FILE, yaml).unwrap();
        let d = &c.p2p.discovery;
        assert!(!c.p2p.peer_discovery);
        assert!(d.kademlia && d.circuit_relay && d.autonat && d.hole_punching);
        // On by default: the seed's name turns it off.
        assert!(!d.github_cache);
        assert!(source(&c, "p2p.peer_discovery").ends_with("p2p-config.yml: discovery.enabled"));
        assert!(source(&c, "discovery.methods.kademlia").ends_with("discovery.methods.dht"));

        for (yaml, other) in [
            (
                "discovery:\n  methods: {dht: true, kademlia: false}\n",
                "discovery.methods.dht",
            ),
            (
                "discovery:\n  methods: {github_cache: true, github_cache_api: true}\n",
                "github_cache_api",
            ),
            (
                "p2p:\n  peer_discovery: true\ndiscovery:\n  enabled: true\n",
                "discovery.enabled",
            ),
        ] {
            let (_, _, msg) = failure(P2P_FILE, yaml);
            assert!(msg.contains(other), "{msg}");
        }
        // The cache file's p2p.peer_discovery and the p2p file's discovery.enabled: the latter wins.
        let c = load_files(&[
            (CACHE_FILE, "p2p:\n  peer_discovery: true\n"),
            (P2P_FILE, "discovery:\n  enabled: false\n"),
        ]);
        assert!(!c.unwrap().p2p.peer_discovery);
    }

    #[test]
    fn seed_key_derivation_and_content_limit() {
        let yaml = "security:\n  encryption:\n    algorithm: AES-256-GCM\n    key_derivation:\n\
                    \x20     pbkdf2_iterations: 150000\n      key_size: 256\n\
                    \x20 content_verification: {verify_hashes: true, max_content_size: 1048576}\n";
        let c = load_with(P2P_FILE, yaml).unwrap();
        assert_eq!(c.p2p.security.pbkdf2_iterations, 150_000);
        assert_eq!(c.p2p.security.max_content_size, 1 << 20);
        let iterations = source(&c, "security.encryption.key_derivation.iterations");
        assert!(
            iterations.ends_with("key_derivation.pbkdf2_iterations"),
            "{iterations}"
        );
        assert!(source(&c, "security.encryption.algorithm").ends_with("encryption.algorithm"));
        let keys: Vec<String> = ignored(&c).into_iter().map(|(_, k)| k).collect();
        assert_eq!(keys, ["security.content_verification.verify_hashes"]);
        assert_eq!(
            load_with(P2P_FILE, "")
                .unwrap()
                .p2p
                .security
                .max_content_size,
            100 << 20
        );
    }

    #[test]
    fn unsupported_crypto_and_weak_derivation_are_refused() {
        let (_, key, msg) = failure(P2P_FILE, "security:\n  encryption: {algorithm: ChaCha20}\n");
        assert_eq!(key, "security.encryption.algorithm");
        assert!(msg.contains("only AES-256-GCM"), "{msg}");
        let yaml = "security:\n  encryption:\n    key_derivation: {key_size: 128}\n";
        let (_, key, msg) = failure(P2P_FILE, yaml);
        assert_eq!(key, "security.encryption.key_derivation.key_size");
        assert!(msg.contains("256-bit"), "{msg}");
        let yaml = "security:\n  encryption:\n    key_derivation: {pbkdf2_iterations: 1000}\n";
        let (_, key, msg) = failure(P2P_FILE, yaml);
        assert_eq!(key, "security.encryption.key_derivation.pbkdf2_iterations");
        assert!(msg.contains("at least 10000"), "{msg}");
        let yaml = "security:\n  encryption:\n    key_derivation: {iterations: 20000, pbkdf2_iterations: 20000}\n";
        let (_, _, msg) = failure(P2P_FILE, yaml);
        assert!(
            msg.contains("`security.encryption.key_derivation.pbkdf2_iterations`"),
            "{msg}"
        );
    }

    #[test]
    fn unused_seed_keys_are_listed_and_typos_still_fail() {
        let yaml = "network:\n  network_id: fleet\n  listen: {transports: [tcp], port_range: {end: 9}}\n\
                    discovery:\n  github: {repository: null}\nlogging: {level: info}\n";
        let c = load_with(P2P_FILE, yaml).unwrap();
        let keys: Vec<String> = ignored(&c).into_iter().map(|(_, k)| k).collect();
        assert_eq!(
            keys,
            [
                "network.network_id",
                "network.listen.transports",
                "network.listen.port_range.end",
                "discovery.github.repository",
                "logging.level"
            ]
        );
        let (file, key, _) = failure(P2P_FILE, "discovery:\n  mdns: {intervall: 5}\n");
        assert_eq!(
            (file.as_str(), key.as_str()),
            (P2P_FILE, "discovery.mdns.intervall")
        );
        let (_, key, msg) = failure(P2P_FILE, "performance:\n  compression: {level: high}\n");
        assert_eq!(key, "performance.compression.level");
        assert!(msg.contains("invalid type"), "{msg}");
    }
}

//! Sections of the seed's files that configure nothing in ghmesh. They are typed, not skipped, so
//! a typo or a wrong type in a migrated file is still an error naming the key; nothing reads the
//! fields, the unused-key report is built from the raw document (see `layer.rs`).
#![expect(
    dead_code,
    reason = "fields exist only so serde type-checks the seed's keys"
)]

use serde::Deserialize;

/// `cache-config.yml: p2p.encryption` (the seed's switch; ghmesh reads `security.encryption`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct P2pEncryption {
    enabled: Option<bool>,
    token_based: Option<bool>,
}

/// `cache-config.yml: content_addressing` (ghmesh always addresses content by hash).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ContentAddressing {
    enabled: Option<bool>,
    validation: Option<ContentValidation>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContentValidation {
    repos: Option<bool>,
    workflows: Option<bool>,
    runners: Option<bool>,
}

/// `cache-config.yml: rate_limiting`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RateLimiting {
    warning_threshold: Option<u64>,
    aggressive_threshold: Option<u64>,
    cache_first_mode: Option<bool>,
}

/// `cache-config.yml: monitoring`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CacheMonitoring {
    enabled: Option<bool>,
    log_stats: Option<bool>,
    export_metrics: Option<bool>,
    metrics_format: Option<String>,
}

/// `cache-config.yml: ipfs_accelerate_integration`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AccelerateIntegration {
    enabled: Option<bool>,
    use_compatible_formats: Option<bool>,
    share_with_accelerate: Option<bool>,
    accept_from_accelerate: Option<bool>,
}

/// `p2p-config.yml: discovery.github`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GithubDiscovery {
    /// `null` in the seed's own file: "the current repository".
    repository: Option<String>,
    peer_cache_key: Option<String>,
    peer_ttl_minutes: Option<u64>,
    discovery_interval: Option<u64>,
    max_peers_per_query: Option<u64>,
}

/// `p2p-config.yml: discovery.mdns`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Mdns {
    interval: Option<u64>,
    ttl: Option<u64>,
}

/// `p2p-config.yml: discovery.dht`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Dht {
    bucket_size: Option<u64>,
    query_timeout: Option<u64>,
}

/// `p2p-config.yml: discovery.autonat`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Autonat {
    enable_server: Option<bool>,
    timeout: Option<u64>,
}

/// `p2p-config.yml: security.access_control`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AccessControl {
    verify_repository_access: Option<bool>,
    trust_bootstrap: Option<bool>,
    peer_allowlist: Option<Vec<String>>,
    peer_blocklist: Option<Vec<String>>,
}

/// `p2p-config.yml: cache_protocol`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CacheProtocol {
    protocol_id: Option<String>,
    message_types: Option<Vec<String>>,
    broadcast: Option<Broadcast>,
    sync: Option<SyncSettings>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Broadcast {
    enabled: Option<bool>,
    strategy: Option<String>,
    peer_count: Option<u64>,
    retry_count: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncSettings {
    enabled: Option<bool>,
    interval: Option<u64>,
    max_age: Option<u64>,
}

/// `p2p-config.yml: performance`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Performance {
    buffers: Option<Buffers>,
    compression: Option<Compression>,
    throttling: Option<Throttling>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Buffers {
    read_buffer: Option<u64>,
    write_buffer: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Compression {
    enabled: Option<bool>,
    algorithm: Option<String>,
    level: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Throttling {
    max_messages_per_sec: Option<u64>,
    max_bandwidth_per_peer: Option<u64>,
}

/// `p2p-config.yml: ipfs_accelerate`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct IpfsAccelerate {
    enabled: Option<bool>,
    accept_accelerate_peers: Option<bool>,
    shared_network_id: Option<String>,
    compatible_protocols: Option<Vec<String>>,
}

/// `p2p-config.yml: logging` (ghmesh logs through `GHMESH_LOG` / `--verbose`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Logging {
    level: Option<String>,
    log_connections: Option<bool>,
    log_cache_ops: Option<bool>,
    log_messages: Option<bool>,
}

/// `p2p-config.yml: monitoring`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct P2pMonitoring {
    enabled: Option<bool>,
    metrics: Option<Vec<String>>,
}

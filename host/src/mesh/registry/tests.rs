//! The cache-service client and the registry against the local service of the system tests
//! (`tests/src/actions_cache_server.rs`), over real HTTP on loopback.

#[path = "../../../../tests/src/actions_cache_server.rs"]
#[allow(dead_code)]
mod server;

use super::twirp::{CacheService, Found, ServiceError, entry_version};
use super::*;
use crate::crypto::MIN_ITERATIONS;
use crate::mesh::MeshSettings;
use server::{ActionsCacheServer, Failure};
use std::time::Instant;

const TOKEN: &str = "runtime-token-of-these-tests";
const FLEET: &[u8] = b"the fleet secret of the registry tests";

async fn server() -> ActionsCacheServer {
    ActionsCacheServer::bind("127.0.0.1:0".parse().unwrap(), TOKEN)
        .await
        .unwrap()
}

fn client(server: &ActionsCacheServer, token: &str) -> CacheService {
    CacheService::new(server.url(), token, Duration::from_secs(2)).unwrap()
}

async fn put(service: &CacheService, key: &str, blob: &[u8]) {
    let version = entry_version();
    let url = service
        .create(key, &version)
        .await
        .unwrap()
        .expect("key free");
    service.upload(&url, blob.to_vec()).await.unwrap();
    service.finalize(key, &version, blob.len()).await.unwrap();
}

#[tokio::test]
async fn entries_round_trip_and_a_prefix_finds_the_newest() {
    let server = server().await;
    let service = client(&server, TOKEN);
    let version = entry_version();
    let prefix = vec!["ghmesh-peers-v1-f-".to_string()];
    assert_eq!(
        service
            .lookup("ghmesh-peers-v1-f-", &prefix, &version)
            .await,
        Ok(None)
    );
    put(&service, "ghmesh-peers-v1-f-2-b", b"second").await;
    put(&service, "ghmesh-peers-v1-f-1-a", b"first, but newer").await;
    let Some(Found {
        matched_key,
        download_url,
    }) = service
        .lookup("ghmesh-peers-v1-f-", &prefix, &version)
        .await
        .unwrap()
    else {
        panic!("no match")
    };
    assert_eq!(matched_key, "ghmesh-peers-v1-f-1-a");
    assert_eq!(
        service.download(&download_url, 1024).await.unwrap(),
        b"first, but newer"
    );
    assert_eq!(
        service.download(&download_url, 4).await,
        Err(ServiceError::TooLarge)
    );
    // A signed URL that no longer holds (bad signature, as after expiry) is a blob error.
    let forged = format!("{}/blob/ghmesh-peers-v1-f-1-a?sig=forged", server.url());
    assert_eq!(
        service.download(&forged, 1024).await,
        Err(ServiceError::Blob(403))
    );
    // Entries are immutable; another version sees nothing.
    assert_eq!(
        service.create("ghmesh-peers-v1-f-1-a", &version).await,
        Ok(None)
    );
    assert_eq!(service.lookup("x", &prefix, "other").await, Ok(None));
    // The runtime token stays with the service; signed URLs carry their own authorisation.
    assert_eq!(server.authorized_blob_requests(), 0);
}

#[tokio::test]
async fn every_failure_has_its_category() {
    let server = server().await;
    let version = entry_version();
    let keys = vec!["k-".to_string()];
    let wrong = client(&server, "not-the-token");
    assert_eq!(
        wrong.lookup("k", &keys, &version).await,
        Err(ServiceError::Unauthenticated)
    );
    let service = client(&server, TOKEN);
    let cases = [
        (Failure::RejectToken, ServiceError::Unauthenticated),
        (Failure::Forbidden, ServiceError::Forbidden),
        (
            Failure::RateLimit {
                retry_after_secs: 7,
            },
            ServiceError::RateLimited(Some(Duration::from_secs(7))),
        ),
        (Failure::ServerError, ServiceError::Status(500)),
        (Failure::Slow(Duration::from_secs(5)), ServiceError::Timeout),
    ];
    for (failure, expected) in cases {
        server.set_failure(failure);
        assert_eq!(service.lookup("k", &keys, &version).await, Err(expected));
    }
    assert_eq!(ServiceError::Status(500).category(), "server_error");
    server.set_failure(Failure::DropUploads);
    let url = service.create("k-1", &version).await.unwrap().unwrap();
    assert_eq!(
        service.upload(&url, b"x".to_vec()).await,
        Err(ServiceError::Blob(500))
    );
    // Nothing arrived: finalize is refused.
    assert_eq!(
        service.finalize("k-1", &version, 1).await,
        Err(ServiceError::FinalizeRefused)
    );
    let unreachable =
        CacheService::new("http://127.0.0.1:9", TOKEN, Duration::from_secs(2)).unwrap();
    assert_eq!(
        unreachable.lookup("k", &keys, &version).await,
        Err(ServiceError::Unreachable)
    );
    // The token never shows in the client's Debug.
    assert!(!format!("{service:?}").contains(TOKEN));
}

fn settings(server: &ActionsCacheServer, token: &str) -> RegistrySettings {
    settings_every(server, token, 1)
}

fn settings_every(
    server: &ActionsCacheServer,
    token: &str,
    register_secs: u64,
) -> RegistrySettings {
    let env = |var: &str| match var {
        RESULTS_URL_VAR => Some(server.url().to_string()),
        RUNTIME_TOKEN_VAR => Some(token.to_string()),
        REGISTER_SECS_VAR => Some(register_secs.to_string()),
        REFRESH_SECS_VAR => Some("1".into()),
        _ => None,
    };
    RegistrySettings::from_env(true, 8, env).unwrap().unwrap()
}

async fn node(dir: &tempfile::TempDir, secret: &[u8]) -> Mesh {
    let settings = MeshSettings::for_tests(secret, dir.path());
    Mesh::start(settings).await.unwrap().0
}

async fn until(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_without_bootstrap_meet_through_the_registry() {
    let server = server().await;
    let keys = FleetKeys::derive(FLEET, MIN_ITERATIONS).unwrap();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (node(&da, FLEET).await, node(&db, FLEET).await);
    start(&a, keys.clone(), Some(settings(&server, TOKEN))).unwrap();
    start(&b, keys.clone(), Some(settings(&server, TOKEN))).unwrap();
    until("both nodes to connect", async || {
        a.status().await.connected_peers == 1 && b.status().await.connected_peers == 1
    })
    .await;
    let status = a.status().await.registry;
    assert!(status.enabled && status.registrations >= 1, "{status:?}");
    // The stored record lists both nodes, opens with the fleet key only.
    let newest = server.keys().pop().unwrap();
    assert!(newest.starts_with(&format!("ghmesh-peers-v1-{}-", keys.fleet_id())));
    let sealed = server.blob(&newest).unwrap();
    let record = Record::open(&keys, &sealed).unwrap();
    assert!(!record.peers.is_empty());
    for id in [a.peer_id(), b.peer_id()] {
        assert!(!String::from_utf8_lossy(&sealed).contains(&id.to_string()));
    }
    let other = FleetKeys::derive(b"a different fleet's secret!!", MIN_ITERATIONS).unwrap();
    assert!(Record::open(&other, &sealed).is_err());
}

/// Nodes that start together all read an empty registry and each write a record of itself alone:
/// only the newest survives. The others must notice they are missing and register again at once,
/// not at their next registration (5 minutes here), or they stay apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_registering_at_the_same_moment_still_all_meet() {
    let server = server().await;
    let keys = FleetKeys::derive(FLEET, MIN_ITERATIONS).unwrap();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes = Vec::new();
    for dir in &dirs {
        nodes.push(node(dir, FLEET).await);
    }
    // Every call takes 300 ms: all three read the empty registry before any of them writes.
    server.set_failure(Failure::Slow(Duration::from_millis(300)));
    for mesh in &nodes {
        start(
            mesh,
            keys.clone(),
            Some(settings_every(&server, TOKEN, 300)),
        )
        .unwrap();
    }
    until("every node to connect to the two others", async || {
        for mesh in &nodes {
            if mesh.status().await.connected_peers < 2 {
                return false;
            }
        }
        true
    })
    .await;
}

#[tokio::test]
async fn foreign_and_garbage_records_are_counted_not_fatal() {
    let server = server().await;
    let keys = FleetKeys::derive(FLEET, MIN_ITERATIONS).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let a = node(&dir, FLEET).await;
    // The newest entry under the fleet's prefix is sealed with another fleet's key.
    let other = FleetKeys::derive(b"a different fleet's secret!!", MIN_ITERATIONS).unwrap();
    let forged = Record::default()
        .merged(
            Registration {
                peer_id: libp2p::PeerId::random().to_string(),
                addrs: vec!["/ip4/127.0.0.1/tcp/1".into()],
                registered_at_unix: record_now(),
            },
            record_now(),
            900,
        )
        .seal(&other);
    let prefix = format!("ghmesh-peers-v1-{}-", keys.fleet_id());
    server.insert(&format!("{prefix}9999999999-x"), &entry_version(), forged);
    start(&a, keys.clone(), Some(settings(&server, TOKEN))).unwrap();
    until("the forged record to be rejected", async || {
        a.status()
            .await
            .registry
            .errors_by_kind
            .contains_key("unauthentic_record")
    })
    .await;
    // The node still registers, over the forgery, and its record is the newest now.
    until("a registration over the forgery", async || {
        a.status().await.registry.registrations >= 1
    })
    .await;
    let newest = server.keys().pop().unwrap();
    assert!(newest.ends_with(&a.peer_id().to_string()), "{newest}");
    assert!(Record::open(&keys, &server.blob(&newest).unwrap()).is_ok());
    server.set_failure(Failure::GarbageBlob);
    let before = a.status().await.registry.errors_by_kind["unauthentic_record"];
    until("the garbage record to be rejected", async || {
        a.status().await.registry.errors_by_kind["unauthentic_record"] > before
    })
    .await;
    let status = a.status().await;
    assert_eq!(status.connected_peers, 0);
    assert_eq!(
        status.registry.last_error.as_deref(),
        Some("unauthentic_record")
    );
}

#[tokio::test]
async fn without_the_actions_variables_the_registry_is_off() {
    let only_url = |var: &str| (var == RESULTS_URL_VAR).then(|| "http://127.0.0.1:1".to_string());
    assert!(
        RegistrySettings::from_env(true, 8, only_url)
            .unwrap()
            .is_none()
    );
    let both = |var: &str| match var {
        RESULTS_URL_VAR => Some("http://127.0.0.1:1".to_string()),
        RUNTIME_TOKEN_VAR => Some(TOKEN.to_string()),
        _ => None,
    };
    assert!(
        RegistrySettings::from_env(false, 8, both)
            .unwrap()
            .is_none()
    );
    let on = RegistrySettings::from_env(true, 8, both).unwrap().unwrap();
    assert_eq!(on.register_every, Duration::from_secs(300));
    assert_eq!(on.refresh_every, Duration::from_secs(30));
    assert!(!format!("{on:?}").contains(TOKEN));
    let bad = |var: &str| match var {
        REFRESH_SECS_VAR => Some("soon".to_string()),
        _ => both(var),
    };
    let err = RegistrySettings::from_env(true, 8, bad).err().unwrap();
    assert!(err.to_string().contains(REFRESH_SECS_VAR), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let a = node(&dir, FLEET).await;
    start(&a, FleetKeys::derive(FLEET, MIN_ITERATIONS).unwrap(), None).unwrap();
    assert_eq!(a.status().await.registry, RegistryStatus::default());
}

#[test]
fn backoff_doubles_from_the_refresh_interval_up_to_the_registration_interval() {
    let (refresh, register) = (Duration::from_secs(30), Duration::from_secs(300));
    let waits: Vec<u64> = (1..=6)
        .map(|n| backoff(refresh, register, n).as_secs())
        .collect();
    assert_eq!(waits, [30, 60, 120, 240, 300, 300]);
    assert_eq!(backoff(refresh, register, u32::MAX), register);
}

fn record_now() -> u64 {
    unix_now()
}

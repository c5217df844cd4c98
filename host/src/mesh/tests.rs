//! Nodes in one process on loopback: the swarm, the fetch protocol and gossip end to end.
//! (Separate-process meshes are exercised by the system tests.)

use super::wire::tests::entry_for;
use super::*;
use std::time::Instant;

const FLEET: &[u8] = b"the fleet secret of these tests";

struct TestNode {
    mesh: Mesh,
    events: mpsc::Receiver<MeshEvent>,
    _dir: tempfile::TempDir,
}

async fn node(secret: &[u8], bootstrap: Vec<Multiaddr>) -> TestNode {
    let dir = tempfile::tempdir().unwrap();
    let settings = MeshSettings {
        bootstrap,
        ..MeshSettings::for_tests(secret, dir.path())
    };
    let (mesh, events) = Mesh::start(settings).await.unwrap();
    TestNode {
        mesh,
        events,
        _dir: dir,
    }
}

async fn address(node: &TestNode) -> Multiaddr {
    node.mesh.status().await.listen_addrs[0].parse().unwrap()
}

/// Waits until `node` has `n` connected peers, or panics after 10 s.
async fn connected(node: &TestNode, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while node.mesh.status().await.connected_peers < n {
        assert!(Instant::now() < deadline, "peers did not connect");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Answers every lookup with `entry`/`body` (which may not match: a lying peer).
fn answer_lookups(mut events: mpsc::Receiver<MeshEvent>, entry: WireEntry, body: Bytes) {
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let MeshEvent::Lookup { reply, .. } = event {
                let _ = reply.send(Some((entry.clone(), body.clone())));
            }
        }
    });
}

fn fresh_entry(body: &[u8]) -> WireEntry {
    WireEntry {
        fetched_at: crate::clock::unix_now(),
        ..entry_for(body)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_answers_a_lookup_with_a_verified_fresh_entry() {
    let a = node(FLEET, vec![]).await;
    let b = node(FLEET, vec![address(&a).await]).await;
    connected(&b, 1).await;
    let body = Bytes::from_static(br#"{"full_name":"o/r"}"#);
    let entry = fresh_entry(&body);
    answer_lookups(a.events, entry.clone(), body.clone());
    let found = b.mesh.lookup(&entry.key).await.expect("peer hit");
    assert_eq!(found.body, body);
    assert_eq!(found.entry, entry);
    assert_eq!(found.peer, a.mesh.peer_id());
}

/// Answers every lookup with "not held".
fn hold_nothing(mut events: mpsc::Receiver<MeshEvent>) {
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let MeshEvent::Lookup { reply, .. } = event {
                let _ = reply.send(None);
            }
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_asks_the_providers_the_dht_names_not_every_peer() {
    // A holds the entry; B and C know nothing of it; D joins through C alone.
    let a = node(FLEET, vec![]).await;
    let b = node(FLEET, vec![address(&a).await]).await;
    let c = node(FLEET, vec![address(&b).await]).await;
    connected(&c, 1).await;
    let body = Bytes::from_static(br#"{"login":"octocat"}"#);
    let entry = fresh_entry(&body);
    a.mesh
        .provide(&entry.key, Held::Fetched, entry.fetched_at + 3600);
    answer_lookups(a.events, entry.clone(), body.clone());
    hold_nothing(b.events);
    let c_address = address(&c).await;
    hold_nothing(c.events);
    let d = node(FLEET, vec![c_address]).await;
    connected(&d, 1).await;
    // D's routing table fills as its DHT bootstrap meets C's neighbours.
    let deadline = Instant::now() + Duration::from_secs(15);
    while d.mesh.status().await.routing.routing_table_peers < 3 {
        assert!(Instant::now() < deadline, "D's routing table did not fill");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let found = loop {
        if let Some(found) = d.mesh.lookup(&entry.key).await {
            break found;
        }
        assert!(Instant::now() < deadline, "no provider found");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!((found.body, found.peer), (body, a.mesh.peer_id()));
    let routing = d.mesh.status().await.routing;
    // Found through the DHT: D never fell back to asking its connected peers.
    assert!(routing.enabled && routing.lookups_found == 1, "{routing:?}");
    assert_eq!(routing.small_fleet_fallbacks, 0, "{routing:?}");
    assert_eq!(a.mesh.status().await.routing.provided_keys, 1);
    // A key nobody provides is a miss after asking at most the small fleet.
    assert!(d.mesh.lookup("GET /nobody/has/this").await.is_none());
    let traffic = d.mesh.status().await.traffic;
    assert!(
        traffic.dht_requests_sent > 0 && traffic.requests_sent > 0,
        "{traffic:?}"
    );
}

/// A chain A - B - C where A provides an entry and answers lookups with it, and B and C hold
/// nothing.
struct ProviderChain {
    a: Mesh,
    c: Mesh,
    entry: WireEntry,
    /// B, and the three nodes' state directories.
    _rest: (Mesh, [tempfile::TempDir; 3]),
}

/// Builds a [`ProviderChain`] and returns once C has found the entry through the DHT (A's
/// record is stored on B, and on C once A knows it).
async fn c_finds_what_a_provides(body: &'static [u8]) -> ProviderChain {
    let a = node(FLEET, vec![]).await;
    let b = node(FLEET, vec![address(&a).await]).await;
    let c = node(FLEET, vec![address(&b).await]).await;
    connected(&c, 1).await;
    let body = Bytes::from_static(body);
    let entry = fresh_entry(&body);
    a.mesh
        .provide(&entry.key, Held::Fetched, entry.fetched_at + 3600);
    answer_lookups(a.events, entry.clone(), body);
    hold_nothing(b.events);
    hold_nothing(c.events);
    let deadline = Instant::now() + Duration::from_secs(15);
    while c.mesh.lookup(&entry.key).await.is_none() {
        assert!(Instant::now() < deadline, "no provider found");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ProviderChain {
        a: a.mesh,
        c: c.mesh,
        entry,
        _rest: (b.mesh, [a._dir, b._dir, c._dir]),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_leaves_is_no_longer_named_as_a_provider() {
    let chain = c_finds_what_a_provides(br#"{"login":"hubot"}"#).await;
    let (a, c) = (&chain.a, &chain.c);
    // (Under load a first ask can time out and drop a record before A leaves: count from here.)
    let stale_before = c.status().await.routing.stale_providers;
    a.leave().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.status().await.routing.departed_providers == 0 {
        assert!(Instant::now() < deadline, "the goodbye did not arrive");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(c.lookup(&chain.entry.key).await.is_none());
    let routing = c.status().await.routing;
    // The record was still stored, but nobody named A: C never asked the node that left.
    assert_eq!(routing.stale_providers, stale_before, "{routing:?}");
    assert_eq!(routing.departed_providers, 1, "{routing:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_vanished_without_a_word_makes_lookups_miss_not_hang() {
    let ProviderChain { a, c, entry, _rest } =
        c_finds_what_a_provides(br#"{"login":"monalisa"}"#).await;
    // A crashes: its last handle goes, no goodbye is sent, and B still names it as a provider
    // until the record lapses. Asking it fails fast (no connection, no listener) and the
    // lookup misses, so the proxy goes to GitHub.
    let deadline = Instant::now() + Duration::from_secs(10);
    let missed_before = c.status().await.routing.lookups_missed;
    drop(a);
    while c.status().await.connected_peers > 1 {
        assert!(Instant::now() < deadline, "A's connection did not close");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..2 {
        let lookup = tokio::time::timeout(Duration::from_secs(10), c.lookup(&entry.key));
        assert!(lookup.await.expect("the lookup ended").is_none());
    }
    let routing = c.status().await.routing;
    assert_eq!(routing.lookups_missed, missed_before + 2, "{routing:?}");
    assert_eq!(routing.departed_providers, 0, "{routing:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_match_its_cid_is_refused_and_the_liar_banned() {
    let a = node(FLEET, vec![]).await;
    let b = node(FLEET, vec![address(&a).await]).await;
    connected(&b, 1).await;
    let entry = fresh_entry(b"the real body");
    answer_lookups(
        a.events,
        entry.clone(),
        Bytes::from_static(b"a forged body"),
    );
    for _ in 0..peers::MAX_FAULTS {
        assert!(b.mesh.lookup(&entry.key).await.is_none());
    }
    let status = b.mesh.status().await;
    let liar = &status.peers[0];
    assert_eq!(liar.faults, peers::MAX_FAULTS);
    assert!(liar.banned);
    assert_eq!(status.messages_rejected, u64::from(peers::MAX_FAULTS));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announcements_and_invalidations_reach_peers() {
    let a = node(FLEET, vec![]).await;
    let mut b = node(FLEET, vec![address(&a).await]).await;
    connected(&b, 1).await;
    let body = Bytes::from_static(b"[1,2,3]");
    let entry = fresh_entry(&body);
    // Gossip needs the peers' subscriptions exchanged first: repeat until one arrives.
    let received = loop {
        a.mesh.announce_entry(entry.clone(), &body);
        match tokio::time::timeout(Duration::from_millis(300), b.events.recv()).await {
            Ok(Some(event)) => break event,
            Ok(None) => panic!("event stream ended"),
            Err(_) => continue,
        }
    };
    let MeshEvent::Entry {
        entry: got,
        body: Some(got_body),
        from,
    } = received
    else {
        panic!("expected an entry announcement, got {received:?}");
    };
    assert_eq!((*got, got_body, from), (entry, body, a.mesh.peer_id()));
    a.mesh
        .announce_invalidation(vec![("/repos/o/r".into(), true)]);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let event = tokio::time::timeout_at(deadline.into(), b.events.recv())
            .await
            .expect("invalidation arrives")
            .unwrap();
        if let MeshEvent::Invalidate { paths, .. } = event {
            assert_eq!(paths, vec![("/repos/o/r".to_string(), true)]);
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_another_secret_never_connects() {
    let a = node(FLEET, vec![]).await;
    let outsider = node(b"a different fleet's secret!!", vec![address(&a).await]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(outsider.mesh.status().await.connected_peers, 0);
    assert_eq!(a.mesh.status().await.connected_peers, 0);
    assert!(outsider.mesh.lookup("GET /repos/o/r").await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_without_peers_answers_at_once() {
    let alone = node(FLEET, vec![]).await;
    let started = Instant::now();
    assert!(alone.mesh.lookup("GET /x").await.is_none());
    assert!(started.elapsed() < Duration::from_secs(1));
}

/// Answers every CodeQL lookup and SARIF request with `scan`/`sarif` (which may not match).
fn answer_scans(mut events: mpsc::Receiver<MeshEvent>, scan: WireScan, sarif: Bytes) {
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            match event {
                MeshEvent::ScanLookup { reply, .. } => {
                    let _ = reply.send(Some((scan.clone(), sarif.clone())));
                }
                MeshEvent::ScanSarif { reply, .. } => {
                    let _ = reply.send(Some(sarif.clone()));
                }
                _ => {}
            }
        }
    });
}

fn query_for(scan: &WireScan) -> ScanQuery {
    ScanQuery {
        key: scan.key.clone(),
        base: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_codeql_result_is_announced_looked_up_and_fetched_by_cid() {
    let a = node(FLEET, vec![]).await;
    let mut b = node(FLEET, vec![address(&a).await]).await;
    connected(&b, 1).await;
    let sarif = Bytes::from_static(br#"{"version":"2.1.0","runs":[]}"#);
    let scan = scan::tests::scan_for(&sarif);
    let received = loop {
        a.mesh.announce_scan(scan.clone(), &sarif);
        match tokio::time::timeout(Duration::from_millis(300), b.events.recv()).await {
            Ok(Some(event)) => break event,
            Ok(None) => panic!("event stream ended"),
            Err(_) => continue,
        }
    };
    let MeshEvent::Scan {
        scan: got,
        sarif: Some(got_sarif),
        from,
    } = received
    else {
        panic!("expected a CodeQL announcement, got {received:?}");
    };
    assert_eq!(
        (*got, got_sarif, from),
        (scan.clone(), sarif.clone(), a.mesh.peer_id())
    );
    answer_scans(a.events, scan.clone(), sarif.clone());
    let found = b
        .mesh
        .lookup_scan(query_for(&scan))
        .await
        .expect("peer hit");
    assert_eq!((found.scan, found.sarif), (scan.clone(), sarif.clone()));
    let fetched = b.mesh.fetch_sarif(a.mesh.peer_id(), &scan).await;
    assert_eq!(fetched, Some(sarif));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sarif_that_does_not_match_its_cid_is_refused_and_the_liar_banned() {
    let a = node(FLEET, vec![]).await;
    let b = node(FLEET, vec![address(&a).await]).await;
    connected(&b, 1).await;
    let scan = scan::tests::scan_for(br#"{"version":"2.1.0","runs":["the real one"]}"#);
    // Same length, other bytes: only the CID tells them apart.
    let forged = Bytes::from_static(br#"{"version":"2.1.0","runs":["a forged one"]}"#);
    answer_scans(a.events, scan.clone(), forged);
    assert!(b.mesh.lookup_scan(query_for(&scan)).await.is_none());
    assert!(b.mesh.fetch_sarif(a.mesh.peer_id(), &scan).await.is_none());
    assert!(b.mesh.lookup_scan(query_for(&scan)).await.is_none());
    let status = b.mesh.status().await;
    let liar = &status.peers[0];
    assert_eq!(liar.faults, peers::MAX_FAULTS);
    assert!(liar.banned);
    assert_eq!(status.messages_rejected, u64::from(peers::MAX_FAULTS));
}

#[test]
fn delay_summaries_use_nearest_rank_percentiles() {
    assert_eq!(DelaySummary::of([]), DelaySummary::default());
    let s = DelaySummary::of((1..=100).rev());
    assert_eq!((s.samples, s.p50, s.p99, s.max), (100, 50, 99, 100));
    let one = DelaySummary::of([7]);
    assert_eq!((one.p50, one.p99, one.max), (7, 7, 7));
}

use super::*;
use crate::crypto::MIN_ITERATIONS;

fn sealer(secret: &[u8]) -> Sealer {
    Sealer::new(FleetKeys::derive(secret, MIN_ITERATIONS).unwrap())
}

fn fleet() -> Sealer {
    sealer(b"fleet secret for wire tests")
}

pub(crate) fn entry_for(body: &[u8]) -> WireEntry {
    WireEntry {
        key: "GET /repos/o/r".into(),
        method: "GET".into(),
        path: "/repos/o/r".into(),
        query: String::new(),
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        cid: body_cid(body).to_string(),
        size: body.len() as u64,
        fetched_at: 1_000,
        ttl_secs: 300,
        etag: Some("\"abc\"".into()),
        last_modified: None,
        token_partition: "p".into(),
        share: Share::Fleet,
        operation: "repository".into(),
    }
}

#[test]
fn announcements_round_trip_and_replays_outside_the_window_are_dropped() {
    let s = fleet();
    let body = br#"{"id":1}"#.to_vec();
    let announcement = Announcement::Entry {
        entry: Box::new(entry_for(&body)),
        body: Some(body),
    };
    let frame = s.seal_announcement(announcement.clone(), 1_000_000);
    let opened = s.open_announcement(&frame, 1_000_500).unwrap();
    assert_eq!(opened.announcement, announcement);
    assert_eq!(
        s.open_announcement(&frame, 1_000_000 + MAX_MESSAGE_AGE_MS + 1),
        Err(Fault::Stale(MAX_MESSAGE_AGE_MS + 1))
    );
}

#[test]
fn a_frame_sealed_by_another_fleet_or_for_another_purpose_is_refused() {
    let frame =
        sealer(b"some other fleet secret").seal_request(&Request::Lookup { key: "k".into() });
    assert!(matches!(
        fleet().open_request(&frame),
        Err(Fault::Crypto(CryptoError::Unauthentic))
    ));
    let request = fleet().seal_request(&Request::Body { cid: "c".into() });
    assert!(matches!(
        fleet().open_response(&request, 1 << 20),
        Err(Fault::Crypto(CryptoError::Unauthentic))
    ));
}

#[test]
fn garbage_oversized_empty_and_unknown_versions_are_faults_not_panics() {
    let s = fleet();
    assert_eq!(s.open_request(&[]), Err(Fault::Empty));
    assert!(matches!(
        s.open_request(&[1, 2, 3]),
        Err(Fault::Crypto(CryptoError::Truncated))
    ));
    assert!(matches!(
        s.open_request(&[1; 200]),
        Err(Fault::Crypto(CryptoError::Unauthentic))
    ));
    let big = vec![1u8; MAX_REQUEST_BYTES + 1];
    assert_eq!(s.open_request(&big), Err(Fault::Oversized(big.len())));
    let mut future = s.seal_request(&Request::Lookup { key: "k".into() });
    future[0] = 2;
    assert_eq!(s.open_request(&future), Err(Fault::UnknownVersion(2)));
    assert!(!Fault::UnknownVersion(2).penalised());
    assert!(Fault::CidMismatch.penalised());
}

#[test]
fn authentic_but_undecodable_payloads_are_malformed() {
    let keys = FleetKeys::derive(b"fleet secret for wire tests", MIN_ITERATIONS).unwrap();
    let mut frame = vec![WIRE_VERSION];
    frame.extend(keys.seal(REQUEST_CONTEXT, &[0xff, 0xff, 0xff]));
    assert!(matches!(
        fleet().open_request(&frame),
        Err(Fault::Malformed(_))
    ));
}

#[test]
fn verification_rejects_wrong_bodies_sizes_and_token_entries() {
    let body = b"the real body";
    let entry = entry_for(body);
    assert_eq!(entry.verify(body), Ok(()));
    assert_eq!(entry.verify(b"the fake body"), Err(Fault::CidMismatch));
    assert_eq!(entry.verify(b"short"), Err(Fault::CidMismatch));
    let token = WireEntry {
        share: Share::Token,
        ..entry
    };
    assert_eq!(token.verify(body), Err(Fault::TokenScoped));
}

#[test]
fn freshness_follows_fetched_at_plus_ttl() {
    let entry = entry_for(b"x");
    assert!(entry.is_fresh(1_299));
    assert!(!entry.is_fresh(1_300));
}

//! Behaviour of the store as its callers rely on it, on real files in temporary directories.

use super::*;
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicU64, Ordering};

const T0: u64 = 1_700_000_000;

/// A clock the test moves by hand.
#[derive(Clone)]
struct Clock(Arc<AtomicU64>);

impl Clock {
    fn new() -> Self {
        Clock(Arc::new(AtomicU64::new(T0)))
    }
    fn set(&self, t: u64) {
        self.0.store(t, Ordering::SeqCst);
    }
    fn boxed(&self) -> Box<dyn Fn() -> u64 + Send + Sync> {
        let now = self.0.clone();
        Box::new(move || now.load(Ordering::SeqCst))
    }
}

fn limits(max_entries: u64, max_bytes: u64) -> StoreLimits {
    StoreLimits {
        max_entries,
        max_bytes,
    }
}

fn roomy() -> StoreLimits {
    limits(1000, 1 << 20)
}

fn open(dir: &Path, limits: StoreLimits, clock: &Clock) -> Store {
    Store::open_with_clock(dir, limits, clock.boxed()).unwrap()
}

pub(super) fn entry(key: &str, path: &str) -> NewEntry {
    NewEntry {
        key: key.to_owned(),
        method: "GET".to_owned(),
        path: path.to_owned(),
        query: String::new(),
        status: 200,
        headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        fetched_at: T0,
        ttl_secs: 300,
        etag: Some("\"v1\"".to_owned()),
        last_modified: None,
        token_partition: "partition-hash".to_owned(),
        share: Share::Fleet,
        operation: "repo".to_owned(),
    }
}

fn keys(store: &Store) -> Vec<String> {
    let mut keys: Vec<String> = store
        .list(usize::MAX)
        .unwrap()
        .into_iter()
        .map(|m| m.key)
        .collect();
    keys.sort();
    keys
}

#[test]
fn put_then_get_returns_the_entry_and_body() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), roomy(), &Clock::new());
    let stored = store.put(entry("k", "/Repos/O/R/"), b"{\"id\":1}").unwrap();
    assert_eq!(stored.cid, body_cid(b"{\"id\":1}").to_string());
    assert_eq!(stored.size, 8);
    assert_eq!(stored.path, "/repos/o/r", "path is normalised when stored");
    assert_eq!(stored.last_access, T0);

    let (meta, body) = store.get("k").unwrap().expect("hit");
    assert_eq!(meta, stored);
    assert_eq!(body, b"{\"id\":1}");
    assert_eq!(store.get_meta("k").unwrap(), Some(stored));
    assert_eq!(store.get("other").unwrap(), None);
}

#[test]
fn identical_bodies_are_stored_once_until_their_last_entry_goes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), roomy(), &Clock::new());
    store.put(entry("a", "/a"), b"same body").unwrap();
    store.put(entry("b", "/b"), b"same body").unwrap();
    let stats = store.stats().unwrap();
    assert_eq!((stats.entries, stats.blobs, stats.bytes), (2, 1, 9));

    assert!(store.remove("a").unwrap());
    assert_eq!(
        store.get("b").unwrap().expect("still served").1,
        b"same body"
    );
    assert_eq!(store.stats().unwrap().blobs, 1);

    assert!(store.remove("b").unwrap());
    assert!(!store.remove("b").unwrap());
    let stats = store.stats().unwrap();
    assert_eq!((stats.entries, stats.blobs, stats.bytes), (0, 0, 0));
}

#[test]
fn replacing_an_entry_frees_its_old_body() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), roomy(), &Clock::new());
    store.put(entry("k", "/a"), b"old body").unwrap();
    store.put(entry("k", "/a"), b"new body!").unwrap();
    let stats = store.stats().unwrap();
    assert_eq!((stats.entries, stats.blobs, stats.bytes), (1, 1, 9));
    assert_eq!(store.get("k").unwrap().unwrap().1, b"new body!");

    // Re-storing the same body keeps exactly one reference.
    store.put(entry("k", "/a"), b"new body!").unwrap();
    assert!(store.remove("k").unwrap());
    assert_eq!(store.stats().unwrap().blobs, 0);
}

#[test]
fn eviction_by_entries_removes_the_least_recently_used() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::new();
    let store = open(dir.path(), limits(3, 1 << 20), &clock);
    for (i, key) in ["a", "b", "c"].into_iter().enumerate() {
        clock.set(T0 + 100 * i as u64);
        store.put(entry(key, "/x"), key.as_bytes()).unwrap();
    }
    clock.set(T0 + 300);
    store.get("a").unwrap().expect("a is used again");
    clock.set(T0 + 400);
    store.put(entry("d", "/x"), b"d").unwrap();
    assert_eq!(keys(&store), ["a", "c", "d"], "b was least recently used");
}

#[test]
fn eviction_by_bytes_removes_the_least_recently_used() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::new();
    let store = open(dir.path(), limits(1000, 10), &clock);
    store.put(entry("a", "/x"), b"aaaa").unwrap();
    clock.set(T0 + 100);
    store.put(entry("b", "/x"), b"bbbb").unwrap();
    clock.set(T0 + 200);
    store.put(entry("c", "/x"), b"cccc").unwrap();
    assert_eq!(keys(&store), ["b", "c"]);
    assert_eq!(store.stats().unwrap().bytes, 8);

    let err = store.put(entry("huge", "/x"), &[0; 11]).unwrap_err();
    assert!(
        matches!(err, StoreError::TooLarge { size: 11, max: 10 }),
        "{err}"
    );
    assert_eq!(keys(&store), ["b", "c"], "a refused body changes nothing");
}

#[test]
fn access_time_is_recorded_at_most_once_a_minute() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::new();
    let store = open(dir.path(), roomy(), &clock);
    store.put(entry("k", "/x"), b"body").unwrap();
    clock.set(T0 + ACCESS_GRANULARITY_SECS - 1);
    store.get("k").unwrap().unwrap();
    assert_eq!(store.get_meta("k").unwrap().unwrap().last_access, T0);
    clock.set(T0 + ACCESS_GRANULARITY_SECS);
    let (meta, _) = store.get("k").unwrap().unwrap();
    assert_eq!(meta.last_access, T0 + ACCESS_GRANULARITY_SECS);
    // Recorded write-behind: visible to readers once committed.
    store.flush().unwrap();
    assert_eq!(
        store.get_meta("k").unwrap().unwrap().last_access,
        meta.last_access
    );
}

#[test]
fn invalidate_removes_the_path_and_on_request_its_descendants_never_siblings() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), roomy(), &Clock::new());
    for (key, path) in [
        ("repo", "/repos/o/r"),
        ("repo-again", "/repos/o/r"),
        ("issues", "/repos/o/r/issues"),
        ("issue", "/repos/o/r/issues/1"),
        ("sibling", "/repos/o/r2"),
        ("dashed", "/repos/o/r-x"),
    ] {
        store.put(entry(key, path), key.as_bytes()).unwrap();
    }
    assert_eq!(store.invalidate("/Repos/O/R/", false).unwrap(), 2);
    assert_eq!(keys(&store), ["dashed", "issue", "issues", "sibling"]);
    assert_eq!(store.invalidate("/repos/o/r", true).unwrap(), 2);
    assert_eq!(keys(&store), ["dashed", "sibling"]);
    assert_eq!(store.invalidate("/repos/o/r", true).unwrap(), 0);
    assert_eq!(store.invalidate("/", true).unwrap(), 2);
    assert_eq!(store.stats().unwrap().blobs, 0);
}

#[test]
fn refresh_replaces_validators_and_fetch_time_but_keeps_the_body() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::new();
    let store = open(dir.path(), roomy(), &clock);
    let before = store.put(entry("k", "/x"), b"body").unwrap();
    clock.set(T0 + 500);
    let headers = vec![("x-new".to_owned(), "1".to_owned())];
    let after = store
        .refresh(
            "k",
            T0 + 500,
            headers.clone(),
            Some("\"v2\"".into()),
            Some("then".into()),
        )
        .unwrap()
        .expect("entry exists");
    assert_eq!(
        (
            after.fetched_at,
            &after.headers,
            after.etag.as_deref(),
            after.last_modified.as_deref()
        ),
        (T0 + 500, &headers, Some("\"v2\""), Some("then"))
    );
    assert_eq!((after.last_access, &after.cid), (T0 + 500, &before.cid));
    assert_eq!(store.get("k").unwrap().unwrap(), (after, b"body".to_vec()));
    assert_eq!(store.refresh("gone", T0, vec![], None, None).unwrap(), None);
    assert_eq!(
        store.list(10).unwrap().len(),
        1,
        "the LRU row moved, not duplicated"
    );
}

#[test]
fn prune_removes_entries_past_ttl_and_grace() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), roomy(), &Clock::new());
    store
        .put(
            NewEntry {
                ttl_secs: 60,
                ..entry("short", "/x")
            },
            b"s",
        )
        .unwrap();
    store
        .put(
            NewEntry {
                ttl_secs: 600,
                ..entry("long", "/x")
            },
            b"l",
        )
        .unwrap();
    assert_eq!(
        store.prune(T0 + 60, 0).unwrap(),
        0,
        "not older than fetched_at + ttl"
    );
    assert_eq!(
        store.prune(T0 + 100, 50).unwrap(),
        0,
        "within the grace period"
    );
    assert_eq!(store.prune(T0 + 100, 0).unwrap(), 1);
    assert_eq!(keys(&store), ["long"]);
    assert_eq!(store.stats().unwrap().blobs, 1);
}

#[test]
fn clear_empties_everything() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), roomy(), &Clock::new());
    store.put(entry("a", "/a"), b"a").unwrap();
    store.put(entry("b", "/b"), b"b").unwrap();
    assert_eq!(store.clear().unwrap(), 2);
    let stats = store.stats().unwrap();
    assert_eq!((stats.entries, stats.blobs, stats.bytes), (0, 0, 0));
    assert_eq!(store.invalidate("/a", false).unwrap(), 0);
    store.put(entry("a", "/a"), b"a").unwrap();
    assert_eq!(keys(&store), ["a"]);
}

#[test]
fn list_is_most_recently_used_first_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::new();
    let store = open(dir.path(), roomy(), &clock);
    for (i, key) in ["a", "b", "c"].into_iter().enumerate() {
        clock.set(T0 + 100 * i as u64);
        store.put(entry(key, "/x"), key.as_bytes()).unwrap();
    }
    clock.set(T0 + 1000);
    store.get("a").unwrap();
    store.flush().unwrap();
    let listed: Vec<String> = store.list(2).unwrap().into_iter().map(|m| m.key).collect();
    assert_eq!(listed, ["a", "c"]);
}

#[test]
fn reopening_keeps_committed_entries() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::new();
    {
        let store = open(dir.path(), roomy(), &clock);
        store.put(entry("a", "/a"), b"kept").unwrap();
        store.put(entry("b", "/b"), b"kept").unwrap();
    }
    let store = open(dir.path(), roomy(), &clock);
    assert_eq!(store.get("a").unwrap().unwrap().1, b"kept");
    let stats = store.stats().unwrap();
    assert_eq!((stats.entries, stats.blobs, stats.bytes), (2, 1, 4));
    assert!(stats.db_file_bytes.unwrap() > 0);
}

#[test]
fn a_body_corrupted_on_disk_is_detected_removed_and_never_served() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), roomy(), &Clock::new());
    let meta = store.put(entry("a", "/a"), b"good body").unwrap();
    store.put(entry("b", "/b"), b"good body").unwrap();
    store.put(entry("other", "/c"), b"other body").unwrap();
    let cid = meta.cid.clone();
    store
        .write("test", move |ix| ix.corrupt_blob(&cid, b"evil body"))
        .unwrap();

    let report = store.verify_all().unwrap();
    assert!(!report.is_clean());
    assert_eq!(report.blobs_checked, 2);
    assert_eq!(report.corrupt.len(), 1);
    assert_eq!(report.corrupt[0].cid, meta.cid);
    assert_eq!(report.corrupt[0].keys, ["a", "b"]);

    assert_eq!(store.get("a").unwrap(), None, "a corrupt body is a miss");
    assert_eq!(
        store.get("b").unwrap(),
        None,
        "every entry of that body went with it"
    );
    assert_eq!(keys(&store), ["other"]);
    assert!(store.verify_all().unwrap().is_clean());
    let stats = store.stats().unwrap();
    assert_eq!((stats.blobs, stats.bytes), (1, 10));

    // The refetched body is stored afresh, not deduplicated against the bad bytes.
    store.put(entry("a", "/a"), b"good body").unwrap();
    assert_eq!(store.get("a").unwrap().unwrap().1, b"good body");
}

#[test]
fn entries_that_cannot_be_served_are_removed_as_misses() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::new();
    let store = open(dir.path(), limits(2, 1 << 20), &clock);
    let lost = store.put(entry("lost", "/a"), b"lost body").unwrap();
    store.put(entry("garbled", "/b"), b"garbled").unwrap();
    let cid = lost.cid.clone();
    store
        .write("test", move |ix| {
            ix.lose_blob(&cid)?;
            ix.garble_row("garbled")
        })
        .unwrap();
    let report = store.verify_all().unwrap();
    assert_eq!(report.missing_blobs, ["lost"]);
    assert_eq!(report.unreadable_entries, ["garbled"]);

    assert_eq!(store.get("lost").unwrap(), None);
    assert_eq!(store.get("garbled").unwrap(), None);
    assert_eq!(store.stats().unwrap().entries, 0);
    // Leftover path and LRU rows of the unreadable entry harm neither invalidation nor eviction.
    assert_eq!(store.invalidate("/", true).unwrap(), 0);
    for key in ["x", "y", "z"] {
        clock.set(clock.0.load(Ordering::SeqCst) + 100);
        store.put(entry(key, "/b"), key.as_bytes()).unwrap();
    }
    assert_eq!(keys(&store), ["y", "z"]);
}

#[test]
fn a_garbage_file_is_reported_corrupt_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    std::fs::write(&path, vec![0x5a; 16 * 1024]).unwrap();
    let err = Store::open(dir.path(), roomy()).unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { path: p, .. } if *p == path),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        vec![0x5a; 16 * 1024],
        "left untouched"
    );
}

#[test]
fn a_store_file_damaged_outside_redb_is_reported_corrupt_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path(), roomy(), &Clock::new());
        for i in 0..50 {
            store
                .put(entry(&format!("k{i}"), "/x"), &[i as u8; 3000])
                .unwrap();
        }
    }
    // Keep redb's header page, damage every page after it (a plain open panics on this).
    let path = dir.path().join(DB_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[4096..].iter_mut().for_each(|b| *b ^= 0xa5);
    std::fs::write(&path, &bytes).unwrap();
    let err = Store::open(dir.path(), roomy()).unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { path: p, .. } if *p == path),
        "{err:?}"
    );
}

#[test]
fn a_short_garbage_file_is_not_mistaken_for_a_store() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(DB_FILE), b"hello").unwrap();
    let err = Store::open(dir.path(), roomy()).unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt { .. } | StoreError::Io { .. }),
        "{err:?}"
    );
}

#[test]
fn another_redb_database_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(redb::TableDefinition::<&str, u64>::new("theirs"))
            .unwrap()
            .insert("x", 1)
            .unwrap();
        txn.commit().unwrap();
    }
    let err = Store::open(dir.path(), roomy()).unwrap_err();
    assert!(
        matches!(&err, StoreError::NotAStore { path: p, .. } if *p == path),
        "{err:?}"
    );
    let db = redb::Database::create(&path).unwrap();
    let txn = db.begin_read().unwrap();
    assert_eq!(txn.list_tables().unwrap().count(), 1, "nothing was added");
}

#[test]
fn a_store_of_another_format_version_is_emptied() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::new();
    {
        let store = open(dir.path(), roomy(), &clock);
        store.put(entry("a", "/a"), b"a").unwrap();
        let txn = store.inner.db.begin_write().unwrap();
        txn.open_table(INFO)
            .unwrap()
            .insert(tables::INFO_FORMAT, tables::FORMAT_VERSION + 1)
            .unwrap();
        txn.commit().unwrap();
    }
    let store = open(dir.path(), roomy(), &clock);
    assert_eq!(store.stats().unwrap().entries, 0);
    store.put(entry("a", "/a"), b"a").unwrap();
}

#[test]
fn a_second_open_of_the_same_store_is_refused_as_locked() {
    let dir = tempfile::tempdir().unwrap();
    let _first = open(dir.path(), roomy(), &Clock::new());
    let err = Store::open(dir.path(), roomy()).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
}

#[test]
fn directory_and_file_are_private() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("cache/store");
    let _store = Store::open(&dir, roomy()).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join(DB_FILE)), 0o600);
}

#[test]
fn an_existing_world_readable_file_is_tightened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    std::fs::write(&path, b"").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let _store = Store::open(dir.path(), roomy()).unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn in_memory_store_works_without_a_file() {
    let store = Store::in_memory_with_clock(roomy(), Clock::new().boxed()).unwrap();
    store.put(entry("k", "/x"), b"body").unwrap();
    assert_eq!(store.get("k").unwrap().unwrap().1, b"body");
    let stats = store.stats().unwrap();
    assert_eq!((stats.entries, stats.db_file_bytes), (1, None));
    assert_eq!(store.path(), Path::new("<memory>"));
}

#[test]
fn zero_limits_and_unindexable_paths_are_refused() {
    assert!(matches!(
        Store::in_memory(limits(0, 1)),
        Err(StoreError::InvalidLimits { .. })
    ));
    assert!(matches!(
        Store::in_memory(limits(1, 0)),
        Err(StoreError::InvalidLimits { .. })
    ));
    let store = Store::in_memory(roomy()).unwrap();
    let err = store.put(entry("k", "/a\0b"), b"x").unwrap_err();
    assert!(matches!(err, StoreError::InvalidEntry { .. }), "{err:?}");
    let err = store.put(entry("k", "relative"), b"x").unwrap_err();
    assert!(matches!(err, StoreError::InvalidEntry { .. }), "{err:?}");
}

#[test]
fn store_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Store>();
    let store = Store::in_memory(roomy()).unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let store = store.clone();
            s.spawn(move || {
                for i in 0..25 {
                    let key = format!("{t}-{i}");
                    store.put(entry(&key, "/x"), key.as_bytes()).unwrap();
                    assert!(store.get(&key).unwrap().is_some());
                }
            });
        }
    });
    assert_eq!(store.stats().unwrap().entries, 100);
}

//! Where CodeQL results live: a [`Store`] of its own under `<cache dir>/codeql`, apart from the
//! API cache's, holding per scan a metadata record ([`ScanRecord`], JSON) and the SARIF as it
//! was given, each a body under its CID; a pointer from `(repo, commit, category)` to the scan's
//! key, so a later commit can find its base's result; and the counters of [`super::stats`].
//!
//! Every body read goes through [`Store::get`], which rehashes it against its CID: a damaged
//! SARIF is removed and reported, never handed out.
//!
//! The store is opened for the length of one command, by the CLI and (to share results with the
//! fleet) by `serve`; an opener that finds it held by the other waits up to [`LOCK_WAIT`].

use super::sarif::Summary;
use super::stats::CodeqlStats;
use crate::store::{NewEntry, Share, Store, StoreError, StoreLimits, body_cid};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long opening the store waits while another process (a CLI command, or `serve` storing a
/// peer's result) holds it. Each holds it for milliseconds to seconds.
pub const LOCK_WAIT: Duration = Duration::from_secs(15);

/// Directory of the CodeQL result store inside the cache directory.
pub const STORE_DIR: &str = "codeql";

/// Metadata of one stored scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanRecord {
    /// The scan's cache key.
    pub key: String,
    /// `owner/name` it was stored for.
    pub repo: String,
    /// Commit analysed.
    pub commit: String,
    /// Its git tree id.
    pub tree: String,
    /// Digest of the effective configuration.
    pub config_digest: String,
    /// CodeQL CLI version that ran.
    pub codeql_version: String,
    /// SARIF category.
    pub category: String,
    /// Languages analysed.
    pub languages: Vec<String>,
    /// Whole-repository analysis (diff-restricted results are never stored).
    pub full_analysis: bool,
    /// CID of the stored SARIF.
    pub sarif_cid: String,
    /// Size of the stored SARIF in bytes.
    pub sarif_bytes: u64,
    /// Alert counts.
    pub alerts: Summary,
    /// How long the scan took, in seconds: what a skip saves.
    pub duration_secs: f64,
    /// Unix seconds when stored.
    pub stored_at: u64,
    /// How long the result may be reused, in seconds.
    pub ttl_secs: u64,
    /// The fleet peer (libp2p peer id) this node received the result from; `None` when it was
    /// stored here.
    #[serde(default)]
    pub from_peer: Option<String>,
}

/// Where a result may be found: its key, else the result stored for a base commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultQuery {
    /// The requested scan's key.
    pub key: String,
    /// `(repo, commit, category)` of a base commit whose result may be reused.
    pub base: Option<(String, String, String)>,
}

/// The CodeQL result store.
#[derive(Debug, Clone)]
pub struct ResultStore {
    store: Store,
}

/// What fetching a scan's SARIF found.
#[derive(Debug)]
pub enum SarifLookup {
    /// The SARIF, checked against its CID and the record's.
    Found(Vec<u8>),
    /// Missing, or damaged and removed: the reason.
    Unusable(String),
}

impl ResultStore {
    /// Opens (or creates) the store under `cache_dir/codeql`, waiting up to [`LOCK_WAIT`] while
    /// another process holds it.
    pub fn open(cache_dir: &Path, limits: StoreLimits) -> anyhow::Result<Self> {
        let dir = cache_dir.join(STORE_DIR);
        let deadline = Instant::now() + LOCK_WAIT;
        loop {
            match Store::open(&dir, limits) {
                Ok(store) => return Ok(Self { store }),
                Err(StoreError::Locked { .. }) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(25));
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("cannot open the CodeQL result store in {}", dir.display())
                    });
                }
            }
        }
    }

    /// The store underneath (for tests and maintenance).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Stores `sarif` and its record, and points `(repo, commit, category)` at it.
    pub fn put(&self, record: &ScanRecord, sarif: &[u8]) -> anyhow::Result<()> {
        let ttl = u32::try_from(record.ttl_secs).unwrap_or(u32::MAX);
        let entry = |key: String, path: &str| NewEntry {
            key,
            method: "CODEQL".into(),
            path: path.into(),
            query: String::new(),
            status: 200,
            headers: Vec::new(),
            fetched_at: record.stored_at,
            ttl_secs: ttl,
            etag: None,
            last_modified: None,
            token_partition: String::new(),
            share: Share::Fleet,
            operation: "codeql".into(),
        };
        // SARIF first: a record never names a body that was not stored.
        let stored = self
            .store
            .put(entry(sarif_key(&record.key), "/codeql/sarif"), sarif)?;
        if stored.cid != record.sarif_cid {
            anyhow::bail!(
                "stored SARIF has CID {} but the record names {}",
                stored.cid,
                record.sarif_cid
            );
        }
        let json = serde_json::to_vec(record)?;
        self.store
            .put(entry(scan_key(&record.key), "/codeql/scans"), &json)?;
        let pointer = commit_key(&record.repo, &record.commit, &record.category);
        self.store
            .put(entry(pointer, "/codeql/commits"), record.key.as_bytes())?;
        Ok(())
    }

    /// The record stored under `key`.
    pub fn scan(&self, key: &str) -> anyhow::Result<Option<ScanRecord>> {
        let Some((_, body)) = self.store.get(&scan_key(key))? else {
            return Ok(None);
        };
        let record = serde_json::from_slice(&body)
            .with_context(|| format!("stored record of scan {key} does not decode"))?;
        Ok(Some(record))
    }

    /// The record of the scan stored for `commit` of `repo` in `category`.
    pub fn scan_of_commit(
        &self,
        repo: &str,
        commit: &str,
        category: &str,
    ) -> anyhow::Result<Option<ScanRecord>> {
        let Some((_, key)) = self.store.get(&commit_key(repo, commit, category))? else {
            return Ok(None);
        };
        let key = String::from_utf8(key).context("stored commit pointer is not UTF-8")?;
        self.scan(&key)
    }

    /// The scan stored under the query's key, else the one stored for its base commit.
    pub fn find(&self, query: &ResultQuery) -> anyhow::Result<Option<ScanRecord>> {
        if let Some(exact) = self.scan(&query.key)? {
            return Ok(Some(exact));
        }
        match &query.base {
            Some((repo, commit, category)) => self.scan_of_commit(repo, commit, category),
            None => Ok(None),
        }
    }

    /// Stores a result that came from elsewhere (a fleet peer), after checking that `sarif` is
    /// the SARIF its record names. A record already held under the key is kept when it is not
    /// older. Returns whether the result was stored.
    pub fn put_received(&self, record: &ScanRecord, sarif: &[u8]) -> anyhow::Result<bool> {
        let cid = body_cid(sarif).to_string();
        if cid != record.sarif_cid || sarif.len() as u64 != record.sarif_bytes {
            anyhow::bail!(
                "the SARIF of scan {} has CID {cid} ({} bytes) but its record names {} ({} bytes)",
                record.key,
                sarif.len(),
                record.sarif_cid,
                record.sarif_bytes
            );
        }
        if let Some(held) = self.scan(&record.key)?
            && held.stored_at >= record.stored_at
        {
            return Ok(false);
        }
        self.put(record, sarif)?;
        Ok(true)
    }

    /// The SARIF of `record`, only if it matches its CID and the record's.
    pub fn sarif(&self, record: &ScanRecord) -> anyhow::Result<SarifLookup> {
        let Some((meta, body)) = self.store.get(&sarif_key(&record.key))? else {
            // The scan record is useless without its SARIF: drop it so later checks miss cleanly.
            self.store.remove(&scan_key(&record.key))?;
            return Ok(SarifLookup::Unusable(format!(
                "stored SARIF of scan {} (CID {}) is missing or failed its CID check and was removed",
                record.key, record.sarif_cid
            )));
        };
        if meta.cid != record.sarif_cid {
            return Ok(SarifLookup::Unusable(format!(
                "stored SARIF of scan {} has CID {}, the record names {}",
                record.key, meta.cid, record.sarif_cid
            )));
        }
        Ok(SarifLookup::Found(body))
    }

    /// The persisted counters (zero when none were stored yet).
    pub fn stats(&self) -> anyhow::Result<CodeqlStats> {
        match self.store.get(STATS_KEY)? {
            None => Ok(CodeqlStats::default()),
            Some((_, body)) => {
                serde_json::from_slice(&body).context("stored CodeQL stats do not decode")
            }
        }
    }

    /// Applies `change` to the counters and stores them.
    pub fn update_stats(
        &self,
        change: impl FnOnce(&mut CodeqlStats),
    ) -> anyhow::Result<CodeqlStats> {
        let mut stats = self.stats()?;
        change(&mut stats);
        let entry = NewEntry {
            key: STATS_KEY.into(),
            method: "CODEQL".into(),
            path: "/codeql/stats".into(),
            query: String::new(),
            status: 200,
            headers: Vec::new(),
            fetched_at: crate::clock::unix_now(),
            ttl_secs: u32::MAX,
            etag: None,
            last_modified: None,
            token_partition: String::new(),
            share: Share::Token,
            operation: "codeql-stats".into(),
        };
        self.store.put(entry, &serde_json::to_vec(&stats)?)?;
        Ok(stats)
    }
}

const STATS_KEY: &str = "codeql/stats";

fn scan_key(key: &str) -> String {
    format!("codeql/scan/{key}")
}

fn sarif_key(key: &str) -> String {
    format!("codeql/sarif/{key}")
}

fn commit_key(repo: &str, commit: &str, category: &str) -> String {
    format!("codeql/commit/{}/{commit}\0{category}", repo.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codeql::sarif::Summary;

    const LIMITS: StoreLimits = StoreLimits {
        max_entries: 100,
        max_bytes: 1 << 20,
    };

    fn record(sarif: &[u8], stored_at: u64) -> ScanRecord {
        ScanRecord {
            key: "sha256:k".into(),
            repo: "octo/app".into(),
            commit: "c1".into(),
            tree: "t1".into(),
            config_digest: "sha256:cfg".into(),
            codeql_version: "2.21.0".into(),
            category: "/language:python".into(),
            languages: vec!["python".into()],
            full_analysis: true,
            sarif_cid: body_cid(sarif).to_string(),
            sarif_bytes: sarif.len() as u64,
            alerts: Summary::default(),
            duration_secs: 60.0,
            stored_at,
            ttl_secs: 86_400,
            from_peer: Some("12D3KooWpeer".into()),
        }
    }

    #[test]
    fn a_received_result_is_stored_only_with_its_own_sarif_and_when_newer() {
        let dir = tempfile::tempdir().unwrap();
        let results = ResultStore::open(dir.path(), LIMITS).unwrap();
        let sarif = br#"{"version":"2.1.0","runs":[]}"#;
        let err = results
            .put_received(&record(sarif, 10), b"{\"other\":1}")
            .unwrap_err();
        assert!(err.to_string().contains("its record names"), "{err}");
        assert_eq!(results.scan("sha256:k").unwrap(), None);

        assert!(results.put_received(&record(sarif, 10), sarif).unwrap());
        assert!(!results.put_received(&record(sarif, 10), sarif).unwrap());
        assert!(results.put_received(&record(sarif, 11), sarif).unwrap());
        let query = ResultQuery {
            key: "sha256:other".into(),
            base: Some(("Octo/App".into(), "c1".into(), "/language:python".into())),
        };
        let found = results.find(&query).unwrap().expect("found by its base");
        assert_eq!(found, record(sarif, 11));
        assert!(matches!(results.sarif(&found).unwrap(), SarifLookup::Found(b) if b == sarif));
    }

    #[test]
    fn records_and_stats_written_before_the_fleet_still_decode() {
        let old = r#"{"key":"k","repo":"o/r","commit":"c","tree":"t","config_digest":"d",
            "codeql_version":"v","category":"c","languages":[],"full_analysis":true,
            "sarif_cid":"x","sarif_bytes":1,"alerts":{"runs":1,"results":0,"by_level":{},
            "by_security_severity":{}},"duration_secs":1.0,"stored_at":1,"ttl_secs":1}"#;
        let record: ScanRecord = serde_json::from_str(old).unwrap();
        assert_eq!(record.from_peer, None);
        let stats: CodeqlStats = serde_json::from_str(r#"{"scans_cached":3}"#).unwrap();
        assert_eq!((stats.scans_cached, stats.scans_from_peers), (3, 0));
    }

    #[test]
    fn a_second_opener_waits_for_the_first_to_close() {
        let dir = tempfile::tempdir().unwrap();
        let first = ResultStore::open(dir.path(), LIMITS).unwrap();
        let path = dir.path().to_path_buf();
        let started = Instant::now();
        let second =
            std::thread::spawn(move || ResultStore::open(&path, LIMITS).map(|_| started.elapsed()));
        std::thread::sleep(Duration::from_millis(200));
        drop(first);
        let waited = second.join().unwrap().unwrap();
        assert!(waited >= Duration::from_millis(200), "{waited:?}");
    }
}

//! The proxy's side of sharing CodeQL results with the fleet: announcing a result `ghmesh codeql
//! store` put in this cache directory, keeping results peers announce (their SARIF fetched by
//! CID at once, so a later check finds it locally even when the announcer's runner is gone),
//! answering peers' lookups and SARIF requests, and asking peers on behalf of a check.
//!
//! Results live in the CodeQL result store (`<cache dir>/codeql`), which the CLI opens too; this
//! side opens it for each operation, off the async workers, and waits while a command holds it.
//! A peer's SARIF reaches it only after the mesh checked it against its CID, and is stored only
//! if it is a valid SARIF 2.1.0 of a full analysis.

use super::Shared;
use crate::clock::unix_now;
use crate::codeql::results::{ResultQuery, ResultStore, SarifLookup, ScanRecord};
use crate::codeql::sarif::{self, Summary};
use crate::mesh::{MeshEvent, PeerId, PeerScan, ScanBase, ScanQuery, WireScan};
use crate::store::StoreLimits;
use bytes::Bytes;
use std::path::PathBuf;
use std::sync::Arc;

/// Where this serve's CodeQL results live.
#[derive(Debug, Clone)]
pub struct CodeqlShare {
    /// The cache directory (the store is its `codeql/` subdirectory).
    pub cache_dir: PathBuf,
    /// The store's bounds (`cache.max_entries`, `cache.max_size`).
    pub limits: StoreLimits,
}

impl CodeqlShare {
    /// Runs `call` on the opened result store, off the async workers.
    async fn with_store<T: Send + 'static>(
        &self,
        what: &'static str,
        call: impl FnOnce(&ResultStore) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let share = self.clone();
        tokio::task::spawn_blocking(move || {
            let store = ResultStore::open(&share.cache_dir, share.limits)?;
            call(&store)
        })
        .await
        .map_err(|e| anyhow::anyhow!("CodeQL {what} task failed: {e}"))?
    }
}

/// The wire form of a stored result.
pub(super) fn to_wire(record: &ScanRecord) -> WireScan {
    WireScan {
        key: record.key.clone(),
        repo: record.repo.clone(),
        commit: record.commit.clone(),
        tree: record.tree.clone(),
        config_digest: record.config_digest.clone(),
        codeql_version: record.codeql_version.clone(),
        category: record.category.clone(),
        languages: record.languages.clone(),
        full_analysis: record.full_analysis,
        sarif_cid: record.sarif_cid.clone(),
        sarif_bytes: record.sarif_bytes,
        runs: record.alerts.runs,
        alerts: record.alerts.results,
        alerts_by_level: record.alerts.by_level.clone().into_iter().collect(),
        alerts_by_severity: record
            .alerts
            .by_security_severity
            .clone()
            .into_iter()
            .collect(),
        duration_secs: record.duration_secs,
        stored_at: record.stored_at,
        ttl_secs: record.ttl_secs,
    }
}

/// The record of a result received from `from`.
pub(super) fn from_wire(scan: WireScan, from: &str) -> ScanRecord {
    ScanRecord {
        key: scan.key,
        repo: scan.repo,
        commit: scan.commit,
        tree: scan.tree,
        config_digest: scan.config_digest,
        codeql_version: scan.codeql_version,
        category: scan.category,
        languages: scan.languages,
        full_analysis: scan.full_analysis,
        sarif_cid: scan.sarif_cid,
        sarif_bytes: scan.sarif_bytes,
        alerts: Summary {
            runs: scan.runs,
            results: scan.alerts,
            by_level: scan.alerts_by_level.into_iter().collect(),
            by_security_severity: scan.alerts_by_severity.into_iter().collect(),
        },
        duration_secs: scan.duration_secs,
        stored_at: scan.stored_at,
        ttl_secs: scan.ttl_secs,
        from_peer: Some(from.to_string()),
    }
}

/// The mesh's form of a check's query.
pub(super) fn to_query(query: &ResultQuery) -> ScanQuery {
    ScanQuery {
        key: query.key.clone(),
        base: query.base.clone().map(|(repo, commit, category)| ScanBase {
            repo,
            commit,
            category,
        }),
    }
}

/// What announcing a stored result did.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Announced {
    /// The scan's key.
    pub key: String,
    /// Its SARIF's CID.
    pub sarif_cid: String,
    /// Peers connected when it was published.
    pub connected_peers: usize,
}

/// Why a result was not announced.
#[derive(Debug)]
pub(super) enum AnnounceError {
    /// This serve is not in a mesh.
    NoMesh,
    /// No result under the key, or its SARIF is unusable: the reason.
    NotFound(String),
    /// The store could not be read.
    Failed(anyhow::Error),
}

/// Announces the result stored under `key` to the fleet.
pub(super) async fn announce(shared: &Shared, key: String) -> Result<Announced, AnnounceError> {
    let (Some(mesh), Some(codeql)) = (&shared.mesh, &shared.codeql) else {
        return Err(AnnounceError::NoMesh);
    };
    let wanted = key.clone();
    let read = codeql
        .with_store("announce", move |store| {
            let Some(record) = store.scan(&wanted)? else {
                return Ok(Err(format!("no CodeQL result stored under key {wanted}")));
            };
            Ok(match store.sarif(&record)? {
                SarifLookup::Found(sarif) => Ok((record, sarif)),
                SarifLookup::Unusable(reason) => Err(reason),
            })
        })
        .await
        .map_err(AnnounceError::Failed)?;
    let (record, sarif) = read.map_err(AnnounceError::NotFound)?;
    mesh.announce_scan(to_wire(&record), &Bytes::from(sarif));
    tracing::info!(%key, cid = %record.sarif_cid, "announced a CodeQL result to the fleet");
    Ok(Announced {
        key,
        sarif_cid: record.sarif_cid,
        connected_peers: mesh.status().await.connected_peers,
    })
}

/// Asks the fleet for a result answering `query` (for a check on this node); `None` outside a
/// mesh or when no peer answers in time.
pub(super) async fn lookup(shared: &Shared, query: &ResultQuery) -> Option<PeerScan> {
    shared.mesh.as_ref()?.lookup_scan(to_query(query)).await
}

/// Handles a CodeQL event from the mesh; each runs in its own task (a SARIF fetch may take a
/// while and must not hold up API announcements).
pub(super) fn handle(shared: &Arc<Shared>, event: MeshEvent) {
    let Some(codeql) = shared.codeql.clone() else {
        return;
    };
    let shared = shared.clone();
    tokio::spawn(async move {
        match event {
            MeshEvent::ScanLookup { query, reply } => {
                let _ = reply.send(offer(&codeql, query).await);
            }
            MeshEvent::ScanSarif { key, cid, reply } => {
                let _ = reply.send(sarif_of(&codeql, key, cid).await);
            }
            MeshEvent::Scan { scan, sarif, from } => {
                received(&shared, &codeql, *scan, sarif, from).await;
            }
            other => tracing::error!("not a CodeQL event: {other:?}"),
        }
    });
}

/// A fresh, full result answering a peer's query, with its SARIF (checked by the store).
async fn offer(codeql: &CodeqlShare, query: ScanQuery) -> Option<(WireScan, Bytes)> {
    let query = ResultQuery {
        key: query.key,
        base: query.base.map(|b| (b.repo, b.commit, b.category)),
    };
    let found = codeql
        .with_store("lookup", move |store| {
            let Some(record) = store.find(&query)? else {
                return Ok(None);
            };
            let fresh = unix_now() < record.stored_at.saturating_add(record.ttl_secs);
            if !fresh || !record.full_analysis {
                return Ok(None);
            }
            Ok(match store.sarif(&record)? {
                SarifLookup::Found(sarif) => Some((to_wire(&record), Bytes::from(sarif))),
                SarifLookup::Unusable(reason) => {
                    tracing::warn!("not offering a CodeQL result to a peer: {reason}");
                    None
                }
            })
        })
        .await;
    found.unwrap_or_else(|e| {
        tracing::warn!("answering a peer's CodeQL lookup failed: {e:#}");
        None
    })
}

/// The SARIF of the result under `key`, if it has the CID the peer asked for.
async fn sarif_of(codeql: &CodeqlShare, key: String, cid: String) -> Option<Bytes> {
    let found = codeql
        .with_store("SARIF request", move |store| {
            let Some(record) = store.scan(&key)? else {
                return Ok(None);
            };
            if record.sarif_cid != cid {
                return Ok(None);
            }
            Ok(match store.sarif(&record)? {
                SarifLookup::Found(sarif) => Some(Bytes::from(sarif)),
                SarifLookup::Unusable(_) => None,
            })
        })
        .await;
    found.unwrap_or_else(|e| {
        tracing::warn!("answering a peer's SARIF request failed: {e:#}");
        None
    })
}

/// Keeps a result a peer announced: fresh full analyses not already held, their SARIF fetched
/// from the announcer when it did not travel inline.
async fn received(
    shared: &Shared,
    codeql: &CodeqlShare,
    scan: WireScan,
    sarif: Option<Bytes>,
    from: PeerId,
) {
    if !scan.full_analysis || !scan.is_fresh(unix_now()) {
        tracing::debug!(key = %scan.key, %from, "ignoring a stale or partial CodeQL result");
        return;
    }
    let (key, stored_at) = (scan.key.clone(), scan.stored_at);
    let held = codeql
        .with_store("announcement", move |store| {
            Ok(store.scan(&key)?.is_some_and(|h| h.stored_at >= stored_at))
        })
        .await;
    match held {
        Ok(true) => return,
        Ok(false) => {}
        Err(e) => {
            tracing::warn!("not keeping a peer's CodeQL result: {e:#}");
            return;
        }
    }
    let sarif = match (sarif, &shared.mesh) {
        (Some(sarif), _) => sarif,
        (None, Some(mesh)) => match mesh.fetch_sarif(from, &scan).await {
            Some(sarif) => sarif,
            None => {
                tracing::info!(key = %scan.key, %from, "a peer's announced SARIF did not arrive");
                return;
            }
        },
        (None, None) => return,
    };
    if let Err(e) = keep(codeql, from_wire(scan, &from.to_string()), sarif).await {
        tracing::warn!("not keeping a peer's CodeQL result: {e:#}");
    }
}

/// Stores a peer's verified result if its SARIF is a valid full analysis, and counts it.
async fn keep(codeql: &CodeqlShare, record: ScanRecord, sarif: Bytes) -> anyhow::Result<()> {
    let key = record.key.clone();
    let stored = codeql
        .with_store("store", move |store| {
            let parsed = sarif::parse(&sarif, "a fleet peer's SARIF")?;
            if let Some(why) = sarif::diff_restriction(&parsed.document) {
                anyhow::bail!("a fleet peer's SARIF covers only a diff ({why})");
            }
            let stored = store.put_received(&record, &sarif)?;
            if stored {
                store.update_stats(|s| s.scans_from_peers += 1)?;
            }
            Ok(stored)
        })
        .await?;
    if stored {
        tracing::info!(%key, "kept a CodeQL result from a fleet peer");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_crosses_the_wire_unchanged_but_for_its_origin() {
        let mut by_level = std::collections::BTreeMap::new();
        by_level.insert("error".to_string(), 2);
        let record = ScanRecord {
            key: "sha256:k".into(),
            repo: "octo/app".into(),
            commit: "c1".into(),
            tree: "t1".into(),
            config_digest: "sha256:cfg".into(),
            codeql_version: "2.21.0".into(),
            category: "/language:python".into(),
            languages: vec!["python".into()],
            full_analysis: true,
            sarif_cid: "bafkrei".into(),
            sarif_bytes: 7,
            alerts: Summary {
                runs: 1,
                results: 2,
                by_security_severity: by_level.clone(),
                by_level,
            },
            duration_secs: 61.5,
            stored_at: 100,
            ttl_secs: 3600,
            from_peer: None,
        };
        let back = from_wire(to_wire(&record), "12D3KooWpeer");
        assert_eq!(back.from_peer.as_deref(), Some("12D3KooWpeer"));
        assert_eq!(
            ScanRecord {
                from_peer: None,
                ..back
            },
            record
        );
        let query = ResultQuery {
            key: "k".into(),
            base: Some(("o/r".into(), "c".into(), "cat".into())),
        };
        let wire = to_query(&query);
        assert_eq!(wire.key, "k");
        assert_eq!(wire.base.map(|b| b.commit), Some("c".into()));
    }
}

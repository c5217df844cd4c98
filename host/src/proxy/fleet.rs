//! The proxy's side of the fleet mesh: what this node asks peers for (a lookup on a local miss),
//! what it tells them (entries it fetched, paths a write changed), and how it answers them from
//! its store. Share scopes decide: `token` entries never leave this node; `revalidate` and
//! `fleet` entries are offered, and the cache policy decides on receipt whether a peer's entry
//! is served as is or revalidated with the requester's own credential first. CodeQL results
//! are handed to `scan_share`.

use super::Shared;
use super::hot::HotEntry;
use crate::clock::unix_now;
use crate::mesh::{Held, MeshEvent, PeerEntry, WireEntry};
use crate::store::{EntryMeta, NewEntry, Share};
use bytes::Bytes;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Asks the fleet for a fresh entry under `key` (only for shareable plans). A verified answer
/// is kept in the store and the memory layer, then returned for the policy to judge.
pub(super) async fn lookup(shared: &Arc<Shared>, key: &str) -> Option<Arc<HotEntry>> {
    let mesh = shared.mesh.as_ref()?;
    let PeerEntry { entry, body, peer } = mesh.lookup(key).await?;
    tracing::debug!(%key, %peer, "fleet peer answered");
    keep(shared, entry, body, Held::Copied).await
}

/// Tells the fleet about an entry this node fetched, unless it is token-scoped, and provides
/// it to content routing while it is fresh.
pub(super) fn announce(shared: &Shared, meta: &EntryMeta, body: &Bytes) {
    if let Some(mesh) = &shared.mesh
        && meta.share != Share::Token
    {
        mesh.provide(&meta.key, Held::Fetched, meta.expires_at());
        mesh.announce_entry(WireEntry::from_meta(meta), body);
    }
}

/// Tells the fleet about a revalidated (304) entry — only when that gives peers freshness
/// time: with a TTL of 0 every peer revalidates on every use anyway, and announcing each 304
/// would only make every peer open, check and drop it.
pub(super) fn announce_refresh(shared: &Shared, meta: &EntryMeta, body: &Bytes) {
    if meta.ttl_secs > 0 {
        announce(shared, meta, body);
    }
}

/// Tells the fleet a write changed these paths.
pub(super) fn announce_invalidation(shared: &Shared, paths: Vec<(String, bool)>) {
    if let Some(mesh) = &shared.mesh
        && !paths.is_empty()
    {
        mesh.announce_invalidation(paths);
    }
}

/// Handles what peers ask and announce until the mesh stops.
pub async fn serve_peers(shared: Arc<Shared>, mut events: mpsc::Receiver<MeshEvent>) {
    // Announcements and invalidations are applied in order (an invalidation must not be undone
    // by an entry announced before it); questions are answered concurrently.
    while let Some(event) = events.recv().await {
        match event {
            MeshEvent::Lookup { key, reply } => {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let _ = reply.send(offer(&shared, &key).await);
                });
            }
            MeshEvent::Body { cid, reply } => {
                let store = shared.store.clone();
                tokio::spawn(async move {
                    let body = tokio::task::spawn_blocking(move || store.body(&cid)).await;
                    let _ = reply.send(match body {
                        Ok(Ok(body)) => body.map(Bytes::from),
                        _ => None,
                    });
                });
            }
            MeshEvent::Entry {
                entry,
                body: Some(body),
                from,
            } => {
                if accept_announced(&shared, &entry).await {
                    tracing::debug!(key = %entry.key, %from, "kept a peer's announced entry");
                    keep(&shared, *entry, body, Held::Copied).await;
                }
            }
            MeshEvent::Entry {
                entry,
                body: None,
                from,
            } => {
                // Large bodies travel on demand: fetch this one from its announcer by CID.
                let (shared, Some(mesh)) = (shared.clone(), shared.mesh.clone()) else {
                    continue;
                };
                tokio::spawn(async move {
                    if accept_announced(&shared, &entry).await
                        && let Some(body) = mesh.fetch_body(from, &entry).await
                    {
                        keep(&shared, *entry, body, Held::Copied).await;
                    }
                });
            }
            MeshEvent::Invalidate { paths, from } => {
                tracing::debug!(%from, ?paths, "fleet invalidation");
                let removed = super::handler::invalidate_paths(&shared, paths).await;
                shared.metrics.invalidated(removed);
            }
            event @ (MeshEvent::ScanLookup { .. }
            | MeshEvent::ScanSarif { .. }
            | MeshEvent::Scan { .. }) => super::scan_share::handle(&shared, event),
        }
    }
}

/// A fresh, shareable entry for a peer's lookup.
async fn offer(shared: &Arc<Shared>, key: &str) -> Option<(WireEntry, Bytes)> {
    let (meta, body) = match shared.hot.get(key) {
        Some(hot) => (hot.meta.clone(), hot.body.clone()),
        None => {
            let store = shared.store.clone();
            let key = key.to_string();
            let found = tokio::task::spawn_blocking(move || store.get(&key)).await;
            match found {
                Ok(Ok(Some((meta, body)))) => (meta, Bytes::from(body)),
                _ => return None,
            }
        }
    };
    let entry = WireEntry::from_meta(&meta);
    (meta.share != Share::Token && entry.is_fresh(unix_now())).then_some((entry, body))
}

/// Whether an announced entry is newer than what this node holds.
///
/// An expired entry is kept too: it is a validator. With a TTL of 0 (every use revalidates) a
/// node that holds the version a peer just fetched revalidates it with a free 304 instead of
/// paying a full 200 for the same new version. Fetch times are whole seconds, so a different
/// body fetched in the same second also counts as newer.
async fn accept_announced(shared: &Arc<Shared>, entry: &WireEntry) -> bool {
    let store = shared.store.clone();
    let key = entry.key.clone();
    match tokio::task::spawn_blocking(move || store.get_meta(&key)).await {
        Ok(Ok(Some(held))) => {
            held.fetched_at < entry.fetched_at
                || (held.fetched_at == entry.fetched_at && held.cid != entry.cid)
        }
        Ok(Ok(None)) => true,
        _ => false,
    }
}

/// Stores a verified peer entry as this node's own (keeping the origin's fetch time, so its TTL
/// is not extended by travelling) and puts it in the memory layer. The body is copied to its
/// exact size: a slice of a network buffer would keep the whole buffer alive. Content routing
/// learns the node holds it (`held` says how it came).
async fn keep(
    shared: &Arc<Shared>,
    entry: WireEntry,
    body: Bytes,
    held: Held,
) -> Option<Arc<HotEntry>> {
    let generation = shared.hot.generation();
    let new = NewEntry {
        key: entry.key,
        method: entry.method,
        path: entry.path,
        query: entry.query,
        status: entry.status,
        headers: entry.headers,
        fetched_at: entry.fetched_at,
        ttl_secs: entry.ttl_secs,
        etag: entry.etag,
        last_modified: entry.last_modified,
        token_partition: entry.token_partition,
        share: entry.share,
        operation: entry.operation,
    };
    // Write-behind, as for a response from GitHub: memory serves it while the store commits.
    let body = Bytes::copy_from_slice(&body);
    let (store, queued_body) = (shared.store.clone(), body.clone());
    match tokio::task::spawn_blocking(move || store.enqueue_put(new, queued_body)).await {
        Ok(Ok(queued)) => {
            let hot = Arc::new(HotEntry::new(queued.meta.clone(), body));
            shared.hot.insert_entry(generation, hot.clone());
            if let Some(mesh) = &shared.mesh
                && queued.meta.share != Share::Token
            {
                mesh.provide(&queued.meta.key, held, queued.meta.expires_at());
            }
            super::handler::watch_queued_put(shared, queued);
            Some(hot)
        }
        Ok(Err(e)) => {
            tracing::warn!("storing a peer's entry failed: {e}");
            None
        }
        Err(e) => {
            tracing::warn!("store task failed: {e}");
            None
        }
    }
}

//! `/_ghmesh/codeql/*`: how `ghmesh codeql` reaches the fleet through the serve of its cache
//! directory. `POST announce?key=K` announces the result `codeql store` just stored (serve reads
//! it from the shared result store); `GET lookup?key=K[&repo=&commit=&category=]` asks every
//! connected peer for that result, or the base commit's, for a check that missed locally.
//! Both need the admin token, as `/_ghmesh/cache/*` does ([`super::admin`]).

use super::Shared;
use super::admin::{Authorized, error};
use super::scan_share::{self, AnnounceError};
use crate::codeql::results::{ResultQuery, ScanRecord};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Where the endpoints live.
pub const PREFIX: &str = "/_ghmesh/codeql";

/// A result found in the fleet, as `lookup` answers it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FoundScan {
    /// Its record, `from_peer` naming the peer that served it.
    pub record: ScanRecord,
    /// The SARIF, verified against `record.sarif_cid` by the mesh (and again by the caller).
    pub sarif: String,
}

/// The routes; the caller adds them to the proxy's router.
pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(&format!("{PREFIX}/announce"), post(announce))
        .route(&format!("{PREFIX}/lookup"), get(lookup))
        // A mistyped path must not fall through to the proxy and go to GitHub.
        .route(&format!("{PREFIX}/{{*rest}}"), any(not_found))
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "no such CodeQL endpoint")
}

#[derive(Deserialize)]
struct KeyQuery {
    key: String,
}

async fn announce(
    _: Authorized,
    State(shared): State<Arc<Shared>>,
    Query(query): Query<KeyQuery>,
) -> Response {
    match scan_share::announce(&shared, query.key).await {
        Ok(announced) => Json(announced).into_response(),
        Err(AnnounceError::NoMesh) => error(
            StatusCode::CONFLICT,
            "this ghmesh serve is not in a fleet mesh (p2p.enabled is false)",
        ),
        Err(AnnounceError::NotFound(reason)) => error(StatusCode::NOT_FOUND, &reason),
        Err(AnnounceError::Failed(e)) => {
            tracing::warn!("announcing a CodeQL result failed: {e:#}");
            error(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e:#}"))
        }
    }
}

#[derive(Deserialize)]
struct LookupQuery {
    key: String,
    repo: Option<String>,
    commit: Option<String>,
    category: Option<String>,
}

async fn lookup(
    _: Authorized,
    State(shared): State<Arc<Shared>>,
    Query(query): Query<LookupQuery>,
) -> Response {
    let base = match (query.repo, query.commit, query.category) {
        (Some(repo), Some(commit), Some(category)) => Some((repo, commit, category)),
        (None, None, None) => None,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "a base needs all of repo, commit and category",
            );
        }
    };
    if shared.mesh.is_none() {
        return error(
            StatusCode::CONFLICT,
            "this ghmesh serve is not in a fleet mesh (p2p.enabled is false)",
        );
    }
    let query = ResultQuery {
        key: query.key,
        base,
    };
    let Some(found) = scan_share::lookup(&shared, &query).await else {
        return error(
            StatusCode::NOT_FOUND,
            "no fleet peer answered with a result",
        );
    };
    let from = found.peer.to_string();
    let Ok(sarif) = String::from_utf8(found.sarif.to_vec()) else {
        tracing::warn!(peer = %from, "a peer's SARIF is not UTF-8");
        return error(
            StatusCode::BAD_GATEWAY,
            "the fleet peer's SARIF is not UTF-8",
        );
    };
    let record = scan_share::from_wire(found.scan, &from);
    Json(FoundScan { record, sarif }).into_response()
}

//! `codeql store`: validate a finished scan's SARIF, refuse it as reusable if it covers only a
//! diff, key it from the worktree it was made from, and store it with its metadata. Anything
//! refused stores nothing.

use super::git::Repo;
use super::key::{self, KeyRequest};
use super::results::{ResultStore, ScanRecord};
use super::sarif;
use crate::store::body_cid;
use std::path::Path;

/// Default time a result may be reused: the seed's CodeQL TTL.
pub const DEFAULT_TTL_SECS: u64 = 86_400;

/// A finished scan to store.
#[derive(Debug, Clone)]
pub struct StoreRequest<'a> {
    /// `owner/name`.
    pub repo: &'a str,
    /// The worktree that was analysed.
    pub repo_dir: &'a Path,
    /// Commit analysed.
    pub commit: &'a str,
    /// `--config`.
    pub config: &'a str,
    /// CodeQL CLI version that ran.
    pub codeql_version: &'a str,
    /// SARIF category.
    pub category: Option<&'a str>,
    /// The SARIF file.
    pub sarif: &'a Path,
    /// How long the scan took, in seconds.
    pub duration_secs: f64,
    /// How long the result may be reused, in seconds.
    pub ttl_secs: u64,
    /// The caller says the analysis was restricted to a pull request's diff.
    pub diff_informed: bool,
    /// Unix seconds now.
    pub now: u64,
}

/// A validated scan, ready to store.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Its metadata.
    pub record: ScanRecord,
    /// The SARIF exactly as given.
    pub sarif: Vec<u8>,
}

/// Validates the scan and keys it, touching no store: refused input leaves no trace.
pub fn prepare(request: &StoreRequest<'_>) -> anyhow::Result<Prepared> {
    if !request.duration_secs.is_finite() || request.duration_secs < 0.0 {
        anyhow::bail!(
            "--duration {} is not a number of seconds",
            request.duration_secs
        );
    }
    check_repo_name(request.repo)?;
    let source = request.sarif.display().to_string();
    let bytes = std::fs::read(request.sarif)
        .map_err(|e| anyhow::anyhow!("cannot read SARIF {source}: {e}"))?;
    let parsed = sarif::parse(&bytes, &source)?;
    if request.diff_informed {
        anyhow::bail!(
            "{source} is a diff-informed (pull request) analysis: only full analyses are stored for reuse"
        );
    }
    if let Some(why) = sarif::diff_restriction(&parsed.document) {
        anyhow::bail!(
            "{source} covers only a pull request's diff ({why}): only full analyses are stored for reuse"
        );
    }
    let repo = Repo::new(request.repo_dir);
    let inputs = key::compute(&KeyRequest {
        repo: &repo,
        commit: request.commit,
        config: request.config,
        codeql_version: request.codeql_version,
        category: request.category,
    })
    .map_err(|e| e.context("cannot key the scan, so it is not stored"))?;
    let record = ScanRecord {
        key: inputs.key,
        repo: request.repo.to_string(),
        commit: inputs.commit,
        tree: inputs.tree,
        config_digest: inputs.config_digest,
        codeql_version: inputs.codeql_version,
        category: inputs.category,
        languages: inputs.languages,
        full_analysis: true,
        sarif_cid: body_cid(&bytes).to_string(),
        sarif_bytes: bytes.len() as u64,
        alerts: parsed.summary,
        duration_secs: request.duration_secs,
        stored_at: request.now,
        ttl_secs: request.ttl_secs,
        from_peer: None,
    };
    Ok(Prepared {
        record,
        sarif: bytes,
    })
}

/// Stores a prepared scan and counts it.
pub fn store(prepared: &Prepared, results: &ResultStore) -> anyhow::Result<()> {
    results.put(&prepared.record, &prepared.sarif)?;
    results.update_stats(|s| s.scans_cached += 1)?;
    Ok(())
}

/// `owner/name`, each part non-empty and free of `/`, whitespace and control characters.
pub fn check_repo_name(repo: &str) -> anyhow::Result<()> {
    let ok = repo.split_once('/').is_some_and(|(owner, name)| {
        let part = |p: &str| {
            !p.is_empty()
                && !p.contains(['/', '\0'])
                && !p.chars().any(|c| c.is_whitespace() || c.is_control())
        };
        part(owner) && part(name)
    });
    if !ok {
        anyhow::bail!("--repo {repo:?} is not owner/name");
    }
    Ok(())
}

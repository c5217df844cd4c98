//! `codeql check`: key the requested scan, find a candidate (the exact key, else the base
//! commit's result; locally, else from fleet peers through [`PeerResults`]), ask the
//! `codeql-skip` component, and hand out the SARIF only after its CID checks out. Every path
//! that is not a proven skip ends in "run the scan", with the reason.

use super::git::{ChangeKind as GitKind, Repo};
use super::key::{self, KeyInputs, KeyRequest};
use super::results::{ResultQuery, ResultStore, SarifLookup, ScanRecord};
use super::sarif;
use crate::policy::CodeqlSkip;
use crate::policy::codeql::{CachedScan, ChangeKind, ChangedFile, ScanRequest, SkipDecision};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What the check answers (the action outputs, plus what an auditor wants to see).
#[derive(Debug, Clone, Serialize)]
pub struct CheckOutcome {
    /// `should-skip-scan`.
    pub should_skip_scan: bool,
    /// `cached-result`: the SARIF written for upload, when skipping.
    pub cached_result: Option<PathBuf>,
    /// `cache-status`.
    pub cache_status: CacheStatus,
    /// Why, in words.
    pub reason: String,
    /// The requested scan's key, when it could be computed.
    pub key: Option<String>,
    /// The stored scan reused, when skipping.
    pub reused_scan: Option<String>,
    /// sha256 of the component that decided, when one was asked.
    pub component_sha256: Option<String>,
    /// The fleet peer the reused result came from, when it was not stored on this node.
    pub from_peer: Option<String>,
    /// Seconds the skipped scan took when it ran.
    #[serde(skip)]
    pub saved_secs: f64,
}

/// `cache-status` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheStatus {
    /// Same key: the very inputs were analysed.
    Hit,
    /// An earlier commit's result, with only irrelevant changes since.
    Reuse,
    /// Nothing usable: run the scan.
    Miss,
    /// The cache is turned off.
    Disabled,
    /// Something could not be read or vouched for: run the scan.
    Error,
}

impl CacheStatus {
    /// The output value.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "hit",
            CacheStatus::Reuse => "reuse",
            CacheStatus::Miss => "miss",
            CacheStatus::Disabled => "disabled",
            CacheStatus::Error => "error",
        }
    }
}

/// A check to make.
#[derive(Debug, Clone)]
pub struct CheckRequest<'a> {
    /// `owner/name`.
    pub repo: &'a str,
    /// The checked-out worktree.
    pub repo_dir: &'a Path,
    /// Commit to analyse.
    pub commit: &'a str,
    /// Commit whose result may be reused (e.g. the pull request's base).
    pub base: Option<&'a str>,
    /// `--config`.
    pub config: &'a str,
    /// CodeQL CLI version.
    pub codeql_version: &'a str,
    /// SARIF category.
    pub category: Option<&'a str>,
    /// Where to write the SARIF to upload.
    pub output: &'a Path,
    /// Unix seconds now.
    pub now: u64,
}

impl CheckOutcome {
    fn run(status: CacheStatus, reason: String, key: Option<String>) -> Self {
        CheckOutcome {
            should_skip_scan: false,
            cached_result: None,
            cache_status: status,
            reason,
            key,
            reused_scan: None,
            component_sha256: None,
            from_peer: None,
            saved_secs: 0.0,
        }
    }

    /// The answer when the cache is off.
    pub fn disabled(reason: &str) -> Self {
        Self::run(CacheStatus::Disabled, reason.to_string(), None)
    }

    /// The answer when the check itself failed (e.g. the store could not be opened).
    pub fn error(reason: String) -> Self {
        Self::run(
            CacheStatus::Error,
            format!("{reason}; running the scan"),
            None,
        )
    }
}

/// Results held elsewhere, asked when the local store has no candidate: the fleet, through a
/// running `serve`. This module knows nothing of how; the CLI supplies the way.
pub trait PeerResults {
    /// A result answering `query` and its SARIF, or `None`. Whatever comes back is checked
    /// against its record's CID again before it is stored.
    fn find(&self, query: &ResultQuery) -> anyhow::Result<Option<(ScanRecord, Vec<u8>)>>;
}

/// Makes the check; `peers`, when given, is asked on a local miss. Never fails: an error is an
/// answer (`error`, run the scan).
pub fn check(
    request: &CheckRequest<'_>,
    results: &ResultStore,
    policy: &CodeqlSkip,
    peers: Option<&dyn PeerResults>,
) -> CheckOutcome {
    let repo = Repo::new(request.repo_dir);
    let inputs = match key::compute(&KeyRequest {
        repo: &repo,
        commit: request.commit,
        config: request.config,
        codeql_version: request.codeql_version,
        category: request.category,
    }) {
        Ok(inputs) => inputs,
        Err(e) => return CheckOutcome::error(format!("cannot key the scan: {e:#}")),
    };
    match decide(request, &repo, &inputs, results, policy, peers) {
        Ok(outcome) => outcome,
        Err(e) => CheckOutcome::run(
            CacheStatus::Error,
            format!("{e:#}; running the scan"),
            Some(inputs.key),
        ),
    }
}

fn decide(
    request: &CheckRequest<'_>,
    repo: &Repo,
    inputs: &KeyInputs,
    results: &ResultStore,
    policy: &CodeqlSkip,
    peers: Option<&dyn PeerResults>,
) -> anyhow::Result<CheckOutcome> {
    let key = Some(inputs.key.clone());
    let mut candidate = results.scan(&inputs.key)?;
    // The base is resolved only when needed: an exact hit must not depend on it (shallow clones).
    let base = match (&candidate, request.base) {
        (None, Some(base)) => Some(repo.commit_id(base)?),
        _ => None,
    };
    let query = ResultQuery {
        key: inputs.key.clone(),
        base: base
            .clone()
            .map(|b| (request.repo.to_string(), b, inputs.category.clone())),
    };
    if candidate.is_none() {
        candidate = results.find(&query)?;
    }
    let mut fleet_note = String::new();
    if candidate.is_none()
        && let Some(peers) = peers
    {
        match from_peers(peers, &query, results) {
            Ok(None) => fleet_note = "; no fleet peer has one either".into(),
            Ok(found) => candidate = found,
            Err(e) => fleet_note = format!("; asking the fleet failed: {e:#}"),
        }
    }
    let Some(candidate) = candidate else {
        let reason = match &base {
            Some(base) => format!(
                "no cached scan for key {} nor for base commit {base} in category {}{fleet_note}",
                inputs.key, inputs.category
            ),
            None => format!(
                "no cached scan for key {} (no --base to reuse from){fleet_note}",
                inputs.key
            ),
        };
        return Ok(CheckOutcome::run(CacheStatus::Miss, reason, key));
    };
    // Unknown changes are `None`: the component then runs the scan.
    let changed = (candidate.key != inputs.key)
        .then(|| repo.changes(&candidate.commit, &inputs.commit).ok())
        .flatten()
        .map(|changes| {
            changes
                .into_iter()
                .map(|c| ChangedFile {
                    path: c.path,
                    previous_path: None,
                    kind: kind(c.kind),
                })
                .collect()
        });
    let scan = scan_request(request, inputs, &candidate, changed);
    let verdict = policy.decide(&scan);
    let sha = Some(verdict.component.sha256.clone());
    let plan = match verdict.decision {
        SkipDecision::Run(reason) => {
            let status = if verdict.failure.is_some() {
                CacheStatus::Error
            } else {
                CacheStatus::Miss
            };
            let mut outcome = CheckOutcome::run(status, reason, key);
            outcome.component_sha256 = sha;
            return Ok(outcome);
        }
        SkipDecision::Reuse(plan) => plan,
    };
    if plan.key != candidate.key {
        anyhow::bail!(
            "the skip policy chose scan {} but was offered {}",
            plan.key,
            candidate.key
        );
    }
    let body = match results.sarif(&candidate)? {
        SarifLookup::Found(body) => body,
        SarifLookup::Unusable(reason) => {
            let mut outcome = CheckOutcome::run(
                CacheStatus::Error,
                format!("{reason}; running the scan"),
                key,
            );
            outcome.component_sha256 = sha;
            return Ok(outcome);
        }
    };
    let document = sarif::parse(&body, "stored SARIF")?.document;
    let uri = format!("https://github.com/{}", request.repo);
    let rewritten = sarif::with_revision(&document, &inputs.commit, &uri);
    write_atomically(request.output, &serde_json::to_vec(&rewritten)?)?;
    let reason = match &candidate.from_peer {
        Some(peer) => format!("{} (result received from fleet peer {peer})", plan.reason),
        None => plan.reason,
    };
    Ok(CheckOutcome {
        should_skip_scan: true,
        cached_result: Some(request.output.to_path_buf()),
        cache_status: if plan.exact {
            CacheStatus::Hit
        } else {
            CacheStatus::Reuse
        },
        reason,
        key,
        reused_scan: Some(candidate.key.clone()),
        component_sha256: sha,
        from_peer: candidate.from_peer.clone(),
        saved_secs: candidate.duration_secs,
    })
}

/// Asks `peers` for a result answering `query`; one that comes back is stored (after its SARIF
/// checks against the record's CID) and then read back like any local result.
fn from_peers(
    peers: &dyn PeerResults,
    query: &ResultQuery,
    results: &ResultStore,
) -> anyhow::Result<Option<ScanRecord>> {
    let Some((record, sarif)) = peers.find(query)? else {
        return Ok(None);
    };
    let answers = record.key == query.key
        || query.base.as_ref().is_some_and(|(repo, commit, category)| {
            record.repo.eq_ignore_ascii_case(repo)
                && &record.commit == commit
                && &record.category == category
        });
    if !answers {
        anyhow::bail!(
            "the fleet answered with scan {} of {}@{}, which is not the one asked for",
            record.key,
            record.repo,
            record.commit
        );
    }
    if results.put_received(&record, &sarif)? {
        results.update_stats(|s| s.scans_from_peers += 1)?;
    }
    results.find(query)
}

fn scan_request(
    request: &CheckRequest<'_>,
    inputs: &KeyInputs,
    candidate: &ScanRecord,
    changed: Option<Vec<ChangedFile>>,
) -> ScanRequest {
    ScanRequest {
        repo: request.repo.to_string(),
        commit: inputs.commit.clone(),
        tree_id: inputs.tree.clone(),
        config_digest: inputs.config_digest.clone(),
        codeql_version: inputs.codeql_version.clone(),
        category: inputs.category.clone(),
        languages: inputs.languages.clone(),
        paths: inputs.paths.clone(),
        paths_ignore: inputs.paths_ignore.clone(),
        build_mode: inputs.build_mode.clone(),
        changed_files: changed,
        candidate: Some(CachedScan {
            key: candidate.key.clone(),
            commit: candidate.commit.clone(),
            tree_id: candidate.tree.clone(),
            config_digest: candidate.config_digest.clone(),
            codeql_version: candidate.codeql_version.clone(),
            category: candidate.category.clone(),
            languages: candidate.languages.clone(),
            full_analysis: candidate.full_analysis,
            age_seconds: request.now.saturating_sub(candidate.stored_at),
            ttl_seconds: candidate.ttl_secs,
        }),
    }
}

fn kind(kind: GitKind) -> ChangeKind {
    match kind {
        GitKind::Added => ChangeKind::Added,
        GitKind::Modified => ChangeKind::Modified,
        GitKind::Deleted => ChangeKind::Deleted,
        GitKind::TypeChanged => ChangeKind::TypeChanged,
        GitKind::Submodule => ChangeKind::Submodule,
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory, so a reader never
/// sees half a SARIF.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let fail = |e: std::io::Error| anyhow::anyhow!("cannot write {}: {e}", path.display());
    std::fs::create_dir_all(&dir).map_err(fail)?;
    let mut file = tempfile::NamedTempFile::new_in(&dir).map_err(fail)?;
    file.write_all(bytes).map_err(fail)?;
    file.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

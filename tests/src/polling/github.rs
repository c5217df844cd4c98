//! GitHub-shaped answers for one resource version: the JSON body (field names and nesting as in
//! GitHub's REST API for Actions), a strong ETag over it, and the response headers GitHub sends.
//! Every version's body differs from the previous one, so a new version always means a new ETag.

use super::schedule::{Kind, OWNER, Resource, draw};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Header naming the version a response carries (test-only: lets runners measure staleness
/// through a cache, which replays it with the stored response).
pub const VERSION_HEADER: &str = "x-polling-version";

/// A rendered version of a resource.
pub struct Rendered {
    /// The JSON body.
    pub body: Vec<u8>,
    /// Strong ETag, quoted.
    pub etag: String,
}

/// Renders `resource` at `version`.
pub fn render(resource: &Resource, version: u64, seed: u64) -> Rendered {
    let value = match resource.kind {
        Kind::QueuedRuns => queued_runs(resource, version, seed),
        Kind::Runners => runners(resource, version, seed),
        Kind::Workflows => workflows(resource, version, seed),
    };
    let body = serde_json::to_vec_pretty(&value).expect("JSON");
    let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&body)[..16]));
    Rendered { body, etag }
}

/// A timestamp in GitHub's format, deterministic in (`seed`, `what`, `n`), within one day.
fn timestamp(seed: u64, what: &str, n: u64) -> String {
    let seconds = draw(seed, what, n) % 86_400;
    format!(
        "2025-06-02T{:02}:{:02}:{:02}Z",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

fn repository(resource: &Resource, seed: u64) -> Value {
    let id = 100_000_000 + draw(seed, &resource.repo, 0) % 100_000_000;
    json!({
        "id": id,
        "node_id": format!("R_kgDO{id}"),
        "name": resource.repo,
        "full_name": format!("{OWNER}/{}", resource.repo),
        "private": true,
        "owner": { "login": OWNER, "id": 6_811_672, "type": "Organization" },
        "html_url": format!("https://github.com/{OWNER}/{}", resource.repo),
        "url": format!("https://api.github.com/repos/{OWNER}/{}", resource.repo),
    })
}

/// 1–3 queued runs whose ids move on with every version (jobs get picked up, new ones arrive).
fn queued_runs(resource: &Resource, version: u64, seed: u64) -> Value {
    let count = 1 + draw(seed, &resource.path, version) % 3;
    let api = format!("https://api.github.com/repos/{OWNER}/{}", resource.repo);
    let runs: Vec<Value> = (0..count)
        .map(|k| {
            let id = 9_000_000_000 + version * 10 + k;
            let workflow_id = 1_000 + draw(seed, &resource.path, id) % 3;
            let created = timestamp(seed, &resource.path, id);
            json!({
                "id": id,
                "name": format!("ci-{}", workflow_id - 1_000),
                "node_id": format!("WFR_kwLO{id}"),
                "head_branch": "main",
                "head_sha": hex::encode(Sha256::digest(id.to_le_bytes()))[..40].to_string(),
                "path": format!(".github/workflows/ci-{}.yml", workflow_id - 1_000),
                "display_title": format!("Build #{id}"),
                "run_number": id % 10_000,
                "event": "push",
                "status": "queued",
                "conclusion": null,
                "workflow_id": workflow_id,
                "run_attempt": 1,
                "url": format!("{api}/actions/runs/{id}"),
                "html_url": format!("https://github.com/{OWNER}/{}/actions/runs/{id}", resource.repo),
                "jobs_url": format!("{api}/actions/runs/{id}/jobs"),
                "logs_url": format!("{api}/actions/runs/{id}/logs"),
                "created_at": created,
                "updated_at": created,
                "run_started_at": created,
                "repository": repository(resource, seed),
            })
        })
        .collect();
    json!({ "total_count": count, "workflow_runs": runs })
}

/// Three long-lived runners whose busy flags change, plus one ephemeral runner per version.
fn runners(resource: &Resource, version: u64, seed: u64) -> Value {
    let labels = |extra: &str| {
        json!([
            { "id": 1, "name": "self-hosted", "type": "read-only" },
            { "id": 2, "name": "linux", "type": "read-only" },
            { "id": 3, "name": extra, "type": "custom" },
        ])
    };
    let busy = draw(seed, &resource.path, version);
    let mut list: Vec<Value> = (0..3u64)
        .map(|k| {
            json!({
                "id": 20 + k,
                "name": format!("{}-runner-{k}", resource.repo),
                "os": "linux",
                "status": "online",
                "busy": busy >> k & 1 == 1,
                "labels": labels("x64"),
            })
        })
        .collect();
    list.push(json!({
        "id": 10_000 + version,
        "name": format!("{}-ephemeral-{version}", resource.repo),
        "os": "linux",
        "status": "online",
        "busy": true,
        "ephemeral": true,
        "labels": labels("autoscaled"),
    }));
    json!({ "total_count": list.len(), "runners": list })
}

/// Three workflow definitions; a new version is an edit (new `updated_at`). They never change in
/// the default schedule.
fn workflows(resource: &Resource, version: u64, seed: u64) -> Value {
    let api = format!("https://api.github.com/repos/{OWNER}/{}", resource.repo);
    let list: Vec<Value> = (0..3u64)
        .map(|k| {
            let id = 1_000 + k;
            json!({
                "id": id,
                "node_id": format!("W_kwDO{id}"),
                "name": format!("ci-{k}"),
                "path": format!(".github/workflows/ci-{k}.yml"),
                "state": "active",
                "created_at": timestamp(seed, &resource.repo, id),
                "updated_at": timestamp(seed, &resource.path, version * 10 + k),
                "url": format!("{api}/actions/workflows/{id}"),
                "html_url": format!("https://github.com/{OWNER}/{}/blob/main/.github/workflows/ci-{k}.yml", resource.repo),
                "badge_url": format!("https://github.com/{OWNER}/{}/workflows/ci-{k}/badge.svg", resource.repo),
            })
        })
        .collect();
    json!({ "total_count": list.len(), "workflows": list })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::polling::schedule::{ChangePeriods, Schedule};

    #[test]
    fn each_version_has_its_own_etag_and_rendering_is_deterministic() {
        let schedule = Schedule::new(1, &ChangePeriods::default(), 3, 0);
        for resource in &schedule.resources {
            let v0 = render(resource, 0, 3);
            assert_eq!(v0.etag, render(resource, 0, 3).etag);
            assert_ne!(v0.etag, render(resource, 1, 3).etag, "{}", resource.path);
            let body: Value = serde_json::from_slice(&v0.body).unwrap();
            assert!(body["total_count"].as_u64().unwrap() >= 1);
        }
    }
}

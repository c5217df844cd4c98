//! The resources an autoscaler polls, and when each one changes. A resource's version is a pure
//! function of the time since the upstream started, its change period and a phase drawn from the
//! seed, so the upstream and the runners agree on "the current version" without talking.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Owner of every benchmark repository.
pub const OWNER: &str = "octo-org";

/// What an autoscaler asks about each repository every cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// `GET /repos/{o}/{r}/actions/runs?status=queued`: jobs waiting for a runner.
    QueuedRuns,
    /// `GET /repos/{o}/{r}/actions/runners`: the self-hosted runners and whether they are busy.
    Runners,
    /// `GET /repos/{o}/{r}/actions/workflows`: the workflow definitions.
    Workflows,
}

impl Kind {
    /// Every kind, in the order a runner polls them.
    pub const ALL: [Kind; 3] = [Kind::QueuedRuns, Kind::Runners, Kind::Workflows];

    /// Path and query of this kind of resource for `repo`, exactly as runners request it.
    pub fn path(self, repo: &str) -> String {
        match self {
            Kind::QueuedRuns => format!("/repos/{OWNER}/{repo}/actions/runs?status=queued"),
            Kind::Runners => format!("/repos/{OWNER}/{repo}/actions/runners"),
            Kind::Workflows => format!("/repos/{OWNER}/{repo}/actions/workflows"),
        }
    }
}

/// Name of the `index`th benchmark repository.
pub fn repo_name(index: usize) -> String {
    format!("fleet-{index}")
}

/// How often each kind of resource changes; `None` never.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangePeriods {
    /// Queued runs (default every 5 s: jobs arrive and get picked up).
    pub queued_runs: Option<Duration>,
    /// Runners (default every 15 s: runners come, go and turn busy).
    pub runners: Option<Duration>,
    /// Workflows (default never: definitions change with commits, rarely).
    pub workflows: Option<Duration>,
}

impl Default for ChangePeriods {
    fn default() -> Self {
        Self {
            queued_runs: Some(Duration::from_secs(5)),
            runners: Some(Duration::from_secs(15)),
            workflows: None,
        }
    }
}

impl ChangePeriods {
    fn of(&self, kind: Kind) -> Option<Duration> {
        match kind {
            Kind::QueuedRuns => self.queued_runs,
            Kind::Runners => self.runners,
            Kind::Workflows => self.workflows,
        }
    }
}

/// One resource and its change timetable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// Path and query, as requested (the resource's identity).
    pub path: String,
    /// What it is.
    pub kind: Kind,
    /// Its repository's name.
    pub repo: String,
    /// Milliseconds between versions; `None`: version 0 forever.
    pub period_ms: Option<u64>,
    /// Offset into the period at start, from the seed, so resources do not all change at once.
    pub phase_ms: u64,
}

impl Resource {
    /// The version current `elapsed_ms` after the start.
    pub fn version_at(&self, elapsed_ms: u64) -> u64 {
        match self.period_ms {
            None => 0,
            Some(period) => (elapsed_ms + self.phase_ms) / period,
        }
    }

    /// Milliseconds after the start at which `version` became current (0 for the first one).
    pub fn version_start_ms(&self, version: u64) -> u64 {
        match self.period_ms {
            None => 0,
            Some(period) => (version * period).saturating_sub(self.phase_ms),
        }
    }
}

/// Every resource of a run, and when the run started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// Unix milliseconds at which every resource was at its first version.
    pub start_unix_ms: u64,
    /// The seed the phases and bodies were drawn from.
    pub seed: u64,
    /// The resources, repository by repository, in polling order.
    pub resources: Vec<Resource>,
}

impl Schedule {
    /// `repos` repositories with one resource of each kind, starting at `start_unix_ms`.
    pub fn new(repos: usize, periods: &ChangePeriods, seed: u64, start_unix_ms: u64) -> Self {
        let mut resources = Vec::with_capacity(repos * Kind::ALL.len());
        for index in 0..repos {
            let repo = repo_name(index);
            for kind in Kind::ALL {
                let path = kind.path(&repo);
                let period_ms = periods
                    .of(kind)
                    .map(|p| u64::try_from(p.as_millis()).unwrap_or(u64::MAX).max(1));
                let phase_ms = period_ms.map_or(0, |p| draw(seed, &path, 0) % p);
                resources.push(Resource {
                    path,
                    kind,
                    repo: repo.clone(),
                    period_ms,
                    phase_ms,
                });
            }
        }
        Self {
            start_unix_ms,
            seed,
            resources,
        }
    }

    /// The resource requested as `path_and_query`, if it is one of ours.
    pub fn resource(&self, path_and_query: &str) -> Option<&Resource> {
        self.resources.iter().find(|r| r.path == path_and_query)
    }

    /// Milliseconds from the start to `unix_ms` (0 before the start).
    pub fn elapsed_ms(&self, unix_ms: u64) -> u64 {
        unix_ms.saturating_sub(self.start_unix_ms)
    }
}

/// A deterministic 64-bit draw for (`seed`, `what`, `n`): phases and body contents.
pub fn draw(seed: u64, what: &str, n: u64) -> u64 {
    let digest = Sha256::new()
        .chain_update(seed.to_le_bytes())
        .chain_update(what.as_bytes())
        .chain_update(n.to_le_bytes())
        .finalize();
    u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_follow_the_period_and_phase() {
        let schedule = Schedule::new(2, &ChangePeriods::default(), 7, 1_000);
        assert_eq!(schedule.resources.len(), 6);
        let runs = schedule
            .resource("/repos/octo-org/fleet-1/actions/runs?status=queued")
            .unwrap();
        assert_eq!(runs.period_ms, Some(5_000));
        let first_change = 5_000 - runs.phase_ms;
        assert_eq!(runs.version_at(first_change - 1), 0);
        assert_eq!(runs.version_at(first_change), 1);
        assert_eq!(runs.version_start_ms(1), first_change);
        assert_eq!(runs.version_start_ms(0), 0);
        let workflows = schedule
            .resource("/repos/octo-org/fleet-0/actions/workflows")
            .unwrap();
        assert_eq!(workflows.version_at(u64::MAX / 2), 0);
    }

    #[test]
    fn the_seed_decides_the_phases() {
        let a = Schedule::new(3, &ChangePeriods::default(), 1, 0);
        let b = Schedule::new(3, &ChangePeriods::default(), 1, 0);
        let c = Schedule::new(3, &ChangePeriods::default(), 2, 0);
        assert_eq!(a, b);
        assert_ne!(a.resources, c.resources);
    }
}

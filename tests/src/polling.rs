//! The polling-workload benchmark harness: what an autoscaler fleet costs GitHub when every runner
//! checks queued runs, runners and workflows every cycle, directly or through `ghmesh serve`.
//! Binaries: `polling-upstream` (the fake API) and `polling-fleet` (the runners and the report);
//! `tests/bench/polling.sh` runs them.
//!
//! Layout:
//! - [`cli`]: the binaries' flags and their validation.
//! - [`schedule`]: the resources and which version each is at, at any moment (seeded).
//! - [`github`]: GitHub-shaped bodies, ETags and headers for one resource version.
//! - [`counts`]: what the upstream counted (charged requests, 304s, versions served).
//! - [`upstream`]: the fake API server: ETags, 304s, rate-limit headers, `/_counts`.
//! - [`runner`]: one runner's polling loop and what it observed.
//! - [`process`]: child processes that announce themselves with a ready line.
//! - [`fleet`]: the modes (direct, per-runner cache, shared cache), one measured run per mode.
//! - [`report`]: figures derived from a run, as a table and as JSON.

pub mod cli;
pub mod counts;
pub mod fleet;
pub mod github;
pub mod process;
pub mod report;
pub mod runner;
pub mod schedule;
pub mod upstream;

/// Milliseconds since the Unix epoch (0 before 1970).
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

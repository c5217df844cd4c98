//! The CodeQL cache's counters, under the seed's names, persisted in the result store so they
//! add up across the short-lived `ghmesh codeql` processes of a runner.

use serde::{Deserialize, Serialize};

/// Counters of the CodeQL cache.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CodeqlStats {
    /// Results stored (`ghmesh codeql store`).
    pub scans_cached: u64,
    /// Stored results handed out for upload (exact hits and reuses).
    pub scans_retrieved: u64,
    /// Checks that answered `should-skip-scan=true`.
    pub scans_skipped: u64,
    /// Checks made.
    pub checks: u64,
    /// Checks that answered miss (the scan runs).
    pub misses: u64,
    /// Checks that failed closed (`error`).
    pub errors: u64,
    /// Scan seconds the skips saved (the stored scans' durations).
    pub scan_time_saved_secs: f64,
    /// Results received from fleet peers and stored here (announced, or found by a lookup).
    pub scans_from_peers: u64,
    /// Results handed out that had come from fleet peers (part of `scans_retrieved`).
    pub scans_retrieved_from_peers: u64,
}

/// The counters with the derived figures, as printed.
#[derive(Debug, Clone, Serialize)]
pub struct StatsReport {
    /// Results stored.
    pub scans_cached: u64,
    /// Results handed out.
    pub scans_retrieved: u64,
    /// Scans skipped.
    pub scans_skipped: u64,
    /// Checks made.
    pub checks: u64,
    /// Checks answered miss.
    pub misses: u64,
    /// Checks answered error.
    pub errors: u64,
    /// `scans_skipped / checks`, 0 without checks.
    pub skip_rate: f64,
    /// Scan time saved, in hours.
    pub scan_time_saved_hours: f64,
    /// Results received from fleet peers.
    pub scans_from_peers: u64,
    /// Results handed out that had come from fleet peers.
    pub scans_retrieved_from_peers: u64,
}

impl CodeqlStats {
    /// The report with skip rate and hours.
    pub fn report(&self) -> StatsReport {
        let skip_rate = if self.checks == 0 {
            0.0
        } else {
            self.scans_skipped as f64 / self.checks as f64
        };
        StatsReport {
            scans_cached: self.scans_cached,
            scans_retrieved: self.scans_retrieved,
            scans_skipped: self.scans_skipped,
            checks: self.checks,
            misses: self.misses,
            errors: self.errors,
            skip_rate,
            scan_time_saved_hours: self.scan_time_saved_secs / 3600.0,
            scans_from_peers: self.scans_from_peers,
            scans_retrieved_from_peers: self.scans_retrieved_from_peers,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_and_hours_are_derived() {
        let stats = CodeqlStats {
            checks: 4,
            scans_skipped: 1,
            scan_time_saved_secs: 5400.0,
            ..CodeqlStats::default()
        };
        let report = stats.report();
        assert_eq!(report.skip_rate, 0.25);
        assert_eq!(report.scan_time_saved_hours, 1.5);
        assert_eq!(CodeqlStats::default().report().skip_rate, 0.0);
    }
}

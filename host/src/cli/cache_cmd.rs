//! `ghmesh cache ...`: inspect and maintain the response store (`cache.dir`).
//!
//! The store is opened directly when it is free; while a `ghmesh serve` holds its lock, the same
//! commands go through that serve's admin API, found with the discovery file, and print the same
//! output. Listings show only columns that cannot carry a credential: never header values.

use super::admin_client::AdminClient;
use super::discovery::{self, Discovery};
use super::proxy_setup;
use crate::clock::unix_now;
use crate::config::Config;
use crate::proxy::admin::{ListedEntry, Removed, StoreSummary, VerifySummary};
use crate::store::{self, Share, Store, StoreError};
use anyhow::Context;
use bytesize::ByteSize;
use clap::Subcommand;
use serde_json::json;
use std::process::ExitCode;
use std::time::Duration;

/// A verify of a large store through a serve hashes every body; allow it minutes.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(600);

/// Response store commands.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Print the number of entries, distinct bodies, body bytes and the database file's size.
    Stats {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List entries, most recently used first: key, status, operation, age, TTL, size, share.
    Ls {
        /// Most entries to list.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove entries whose TTL ran out more than GRACE_SECS ago.
    Prune {
        /// Seconds past expiry an entry is still kept (stale answers when upstream fails).
        #[arg(long, default_value_t = 0)]
        grace_secs: u64,
    },
    /// Remove every entry and body.
    Clear {
        /// Confirm: the whole cache is deleted.
        #[arg(long)]
        yes: bool,
    },
    /// Check every stored body against its CID; exits 1 if anything is wrong.
    Verify,
}

/// Runs a store command against the store in `config.cache.dir`, directly or through the serve
/// holding it.
pub fn run(command: CacheCommand, config: &Config) -> anyhow::Result<ExitCode> {
    let db_path = config.cache.dir.join(store::DB_FILE);
    if let CacheCommand::Clear { yes: false } = command {
        anyhow::bail!(
            "refusing to clear {} without --yes: it deletes every cached response",
            db_path.display()
        );
    }
    let Some(backend) = Backend::open(config)? else {
        let persistence = if config.cache.persistence {
            ""
        } else {
            " (cache.persistence is off: a running proxy keeps its store in memory)"
        };
        println!("no store at {}{persistence}", db_path.display());
        return Ok(ExitCode::SUCCESS);
    };
    match command {
        CacheCommand::Stats { json } => {
            print_stats(&backend.stats()?, json)?;
            Ok(ExitCode::SUCCESS)
        }
        CacheCommand::Ls { limit, json } => {
            print_entries(&backend.entries(limit)?, json)?;
            Ok(ExitCode::SUCCESS)
        }
        CacheCommand::Prune { grace_secs } => {
            let pruned = backend.prune(grace_secs)?;
            println!("pruned {} expired entries", pruned.removed);
            Ok(ExitCode::SUCCESS)
        }
        CacheCommand::Clear { .. } => {
            let cleared = backend.clear()?;
            println!(
                "cleared {} entries from {}",
                cleared.removed,
                cleared.path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        CacheCommand::Verify => Ok(print_verify(&backend.verify()?)),
    }
}

/// Where the commands are carried out.
enum Backend {
    /// The store, opened by this process.
    Local(Store),
    /// The admin API of the serve holding the store.
    Remote(AdminClient, tokio::runtime::Runtime),
}

impl Backend {
    /// The store if it is free, else the serve holding it; `None` when there is neither (no
    /// store file, no serve).
    fn open(config: &Config) -> anyhow::Result<Option<Self>> {
        let dir = &config.cache.dir;
        // Reading commands must not create an empty store as a side effect; without persistence
        // the only store is in a running serve's memory.
        let opened = if config.cache.persistence && dir.join(store::DB_FILE).exists() {
            match proxy_setup::open_store(config) {
                Ok(store) => return Ok(Some(Self::Local(store))),
                Err(StoreError::Locked { path }) => Some(path),
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("opening the response store in {}", dir.display())
                    });
                }
            }
        } else {
            None
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        match (runtime.block_on(discovery::discover(dir))?, opened) {
            (Discovery::Live(record), _) => {
                tracing::debug!(url = %record.url, "store held by a serve: using its admin API");
                let client = AdminClient::new(&record, ADMIN_TIMEOUT)?;
                Ok(Some(Self::Remote(client, runtime)))
            }
            (_, None) => Ok(None),
            (Discovery::Stale(record, reason), Some(locked)) => anyhow::bail!(
                "store {} is locked: the ghmesh serve recorded in {} (pid {}) holds it, but \
                 {reason}",
                locked.display(),
                dir.join(discovery::FILE).display(),
                record.pid
            ),
            (Discovery::Absent, Some(locked)) => anyhow::bail!(
                "store {} is in use by another process that left no {} (an older ghmesh serve, \
                 or another `ghmesh cache` command)",
                locked.display(),
                discovery::FILE
            ),
        }
    }

    fn stats(&self) -> anyhow::Result<StoreSummary> {
        match self {
            Self::Local(store) => Ok(StoreSummary::of(store)?),
            Self::Remote(client, runtime) => runtime.block_on(client.stats()),
        }
    }

    fn entries(&self, limit: usize) -> anyhow::Result<Vec<ListedEntry>> {
        match self {
            Self::Local(store) => Ok(store.list(limit)?.iter().map(ListedEntry::from).collect()),
            Self::Remote(client, runtime) => runtime.block_on(client.entries(limit)),
        }
    }

    fn prune(&self, grace_secs: u64) -> anyhow::Result<Removed> {
        match self {
            Self::Local(store) => Ok(Removed {
                removed: store.prune(unix_now(), grace_secs)?,
                path: store.path().to_path_buf(),
            }),
            Self::Remote(client, runtime) => runtime.block_on(client.prune(grace_secs)),
        }
    }

    fn clear(&self) -> anyhow::Result<Removed> {
        match self {
            Self::Local(store) => Ok(Removed {
                removed: store.clear()?,
                path: store.path().to_path_buf(),
            }),
            Self::Remote(client, runtime) => runtime.block_on(client.clear()),
        }
    }

    fn verify(&self) -> anyhow::Result<VerifySummary> {
        match self {
            Self::Local(store) => Ok(store.verify_all()?.into()),
            Self::Remote(client, runtime) => runtime.block_on(client.verify()),
        }
    }
}

fn print_stats(summary: &StoreSummary, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        println!("{}", serde_json::to_string_pretty(summary)?);
    } else {
        let size = |n: u64| ByteSize(n).display().iec().to_string();
        println!("store:         {}", summary.path.display());
        println!(
            "entries:       {} (max {})",
            summary.entries, summary.max_entries
        );
        println!("unique bodies: {}", summary.blobs);
        println!(
            "body bytes:    {} (max {})",
            size(summary.bytes),
            size(summary.max_bytes)
        );
        if let Some(file) = summary.db_file_bytes {
            println!("db file:       {}", size(file));
        }
    }
    Ok(())
}

fn print_entries(entries: &[ListedEntry], as_json: bool) -> anyhow::Result<()> {
    let now = unix_now();
    if as_json {
        let rows: Vec<_> = entries.iter().map(|e| safe_json(e, now)).collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", render_table(entries, now));
    }
    Ok(())
}

/// The listed fields of an entry: identifiers and numbers only, no headers or validators.
fn safe_json(e: &ListedEntry, now: u64) -> serde_json::Value {
    json!({
        "key": e.key,
        "method": e.method,
        "path": e.path,
        "status": e.status,
        "operation": e.operation,
        "age_secs": now.saturating_sub(e.fetched_at),
        "ttl_secs": e.ttl_secs,
        "fresh": e.is_fresh(now),
        "size": e.size,
        "share": share_name(e.share),
        "cid": e.cid,
    })
}

fn render_table(entries: &[ListedEntry], now: u64) -> String {
    let header = ["KEY", "STATUS", "OPERATION", "AGE", "TTL", "SIZE", "SHARE"];
    let rows: Vec<[String; 7]> = entries
        .iter()
        .map(|e| {
            [
                e.key.clone(),
                e.status.to_string(),
                e.operation.clone(),
                duration(now.saturating_sub(e.fetched_at)),
                duration(u64::from(e.ttl_secs)),
                ByteSize(e.size).display().iec().to_string(),
                share_name(e.share).to_owned(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    };
    line(&header);
    for row in &rows {
        line(&row.each_ref().map(String::as_str));
    }
    out
}

fn share_name(share: Share) -> &'static str {
    match share {
        Share::Token => "token",
        Share::Revalidate => "revalidate",
        Share::Fleet => "fleet",
    }
}

/// `42s`, `5m`, `3h`, `2d`: the largest whole unit.
fn duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn print_verify(report: &VerifySummary) -> ExitCode {
    println!(
        "checked {} bodies ({})",
        report.blobs_checked,
        ByteSize(report.bytes_checked).display().iec()
    );
    for (cid, keys) in &report.corrupt {
        println!("corrupt body {cid} (used by {} entries)", keys.len());
    }
    for key in &report.missing_blobs {
        println!("entry {key:?} names a missing body");
    }
    for key in &report.unreadable_entries {
        println!("entry {key:?} does not decode");
    }
    if report.is_clean() {
        println!("ok");
        ExitCode::SUCCESS
    } else {
        // Nothing here is ever served: a request for an affected entry removes it and refetches.
        println!("problems found; affected entries are refetched on their next request");
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::EntryMeta;

    fn meta(key: &str, size: u64) -> EntryMeta {
        EntryMeta {
            key: key.to_owned(),
            method: "GET".into(),
            path: "/repos/o/r".into(),
            query: String::new(),
            status: 200,
            headers: vec![("x-secretish".into(), "never-printed".into())],
            cid: "bafk".into(),
            size,
            fetched_at: 1_000,
            ttl_secs: 300,
            etag: Some("\"etag-never-printed\"".into()),
            last_modified: None,
            token_partition: "partition-never-printed".into(),
            share: Share::Revalidate,
            operation: "repo".into(),
            last_access: 1_000,
        }
    }

    #[test]
    fn table_has_the_safe_columns_aligned() {
        let listed: Vec<ListedEntry> = [meta("GET /repos/o/r", 2048), meta("k", 5)]
            .iter()
            .map(ListedEntry::from)
            .collect();
        let table = render_table(&listed, 1_090);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("KEY             STATUS  OPERATION  AGE  TTL"));
        assert!(lines[1].starts_with("GET /repos/o/r  200     repo       1m   5m"));
        assert!(lines[1].ends_with("revalidate"));
        assert!(!table.contains("never-printed"));
        let json = safe_json(&ListedEntry::from(&meta("k", 5)), 1_090).to_string();
        assert!(!json.contains("never-printed"), "{json}");
    }

    #[test]
    fn durations_use_the_largest_whole_unit() {
        assert_eq!(duration(59), "59s");
        assert_eq!(duration(3599), "59m");
        assert_eq!(duration(7200), "2h");
        assert_eq!(duration(200_000), "2d");
    }
}

//! `ghmesh cache ...`: inspect and maintain the response store on disk (`cache.dir`).
//!
//! The store is locked by a running proxy, so these commands are for a stopped one (or for a
//! runner's cache directory restored before the proxy starts). Listings show only columns that
//! cannot carry a credential: never header values.

use crate::clock::unix_now;
use crate::config::Config;
use crate::store::{self, EntryMeta, Share, Store, StoreLimits};
use anyhow::Context;
use bytesize::ByteSize;
use clap::Subcommand;
use serde_json::json;
use std::process::ExitCode;

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

/// Runs a store command against the store in `config.cache.dir`.
pub fn run(command: CacheCommand, config: &Config) -> anyhow::Result<ExitCode> {
    let db_path = config.cache.dir.join(store::DB_FILE);
    if let CacheCommand::Clear { yes: false } = command {
        anyhow::bail!(
            "refusing to clear {} without --yes: it deletes every cached response",
            db_path.display()
        );
    }
    // Reading commands must not create an empty store as a side effect.
    if !db_path.exists() {
        let persistence = if config.cache.persistence {
            ""
        } else {
            " (cache.persistence is off: a running proxy keeps its store in memory)"
        };
        println!("no store at {}{persistence}", db_path.display());
        return Ok(ExitCode::SUCCESS);
    }
    let limits = StoreLimits {
        max_entries: config.cache.max_entries,
        max_bytes: config.cache.max_size_bytes,
    };
    let store = Store::open(&config.cache.dir, limits).with_context(|| {
        format!(
            "opening the response store in {}",
            config.cache.dir.display()
        )
    })?;
    match command {
        CacheCommand::Stats { json } => stats(&store, json),
        CacheCommand::Ls { limit, json } => ls(&store, limit, json),
        CacheCommand::Prune { grace_secs } => {
            let removed = store.prune(unix_now(), grace_secs)?;
            println!("pruned {removed} expired entries");
            Ok(ExitCode::SUCCESS)
        }
        CacheCommand::Clear { .. } => {
            let removed = store.clear()?;
            println!("cleared {removed} entries from {}", store.path().display());
            Ok(ExitCode::SUCCESS)
        }
        CacheCommand::Verify => verify(&store),
    }
}

fn stats(store: &Store, as_json: bool) -> anyhow::Result<ExitCode> {
    let stats = store.stats()?;
    let limits = store.limits();
    if as_json {
        let value = json!({
            "path": store.path(),
            "entries": stats.entries,
            "blobs": stats.blobs,
            "bytes": stats.bytes,
            "db_file_bytes": stats.db_file_bytes,
            "max_entries": limits.max_entries,
            "max_bytes": limits.max_bytes,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        let size = |n: u64| ByteSize(n).display().iec().to_string();
        println!("store:         {}", store.path().display());
        println!(
            "entries:       {} (max {})",
            stats.entries, limits.max_entries
        );
        println!("unique bodies: {}", stats.blobs);
        println!(
            "body bytes:    {} (max {})",
            size(stats.bytes),
            size(limits.max_bytes)
        );
        if let Some(file) = stats.db_file_bytes {
            println!("db file:       {}", size(file));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn ls(store: &Store, limit: usize, as_json: bool) -> anyhow::Result<ExitCode> {
    let entries = store.list(limit)?;
    let now = unix_now();
    if as_json {
        let rows: Vec<_> = entries.iter().map(|e| safe_json(e, now)).collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", render_table(&entries, now));
    }
    Ok(ExitCode::SUCCESS)
}

/// The listed fields of an entry: identifiers and numbers only, no headers or validators.
fn safe_json(e: &EntryMeta, now: u64) -> serde_json::Value {
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

fn render_table(entries: &[EntryMeta], now: u64) -> String {
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

fn verify(store: &Store) -> anyhow::Result<ExitCode> {
    let report = store.verify_all()?;
    println!(
        "checked {} bodies ({})",
        report.blobs_checked,
        ByteSize(report.bytes_checked).display().iec()
    );
    for bad in &report.corrupt {
        println!(
            "corrupt body {} (used by {} entries)",
            bad.cid,
            bad.keys.len()
        );
    }
    for key in &report.missing_blobs {
        println!("entry {key:?} names a missing body");
    }
    for key in &report.unreadable_entries {
        println!("entry {key:?} does not decode");
    }
    if report.is_clean() {
        println!("ok");
        Ok(ExitCode::SUCCESS)
    } else {
        // Nothing here is ever served: a request for an affected entry removes it and refetches.
        println!("problems found; affected entries are refetched on their next request");
        Ok(ExitCode::FAILURE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let table = render_table(&[meta("GET /repos/o/r", 2048), meta("k", 5)], 1_090);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("KEY             STATUS  OPERATION  AGE  TTL"));
        assert!(lines[1].starts_with("GET /repos/o/r  200     repo       1m   5m"));
        assert!(lines[1].ends_with("revalidate"));
        assert!(!table.contains("never-printed"));
        let json = safe_json(&meta("k", 5), 1_090).to_string();
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

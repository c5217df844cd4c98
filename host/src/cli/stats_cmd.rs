//! `ghmesh stats`: ask a running `ghmesh serve` for its `/_ghmesh/stats` document and print it,
//! as an aligned table or as the JSON it sent. The store is locked while `serve` runs, so its
//! counters can only be read over HTTP.

use super::serve_client::{self, ServeUrl};
use super::summary;
use crate::clock::unix_now;
use crate::config::Config;
use anyhow::Context;
use clap::Args;
use serde_json::Value;
use std::fmt::Write;
use std::process::ExitCode;
use std::time::Duration;

/// The seed's stats names, printed first and in this order; every other field follows.
const SEED_FIELDS: [&str; 9] = [
    "local_hits",
    "peer_hits",
    "misses",
    "hit_rate",
    "api_calls_saved",
    "cache_size",
    "p2p_enabled",
    "connected_peers",
    "peer_id",
];

/// A local proxy answers in milliseconds; waiting longer only hides a hung one.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Options of `ghmesh stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Where the proxy answers.
    #[command(flatten)]
    pub serve: ServeUrl,
    /// Print the JSON document as the proxy sent it instead of a table.
    #[arg(long, conflicts_with = "summary")]
    pub json: bool,
    /// Write the job summary (Markdown: API cache, CodeQL cache, credentials) to
    /// `GITHUB_STEP_SUMMARY`, or to stdout outside GitHub Actions. Never fails for a part that
    /// did not run: the summary says so instead.
    #[arg(long)]
    pub summary: bool,
}

/// Fetches the stats and prints them.
pub fn run(args: StatsArgs, config: &Config) -> anyhow::Result<ExitCode> {
    if args.summary {
        return write_summary(&args, config);
    }
    let (text, doc) = fetch(&args, config)?;
    if args.json {
        println!("{}", text.trim_end());
    } else {
        print!("{}", render(&doc, unix_now()));
    }
    Ok(ExitCode::SUCCESS)
}

/// The serve's stats document, as text and parsed.
fn fetch(args: &StatsArgs, config: &Config) -> anyhow::Result<(String, Value)> {
    let text = serve_client::get_text(&args.serve, &config.cache.dir, "/_ghmesh/stats", TIMEOUT)?;
    let doc: Value = serde_json::from_str(&text)
        .ok()
        .filter(Value::is_object)
        .with_context(|| {
            format!(
                "{} did not answer /_ghmesh/stats with a JSON object: is it a ghmesh serve?",
                args.serve.url.as_deref().unwrap_or("the serve")
            )
        })?;
    Ok((text, doc))
}

/// `--summary`: gathers what each part did and appends the Markdown to `GITHUB_STEP_SUMMARY`
/// (stdout when unset).
fn write_summary(args: &StatsArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let input = summary::SummaryInput {
        api: fetch(args, config)
            .map(|(_, doc)| doc)
            .map_err(|e| format!("{e:#}")),
        codeql: super::codeql_cmd::stats_document(config).map_err(|e| format!("{e:#}")),
        credentials: credentials_document(config),
    };
    let markdown = summary::render(&input);
    match std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        Some(path) => {
            use std::io::Write as _;
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| format!("cannot open GITHUB_STEP_SUMMARY {path:?}"))?;
            file.write_all(markdown.as_bytes())
                .with_context(|| format!("cannot write GITHUB_STEP_SUMMARY {path:?}"))?;
        }
        None => print!("{markdown}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The vault's counters for the summary: the vault `GHMESH_VAULT_DIR` names, else the cache
/// dir's (the default of `ghmesh creds`). Metadata only: no key, no value.
fn credentials_document(config: &Config) -> Result<Value, String> {
    let dir = std::env::var_os("GHMESH_VAULT_DIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| config.cache.dir.join("credentials"), Into::into);
    if !dir.exists() {
        return Err("no credential vault on this runner".to_string());
    }
    crate::credentials::manager::stats_document(&dir, unix_now()).map_err(|e| format!("{e:#}"))
}

/// The table: the seed's fields, the other counters, then one row per rate-limit partition.
fn render(doc: &Value, now: u64) -> String {
    let Some(fields) = doc.as_object() else {
        return String::new();
    };
    let rest = fields
        .keys()
        .map(String::as_str)
        .filter(|k| !SEED_FIELDS.contains(k) && *k != "rate_limits");
    let names: Vec<&str> = SEED_FIELDS.into_iter().chain(rest).collect();
    let width = names.iter().map(|n| n.len()).max().unwrap_or(0);
    let mut out = String::new();
    for name in names {
        let value = match (name, fields.get(name)) {
            ("hit_rate", Some(rate)) => rate
                .as_f64()
                .map_or_else(|| scalar(rate), |r| format!("{:.1}%", r * 100.0)),
            (_, Some(value)) => scalar(value),
            (_, None) => "-".to_string(),
        };
        let _ = writeln!(out, "{name:width$}  {value}");
    }
    out.push_str(&render_rate_limits(fields.get("rate_limits"), now));
    out
}

/// One row per token partition (hashes, never tokens): remaining/limit, when the window resets,
/// and whether GitHub asked not to be called.
fn render_rate_limits(limits: Option<&Value>, now: u64) -> String {
    let partitions = limits.and_then(Value::as_object).filter(|m| !m.is_empty());
    let Some(partitions) = partitions else {
        return "\nrate_limits  none seen yet\n".to_string();
    };
    let header = ["partition", "remaining", "resets", "resource", "blocked"];
    let mut rows = vec![header.map(str::to_string)];
    for (partition, quota) in partitions {
        let number = |field: &str| quota.get(field).and_then(Value::as_u64);
        let count = |field: &str| number(field).map_or("?".to_string(), |n| n.to_string());
        let blocked = match number("blocked_until") {
            Some(until) if until > now => format!("for {}", duration(until - now)),
            _ => "no".to_string(),
        };
        rows.push([
            partition.clone(),
            format!("{}/{}", count("remaining"), count("limit")),
            number("reset").map_or("?".to_string(), |reset| relative(reset, now)),
            quota
                .get("resource")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string(),
            blocked,
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| rows.iter().map(|row| row[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::from("\nrate_limits\n");
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        let _ = writeln!(out, "  {}", cells.join("  ").trim_end());
    }
    out
}

/// A JSON scalar as a person reads it: strings unquoted, null as `-`.
fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "-".to_string(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// `in 4m 10s` / `12s ago` for a unix time relative to `now`.
fn relative(at: u64, now: u64) -> String {
    if at >= now {
        format!("in {}", duration(at - now))
    } else {
        format!("{} ago", duration(now - at))
    }
}

/// The two most significant units: `1h 02m`, `4m 10s`, `7s`.
fn duration(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m {:02}s", secs / 60, secs % 60),
        _ => format!("{}h {:02}m", secs / 3600, secs % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_lists_seed_fields_first_then_the_rest() {
        let doc = json!({
            "bypassed": 2,
            "local_hits": 3,
            "misses": 1,
            "hit_rate": 0.75,
            "peer_id": null,
            "p2p_enabled": false,
            "rate_limits": {},
        });
        let text = render(&doc, 0);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "local_hits       3");
        assert_eq!(lines[3], "hit_rate         75.0%");
        assert_eq!(lines[8], "peer_id          -");
        assert_eq!(lines[9], "bypassed         2", "{text}");
        assert!(text.contains("p2p_enabled      false"), "{text}");
        assert!(text.contains("rate_limits  none seen yet"), "{text}");
    }

    #[test]
    fn rate_limits_show_remaining_of_limit_and_relative_reset() {
        let doc = json!({
            "rate_limits": {
                "abc123": { "limit": 5000, "remaining": 4990, "reset": 1_250, "resource": "core", "blocked_until": null },
                "anonymous": { "limit": 60, "remaining": 0, "reset": 900, "resource": null, "blocked_until": 1_090 },
            }
        });
        let text = render(&doc, 1_000);
        assert!(text.contains("abc123     4990/5000  in 4m 10s"), "{text}");
        assert!(
            text.contains("anonymous  0/60       1m 40s ago  ?"),
            "{text}"
        );
        assert!(text.contains("for 1m 30s"), "{text}");
    }

    #[test]
    fn durations_keep_two_units() {
        assert_eq!(duration(7), "7s");
        assert_eq!(duration(250), "4m 10s");
        assert_eq!(duration(3_725), "1h 02m");
    }
}

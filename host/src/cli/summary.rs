//! `ghmesh stats --summary`: the job summary in Markdown — what the API cache, the CodeQL cache
//! and the credential manager did for this job — for `GITHUB_STEP_SUMMARY`. Every section says
//! plainly when its part did not run; nothing here can fail the job.

use serde_json::Value;
use std::fmt::Write;

/// What the summary is made of; each part is the reason it is missing when it did not run or
/// could not be read.
#[derive(Debug)]
pub struct SummaryInput {
    /// The serve's `/_ghmesh/stats` document, or why there is none.
    pub api: Result<Value, String>,
    /// `ghmesh codeql stats --json`, or why there is none.
    pub codeql: Result<Value, String>,
    /// `ghmesh creds stats` document, or why there is none.
    pub credentials: Result<Value, String>,
}

/// The Markdown summary.
pub fn render(input: &SummaryInput) -> String {
    let mut out = String::from("## ghmesh\n\n");
    render_api(&mut out, &input.api);
    render_codeql(&mut out, &input.codeql);
    render_credentials(&mut out, &input.credentials);
    out
}

fn count(doc: &Value, field: &str) -> u64 {
    doc.get(field).and_then(Value::as_u64).unwrap_or(0)
}

fn render_api(out: &mut String, api: &Result<Value, String>) {
    out.push_str("### GitHub API cache\n\n");
    let doc = match api {
        Ok(doc) => doc,
        Err(why) => {
            let _ = writeln!(out, "Not running: {}\n", escape(why));
            return;
        }
    };
    let local = count(doc, "local_hits");
    let peer = count(doc, "peer_hits");
    let revalidated = count(doc, "revalidations");
    let coalesced = count(doc, "coalesced");
    let stale = count(doc, "stale_served");
    let misses = count(doc, "misses");
    let bypassed = count(doc, "bypassed");
    let requests = local + peer + revalidated + coalesced + stale + misses + bypassed;
    let remaining = rate_limit_remaining(doc);
    out.push_str("| requests | local hits | peer hits | revalidations (free 304s) | API calls saved | rate limit remaining |\n");
    out.push_str("|---:|---:|---:|---:|---:|---|\n");
    let _ = writeln!(
        out,
        "| {requests} | {local} | {peer} | {revalidated} | {} | {} |\n",
        count(doc, "api_calls_saved"),
        remaining.as_deref().unwrap_or("not seen")
    );
    if let Some(peers) = doc.get("p2p_enabled").and_then(Value::as_bool) {
        let _ = writeln!(
            out,
            "Fleet mesh: {}.\n",
            if peers {
                format!("{} connected peer(s)", count(doc, "connected_peers"))
            } else {
                "off".to_string()
            }
        );
    }
    let slices = [
        ("local cache", local),
        ("fleet peers", peer),
        ("revalidated (304)", revalidated),
        ("coalesced", coalesced),
        ("stale (rate-limited)", stale),
        ("GitHub (miss)", misses),
        ("bypassed", bypassed),
    ];
    if requests > 0 {
        out.push_str("```mermaid\npie showData title Where responses came from\n");
        for (label, n) in slices.into_iter().filter(|(_, n)| *n > 0) {
            let _ = writeln!(out, "    \"{label}\" : {n}");
        }
        out.push_str("```\n\n");
    }
}

/// The lowest `remaining/limit` across token partitions (hashes only, never tokens).
fn rate_limit_remaining(doc: &Value) -> Option<String> {
    doc.get("rate_limits")?
        .as_object()?
        .values()
        .filter_map(|quota| {
            Some((
                quota.get("remaining")?.as_u64()?,
                quota.get("limit")?.as_u64()?,
            ))
        })
        .min()
        .map(|(remaining, limit)| format!("{remaining}/{limit}"))
}

fn render_codeql(out: &mut String, codeql: &Result<Value, String>) {
    out.push_str("### CodeQL result cache\n\n");
    match codeql {
        Ok(doc) => {
            let hours = doc
                .get("scan_time_saved_hours")
                .and_then(Value::as_f64)
                .unwrap_or(0.0);
            out.push_str("| checks | scans skipped | results stored | scan time saved |\n");
            out.push_str("|---:|---:|---:|---:|\n");
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.1} min |\n",
                count(doc, "checks"),
                count(doc, "scans_skipped"),
                count(doc, "scans_cached"),
                hours * 60.0
            );
        }
        Err(why) => {
            let _ = writeln!(out, "Not used: {}\n", escape(why));
        }
    }
}

fn render_credentials(out: &mut String, credentials: &Result<Value, String>) {
    out.push_str("### Credentials\n\n");
    match credentials {
        Ok(doc) => {
            out.push_str("| granted | denied | active credentials |\n|---:|---:|---:|\n");
            let _ = writeln!(
                out,
                "| {} | {} | {} |\n",
                count(doc, "granted"),
                count(doc, "denied"),
                count(doc, "active_credentials")
            );
        }
        Err(why) => {
            let _ = writeln!(out, "Not used: {}\n", escape(why));
        }
    }
}

/// Text safe inside a Markdown table cell or paragraph: no pipes, no line breaks, no HTML.
fn escape(text: &str) -> String {
    text.replace('|', "\\|")
        .replace(['\n', '\r'], " ")
        .replace('<', "&lt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn full_summary_has_tables_and_a_pie_of_sources() {
        let input = SummaryInput {
            api: Ok(json!({
                "local_hits": 7, "peer_hits": 2, "revalidations": 3, "misses": 1,
                "coalesced": 0, "stale_served": 0, "bypassed": 1, "api_calls_saved": 9,
                "p2p_enabled": true, "connected_peers": 4,
                "rate_limits": {
                    "a": {"remaining": 4990, "limit": 5000},
                    "b": {"remaining": 12, "limit": 60}
                }
            })),
            codeql: Ok(json!({"checks": 2, "scans_skipped": 1, "scans_cached": 1,
                              "scan_time_saved_hours": 0.5})),
            credentials: Ok(json!({"granted": 3, "denied": 1, "active_credentials": 2})),
        };
        let text = render(&input);
        assert!(text.contains("| 14 | 7 | 2 | 3 | 9 | 12/60 |"), "{text}");
        assert!(text.contains("Fleet mesh: 4 connected peer(s)."), "{text}");
        assert!(text.contains("\"fleet peers\" : 2"), "{text}");
        assert!(text.contains("\"GitHub (miss)\" : 1"), "{text}");
        assert!(
            !text.contains("\"coalesced\""),
            "empty slices are left out: {text}"
        );
        assert!(text.contains("| 2 | 1 | 1 | 30.0 min |"), "{text}");
        assert!(text.contains("| 3 | 1 | 2 |"), "{text}");
    }

    #[test]
    fn parts_that_did_not_run_say_why_without_breaking_the_markdown() {
        let input = SummaryInput {
            api: Err("no serve answered at http://127.0.0.1:1 | <b>".into()),
            codeql: Err("no results".into()),
            credentials: Err("no vault\nhere".into()),
        };
        let text = render(&input);
        assert!(text.contains("Not running: no serve answered at http://127.0.0.1:1 \\| &lt;b>"));
        assert!(text.contains("Not used: no vault here"), "{text}");
        assert!(!text.contains("mermaid"), "{text}");
    }
}

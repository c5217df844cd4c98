//! SARIF 2.1.0 as the cache handles it: validated before anything is stored, summarised (alert
//! counts by level and by security severity), refused as reusable when it covers only a pull
//! request's diff, and re-addressed to the commit it is handed out for.
//!
//! What marks a diff-restricted result (codeql-action's diff-informed analysis adds the
//! `codeql-action/pr-diff-range` data-extension pack and filters alerts to the diff): a tool
//! extension or pack reference naming `pr-diff-range`, or a run property whose name mentions
//! "diff" (`diffInformed`, `diff-range`, ...) with a value other than `false`/`null`. The caller
//! can also say so (`--diff-informed`).

use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// A validated SARIF document and its summary.
#[derive(Debug, Clone)]
pub struct Sarif {
    /// The parsed document.
    pub document: Value,
    /// Counts for the stored metadata.
    pub summary: Summary,
}

/// Alert counts of a SARIF document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Summary {
    /// Runs in the document.
    pub runs: u64,
    /// Results (alerts) in all runs.
    pub results: u64,
    /// Results by level: `error`, `warning`, `note`, `none`.
    pub by_level: BTreeMap<String, u64>,
    /// Results by security severity (`critical`, `high`, `medium`, `low`) where the rule has a
    /// `security-severity` score.
    pub by_security_severity: BTreeMap<String, u64>,
}

/// Parses and validates `bytes` (named `source` in errors): JSON, `version` 2.1.0, a non-empty
/// `runs` array whose runs each name their tool (`tool.driver.name`) and hold a `results` array
/// when they have one.
pub fn parse(bytes: &[u8], source: &str) -> anyhow::Result<Sarif> {
    let document: Value = serde_json::from_slice(bytes)
        .map_err(|e| anyhow::anyhow!("{source} is not SARIF: not valid JSON ({e})"))?;
    let version = document.get("version").and_then(Value::as_str);
    if version != Some("2.1.0") {
        anyhow::bail!("{source} is not SARIF 2.1.0: `version` is {version:?}");
    }
    let runs = document
        .get("runs")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow::anyhow!("{source} is not SARIF: no `runs` array"))?;
    if runs.is_empty() {
        anyhow::bail!("{source} holds no runs");
    }
    let mut summary = Summary {
        runs: runs.len() as u64,
        ..Summary::default()
    };
    for (i, run) in runs.iter().enumerate() {
        let driver = run.pointer("/tool/driver/name").and_then(Value::as_str);
        if driver.is_none_or(str::is_empty) {
            anyhow::bail!("{source}: run {i} has no `tool.driver.name`");
        }
        let results = match run.get("results") {
            None | Some(Value::Null) => continue,
            Some(Value::Array(results)) => results,
            Some(_) => anyhow::bail!("{source}: run {i} has a `results` that is not an array"),
        };
        for result in results {
            count(run, result, &mut summary);
        }
    }
    Ok(Sarif { document, summary })
}

fn count(run: &Value, result: &Value, summary: &mut Summary) {
    summary.results += 1;
    let rule = rule_of(run, result);
    let level = result
        .get("level")
        .and_then(Value::as_str)
        .or_else(|| {
            rule.and_then(|r| r.pointer("/defaultConfiguration/level"))
                .and_then(Value::as_str)
        })
        .unwrap_or("warning");
    *summary.by_level.entry(level.to_string()).or_default() += 1;
    let score = rule
        .and_then(|r| r.pointer("/properties/security-severity"))
        .and_then(|s| {
            s.as_str()
                .map(str::to_string)
                .or_else(|| s.as_f64().map(|f| f.to_string()))
        })
        .and_then(|s| s.parse::<f64>().ok());
    if let Some(score) = score {
        let bucket = match score {
            s if s >= 9.0 => "critical",
            s if s >= 7.0 => "high",
            s if s >= 4.0 => "medium",
            _ => "low",
        };
        *summary
            .by_security_severity
            .entry(bucket.to_string())
            .or_default() += 1;
    }
}

/// The rule a result points at, by `ruleIndex` or `ruleId` in the driver's rules.
fn rule_of<'a>(run: &'a Value, result: &Value) -> Option<&'a Value> {
    let rules = run.pointer("/tool/driver/rules")?.as_array()?;
    if let Some(index) = result.get("ruleIndex").and_then(Value::as_u64) {
        return rules.get(usize::try_from(index).ok()?);
    }
    let id = result.get("ruleId")?.as_str()?;
    rules
        .iter()
        .find(|r| r.get("id").and_then(Value::as_str) == Some(id))
}

/// Why `sarif` covers only a diff, if it does (see the module doc for what is checked).
pub fn diff_restriction(sarif: &Value) -> Option<String> {
    let runs = sarif.get("runs")?.as_array()?;
    for (i, run) in runs.iter().enumerate() {
        let extensions = run.pointer("/tool/extensions").and_then(Value::as_array);
        for extension in extensions.into_iter().flatten() {
            let name = extension.get("name").and_then(Value::as_str).unwrap_or("");
            if name.contains("pr-diff-range") {
                return Some(format!("run {i} used the diff-range extension {name:?}"));
            }
        }
        if let Some(properties) = run.get("properties").and_then(Value::as_object) {
            for (name, value) in properties {
                let marks = !matches!(value, Value::Null | Value::Bool(false));
                if name.to_lowercase().contains("diff") && marks {
                    return Some(format!("run {i} has property {name:?} = {value}"));
                }
            }
        }
        let invocations = run.get("invocations").and_then(Value::as_array);
        for invocation in invocations.into_iter().flatten() {
            if invocation.to_string().contains("pr-diff-range") {
                return Some(format!("run {i} was invoked with the pr-diff-range pack"));
            }
        }
    }
    None
}

/// The document re-addressed to `commit`: every run's `versionControlProvenance[].revisionId`
/// set to it (one entry for `repository_uri` added where a run has none).
pub fn with_revision(sarif: &Value, commit: &str, repository_uri: &str) -> Value {
    let mut document = sarif.clone();
    if let Some(runs) = document.get_mut("runs").and_then(Value::as_array_mut) {
        for run in runs {
            let Some(run) = run.as_object_mut() else {
                continue;
            };
            let provenance = run
                .entry("versionControlProvenance")
                .or_insert_with(|| Value::Array(Vec::new()));
            if !provenance.is_array() {
                *provenance = Value::Array(Vec::new());
            }
            if let Some(list) = provenance.as_array_mut() {
                if list.is_empty() {
                    list.push(serde_json::json!({ "repositoryUri": repository_uri }));
                }
                for entry in list.iter_mut().filter_map(Value::as_object_mut) {
                    entry.insert("revisionId".into(), Value::from(commit));
                }
            }
        }
    }
    document
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const SAMPLE: &str = r#"{
      "version": "2.1.0",
      "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
      "runs": [{
        "tool": {"driver": {"name": "CodeQL", "rules": [
          {"id": "py/sql-injection", "properties": {"security-severity": "8.8"}},
          {"id": "py/unused-import", "defaultConfiguration": {"level": "note"}}
        ]}},
        "versionControlProvenance": [{"repositoryUri": "https://github.com/o/r", "revisionId": "old"}],
        "results": [
          {"ruleId": "py/sql-injection", "level": "error", "message": {"text": "x"}},
          {"ruleIndex": 1, "message": {"text": "y"}}
        ]
      }]
    }"#;

    #[test]
    fn a_codeql_sarif_is_summarised() {
        let sarif = parse(SAMPLE.as_bytes(), "s.sarif").unwrap();
        assert_eq!(sarif.summary.results, 2);
        assert_eq!(sarif.summary.by_level["error"], 1);
        assert_eq!(sarif.summary.by_level["note"], 1);
        assert_eq!(sarif.summary.by_security_severity["high"], 1);
        assert_eq!(diff_restriction(&sarif.document), None);
    }

    #[test]
    fn non_sarif_is_refused_with_the_reason() {
        for (text, expected) in [
            ("not json", "not valid JSON"),
            (r#"{"version":"2.0.0","runs":[]}"#, "not SARIF 2.1.0"),
            (r#"{"version":"2.1.0"}"#, "no `runs` array"),
            (r#"{"version":"2.1.0","runs":[]}"#, "holds no runs"),
            (
                r#"{"version":"2.1.0","runs":[{"tool":{}}]}"#,
                "no `tool.driver.name`",
            ),
            (
                r#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"results":{}}]}"#,
                "not an array",
            ),
        ] {
            let err = parse(text.as_bytes(), "in.sarif").unwrap_err().to_string();
            assert!(
                err.contains(expected) && err.contains("in.sarif"),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn diff_informed_results_are_recognised() {
        let mut doc: Value = serde_json::from_str(SAMPLE).unwrap();
        doc["runs"][0]["tool"]["extensions"] =
            serde_json::json!([{"name": "codeql-action/pr-diff-range"}]);
        assert!(diff_restriction(&doc).unwrap().contains("pr-diff-range"));
        let mut doc: Value = serde_json::from_str(SAMPLE).unwrap();
        doc["runs"][0]["properties"] = serde_json::json!({"diffInformed": true});
        assert!(diff_restriction(&doc).is_some());
        doc["runs"][0]["properties"] = serde_json::json!({"diffInformed": false});
        assert!(diff_restriction(&doc).is_none());
    }

    #[test]
    fn revision_is_rewritten_in_every_run() {
        let mut doc: Value = serde_json::from_str(SAMPLE).unwrap();
        doc["runs"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"tool": {"driver": {"name": "CodeQL"}}}));
        let out = with_revision(&doc, "new", "https://github.com/o/r");
        assert_eq!(
            out["runs"][0]["versionControlProvenance"][0]["revisionId"],
            "new"
        );
        assert_eq!(
            out["runs"][1]["versionControlProvenance"][0]["revisionId"],
            "new"
        );
        assert_eq!(
            out["runs"][1]["versionControlProvenance"][0]["repositoryUri"],
            "https://github.com/o/r"
        );
    }
}

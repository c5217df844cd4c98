//! The mesh's message counters, read from a node's `/_ghmesh/stats`. Binaries that predate the
//! counters have none: the run then reports "n/a" rather than a figure made up from anything
//! else. Where the counters live is named here and nowhere else, so a renamed or moved object
//! needs one edit.

use serde_json::Value;
use std::collections::BTreeMap;

/// JSON pointers tried in order for the traffic object of `/_ghmesh/stats` (the mesh status is
/// shown under `connectivity`; the others cover a move to the top level or a `mesh` part).
pub const TRAFFIC_POINTERS: &[&str] = &["/connectivity/traffic", "/traffic", "/mesh/traffic"];

/// Every numeric counter of the traffic object, by its dotted path inside it (for example
/// `gossip.inbound` or `dht_requests`), or `None` when the node reports no traffic object.
/// Counters are taken as they come, so new ones appear in the report without a change here.
pub fn counters(stats: &Value) -> Option<BTreeMap<String, u64>> {
    let traffic = TRAFFIC_POINTERS
        .iter()
        .find_map(|pointer| stats.pointer(pointer))?;
    let mut found = BTreeMap::new();
    flatten("", traffic, &mut found);
    Some(found)
}

fn flatten(prefix: &str, value: &Value, into: &mut BTreeMap<String, u64>) {
    match value {
        Value::Number(n) => {
            if let Some(n) = n.as_u64() {
                into.insert(prefix.to_owned(), n);
            }
        }
        Value::Object(fields) => {
            for (name, inner) in fields {
                let path = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}.{name}")
                };
                flatten(&path, inner, into);
            }
        }
        _ => {}
    }
}

/// The sum of every counter: all messages the node counted, whatever their kind.
pub fn total(counters: &BTreeMap<String, u64>) -> u64 {
    counters.values().sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_counters_are_flattened_and_missing_traffic_is_none() {
        let stats = json!({"connectivity": {"traffic": {
            "gossip": {"inbound": 5, "outbound": 2}, "dht_requests": 7, "label": "x"}}});
        let found = counters(&stats).expect("traffic");
        assert_eq!(found["gossip.inbound"], 5);
        assert_eq!(found["gossip.outbound"], 2);
        assert_eq!(found["dht_requests"], 7);
        assert_eq!(found.len(), 3);
        assert_eq!(total(&found), 14);
        assert_eq!(counters(&json!({"connectivity": {}})), None);
        assert_eq!(counters(&json!({"traffic": {"a": 1}})).unwrap()["a"], 1);
    }
}

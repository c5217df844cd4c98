//! The mesh's message counters, read from a node's admin endpoints. Binaries that predate the
//! counters have none: the run then reports "n/a" rather than a figure made up from anything
//! else. Where the counters live is named here and nowhere else ([`SOURCES`]), so a renamed or
//! moved object needs one edit.

use serde_json::Value;
use std::collections::BTreeMap;

/// Where the traffic object may be, tried in order: (admin endpoint, JSON pointer in its
/// document). `/_ghmesh/stats` shows the mesh status under `connectivity`; `/_ghmesh/peers` (and
/// `ghmesh peers --json`) is the whole `MeshStatus`.
pub const SOURCES: &[(&str, &str)] = &[
    ("/_ghmesh/stats", "/mesh_traffic"),
    ("/_ghmesh/stats", "/connectivity/traffic"),
    ("/_ghmesh/stats", "/mesh/traffic"),
    ("/_ghmesh/stats", "/traffic"),
    ("/_ghmesh/peers", "/traffic"),
];

/// Every numeric counter of the traffic object at `pointer` in `document`, by its dotted path
/// inside it (for example `gossip.inbound` or `dht_requests`), or `None` when there is none.
/// Counters are taken as they come, so new ones appear in the report without a change here.
pub fn counters(document: &Value, pointer: &str) -> Option<BTreeMap<String, u64>> {
    let traffic = document.pointer(pointer)?;
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
        let found = counters(&stats, "/connectivity/traffic").expect("traffic");
        assert_eq!(found["gossip.inbound"], 5);
        assert_eq!(found["gossip.outbound"], 2);
        assert_eq!(found["dht_requests"], 7);
        assert_eq!(found.len(), 3);
        assert_eq!(total(&found), 14);
        assert_eq!(
            counters(&json!({"connectivity": {}}), "/connectivity/traffic"),
            None
        );
        // The first source is where ghmesh puts them.
        let stats = json!({"mesh_traffic": {"requests_sent": 4}});
        assert_eq!(counters(&stats, SOURCES[0].1).unwrap()["requests_sent"], 4);
        assert_eq!(
            counters(&json!({"traffic": {"a": 1}}), "/traffic").unwrap()["a"],
            1
        );
    }
}

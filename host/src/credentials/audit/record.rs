//! One audit record: what happened to which credential, for whom, decided by what — and the two
//! hashes that chain it to its predecessor. There is deliberately no field for a value.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// `prev` of the first record: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What was done to a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// A credential was stored (created or replaced).
    Store,
    /// A job asked to read a credential.
    Get,
    /// A credential's value was replaced by a new one.
    Rotate,
    /// A credential was removed on request.
    Delete,
    /// A credential was removed because its TTL ran out.
    Expire,
    /// A credential was handed to a job (masked, then written to `GITHUB_ENV`).
    Inject,
    /// Every credential was removed at once.
    Purge,
}

/// The outcome recorded for an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// The policy allowed it.
    Grant,
    /// The policy (or a failure, failing closed) refused it.
    Deny,
    /// An administrative action that needs no decision was carried out.
    Done,
}

/// What a caller records. The log adds the sequence number, the time and the chain.
///
/// There is no field for a credential's value, and `context` must name the job (repository,
/// workflow ref, runner, token subject …), never carry a secret.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// What was done.
    pub action: Action,
    /// The credential's name (`*` for a purge).
    pub credential: String,
    /// The credential's scope, e.g. `global`, `repo:octo/app`, `workflow:…`, `runner:…`.
    pub scope: String,
    /// Who asked: repository, workflow ref, runner, … (an object, by convention).
    pub context: Value,
    /// Whether the identity in `context` came from a verified OIDC token.
    pub verified: bool,
    /// The outcome.
    pub decision: Decision,
    /// Why, in words (a component's reason, or the administrative command).
    pub reason: String,
    /// sha256 of the policy component that decided, when one did.
    pub component_sha256: Option<String>,
}

/// A record as stored: one JSON object a line.
///
/// Unknown fields are refused when reading, so a field smuggled into a line (a `value`, say)
/// makes the line fail verification instead of being silently ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    /// Position in the log, from 1, without gaps.
    pub seq: u64,
    /// When, in seconds since the Unix epoch.
    pub time: u64,
    /// What was done.
    pub action: Action,
    /// The credential's name.
    pub credential: String,
    /// The credential's scope.
    pub scope: String,
    /// Who asked.
    pub context: Value,
    /// Whether the identity was verified.
    pub verified: bool,
    /// The outcome.
    pub decision: Decision,
    /// Why.
    pub reason: String,
    /// sha256 of the deciding component, if any.
    pub component_sha256: Option<String>,
    /// `hash` of the previous record; [`GENESIS`] for the first.
    pub prev: String,
    /// sha256 (hex) of this record's canonical form; see [`AuditRecord::compute_hash`].
    pub hash: String,
}

/// The hashed part of a record: every field but `hash`, in this order.
#[derive(Serialize)]
struct Hashed<'a> {
    seq: u64,
    time: u64,
    action: Action,
    credential: &'a str,
    scope: &'a str,
    context: &'a Value,
    verified: bool,
    decision: Decision,
    reason: &'a str,
    component_sha256: &'a Option<String>,
    prev: &'a str,
}

impl AuditRecord {
    /// Builds record `seq` from `event`, chained to `prev`, with its hash filled in.
    pub fn new(seq: u64, time: u64, event: AuditEvent, prev: String) -> Self {
        let AuditEvent {
            action,
            credential,
            scope,
            context,
            verified,
            decision,
            reason,
            component_sha256,
        } = event;
        let mut record = Self {
            seq,
            time,
            action,
            credential,
            scope,
            context: canonical_value(context),
            verified,
            decision,
            reason,
            component_sha256,
            prev,
            hash: String::new(),
        };
        record.hash = record.compute_hash();
        record
    }

    /// The canonical form that is hashed: compact JSON (no whitespace, serde_json's string
    /// escaping) of the object `{seq, time, action, credential, scope, context, verified,
    /// decision, reason, component_sha256, prev}` with the keys in exactly that order, object
    /// keys inside `context` sorted (recursively, by bytes), and `component_sha256` `null` when
    /// absent. `hash` itself is left out.
    pub fn canonical(&self) -> String {
        let context = canonical_value(self.context.clone());
        let hashed = Hashed {
            seq: self.seq,
            time: self.time,
            action: self.action,
            credential: &self.credential,
            scope: &self.scope,
            context: &context,
            verified: self.verified,
            decision: self.decision,
            reason: &self.reason,
            component_sha256: &self.component_sha256,
            prev: &self.prev,
        };
        serde_json::to_string(&hashed).expect("a record always serializes")
    }

    /// Lowercase hex sha256 of [`AuditRecord::canonical`].
    pub fn compute_hash(&self) -> String {
        hex::encode(Sha256::digest(self.canonical().as_bytes()))
    }

    /// The stored line: the canonical object with `hash` appended, and a line end.
    pub fn to_line(&self) -> String {
        let canonical = self.canonical();
        // `canonical` is a JSON object: reopen it to append the hash as its last key.
        let body = canonical.strip_suffix('}').expect("an object");
        format!("{body},\"hash\":\"{}\"}}\n", self.hash)
    }
}

/// `value` with every object's keys sorted, whatever map type serde_json was built with.
fn canonical_value(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, canonical_value(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical_value).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> AuditEvent {
        AuditEvent {
            action: Action::Get,
            credential: "NPM_TOKEN".into(),
            scope: "repo:octo/app".into(),
            context: json!({"workflow_ref": "w", "repository": "octo/app"}),
            verified: true,
            decision: Decision::Grant,
            reason: "repo scope matches".into(),
            component_sha256: Some("ab".repeat(32)),
        }
    }

    #[test]
    fn the_line_parses_back_to_the_same_record_and_hash() {
        let record = AuditRecord::new(1, 1_700_000_000, event(), GENESIS.into());
        let line = record.to_line();
        assert!(line.ends_with("\"}\n"));
        let parsed: AuditRecord = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(parsed, record);
        assert_eq!(parsed.compute_hash(), record.hash);
        // context keys are stored sorted
        assert!(line.contains(r#""context":{"repository":"octo/app","workflow_ref":"w"}"#));
    }

    #[test]
    fn every_field_is_covered_by_the_hash() {
        let base = AuditRecord::new(3, 10, event(), GENESIS.into());
        let edits: Vec<fn(&mut AuditRecord)> = vec![
            |r| r.seq = 4,
            |r| r.time = 11,
            |r| r.action = Action::Rotate,
            |r| r.credential.push('X'),
            |r| r.scope = "global".into(),
            |r| r.context = json!({}),
            |r| r.verified = false,
            |r| r.decision = Decision::Deny,
            |r| r.reason.clear(),
            |r| r.component_sha256 = None,
            |r| r.prev = "1".repeat(64),
        ];
        for edit in edits {
            let mut r = base.clone();
            edit(&mut r);
            assert_ne!(r.compute_hash(), base.hash);
        }
    }

    #[test]
    fn a_smuggled_field_does_not_parse() {
        let record = AuditRecord::new(1, 1, event(), GENESIS.into());
        let line = record.to_line().replacen('{', r#"{"value":"hunter2","#, 1);
        assert!(serde_json::from_str::<AuditRecord>(line.trim_end()).is_err());
    }
}

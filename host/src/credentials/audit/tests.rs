//! The audit log against every kind of tampering, and against concurrent writers.

use super::*;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;

fn event(n: u64) -> AuditEvent {
    AuditEvent {
        action: Action::Get,
        credential: format!("TOKEN_{n}"),
        scope: "repo:octo/app".into(),
        context: json!({"repository": "octo/app", "workflow_ref": "octo/app/.github/workflows/ci.yml@refs/heads/main", "runner": "r1"}),
        verified: n.is_multiple_of(2),
        decision: if n.is_multiple_of(3) {
            Decision::Deny
        } else {
            Decision::Grant
        },
        reason: format!("reason {n}"),
        component_sha256: Some("cd".repeat(32)),
    }
}

/// A log with `n` records in a fresh directory.
fn log_with(n: u64) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("creds/audit.jsonl");
    let mut log = AuditLog::open(&path).unwrap();
    for i in 1..=n {
        assert_eq!(log.append(event(i)).unwrap(), i);
    }
    (dir, path)
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).unwrap();
}

fn tamper(path: &Path) -> Tamper {
    verify(path).unwrap().tamper.expect("tampering is detected")
}

fn refused_on_open(path: &Path) {
    match AuditLog::open(path) {
        Err(AuditError::Tampered { .. }) => {}
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn an_intact_log_verifies_and_continues_its_chain_after_reopening() {
    let (_dir, path) = log_with(3);
    let report = verify(&path).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!((report.records, report.anchor_seq), (3, Some(3)));

    let mut log = AuditLog::open(&path).unwrap();
    assert_eq!(log.last_seq(), 3);
    assert_eq!(log.append(event(4)).unwrap(), 4);
    let records = read_all(&path).unwrap();
    assert_eq!(records.len(), 4);
    assert_eq!(records[0].prev, GENESIS);
    assert_eq!(records[3].prev, records[2].hash);
    assert_eq!(records[3].credential, "TOKEN_4");
    assert!(verify(&path).unwrap().is_intact());
}

#[test]
fn files_are_private() {
    let (_dir, path) = log_with(1);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&anchor_path(&path)), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
}

#[test]
fn an_empty_or_missing_log_is_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let report = verify(&path).unwrap();
    assert!(report.is_intact());
    assert_eq!((report.records, report.last_hash.as_str()), (0, GENESIS));
    assert!(read_all(&path).unwrap().is_empty());
}

#[test]
fn an_edited_record_is_found() {
    let (_dir, path) = log_with(4);
    let mut l = lines(&path);
    l[1] = l[1].replace("\"decision\":\"grant\"", "\"decision\":\"deny\"");
    write_lines(&path, &l);
    let t = tamper(&path);
    assert_eq!((t.seq, t.line, t.kind), (2, 2, TamperKind::Edited));
    refused_on_open(&path);
}

#[test]
fn an_edit_with_a_recomputed_hash_breaks_the_next_link() {
    let (_dir, path) = log_with(4);
    let mut l = lines(&path);
    let mut record: AuditRecord = serde_json::from_str(&l[1]).unwrap();
    record.decision = Decision::Grant;
    record.reason = "forged".into();
    record.hash = record.compute_hash();
    l[1] = record.to_line().trim_end().to_string();
    write_lines(&path, &l);
    let t = tamper(&path);
    assert_eq!((t.seq, t.kind), (3, TamperKind::BrokenChain));
}

#[test]
fn a_rewritten_last_record_is_caught_by_the_anchor() {
    let (_dir, path) = log_with(3);
    let mut l = lines(&path);
    let mut record: AuditRecord = serde_json::from_str(&l[2]).unwrap();
    record.decision = Decision::Grant;
    record.hash = record.compute_hash();
    l[2] = record.to_line().trim_end().to_string();
    write_lines(&path, &l);
    let t = tamper(&path);
    assert_eq!((t.seq, t.kind), (3, TamperKind::AnchorMismatch));
}

#[test]
fn a_removed_record_is_found() {
    let (_dir, path) = log_with(4);
    let mut l = lines(&path);
    l.remove(1);
    write_lines(&path, &l);
    let t = tamper(&path);
    assert_eq!(
        (t.seq, t.line, t.kind.clone()),
        (2, 2, TamperKind::OutOfSequence { found: 3 })
    );
    assert!(t.to_string().contains("removed, reordered or repeated"));
}

#[test]
fn reordered_records_are_found() {
    let (_dir, path) = log_with(4);
    let mut l = lines(&path);
    l.swap(1, 2);
    write_lines(&path, &l);
    let t = tamper(&path);
    assert_eq!((t.seq, t.kind), (2, TamperKind::OutOfSequence { found: 3 }));
}

#[test]
fn a_renumbered_removal_breaks_the_chain() {
    let (_dir, path) = log_with(4);
    let mut l = lines(&path);
    l.remove(1);
    // Renumber record 3 as 2 and rehash it: the chain still knows record 2 is missing.
    let mut record: AuditRecord = serde_json::from_str(&l[1]).unwrap();
    record.seq = 2;
    record.hash = record.compute_hash();
    l[1] = record.to_line().trim_end().to_string();
    write_lines(&path, &l);
    let t = tamper(&path);
    assert_eq!((t.seq, t.kind), (2, TamperKind::BrokenChain));
}

#[test]
fn a_cut_last_line_is_found_and_refused() {
    let (_dir, path) = log_with(3);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
    let t = tamper(&path);
    assert_eq!((t.seq, t.line, t.kind), (3, 3, TamperKind::Truncated));
    refused_on_open(&path);
}

#[test]
fn a_missing_line_end_alone_counts_as_cut() {
    let (_dir, path) = log_with(2);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
    assert_eq!(tamper(&path).kind, TamperKind::Truncated);
}

#[test]
fn a_removed_tail_is_found_through_the_anchor() {
    let (_dir, path) = log_with(5);
    let l = lines(&path);
    write_lines(&path, &l[..3]);
    let t = tamper(&path);
    assert_eq!(
        (t.seq, t.kind.clone()),
        (
            4,
            TamperKind::TailRemoved {
                anchor_seq: 5,
                last_seq: 3
            }
        )
    );
    assert!(t.to_string().contains("records from 4 on were removed"));
    refused_on_open(&path);
}

#[test]
fn a_deleted_log_with_its_anchor_left_is_found() {
    let (_dir, path) = log_with(2);
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(
        tamper(&path).kind,
        TamperKind::TailRemoved { anchor_seq: 2, .. }
    ));
}

#[test]
fn without_an_anchor_a_removed_tail_is_undetectable() {
    // The documented limit: the chain alone cannot tell a cut log from a shorter one.
    let (_dir, path) = log_with(5);
    std::fs::remove_file(anchor_path(&path)).unwrap();
    let l = lines(&path);
    write_lines(&path, &l[..3]);
    let report = verify(&path).unwrap();
    assert!(report.is_intact());
    assert_eq!((report.records, report.anchor_seq), (3, None));
}

#[test]
fn garbage_and_smuggled_fields_are_unreadable() {
    let (_dir, path) = log_with(2);
    let mut l = lines(&path);
    l[1] = l[1].replacen('{', r#"{"value":"hunter2","#, 1);
    write_lines(&path, &l);
    assert!(matches!(tamper(&path).kind, TamperKind::Unreadable(_)));
    l[1] = "not json".into();
    write_lines(&path, &l);
    let t = tamper(&path);
    assert!(matches!(t.kind, TamperKind::Unreadable(_)));
    assert!(matches!(
        read_all(&path),
        Err(AuditError::Unreadable { line: 2, .. })
    ));
}

#[test]
fn a_corrupt_anchor_is_reported() {
    let (_dir, path) = log_with(2);
    std::fs::write(anchor_path(&path), "{").unwrap();
    assert!(matches!(
        tamper(&path).kind,
        TamperKind::AnchorUnreadable(_)
    ));
}

#[test]
fn a_log_cut_under_an_open_handle_is_refused_on_the_next_append() {
    let (_dir, path) = log_with(3);
    let mut log = AuditLog::open(&path).unwrap();
    let l = lines(&path);
    write_lines(&path, &l[..1]);
    assert!(matches!(
        log.append(event(9)),
        Err(AuditError::Tampered { .. })
    ));
    assert_eq!(lines(&path).len(), 1, "nothing appended to a failed log");
}

#[test]
fn concurrent_writers_never_fork_the_chain() {
    let (_dir, path) = log_with(0);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                // Each writer has its own open file, as separate processes would.
                let mut log = AuditLog::open(&path).unwrap();
                for i in 0..25 {
                    log.append(event(t * 100 + i)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let report = verify(&path).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!((report.records, report.anchor_seq), (100, Some(100)));
}

#[test]
fn no_record_can_hold_a_value_and_the_line_is_what_the_docs_say() {
    let (_dir, path) = log_with(1);
    let line = &lines(&path)[0];
    let keys: Vec<String> =
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(line)
            .unwrap()
            .keys()
            .cloned()
            .collect();
    let mut expected = vec![
        "action",
        "component_sha256",
        "context",
        "credential",
        "decision",
        "hash",
        "prev",
        "reason",
        "scope",
        "seq",
        "time",
        "verified",
    ];
    expected.sort();
    let mut keys = keys;
    keys.sort();
    assert_eq!(keys, expected);
    // hash = sha256(line without its `hash` member)
    let record: AuditRecord = serde_json::from_str(line).unwrap();
    let without_hash = line.split(",\"hash\":").next().unwrap().to_string() + "}";
    use sha2::Digest;
    assert_eq!(
        hex::encode(sha2::Sha256::digest(without_hash.as_bytes())),
        record.hash
    );
}

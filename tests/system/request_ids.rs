//! Request ids: every answer carries `x-request-id`, every log line of that request names it,
//! a client's own id is kept only when it is fit to log, and the token never reaches the log.

use ghmesh_system_tests::Sandbox;
use ghmesh_system_tests::rig::{EchoUpstream, Serve, curl};

/// The fixture token's secret part, which `curl` sends with every request.
const TOKEN: &str = "0000000000000000000000000000000000000001";

#[test]
fn each_request_is_logged_under_its_id_and_the_token_never_is() {
    let upstream = EchoUpstream::start();
    let sandbox = Sandbox::new();
    let log = sandbox.path("serve.log");
    let serve = Serve::start_logged(&sandbox, &upstream.url, &[("GHMESH_LOG", "debug")], &log);
    let issues = format!("{}/repos/o/r/issues", serve.url);

    // A write: bypassed, so the handler logs its own debug line inside the request's span.
    let write = curl(&issues, &["-X", "POST", "-d", "{}"]);
    assert_eq!(write.status, 200, "{}", write.body);
    let generated = write
        .header("x-request-id")
        .expect("x-request-id")
        .to_string();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");

    let kept = curl(&issues, &["-H", "x-request-id: ci-run-7.step-3"]);
    assert_eq!(kept.header("x-request-id"), Some("ci-run-7.step-3"));
    let replaced = curl(&issues, &["-H", "x-request-id: two words"]);
    let replacement = replaced.header("x-request-id").expect("x-request-id");
    assert_ne!(replacement, "two words");
    assert_eq!(replacement.len(), 36);
    drop(serve);

    let text = std::fs::read_to_string(&log).expect("serve log");
    let lines_of = |id: &str| -> Vec<&str> {
        let field = format!("request_id={id}");
        text.lines().filter(|line| line.contains(&field)).collect()
    };
    let write_lines = lines_of(&generated);
    assert!(
        write_lines.iter().any(|line| line.contains("bypass")),
        "the handler's own line carries the id: {write_lines:#?}\n{text}"
    );
    assert!(
        write_lines
            .iter()
            .any(|line| line.contains("finished processing request")),
        "{write_lines:#?}"
    );
    assert!(lines_of("ci-run-7.step-3").len() >= 2, "{text}");
    assert!(!text.contains("two words"), "an unfit id is never logged");
    assert!(!text.contains(TOKEN), "the token reached the log:\n{text}");
}

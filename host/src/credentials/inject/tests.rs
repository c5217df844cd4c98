//! Injection read back the way the runner reads it.

use super::*;
use std::collections::BTreeMap;

struct Job {
    _dir: tempfile::TempDir,
    targets: InjectTargets,
}

fn job(with_output: bool) -> Job {
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join("github_env");
    // The runner creates the file; a previous step may have written to it already.
    std::fs::write(&env, "EARLIER=kept\n").unwrap();
    let targets = InjectTargets {
        github_env: env,
        github_output: with_output.then(|| dir.path().join("github_output")),
    };
    Job { _dir: dir, targets }
}

/// The runner's file-command reader: `NAME=value` lines and `NAME<<DELIM` heredocs.
fn parse_runner_file(path: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.split('\n');
    let mut vars = BTreeMap::new();
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        if let Some((name, delimiter)) = line.split_once("<<") {
            let mut value = Vec::new();
            loop {
                let next = lines.next().expect("heredoc is closed");
                if next == delimiter {
                    break;
                }
                value.push(next);
            }
            vars.insert(name.to_string(), value.join("\n"));
        } else {
            let (name, value) = line.split_once('=').unwrap();
            vars.insert(name.to_string(), value.to_string());
        }
    }
    vars
}

#[test]
fn values_are_masked_then_written_as_heredocs() {
    let job = job(true);
    let mut stdout = Vec::new();
    let pairs = [
        ("NPM_TOKEN", "npm_abc123"),
        (
            "DEPLOY_KEY",
            "-----BEGIN KEY-----\nline two\n\n-----END KEY-----\n",
        ),
    ];
    let report = inject(&pairs, &mut stdout, &job.targets).unwrap();
    assert_eq!(report.injected, ["NPM_TOKEN", "DEPLOY_KEY"]);
    assert!(report.refused.is_empty());
    assert_eq!(
        String::from_utf8(stdout).unwrap(),
        "::add-mask::npm_abc123\n\
         ::add-mask::-----BEGIN KEY-----\n\
         ::add-mask::line two\n\
         ::add-mask::-----END KEY-----\n"
    );
    let env = parse_runner_file(&job.targets.github_env);
    assert_eq!(env["EARLIER"], "kept");
    assert_eq!(env["NPM_TOKEN"], "npm_abc123");
    assert_eq!(env["DEPLOY_KEY"], pairs[1].1);
    let output = parse_runner_file(job.targets.github_output.as_ref().unwrap());
    assert_eq!(output["DEPLOY_KEY"], pairs[1].1);
    assert_eq!(output.len(), 2);
}

#[test]
fn delimiters_are_fresh_and_random() {
    let job = job(false);
    inject(&[("A", "1"), ("B", "2")], &mut Vec::new(), &job.targets).unwrap();
    let text = std::fs::read_to_string(&job.targets.github_env).unwrap();
    let delimiters: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_once("<<").map(|(_, d)| d))
        .collect();
    assert_eq!(delimiters.len(), 2);
    assert_ne!(delimiters[0], delimiters[1]);
    for d in delimiters {
        let hex = d.strip_prefix("ghadelimiter_").unwrap();
        assert_eq!(hex.len(), 32);
        assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}

/// A `Write` that records, at each write, whether `GITHUB_ENV` had already changed.
struct Watchful<'a> {
    env: &'a Path,
    before: String,
    saw_env_change: bool,
    out: Vec<u8>,
}

impl Write for Watchful<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.saw_env_change |= std::fs::read_to_string(self.env).unwrap() != self.before;
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn every_mask_is_written_before_any_variable() {
    let job = job(false);
    let mut stdout = Watchful {
        env: &job.targets.github_env,
        before: std::fs::read_to_string(&job.targets.github_env).unwrap(),
        saw_env_change: false,
        out: Vec::new(),
    };
    inject(&[("ONE", "a\nb"), ("TWO", "c")], &mut stdout, &job.targets).unwrap();
    assert!(!stdout.saw_env_change);
    assert_eq!(stdout.out.split(|&b| b == b'\n').count(), 4);
    assert!(parse_runner_file(&job.targets.github_env).contains_key("TWO"));
}

#[test]
fn a_failing_stdout_writes_no_variable() {
    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("closed"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let job = job(false);
    let err = inject(&[("A", "secret")], &mut Broken, &job.targets).unwrap_err();
    assert!(matches!(err, InjectError::Mask(_)));
    assert_eq!(
        std::fs::read_to_string(&job.targets.github_env).unwrap(),
        "EARLIER=kept\n"
    );
}

#[test]
fn masks_escape_what_could_end_the_command() {
    assert_eq!(escape_data("50%0A\r\n%"), "50%250A%0D%0A%25");
    let job = job(false);
    let mut stdout = Vec::new();
    inject(&[("T", "p%0Aq\r\nr%25")], &mut stdout, &job.targets).unwrap();
    // Lines split at \r and \n; a literal "%0A" in a value is escaped, not a newline.
    assert_eq!(
        String::from_utf8(stdout).unwrap(),
        "::add-mask::p%250Aq\n::add-mask::r%2525\n"
    );
    assert_eq!(
        parse_runner_file(&job.targets.github_env)["T"],
        "p%0Aq\r\nr%25"
    );
}

#[test]
fn blank_lines_are_not_masked() {
    let job = job(false);
    let mut stdout = Vec::new();
    inject(&[("T", "\n  \nx\n")], &mut stdout, &job.targets).unwrap();
    assert_eq!(String::from_utf8(stdout).unwrap(), "::add-mask::x\n");
}

#[test]
fn one_refusal_writes_nothing_at_all() {
    let job = job(true);
    let mut stdout = Vec::new();
    let report = inject(
        &[
            ("GOOD", "v"),
            ("PATH", "/evil"),
            ("ld_preload", "/evil.so"),
            ("BAD NAME", "v"),
            ("good", "dup"),
            ("NUL", "a\0b"),
        ],
        &mut stdout,
        &job.targets,
    )
    .unwrap();
    assert!(report.injected.is_empty());
    let names: Vec<&str> = report.refused.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["PATH", "ld_preload", "BAD NAME", "good", "NUL"]);
    assert!(report.refused[3].1.contains("more than once"));
    assert!(report.refused[4].1.contains("NUL"));
    assert!(stdout.is_empty(), "no mask either");
    assert_eq!(
        std::fs::read_to_string(&job.targets.github_env).unwrap(),
        "EARLIER=kept\n"
    );
    assert!(!job.targets.github_output.as_ref().unwrap().exists());
    let err = report.into_result().unwrap_err().to_string();
    assert!(err.contains("PATH (reserved"), "{err}");
    assert!(!err.contains("/evil"), "values never reach errors: {err}");
}

#[test]
fn a_value_holding_its_delimiter_is_refused() {
    let job = job(false);
    let forced = || "ghadelimiter_fixed".to_string();
    let value = "x\nghadelimiter_fixed\nINJECTED=1";
    let report = inject_with(&[("T", value)], &mut Vec::new(), &job.targets, forced).unwrap();
    assert_eq!(report.refused.len(), 1);
    assert!(report.refused[0].1.contains("delimiter"));
    assert_eq!(
        std::fs::read_to_string(&job.targets.github_env).unwrap(),
        "EARLIER=kept\n"
    );
}

#[test]
fn a_value_cannot_forge_entries() {
    // Without knowing the delimiter, lines that look like entries stay inside the value.
    let job = job(false);
    let value = "x\nEOF\nGITHUB_TOKEN=forged\nNODE_OPTIONS<<EOF\n--require /evil\nEOF";
    inject(&[("T", value)], &mut Vec::new(), &job.targets).unwrap();
    let env = parse_runner_file(&job.targets.github_env);
    assert_eq!(env.len(), 2);
    assert_eq!(env["T"], value);
}

#[test]
fn a_missing_env_file_is_created_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let targets = InjectTargets {
        github_env: dir.path().join("env"),
        github_output: None,
    };
    inject(&[("A", "1")], &mut Vec::new(), &targets).unwrap();
    let mode = std::fs::metadata(&targets.github_env)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

//! The GitHub Action: the actions and workflows pass `actionlint` and GitHub's schemas, and a real
//! workflow run by `act` on this machine (no Docker: `-P ubuntu-latest=-self-hosted`) sets up the
//! API cache, calls the API through it with `gh` against recorded responses, checks and stores a
//! CodeQL result (the second run skips the scan), falls back when the cache cannot start, and
//! writes the job summary. The workflow (`tests/workflows/action-e2e.yml`) asserts its own
//! outputs; this test reads its `E2E ` lines and the job's verdict.

use ghmesh_system_tests::actions_cache_server::ActionsCacheServer;
use ghmesh_system_tests::ghmesh_bin;
use ghmesh_system_tests::rig::{FixtureServer, rig_dir};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const TOKEN: &str = "0000000000000000000000000000000000000001";
/// The fleet secret of the fleet node the workflow starts last.
const FLEET_SECRET: &str = "e2e-fleet-secret-3b9d0c";
/// The runtime token the local Actions cache service accepts.
const RUNTIME_TOKEN: &str = "e2e-runtime-token-a41f7e";

/// The repository root (the action's source).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

/// A tool from the rig's venv (tests/run installs it from tests/rig/requirements.txt).
fn venv_tool(name: &str) -> PathBuf {
    let tool = rig_dir().join(".venv/bin").join(name);
    assert!(
        tool.exists(),
        "{} missing: run tests/run (it installs tests/rig/requirements.txt)",
        tool.display()
    );
    tool
}

fn run(command: &mut Command, what: &str) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn action_files() -> Vec<PathBuf> {
    let mut files = vec![root().join("action.yml")];
    for entry in std::fs::read_dir(root().join("actions")).expect("actions/") {
        let metadata = entry.expect("entry").path().join("action.yml");
        if metadata.exists() {
            files.push(metadata);
        }
    }
    files.sort();
    files
}

fn workflow_files() -> Vec<PathBuf> {
    vec![
        root().join(".github/workflows/example-cached-workflow.yml"),
        root().join("tests/workflows/action-e2e.yml"),
    ]
}

#[test]
fn actions_and_workflows_pass_actionlint_and_the_schemas() {
    let actions = action_files();
    for name in [
        "setup-github-cache",
        "setup-codeql-cache",
        "inject-credentials",
    ] {
        let path = root().join("actions").join(name).join("action.yml");
        assert!(actions.contains(&path), "{} missing", path.display());
    }
    run(
        Command::new(venv_tool("actionlint"))
            .current_dir(root())
            .args(workflow_files()),
        "actionlint",
    );
    run(
        Command::new(venv_tool("check-jsonschema"))
            .args(["--builtin-schema", "vendor.github-actions"])
            .args(&actions),
        "check-jsonschema (actions)",
    );
    run(
        Command::new(venv_tool("check-jsonschema"))
            .args(["--builtin-schema", "vendor.github-workflows"])
            .args(workflow_files()),
        "check-jsonschema (workflows)",
    );
}

/// A fresh git repository holding the e2e workflow, a copy of the action under `ghmesh/`, a small
/// python project and the SARIF its "scan" produces.
fn workflow_repo(dir: &Path) {
    let copy = |from: &Path, to: &Path| {
        run(
            Command::new("cp").arg("-R").arg(from).arg(to),
            "copying the action",
        );
    };
    std::fs::create_dir_all(dir.join(".github/workflows")).unwrap();
    std::fs::create_dir_all(dir.join("ghmesh")).unwrap();
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::create_dir_all(dir.join("ghmesh-e2e")).unwrap();
    std::fs::copy(
        root().join("tests/workflows/action-e2e.yml"),
        dir.join(".github/workflows/e2e.yml"),
    )
    .unwrap();
    for file in ["action.yml", "Cargo.toml", "actions"] {
        copy(&root().join(file), &dir.join("ghmesh").join(file));
    }
    std::fs::write(dir.join("src/app.py"), "print('hello')\n").unwrap();
    std::fs::write(
        dir.join("ghmesh-e2e/result.sarif"),
        r#"{"version": "2.1.0", "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
  "runs": [{"tool": {"driver": {"name": "CodeQL", "semanticVersion": "2.21.0", "rules": [
      {"id": "py/sql-injection", "properties": {"security-severity": "8.8"}}]}},
    "versionControlProvenance": [{"repositoryUri": "https://github.com/octo/app", "revisionId": "PLACEHOLDER"}],
    "results": [{"ruleId": "py/sql-injection", "level": "error", "message": {"text": "marker-xyzzy"}}]}]}"#,
    )
    .unwrap();
    let git = |args: &[&str]| {
        run(
            Command::new("git")
                .current_dir(dir)
                .env("GIT_AUTHOR_NAME", "e2e")
                .env("GIT_AUTHOR_EMAIL", "e2e@example.invalid")
                .env("GIT_COMMITTER_NAME", "e2e")
                .env("GIT_COMMITTER_EMAIL", "e2e@example.invalid")
                .args(args),
            "git",
        );
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "e2e"]);
}

/// A vault in `cache_dir/credentials` (where the actions look once setup-github-cache exported
/// `CACHE_DIR`), its key in a 0600 file: `E2E_SECRET` for act's repository (`nektos/act`, act's
/// default without a remote); `E2E_OTHER_REPO` for another repository.
fn provision_vault(cache_dir: &Path, secret: &str) {
    use std::io::Write as _;
    for (name, filter, value) in [
        ("E2E_SECRET", "nektos/act", secret),
        ("E2E_OTHER_REPO", "someone/else", "other-value-never-shown"),
    ] {
        let mut child = Command::new(ghmesh_bin())
            .args(["creds", "--key-store", "file", "--cache-dir"])
            .arg(cache_dir)
            .args(["store", name, "--scope", "repo", "--scope-filter", filter])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("ghmesh creds store");
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(value.as_bytes()).unwrap();
        drop(stdin);
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "creds store {name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// One `act push` of the e2e workflow; its combined output.
fn act(
    repo: &Path,
    upstream: &str,
    cache_dir: &Path,
    taken: &str,
    actions_cache: &ActionsCacheServer,
) -> String {
    let output = Command::new(venv_tool("act"))
        .current_dir(repo)
        .args([
            "push",
            "-P",
            "ubuntu-latest=-self-hosted",
            "--no-cache-server",
        ])
        .args(["-W", ".github/workflows/e2e.yml"])
        .arg("--var")
        .arg(format!("GHMESH_BIN={}", ghmesh_bin().display()))
        .arg("--var")
        .arg(format!("E2E_UPSTREAM={upstream}"))
        .arg("--var")
        .arg(format!("E2E_CACHE_DIR={}", cache_dir.display()))
        .arg("--var")
        .arg(format!("E2E_TAKEN_ADDR={taken}"))
        .arg("--secret")
        .arg(format!("E2E_TOKEN={TOKEN}"))
        .arg("--secret")
        .arg(format!("E2E_FLEET_SECRET={FLEET_SECRET}"))
        .arg("--env")
        .arg(format!("ACTIONS_RESULTS_URL={}/", actions_cache.url()))
        .arg("--env")
        .arg(format!("ACTIONS_RUNTIME_TOKEN={RUNTIME_TOKEN}"))
        .env_remove("GITHUB_OUTPUT")
        .env_remove("GITHUB_ENV")
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .expect("run act");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // A serve a failed run left behind must not outlive the test.
    let fleet_dir = PathBuf::from(format!("{}-fleet", cache_dir.display()));
    for dir in [cache_dir, &fleet_dir] {
        if let Ok(pid) = std::fs::read_to_string(dir.join("serve.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
    assert!(
        output.status.success() && text.contains("Job succeeded"),
        "act run failed ({}):\n{text}",
        output.status
    );
    text
}

#[test]
fn act_runs_the_actions_end_to_end_and_the_second_run_skips_the_scan() {
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("repo");
    workflow_repo(&repo);
    let cache_dir = work.path().join("cache");
    // A port that is taken, for the setup that must fall back.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap().to_string();
    let fixtures = FixtureServer::start(None);
    let actions_cache = ActionsCacheServer::start_in_thread(RUNTIME_TOKEN);
    let secret_lines = ["e2e-first-line-7f3a9c", "e2e-second-line-51d2e8"];
    provision_vault(&cache_dir, &secret_lines.join("\n"));

    let first = act(
        &repo,
        &fixtures.scenario("get-repository"),
        &cache_dir,
        &taken_addr,
        &actions_cache,
    );
    for line in [
        "E2E cache-status=success api-url=http://127.0.0.1:",
        "E2E reused=yes",
        "E2E gh pass 1: X-Cache: MISS",
        "E2E gh pass 2: X-Cache: HIT",
        "E2E codeql cache-status=miss should-skip-scan=false",
        "E2E scanned",
        "E2E broken cache-status=fallback badconfig=fallback api-url=http://127.0.0.1:",
        "E2E creds status=partial injected=E2E_SECRET",
        "E2E summary written",
        "E2E registry registrations=1",
    ] {
        assert!(first.contains(line), "first run lacks `{line}`:\n{first}");
    }
    let warnings = first
        .matches("GitHub API cache not started, continuing without it")
        .count();
    assert_eq!(warnings, 2, "each fallback warns:\n{first}");
    assert!(
        first.contains("CACHE_MAX_ENTRIES"),
        "the bad setting is named in the warning:\n{first}"
    );
    assert!(
        !first.contains(TOKEN),
        "the token leaked into the log:\n{first}"
    );
    // The fleet node registered through the cache service with the runtime token, which no
    // log line shows.
    assert!(actions_cache.calls("CreateCacheEntry") >= 1);
    let serve_log = std::fs::read_to_string(work.path().join("cache-fleet/serve.log"))
        .expect("the fleet node's serve.log");
    for secret in [RUNTIME_TOKEN, FLEET_SECRET] {
        assert!(!serve_log.contains(secret), "{secret} in serve.log");
        assert!(
            !first.contains(secret),
            "{secret} in the job's log:\n{first}"
        );
    }

    let second = act(
        &repo,
        &fixtures.scenario("get-repository"),
        &cache_dir,
        &taken_addr,
        &actions_cache,
    );
    assert!(
        second.contains("E2E codeql cache-status=hit should-skip-scan=true"),
        "second run did not skip:\n{second}"
    );
    assert!(
        !second.contains("E2E scanned"),
        "second run scanned:\n{second}"
    );
    drop(taken);
}

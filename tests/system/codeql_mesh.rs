//! CodeQL results shared through the fleet mesh (issue 5): a result `codeql store`d next to one
//! `ghmesh serve` is announced to the fleet, kept by every other node and a `hit` there — the
//! very SARIF, its provenance set to the checked commit; a node that joins later finds it with a
//! lookup; a later commit reuses it through the local `codeql-skip` component; a node of
//! another fleet misses. (A SARIF that does not match its CID is refused by the mesh itself:
//! `host/src/mesh/tests.rs`.)

use ghmesh_system_tests::fleet::{MeshNode, NodeConfig, wait_for};
use ghmesh_system_tests::{stderr, stdout};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const VERSION: &str = "2.21.0";
const CATEGORY: &str = "/language:python";
const CONFIG: &str = r#"{"languages":"python","build-mode":"none"}"#;
/// The serves are never asked for GitHub here.
const NO_UPSTREAM: &str = "http://127.0.0.1:9";

const SARIF: &str = r#"{
  "version": "2.1.0",
  "runs": [{
    "tool": {"driver": {"name": "CodeQL", "semanticVersion": "2.21.0", "rules": [
      {"id": "py/sql-injection", "properties": {"security-severity": "8.8"}}
    ]}},
    "versionControlProvenance": [{"repositoryUri": "https://github.com/octo/app", "revisionId": "PLACEHOLDER"}],
    "results": [{"ruleId": "py/sql-injection", "level": "error", "message": {"text": "shared-marker"}}]
  }]
}"#;

/// A committed python project, shared by every node's commands (the key is the tree's).
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Self {
        let project = Project {
            dir: tempfile::tempdir().unwrap(),
        };
        project.git(&["init", "-q", "-b", "main"]);
        project.write("src/app.py", "print('hello')\n");
        project.write("README.md", "# app\n");
        project.commit("initial");
        project
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn git(&self, args: &[&str]) -> String {
        let output = Command::new("git")
            .arg("-C")
            .arg(self.path())
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "Test")
            .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
            .env("GIT_COMMITTER_NAME", "Test")
            .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
            .output()
            .expect("run git");
        assert!(output.status.success(), "git {args:?}: {}", stderr(&output));
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    }

    fn write(&self, path: &str, text: &str) {
        let path = self.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }
}

/// `ghmesh codeql ...` in `node`'s sandbox (its cache directory, so its serve is found).
fn codeql(node: &MeshNode, args: &[&str]) -> Output {
    let path = std::env::var("PATH").unwrap_or_default();
    let mut all = vec!["codeql"];
    all.extend_from_slice(args);
    let output = node.sandbox.run(&all, &[("PATH", &path)]);
    assert!(
        output.status.success(),
        "ghmesh codeql {args:?}: {}",
        stderr(&output)
    );
    output
}

/// Stores [`SARIF`] as the scan of the project's HEAD on `node`; the `announced` line.
fn store(node: &MeshNode, project: &Project) -> String {
    let file = node.sandbox.path("scan.sarif");
    std::fs::write(&file, SARIF).unwrap();
    let out = codeql(
        node,
        &[
            "store",
            "--repo",
            "octo/app",
            "--repo-dir",
            project.path().to_str().unwrap(),
            "--config",
            CONFIG,
            "--codeql-version",
            VERSION,
            "--category",
            CATEGORY,
            "--sarif",
            file.to_str().unwrap(),
            "--duration",
            "1200",
        ],
    );
    let text = stdout(&out);
    let line = text.lines().find(|l| l.starts_with("announced"));
    line.unwrap_or_else(|| panic!("no announced line in {text}"))
        .to_string()
}

/// `codeql check` of the project's HEAD on `node` (against `base`): its answers, and the SARIF
/// path it would hand out.
fn check(node: &MeshNode, project: &Project, base: Option<&str>) -> BTreeMap<String, String> {
    let head = project.git(&["rev-parse", "HEAD"]);
    let output: PathBuf = node.sandbox.path("out/cached.sarif");
    let mut args = vec![
        "check",
        "--repo",
        "octo/app",
        "--repo-dir",
        project.path().to_str().unwrap(),
        "--commit",
        &head,
        "--config",
        CONFIG,
        "--codeql-version",
        VERSION,
        "--category",
        CATEGORY,
        "--output",
        output.to_str().unwrap(),
    ];
    if let Some(base) = base {
        args.extend(["--base", base]);
    }
    stdout(&codeql(node, &args))
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn stats(node: &MeshNode) -> serde_json::Value {
    serde_json::from_str(&stdout(&codeql(node, &["stats", "--json"]))).unwrap()
}

/// Asserts a skip with `status` whose SARIF is what was stored, provenance set to `commit`.
#[track_caller]
fn assert_skips_with_stored_sarif(answer: &BTreeMap<String, String>, status: &str, commit: &str) {
    assert_eq!(answer["cache-status"], status, "{answer:?}");
    assert_eq!(answer["should-skip-scan"], "true", "{answer:?}");
    let handed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&answer["cached-result"]).unwrap()).unwrap();
    let mut expected: serde_json::Value = serde_json::from_str(SARIF).unwrap();
    expected["runs"][0]["versionControlProvenance"][0]["revisionId"] = commit.into();
    assert_eq!(handed, expected);
    let provenance = &handed["runs"][0]["versionControlProvenance"][0];
    assert_eq!(provenance["repositoryUri"], "https://github.com/octo/app");
    assert_eq!(provenance["revisionId"], commit);
}

#[test]
fn a_codeql_result_stored_on_one_node_is_reused_by_the_fleet() {
    let secret = "ghmesh-system-test-fleet-codeql";
    let project = Project::new();
    let first = project.git(&["rev-parse", "HEAD"]);
    let a = MeshNode::start(NO_UPSTREAM, &NodeConfig::loopback(secret, &[]));
    let b = MeshNode::start(NO_UPSTREAM, &NodeConfig::loopback(secret, &[a.mesh_addr()]));
    a.wait_connected(1);
    b.wait_connected(1);
    // Gossip subscriptions travel right after the connection; give them a heartbeat.
    std::thread::sleep(std::time::Duration::from_secs(1));

    let announced = store(&a, &project);
    assert!(announced.contains("yes"), "{announced}");
    wait_for("node B to keep the announced result", || {
        stats(&b)["scans_from_peers"] == 1
    });
    let hit = check(&b, &project, None);
    assert_skips_with_stored_sarif(&hit, "hit", &first);
    assert!(hit["reason"].contains("fleet peer"), "{hit:?}");
    let counted = stats(&b);
    assert_eq!(counted["scans_retrieved_from_peers"], 1, "{counted}");
    assert_eq!(counted["scans_cached"], 0, "{counted}");

    // A node that joins after the announcement asks the fleet on its local miss.
    let late = MeshNode::start(NO_UPSTREAM, &NodeConfig::loopback(secret, &[a.mesh_addr()]));
    late.wait_connected(1);
    assert_skips_with_stored_sarif(&check(&late, &project, None), "hit", &first);
    assert_eq!(stats(&late)["scans_from_peers"], 1);

    // A later commit that only changes documentation reuses it on B, decided by B's component.
    project.write("README.md", "# app\n\nMore words.\n");
    let second = project.commit("docs");
    let reuse = check(&b, &project, Some(&first));
    assert_skips_with_stored_sarif(&reuse, "reuse", &second);

    // Another fleet's node never connects, so it has nothing to reuse.
    let stranger = MeshNode::start(
        NO_UPSTREAM,
        &NodeConfig::loopback("another fleet's secret", &[a.mesh_addr()]),
    );
    let miss = check(&stranger, &project, Some(&first));
    assert_eq!(miss["cache-status"], "miss", "{miss:?}");
    assert_eq!(miss["should-skip-scan"], "false", "{miss:?}");
    assert_eq!(miss["cached-result"], "", "{miss:?}");
    assert!(miss["reason"].contains("no fleet peer"), "{miss:?}");
    assert_eq!(stranger.connected_peers(), 0);
}

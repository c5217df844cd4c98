//! The CodeQL result cache on real git repositories made here: what may skip a scan (the same
//! tree, a documentation-only change) and everything that must not (sources, build and lock
//! files, CodeQL config and queries, the CodeQL version, the languages, a dirty worktree), with
//! every reason printed; SARIF refused at the door; a damaged stored SARIF never handed out.

use ghmesh_system_tests::Sandbox;
use redb::ReadableTable;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const VERSION: &str = "2.21.0";
const CATEGORY: &str = "/language:python";
const CONFIG: &str = r#"{"languages":"python","build-mode":"none","config-file":".github/codeql/codeql-config.yml"}"#;

const SARIF: &str = r#"{
  "version": "2.1.0",
  "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
  "runs": [{
    "tool": {"driver": {"name": "CodeQL", "semanticVersion": "2.21.0", "rules": [
      {"id": "py/sql-injection", "properties": {"security-severity": "8.8"}}
    ]}},
    "versionControlProvenance": [{"repositoryUri": "https://github.com/octo/app", "revisionId": "PLACEHOLDER"}],
    "results": [{"ruleId": "py/sql-injection", "level": "error", "message": {"text": "marker-xyzzy"}}]
  }]
}"#;

/// A git repository in a sandbox, with git configured through the environment only.
struct Fixture {
    sandbox: Sandbox,
    repo: PathBuf,
}

impl Fixture {
    /// A python project with docs, a build file and a CodeQL config, committed once.
    fn new() -> Self {
        let sandbox = Sandbox::new();
        let repo = sandbox.path("repo");
        std::fs::create_dir_all(&repo).unwrap();
        let fixture = Fixture { sandbox, repo };
        fixture.git(&["init", "-q", "-b", "main"]);
        fixture.write("src/app.py", "print('hello')\n");
        fixture.write("README.md", "# app\n");
        fixture.write("docs/guide.md", "guide\n");
        fixture.write("requirements.txt", "flask==3.0.0\n");
        fixture.write(
            ".github/codeql/codeql-config.yml",
            "paths-ignore:\n  - docs\n",
        );
        fixture.commit("initial");
        fixture
    }

    fn git(&self, args: &[&str]) -> String {
        let output = Command::new("git")
            .arg("-C")
            .arg(&self.repo)
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "Test")
            .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
            .env("GIT_COMMITTER_NAME", "Test")
            .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
            .output()
            .expect("run git");
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    }

    fn write(&self, path: &str, text: &str) {
        let path = self.repo.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Commits everything; the new commit id.
    fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
        self.git(&["rev-parse", "HEAD"])
    }

    fn ghmesh(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let path = std::env::var("PATH").unwrap_or_default();
        let mut env = env.to_vec();
        env.push(("PATH", &path));
        self.sandbox.run(args, &env)
    }

    fn repo_dir(&self) -> &str {
        self.repo.to_str().unwrap()
    }

    /// Stores `sarif` as the scan of HEAD.
    fn store(&self, sarif: &str, config: &str, version: &str) -> Output {
        let file = self.sandbox.path("in.sarif");
        std::fs::write(&file, sarif).unwrap();
        let args = [
            "codeql",
            "store",
            "--repo",
            "octo/app",
            "--repo-dir",
            self.repo_dir(),
            "--config",
            config,
            "--codeql-version",
            version,
            "--category",
            CATEGORY,
            "--sarif",
            file.to_str().unwrap(),
            "--duration",
            "900",
        ];
        self.ghmesh(&args, &[])
    }

    fn store_ok(&self) {
        let out = self.store(SARIF, CONFIG, VERSION);
        assert!(
            out.status.success(),
            "store: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `codeql check` of HEAD against `base`; its `name=value` answers.
    fn check_with(&self, base: Option<&str>, config: &str, version: &str) -> Answer {
        let head = self.git(&["rev-parse", "HEAD"]);
        let mut args = vec![
            "codeql",
            "check",
            "--repo",
            "octo/app",
            "--repo-dir",
            self.repo_dir(),
            "--commit",
            &head,
            "--config",
            config,
            "--codeql-version",
            version,
            "--category",
            CATEGORY,
        ];
        if let Some(base) = base {
            args.extend(["--base", base]);
        }
        let out = self.ghmesh(&args, &[]);
        assert!(
            out.status.success(),
            "check: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Answer::parse(&String::from_utf8_lossy(&out.stdout))
    }

    fn check(&self, base: Option<&str>) -> Answer {
        self.check_with(base, CONFIG, VERSION)
    }

    fn stats(&self) -> serde_json::Value {
        let out = self.ghmesh(&["codeql", "stats", "--json"], &[]);
        assert!(
            out.status.success(),
            "stats: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// The check's outputs.
#[derive(Debug)]
struct Answer(BTreeMap<String, String>);

impl Answer {
    fn parse(text: &str) -> Self {
        let map = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Answer(map)
    }

    fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }

    /// Asserts a skip with `status`; the SARIF handed out.
    #[track_caller]
    fn skips(&self, status: &str) -> serde_json::Value {
        assert_eq!(self.get("should-skip-scan"), "true", "{self:?}");
        assert_eq!(self.get("cache-status"), status, "{self:?}");
        assert!(!self.get("reason").is_empty(), "{self:?}");
        let text = std::fs::read_to_string(self.get("cached-result")).expect("cached-result file");
        serde_json::from_str(&text).unwrap()
    }

    /// Asserts the scan runs with `status` and a reason containing `expected`.
    #[track_caller]
    fn runs(&self, status: &str, expected: &str) {
        assert_eq!(self.get("should-skip-scan"), "false", "{self:?}");
        assert_eq!(self.get("cache-status"), status, "{self:?}");
        assert_eq!(self.get("cached-result"), "", "{self:?}");
        let reason = self.get("reason");
        assert!(
            reason.contains(expected),
            "reason {reason:?} lacks {expected:?}"
        );
        eprintln!("run ({status}): {reason}");
    }
}

#[test]
fn codeql_same_tree_on_another_commit_is_an_exact_hit_addressed_to_the_new_commit() {
    let f = Fixture::new();
    f.check(None).runs("miss", "no cached scan");
    f.store_ok();
    let c2 = f.commit("empty: same tree");
    let sarif = f.check(None).skips("hit");
    assert_eq!(
        sarif["runs"][0]["versionControlProvenance"][0]["revisionId"],
        c2.as_str()
    );
    assert_eq!(
        sarif["runs"][0]["results"][0]["message"]["text"],
        "marker-xyzzy"
    );
    let stats = f.stats();
    assert_eq!(stats["scans_cached"], 1);
    assert_eq!(stats["scans_skipped"], 1);
    assert_eq!(stats["scans_retrieved"], 1);
    assert_eq!(stats["checks"], 2);
    assert_eq!(stats["skip_rate"], 0.5);
    assert_eq!(stats["scan_time_saved_hours"], 0.25);
}

#[test]
fn codeql_documentation_only_change_reuses_the_base_result() {
    let f = Fixture::new();
    let base = f.git(&["rev-parse", "HEAD"]);
    f.store_ok();
    f.write("README.md", "# app\nmore words\n");
    f.write("docs/guide.md", "a longer guide\n");
    let head = f.commit("docs");
    let sarif = f.check(Some(&base)).skips("reuse");
    assert_eq!(
        sarif["runs"][0]["versionControlProvenance"][0]["revisionId"],
        head.as_str()
    );
    // Without a base to compare with, a new tree is a miss.
    f.check(None).runs("miss", "no --base");
}

#[test]
fn codeql_relevant_changes_run_the_scan_and_say_why() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "src/app.py",
            "print('changed')\n",
            "src/app.py is a python source file",
        ),
        (
            "requirements.txt",
            "flask==3.1.0\n",
            "requirements.txt is a python build or dependency file",
        ),
        (
            "poetry.lock",
            "# lock\n",
            "poetry.lock is a python build or dependency file",
        ),
        (
            "queries/custom.ql",
            "select 1\n",
            "queries/custom.ql is a CodeQL configuration or query file",
        ),
        (
            "queries/qlpack.yml",
            "name: acme/queries\n",
            "qlpack.yml is a CodeQL configuration or query file",
        ),
        (
            "src/tool.go",
            "package main\n",
            "not a known documentation or asset file",
        ),
    ];
    for (path, text, expected) in cases {
        let f = Fixture::new();
        let base = f.git(&["rev-parse", "HEAD"]);
        f.store_ok();
        f.write(path, text);
        f.commit(path);
        f.check(Some(&base)).runs("miss", expected);
    }
}

#[test]
fn codeql_config_version_and_language_changes_run_the_scan() {
    let f = Fixture::new();
    let base = f.git(&["rev-parse", "HEAD"]);
    f.store_ok();
    // The same commit under another CodeQL version or language set: the base's result is found
    // and the component refuses it.
    f.check_with(Some(&base), CONFIG, "2.21.1")
        .runs("miss", "CodeQL version differs");
    let both = r#"{"languages":"python,javascript","build-mode":"none","config-file":".github/codeql/codeql-config.yml"}"#;
    f.check_with(Some(&base), both, VERSION)
        .runs("miss", "differs");
    let extended = r#"{"languages":"python","build-mode":"none","config-file":".github/codeql/codeql-config.yml","queries":[{"uses":"security-extended"}]}"#;
    f.check_with(Some(&base), extended, VERSION)
        .runs("miss", "configuration digest differs");
    // The CodeQL config file changed in the repository.
    f.write(
        ".github/codeql/codeql-config.yml",
        "paths-ignore:\n  - docs\n  - src\n",
    );
    f.commit("config");
    f.check(Some(&base))
        .runs("miss", "configuration digest differs");
}

#[test]
fn codeql_dirty_worktree_runs_the_scan() {
    let f = Fixture::new();
    f.store_ok();
    f.write("README.md", "# uncommitted\n");
    f.check(None).runs("error", "is dirty");
    f.git(&["checkout", "--", "README.md"]);
    f.write("untracked.py", "x = 1\n");
    f.check(None).runs("error", "is dirty");
    std::fs::remove_file(f.repo.join("untracked.py")).unwrap();
    f.check(None).skips("hit");
    // A key cannot be computed either, and the command says why.
    f.write("README.md", "# uncommitted\n");
    let out = f.ghmesh(
        &[
            "codeql",
            "key",
            "--repo-dir",
            f.repo_dir(),
            "--config",
            CONFIG,
            "--codeql-version",
            VERSION,
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is dirty"));
}

#[test]
fn codeql_key_prints_every_input() {
    let f = Fixture::new();
    let head = f.git(&["rev-parse", "HEAD"]);
    let tree = f.git(&["rev-parse", "HEAD^{tree}"]);
    let out = f.ghmesh(
        &[
            "codeql",
            "key",
            "--repo-dir",
            f.repo_dir(),
            "--config",
            CONFIG,
            "--codeql-version",
            VERSION,
            "--json",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(key["commit"], head.as_str());
    assert_eq!(key["tree"], tree.as_str());
    assert_eq!(key["codeql_version"], VERSION);
    assert_eq!(key["category"], "/language:python");
    assert_eq!(key["paths_ignore"][0], "docs");
    assert!(key["key"].as_str().unwrap().starts_with("sha256:"));
    let table = f.ghmesh(
        &[
            "codeql",
            "key",
            "--repo-dir",
            f.repo_dir(),
            "--config",
            CONFIG,
            "--codeql-version",
            VERSION,
        ],
        &[],
    );
    let table = String::from_utf8_lossy(&table.stdout);
    for row in [
        "key",
        "tree",
        "codeql-version",
        "category",
        "config-digest",
        "config-file",
        "languages",
        "build-mode",
        "paths-ignore",
    ] {
        assert!(
            table.lines().any(|l| l.starts_with(row)),
            "{row} missing:\n{table}"
        );
    }
}

#[test]
fn codeql_corrupt_or_diff_only_sarif_is_refused_and_stores_nothing() {
    let f = Fixture::new();
    let diff_only = SARIF.replace(
        r#""tool": {"#,
        r#""properties": {"diffInformed": true}, "tool": {"#,
    );
    let bad: &[(&str, &str)] = &[
        ("{ this is not json", "not valid JSON"),
        (r#"{"version": "2.0.0", "runs": []}"#, "not SARIF 2.1.0"),
        (
            r#"{"version": "2.1.0", "runs": [{"results": []}]}"#,
            "no `tool.driver.name`",
        ),
        (&diff_only, "covers only a pull request's diff"),
    ];
    for (text, expected) in bad {
        let out = f.store(text, CONFIG, VERSION);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(expected) && stderr.contains("nothing stored"),
            "{stderr}"
        );
    }
    assert!(
        !f.sandbox.path("cache/codeql").exists(),
        "refused input created the store"
    );
    f.check(None).runs("miss", "no cached scan");
}

#[test]
fn codeql_check_writes_github_output() {
    let f = Fixture::new();
    f.store_ok();
    let outputs = f.sandbox.path("github_output");
    let head = f.git(&["rev-parse", "HEAD"]);
    let args = [
        "codeql",
        "check",
        "--repo",
        "octo/app",
        "--repo-dir",
        f.repo_dir(),
        "--commit",
        &head,
        "--config",
        CONFIG,
        "--codeql-version",
        VERSION,
        "--category",
        CATEGORY,
    ];
    let out = f.ghmesh(&args, &[("GITHUB_OUTPUT", outputs.to_str().unwrap())]);
    assert!(out.status.success());
    let text = std::fs::read_to_string(&outputs).unwrap();
    let answer = Answer::parse(&text);
    answer.skips("hit");
    assert_eq!(text.lines().count(), 4, "{text}");
}

#[test]
fn codeql_damaged_stored_sarif_is_detected_and_never_handed_out() {
    let f = Fixture::new();
    f.store_ok();
    let cid = ghmesh::store::body_cid(SARIF.as_bytes()).to_string();
    damage_blob(&f.sandbox.path("cache/codeql/store.redb"), &cid);
    let answer = f.check(None);
    answer.runs("error", "failed its CID check");
    // The record went with its body: later checks miss cleanly.
    f.check(None).runs("miss", "no cached scan");
}

/// Rewrites the stored body under `cid` with other bytes through redb itself, as a bad cache
/// restore or a tampering process could: redb's own checksums stay valid, only the CID catches it.
fn damage_blob(db: &Path, cid: &str) {
    let blobs: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("blobs");
    let db = redb::Database::open(db).expect("open store");
    let txn = db.begin_write().unwrap();
    {
        let mut table = txn.open_table(blobs).unwrap();
        let damaged = SARIF.replace("marker-xyzzy", "marker-EVIL!");
        assert!(
            table.get(cid).unwrap().is_some(),
            "stored SARIF not under its CID"
        );
        table.insert(cid, damaged.as_bytes()).unwrap();
    }
    txn.commit().unwrap();
}

#[test]
fn codeql_submodule_checked_out_elsewhere_runs_the_scan() {
    let f = Fixture::new();
    let lib = Fixture::new();
    lib.write("lib.py", "x = 1\n");
    lib.commit("lib");
    let url = lib.repo.to_str().unwrap().to_string();
    f.git(&[
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "add",
        "-q",
        &url,
        "vendor/lib",
    ]);
    f.commit("add submodule");
    f.store_ok();
    f.check(None).skips("hit");
    // The submodule's checkout moves to another commit: the superproject's tree is unchanged,
    // but CodeQL would read other files.
    let sub = Fixture {
        sandbox: Sandbox::new(),
        repo: f.repo.join("vendor/lib"),
    };
    sub.write("lib.py", "x = 2\n");
    sub.commit("moved");
    f.check(None).runs("error", "vendor/lib");
}

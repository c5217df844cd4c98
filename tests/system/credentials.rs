//! Issue 6, the credential vault end to end through the `ghmesh` binary: round trips, rotation,
//! the scope matrix decided by the `credential-scope` component, expiry and purge, a misbehaving
//! component denying, refused permissions and damaged files, concurrent writers, and no trace of
//! a secret value anywhere a run leaves things.

use ghmesh_system_tests::{Sandbox, components, sha256_file, stderr, stdout};
use serde_json::Value;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

/// A sandbox whose vault keeps its key in the 0600 file (the keyring tests are in
/// `credentials_keyring.rs`).
pub struct Vault {
    pub sandbox: Sandbox,
}

impl Vault {
    pub fn new() -> Self {
        Self {
            sandbox: Sandbox::new(),
        }
    }

    pub fn dir(&self) -> PathBuf {
        self.sandbox.path("cache/credentials")
    }

    /// `ghmesh creds ARGS` with `stdin` fed in and `env` added.
    pub fn creds(&self, args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Output {
        let mut full = vec!["creds", "--key-store", "file"];
        full.extend_from_slice(args);
        let mut command = self.sandbox.command(&full);
        command.envs(env.iter().copied());
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ghmesh");
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait_with_output().expect("ghmesh output")
    }

    pub fn ok(&self, args: &[&str], stdin: &[u8]) -> Output {
        let output = self.creds(args, stdin, &[]);
        assert!(
            output.status.success(),
            "creds {args:?}: {}{}",
            stdout(&output),
            stderr(&output)
        );
        output
    }

    pub fn store(&self, name: &str, value: &str, scope: &[&str]) {
        let mut args = vec!["store", name];
        args.extend_from_slice(scope);
        self.ok(&args, value.as_bytes());
    }

    /// `get NAME` with context flags: the value, or the exit code and stderr.
    pub fn get(&self, name: &str, context: &[&str]) -> Result<String, (i32, String)> {
        let mut args = vec!["get", name];
        args.extend_from_slice(context);
        let output = self.creds(&args, b"", &[]);
        match output.status.code() {
            Some(0) => Ok(stdout(&output)),
            code => Err((code.unwrap_or(-1), stderr(&output))),
        }
    }

    pub fn stats(&self) -> Value {
        serde_json::from_str(&stdout(&self.ok(&["stats"], b""))).unwrap()
    }

    pub fn vault_json(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.dir().join("credentials.json.enc")).unwrap())
            .unwrap()
    }
}

#[test]
fn store_get_rotate_delete_round_trip_with_the_file_key() {
    let vault = Vault::new();
    vault.store("NPM_TOKEN", "npm-value-1\n", &["--scope", "global"]);
    assert_eq!(vault.get("NPM_TOKEN", &[]).unwrap(), "npm-value-1");
    let list: Value = serde_json::from_str(&stdout(&vault.ok(&["list", "--json"], b""))).unwrap();
    assert_eq!(list[0]["name"], "NPM_TOKEN");
    assert_eq!(list[0]["version"], 1);
    assert!(list[0].get("sealed").is_none(), "list shows metadata only");

    let sealed_before = vault.vault_json()["credentials"]["NPM_TOKEN"]["sealed"].clone();
    let rotated = vault.creds(
        &["rotate", "NPM_TOKEN", "--from-env", "NEW"],
        b"",
        &[("NEW", "npm-value-2")],
    );
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    assert_eq!(vault.get("NPM_TOKEN", &[]).unwrap(), "npm-value-2");
    let sealed_after = vault.vault_json()["credentials"]["NPM_TOKEN"]["sealed"].clone();
    assert_ne!(
        sealed_before, sealed_after,
        "rotation reseals under a fresh nonce"
    );
    let text = std::fs::read_to_string(vault.dir().join("credentials.json.enc")).unwrap();
    assert!(!text.contains("npm-value"), "no value in clear");

    vault.ok(&["delete", "NPM_TOKEN"], b"");
    let (code, why) = vault.get("NPM_TOKEN", &[]).unwrap_err();
    assert_eq!(code, 3, "{why}");
    assert!(why.contains("no credential of that name"), "{why}");
    let stats = vault.stats();
    assert_eq!(stats["active_credentials"], 0);
    assert_eq!(stats["key_store"], "file");
}

#[test]
fn each_scope_is_granted_to_matching_contexts_and_denied_to_others() {
    let vault = Vault::new();
    vault.store("G", "g", &["--scope", "global"]);
    vault.store("R", "r", &["--scope", "repo", "--scope-filter", "octo/*"]);
    let workflow = "octo/app/.github/workflows/release.yml@refs/heads/main";
    vault.store(
        "W",
        "w",
        &[
            "--scope",
            "workflow",
            "--scope-filter",
            "octo/app/.github/workflows/release.yml",
        ],
    );
    vault.store(
        "N",
        "n",
        &["--scope", "runner", "--scope-filter", "fleet-*"],
    );

    let matching: &[&str] = &[
        "--repo",
        "octo/app",
        "--workflow-ref",
        workflow,
        "--runner",
        "fleet-7",
    ];
    for (name, value) in [("G", "g"), ("R", "r"), ("W", "w"), ("N", "n")] {
        assert_eq!(vault.get(name, matching).unwrap(), value, "{name}");
    }
    let others: &[&str] = &[
        "--repo",
        "acme/app",
        "--workflow-ref",
        "acme/app/.github/workflows/release.yml@refs/heads/main",
        "--runner",
        "laptop",
    ];
    assert_eq!(
        vault.get("G", others).unwrap(),
        "g",
        "global is for everyone"
    );
    for (name, rule) in [
        ("R", "repo scope"),
        ("W", "workflow scope"),
        ("N", "runner scope"),
    ] {
        let (code, why) = vault.get(name, others).unwrap_err();
        assert_eq!(code, 3);
        assert!(why.contains(rule), "{name}: {why}");
    }
    // No context at all: only global.
    assert!(vault.get("R", &[]).is_err());
    // The Actions environment is the context when no flag is given.
    let env = vault.creds(&["get", "R"], b"", &[("GITHUB_REPOSITORY", "octo/lib")]);
    assert_eq!(stdout(&env), "r", "{}", stderr(&env));

    let stats = vault.stats();
    assert_eq!(stats["active_credentials"], 4);
    assert_eq!(stats["granted"], 6);
    assert_eq!(stats["denied"], 4);
    assert_eq!(stats["access_events"], 10);
}

#[test]
fn require_verified_credentials_are_denied_to_unverified_contexts() {
    let vault = Vault::new();
    vault.store(
        "DEPLOY",
        "d",
        &[
            "--scope",
            "repo",
            "--scope-filter",
            "octo/app",
            "--require-verified",
        ],
    );
    let (code, why) = vault.get("DEPLOY", &["--repo", "octo/app"]).unwrap_err();
    assert_eq!(code, 3);
    assert!(why.contains("verified"), "{why}");
}

#[test]
fn expired_credentials_are_denied_then_purged() {
    let vault = Vault::new();
    vault.store("OLD", "o", &["--scope", "global", "--ttl-hours", "1"]);
    vault.store("NEW", "n", &["--scope", "global", "--ttl-hours", "48"]);
    assert_eq!(vault.get("OLD", &[]).unwrap(), "o");
    // An hour cannot pass in a test: move OLD's expiry into the past in the file, which is what
    // the passing of time looks like to the access decision (expiry is decided before any
    // decryption, and the changed metadata would no longer open the value anyway).
    let path = vault.dir().join("credentials.json.enc");
    let mut file = vault.vault_json();
    file["credentials"]["OLD"]["expires_at"] = 1_000.into();
    std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
    let (code, why) = vault.get("OLD", &[]).unwrap_err();
    assert_eq!(code, 3);
    assert!(why.contains("expired"), "{why}");
    assert_eq!(vault.stats()["active_credentials"], 1);

    let purged = vault.ok(&["purge-expired"], b"");
    assert!(
        stderr(&purged).contains("purged OLD"),
        "{}",
        stderr(&purged)
    );
    let names: Vec<String> = vault.vault_json()["credentials"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(names, ["NEW"]);
    assert_eq!(vault.stats()["expired"], 1);
    assert_eq!(vault.get("NEW", &[]).unwrap(), "n");
}

#[test]
fn a_misbehaving_scope_component_denies() {
    let vault = Vault::new();
    vault.sandbox.write_config(
        "cache-config.yml",
        &format!(
            "policy:\n  credential_scope:\n    path: {}\n    sha256: {}\n",
            components::EVIL_POLICY,
            sha256_file(components::EVIL_POLICY)
        ),
    );
    for trigger in ["loop", "panic", "alloc", "recurse"] {
        vault.store(trigger, "v", &["--scope", "global"]);
        let (code, why) = vault.get(trigger, &[]).unwrap_err();
        assert_eq!(code, 3, "{trigger}: {why}");
        assert!(
            why.contains("policy failed") && why.contains("denying"),
            "{trigger}: {why}"
        );
    }
    // The evil guest allows anything else, but not past the host's own floor.
    vault.store(
        "fine",
        "v",
        &[
            "--scope",
            "repo",
            "--scope-filter",
            "x/y",
            "--require-verified",
        ],
    );
    let (_, why) = vault.get("fine", &[]).unwrap_err();
    assert!(
        why.contains("host: the credential requires a verified"),
        "{why}"
    );
}

#[test]
fn loose_permissions_and_damaged_vault_files_are_refused_clearly() {
    let vault = Vault::new();
    vault.store("A", "alpha", &["--scope", "global"]);
    let dir = vault.dir();
    let file = dir.join("credentials.json.enc");
    let set = |p: &Path, mode| std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode));

    set(&dir, 0o755).unwrap();
    let (_, why) = vault.get("A", &[]).unwrap_err();
    assert!(
        why.contains("mode 0755") && why.contains("chmod 700"),
        "{why}"
    );
    set(&dir, 0o700).unwrap();

    for path in [file.clone(), dir.join(".master_key")] {
        set(&path, 0o644).unwrap();
        let (_, why) = vault.get("A", &[]).unwrap_err();
        assert!(
            why.contains("mode 0644") && why.contains("chmod 600"),
            "{why}"
        );
        set(&path, 0o600).unwrap();
    }

    let whole = std::fs::read(&file).unwrap();
    std::fs::write(&file, &whole[..whole.len() - 40]).unwrap();
    let (_, why) = vault.get("A", &[]).unwrap_err();
    assert!(why.contains("corrupt or truncated"), "{why}");
    let refused = vault.creds(&["store", "B", "--scope", "global"], b"b", &[]);
    assert!(
        !refused.status.success(),
        "a damaged vault is never overwritten"
    );
    assert_eq!(std::fs::read(&file).unwrap(), &whole[..whole.len() - 40]);

    // A flipped byte inside a sealed value: the file parses, the value does not open.
    let mut json: Value = serde_json::from_slice(&whole).unwrap();
    let sealed = json["credentials"]["A"]["sealed"]
        .as_str()
        .unwrap()
        .to_owned();
    let flipped = format!(
        "{}{}",
        &sealed[..sealed.len() - 1],
        if sealed.ends_with('0') { '1' } else { '0' }
    );
    json["credentials"]["A"]["sealed"] = flipped.into();
    std::fs::write(&file, serde_json::to_vec(&json).unwrap()).unwrap();
    let output = vault.creds(&["get", "A"], b"", &[]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("was altered"),
        "{}",
        stderr(&output)
    );

    std::fs::write(&file, &whole).unwrap();
    assert_eq!(vault.get("A", &[]).unwrap(), "alpha");
}

#[test]
fn a_wrong_master_key_is_a_clear_error_and_loses_nothing() {
    let vault = Vault::new();
    vault.store("A", "alpha", &["--scope", "global"]);
    let key_file = vault.dir().join(".master_key");
    let right = std::fs::read(&key_file).unwrap();
    let before = std::fs::read(vault.dir().join("credentials.json.enc")).unwrap();
    std::fs::write(&key_file, "11".repeat(32)).unwrap();
    let (code, why) = vault.get("A", &[]).unwrap_err();
    assert_eq!(code, 1);
    assert!(why.contains("does not open vault"), "{why}");
    let refused = vault.creds(&["store", "B", "--scope", "global"], b"b", &[]);
    assert!(!refused.status.success());
    assert_eq!(
        std::fs::read(vault.dir().join("credentials.json.enc")).unwrap(),
        before
    );
    std::fs::remove_file(&key_file).unwrap();
    let (_, why) = vault.get("A", &[]).unwrap_err();
    assert!(
        why.contains("master key") && why.contains("missing"),
        "{why}"
    );
    std::fs::write(&key_file, &right).unwrap();
    set_mode(&key_file, 0o600);
    assert_eq!(vault.get("A", &[]).unwrap(), "alpha");
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn concurrent_writers_lose_nothing() {
    let vault = Vault::new();
    // The first store creates the vault and its key; the writers then race on one file.
    vault.store("SEED", "seed", &["--scope", "global"]);
    let writers: Vec<_> = (0..16)
        .map(|i| {
            let name = format!("C{i}");
            let mut command = vault.sandbox.command(&[
                "creds",
                "--key-store",
                "file",
                "store",
                &name,
                "--scope",
                "global",
                "--from-env",
                "V",
            ]);
            command.env("V", format!("value-{i}")).stdin(Stdio::null());
            command
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for writer in writers {
        let output = writer.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let list: Value = serde_json::from_str(&stdout(&vault.ok(&["list", "--json"], b""))).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 17);
    for i in 0..16 {
        assert_eq!(
            vault.get(&format!("C{i}"), &[]).unwrap(),
            format!("value-{i}")
        );
    }
    assert_eq!(vault.stats()["stored"], 17);
}

#[test]
fn no_secret_value_reaches_any_output_log_or_file() {
    const CANARY: &str = "canary-9f2c41d7e0b3";
    let vault = Vault::new();
    let mut outputs = Vec::new();
    let trace = [("GHMESH_LOG", "ghmesh=trace,info")];
    let mut run = |args: &[&str], stdin: &[u8], env: &[(&str, &str)]| {
        let mut all = env.to_vec();
        all.extend_from_slice(&trace);
        let output = vault.creds(args, stdin, &all);
        outputs.push((args.join(" "), output));
    };
    run(
        &[
            "store",
            "LEAKY",
            "--scope",
            "repo",
            "--scope-filter",
            "octo/*",
        ],
        CANARY.as_bytes(),
        &[],
    );
    run(
        &["rotate", "LEAKY", "--from-env", "V"],
        b"",
        &[("V", CANARY)],
    );
    run(&["list"], b"", &[]);
    run(&["list", "--json"], b"", &[]);
    run(&["get", "LEAKY", "--repo", "acme/x"], b"", &[]);
    run(&["stats"], b"", &[]);
    run(&["delete", "NOPE"], b"", &[]);
    run(&["get", "LEAKY", "--repo", "octo/x"], b"", &[]);
    run(&["audit", "show"], b"", &[]);
    run(&["audit", "show", "--json"], b"", &[]);
    run(&["audit", "verify"], b"", &[]);
    let (_, audit_verify) = outputs.last().unwrap();
    assert!(audit_verify.status.success());
    // The one output that must hold the value: a granted `get`.
    let granted_at = outputs.len() - 4;
    let (last, granted) = outputs.remove(granted_at);
    assert_eq!(stdout(&granted), CANARY, "{last}");
    assert!(!stderr(&granted).contains(CANARY), "stderr of {last}");
    for (args, output) in &outputs {
        for stream in [&output.stdout, &output.stderr] {
            assert!(
                !contains(stream, CANARY.as_bytes()),
                "`creds {args}` printed the value"
            );
        }
    }
    for file in files_under(vault.sandbox.dir.path()) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !contains(&bytes, CANARY.as_bytes()),
            "{} holds the value",
            file.display()
        );
        assert!(
            !contains(&bytes, hex::encode(CANARY).as_bytes()),
            "{} holds its hex",
            file.display()
        );
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

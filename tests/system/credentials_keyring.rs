//! Issue 6, the master key in real OS keyrings: the Secret Service (gnome-keyring on a private
//! D-Bus session) and the kernel's keyutils (a fresh session keyring). Each round-trips a
//! credential through store, get and rotate with the key in the keyring and no `.master_key` file;
//! a replaced keyring entry is a clear error that loses nothing.
//!
//! These need `gnome-keyring dbus libsecret-tools keyutils` (tests/run and .ci/run install them);
//! without them the tests fail and say so, rather than pass without testing anything.

use ghmesh_system_tests::{Sandbox, ghmesh_bin, stderr, stdout};
use std::path::Path;
use std::process::{Command, Output};

const VALUE: &str = "keyring-canary-51be0c";

/// Fails with the install hint when a tool the test drives is missing.
fn require(tools: &[&str]) {
    for tool in tools {
        let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .any(|dir| dir.join(tool).is_file());
        assert!(
            found,
            "`{tool}` is not installed: the keyring tests need `apt-get install gnome-keyring dbus \
             libsecret-tools keyutils` (tests/run installs them when run as root)"
        );
    }
}

/// Runs `script` (sh) under `wrapper` with the sandbox's HOME and cache and `$B` = ghmesh.
fn run(sandbox: &Sandbox, wrapper: &[&str], script: &str) -> Output {
    let mut command = Command::new(wrapper[0]);
    command
        .args(&wrapper[1..])
        .args(["sh", "-c", script])
        .current_dir(sandbox.dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", sandbox.dir.path())
        .env("CACHE_DIR", sandbox.path("cache"))
        .env("XDG_DATA_HOME", sandbox.path("data"))
        .env("B", ghmesh_bin())
        .env("V", VALUE);
    command.output().expect("run the keyring script")
}

/// store, get, rotate, get, stats: the common round trip, printing `get:` lines and the stats.
const ROUND_TRIP: &str = r#"
set -e
printf %s "$V" | "$B" creds store K --scope global
printf 'get:%s\n' "$("$B" creds get K)"
printf %s "$V-rotated" | "$B" creds rotate K
printf 'get:%s\n' "$("$B" creds get K)"
"$B" creds stats
"#;

/// Removes the test vault's key again: keyring-rs also links keyutils keys into the user's
/// persistent keyring, which outlives the test's session.
const FORGET_KEY: &str = r#"
id=$(sed -n 's/.*"vault_id": "\([0-9a-f]*\)".*/\1/p' cache/credentials/credentials.json.enc)
keyctl purge user "keyring-rs:$id@ghmesh-vault" >/dev/null
"#;

fn check_round_trip(sandbox: &Sandbox, output: &Output, backend: &str) {
    let out = stdout(output);
    assert!(output.status.success(), "{out}{}", stderr(output));
    assert!(out.contains(&format!("get:{VALUE}\n")), "{out}");
    assert!(out.contains(&format!("get:{VALUE}-rotated\n")), "{out}");
    assert!(
        out.contains(&format!("\"key_store\": \"{backend}\"")),
        "{out}"
    );
    let dir = sandbox.path("cache/credentials");
    assert!(dir.join("credentials.json.enc").is_file());
    assert!(
        !dir.join(".master_key").exists(),
        "a keyring-kept key leaves no key file"
    );
}

fn vault_id(dir: &Path) -> String {
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("credentials.json.enc")).unwrap()).unwrap();
    file["vault_id"].as_str().unwrap().to_owned()
}

#[test]
fn secret_service_keeps_the_master_key() {
    require(&["dbus-run-session", "gnome-keyring-daemon"]);
    let sandbox = Sandbox::new();
    // `auto` must pick the Secret Service when one answers.
    let script = format!(
        "echo -n unlock | gnome-keyring-daemon --unlock --components=secrets >/dev/null\n{ROUND_TRIP}"
    );
    let output = run(&sandbox, &["dbus-run-session", "--"], &script);
    check_round_trip(&sandbox, &output, "secret-service");
    // Asking for another store than the vault's is refused by name.
    let other = run(&sandbox, &["env"], "\"$B\" creds --key-store file get K");
    assert!(!other.status.success());
    assert!(
        stderr(&other).contains("kept in secret-service"),
        "{}",
        stderr(&other)
    );
}

#[test]
fn kernel_keyutils_keeps_the_master_key() {
    require(&["keyctl"]);
    let sandbox = Sandbox::new();
    let output = run(
        &sandbox,
        &["keyctl", "session", "-"],
        &format!("{ROUND_TRIP}\n\"$B\" creds --key-store keyutils get K >/dev/null\n{FORGET_KEY}"),
    );
    check_round_trip(&sandbox, &output, "keyutils");
}

#[test]
fn a_replaced_keyutils_entry_is_a_clear_error_and_loses_nothing() {
    require(&["keyctl"]);
    let sandbox = Sandbox::new();
    // Store, then swap the key for another 32 bytes in the same session, try, then put it back.
    let script = r#"
set -e
printf %s "$V" | "$B" creds --key-store keyutils store K --scope global
id=$(sed -n 's/.*"vault_id": "\([0-9a-f]*\)".*/\1/p' cache/credentials/credentials.json.enc)
desc="keyring-rs:$id@ghmesh-vault"
keyctl pipe "%user:$desc" > saved.key
head -c 32 /dev/zero | tr '\0' 'x' | keyctl padd user "$desc" @s >/dev/null
if "$B" creds get K 2>wrong.err; then echo "wrong key opened the vault"; exit 1; fi
cat wrong.err
keyctl padd user "$desc" @s < saved.key >/dev/null
rm saved.key
printf 'get:%s\n' "$("$B" creds get K)"
"#;
    let script = format!("{script}{FORGET_KEY}");
    let output = run(&sandbox, &["keyctl", "session", "-"], &script);
    let out = stdout(&output);
    assert!(output.status.success(), "{out}{}", stderr(&output));
    assert!(out.contains("does not open vault"), "{out}");
    assert!(out.contains(&format!("get:{VALUE}\n")), "{out}");
    assert_eq!(vault_id(&sandbox.path("cache/credentials")).len(), 32);
}

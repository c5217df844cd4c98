//! Helpers for ghmesh's system tests: paths of the test-only components, a runner for the
//! `ghmesh` binary in an isolated working directory, the third-party rig ([`rig`]), the fleet
//! mesh helpers ([`fleet`]), network namespaces with routers and NAT ([`netns`]), the
//! polling-workload benchmark harness ([`polling`]), the fleet-mesh scale run ([`scale`]), a test
//! GitHub Actions OIDC issuer ([`oidc_issuer`]) and a local GitHub Actions cache service
//! ([`actions_cache_server`]).

pub mod actions_cache_server;
pub mod fleet;
pub mod netns;
pub mod oidc_issuer;
pub mod polling;
pub mod rig;
pub mod scale;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Paths of the test-only components built by `build.rs`.
pub mod components {
    include!(concat!(env!("OUT_DIR"), "/components.rs"));
}

/// The `ghmesh` binary of this build (`target/<profile>/ghmesh`), where cargo puts it. Build it
/// first: `cargo build -p ghmesh` (the README's test command does). Tests run
/// [`ghmesh_bin`], a snapshot of it, so a cargo run during the suite cannot pull it away.
pub fn built_ghmesh() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/system-<hash> -> target/<profile>/ghmesh
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("ghmesh");
    assert!(
        bin.exists(),
        "{} not found: run `cargo build -p ghmesh` before the system tests",
        bin.display()
    );
    bin
}

/// The `ghmesh` binary the tests run: a hard link to [`built_ghmesh`] taken once per test
/// process, in `target/<profile>/ghmesh-under-test/`. Cargo replaces `target/<profile>/ghmesh`
/// by unlinking it and linking a new file, so a build that runs while tests do (the action's
/// build-from-source test runs one) leaves a moment with no file there; the snapshot keeps the
/// tested binary in place for the whole run.
pub fn ghmesh_bin() -> PathBuf {
    static SNAPSHOT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    SNAPSHOT.get_or_init(snapshot_ghmesh).clone()
}

fn snapshot_ghmesh() -> PathBuf {
    let built = built_ghmesh();
    let dir = built.with_file_name("ghmesh-under-test");
    std::fs::create_dir_all(&dir).expect("create the snapshot dir");
    // Snapshots of test processes that have exited.
    for entry in std::fs::read_dir(&dir)
        .expect("read the snapshot dir")
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        let alive = name
            .strip_prefix("ghmesh-")
            .is_some_and(|pid| Path::new("/proc").join(pid).exists());
        if !alive {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    let snapshot = dir.join(format!("ghmesh-{}", std::process::id()));
    let _ = std::fs::remove_file(&snapshot);
    if std::fs::hard_link(&built, &snapshot).is_err() {
        std::fs::copy(&built, &snapshot).expect("copy the ghmesh binary");
    }
    snapshot
}

/// The tail of the test-service binaries (`actions-cache-server`, `oidc-issuer`): prints
/// `ready` as one JSON line on stdout, then waits for SIGINT or SIGTERM.
pub async fn announce_ready_and_wait(ready: serde_json::Value) -> std::io::Result<()> {
    use std::io::Write as _;
    println!("{ready}");
    std::io::stdout().flush()?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(())
}

/// A scratch working directory with its own `.github/` config dir and cache dir, so a test sees
/// only the configuration it writes.
pub struct Sandbox {
    /// The temporary directory, removed on drop.
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    /// A new, empty sandbox.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join(".github")).expect("create .github");
        Self { dir }
    }

    /// Path inside the sandbox.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Writes `.github/<name>` (e.g. `cache-config.yml`).
    pub fn write_config(&self, name: &str, text: &str) {
        std::fs::write(self.path(".github").join(name), text).expect("write config");
    }

    /// A `ghmesh` command in the sandbox: clean environment, its own `HOME` and `CACHE_DIR`.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(ghmesh_bin());
        command
            .args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("HOME", self.dir.path())
            .env("CACHE_DIR", self.path("cache"));
        command
    }

    /// Runs `ghmesh` with `args` in the sandbox, with a clean environment plus `env`.
    pub fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = self.command(args);
        for (key, value) in env {
            command.env(key, value);
        }
        command.output().expect("run ghmesh")
    }
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

/// Standard output as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// sha256 of a file, lowercase hex.
pub fn sha256_file(path: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(
        std::fs::read(path).expect("read component"),
    ))
}

/// The repository root (for `docs/examples/...`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

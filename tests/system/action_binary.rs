//! How the actions get the `ghmesh` binary (`actions/lib/common.sh`, `resolve_ghmesh`): an input
//! path, then PATH, then a release asset checked against the sha256 the action ships (served here
//! by a local HTTP server: the download itself is the only part not exercised against GitHub),
//! then a build from the action's own source with cargo.

use ghmesh_system_tests::built_ghmesh;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

/// Runs `resolve_ghmesh [given]` with `env`; PATH is the test's minus any dir holding `ghmesh`
/// (and `cargo`, unless `build` is allowed).
fn resolve(given: Option<&Path>, env: &[(&str, String)], build: bool) -> Output {
    let path: Vec<PathBuf> = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .filter(|dir| !dir.join("ghmesh").exists() && (build || !dir.join("cargo").exists()))
        .collect();
    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg("source \"$1\" && resolve_ghmesh \"$2\"")
        .arg("resolve")
        .arg(root().join("actions/lib/common.sh"))
        .arg(given.map(|p| p.display().to_string()).unwrap_or_default())
        .env("PATH", std::env::join_paths(path).unwrap())
        .env_remove("GHMESH_RELEASE_BASE_URL")
        .env_remove("GHMESH_RELEASE_CHECKSUMS")
        .env_remove("GHMESH_ACTION_REPOSITORY");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("bash")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

/// A stand-in `ghmesh` in `dir` that prints `marker`.
fn fake_ghmesh(dir: &Path, marker: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let bin = dir.join("ghmesh");
    std::fs::write(&bin, format!("#!/bin/sh\necho {marker}\n")).unwrap();
    Command::new("chmod").arg("755").arg(&bin).status().unwrap();
    bin
}

/// This machine's asset name, as the action computes it.
fn asset_name() -> String {
    let output = Command::new("bash")
        .arg("-c")
        .arg("source \"$1\" && release_asset")
        .arg("asset")
        .arg(root().join("actions/lib/common.sh"))
        .output()
        .unwrap();
    assert!(output.status.success(), "no asset for this machine");
    stdout(&output)
}

/// `python3 -m http.server` over `dir` on a free loopback port.
struct Files(Child, String);

impl Files {
    fn serve(dir: &Path) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .arg("--directory")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 http.server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "http.server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Files(child, format!("http://127.0.0.1:{port}"))
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn an_input_path_comes_first_then_path() {
    let work = tempfile::tempdir().unwrap();
    let given = fake_ghmesh(&work.path().join("given"), "given");
    let out = resolve(Some(&given), &[], false);
    assert_eq!(
        stdout(&out),
        given.display().to_string(),
        "{}",
        stderr(&out)
    );

    let missing = resolve(Some(&work.path().join("nope")), &[], false);
    assert!(!missing.status.success());
    assert!(stderr(&missing).contains("is not an executable file"));

    let on_path = fake_ghmesh(&work.path().join("bin"), "on-path");
    let path = format!(
        "{}:{}",
        on_path.parent().unwrap().display(),
        std::env::var("PATH").unwrap()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg("source \"$1\" && resolve_ghmesh ''")
        .arg("resolve")
        .arg(root().join("actions/lib/common.sh"))
        .env("PATH", path)
        .output()
        .unwrap();
    assert_eq!(stdout(&out), on_path.display().to_string());
}

#[test]
fn a_release_asset_is_used_only_when_its_sha256_matches_the_shipped_one() {
    let work = tempfile::tempdir().unwrap();
    let release = work.path().join("release");
    fake_ghmesh(&work.path().join("pack"), "from-release");
    std::fs::create_dir_all(&release).unwrap();
    let asset = asset_name();
    let tar = Command::new("tar")
        .arg("-czf")
        .arg(release.join(&asset))
        .arg("-C")
        .arg(work.path().join("pack"))
        .arg("ghmesh")
        .status()
        .unwrap();
    assert!(tar.success());
    let sha = stdout(
        &Command::new("sha256sum")
            .arg(release.join(&asset))
            .output()
            .unwrap(),
    )
    .split_whitespace()
    .next()
    .unwrap()
    .to_string();
    let files = Files::serve(&release);
    let checksums = work.path().join("checksums.txt");
    let env = |tool_cache: &str| {
        vec![
            ("GHMESH_RELEASE_BASE_URL", files.1.clone()),
            ("GHMESH_RELEASE_CHECKSUMS", checksums.display().to_string()),
            (
                "RUNNER_TOOL_CACHE",
                work.path().join(tool_cache).display().to_string(),
            ),
        ]
    };

    // No checksum shipped for the asset: never downloaded.
    std::fs::write(&checksums, "# none yet\n").unwrap();
    let out = resolve(None, &env("tools-none"), false);
    assert!(
        stderr(&out).contains(&format!("no sha256 shipped for {asset}")),
        "{}",
        stderr(&out)
    );
    assert!(!work.path().join("tools-none/ghmesh").exists());

    // A checksum that does not match the bytes: refused, nothing installed.
    std::fs::write(&checksums, format!("{}  {asset}\n", "0".repeat(64))).unwrap();
    let out = resolve(None, &env("tools-bad"), false);
    assert!(
        stderr(&out).contains("expected 0000") && stderr(&out).contains("refusing it"),
        "{}",
        stderr(&out)
    );
    assert!(
        !out.status.success(),
        "no binary may be used: {}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("cargo is missing"),
        "{}",
        stderr(&out)
    );

    // The right checksum: downloaded, unpacked into the tool cache, and it runs.
    std::fs::write(&checksums, format!("{sha}  {asset}\n")).unwrap();
    let out = resolve(None, &env("tools-good"), false);
    let bin = stdout(&out);
    assert!(
        bin.starts_with(&work.path().join("tools-good").display().to_string()),
        "{bin}: {}",
        stderr(&out)
    );
    let ran = Command::new(&bin).output().unwrap();
    assert_eq!(stdout(&ran), "from-release");
}

#[test]
fn without_a_binary_or_a_release_it_builds_from_the_actions_source() {
    let target = built_ghmesh()
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf();
    let work = tempfile::tempdir().unwrap();
    let out = resolve(
        None,
        &[
            ("GHMESH_BUILD_PROFILE", "dev".to_string()),
            ("CARGO_TARGET_DIR", target.display().to_string()),
            (
                "RUNNER_TOOL_CACHE",
                work.path().join("tools").display().to_string(),
            ),
        ],
        true,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("building ghmesh from"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stdout(&out), built_ghmesh().display().to_string());
}

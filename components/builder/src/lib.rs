//! Build-script helper shared by `host/build.rs` (embedded default components) and `tests/build.rs`
//! (test-only guests): runs a nested `cargo build --target wasm32-wasip2` for workspace guest crates
//! and reports where each component landed.
//!
//! The nested build uses its own target directory: the outer cargo holds the lock on the normal
//! one for the whole build, so sharing it would deadlock.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The target every policy component is built for.
pub const TARGET: &str = "wasm32-wasip2";

/// The cargo profile for components (size-optimised release, see the workspace `Cargo.toml`).
pub const PROFILE: &str = "component";

/// A guest crate to build.
pub struct Guest<'a> {
    /// Cargo package name, e.g. `cache-policy`.
    pub package: &'a str,
    /// Directory of the crate relative to the workspace root, watched for changes.
    pub dir: &'a str,
}

/// Builds `guests` as components and returns `(package, path to .wasm)` for each, in order.
///
/// Panics with the compiler's output on failure: this runs inside build scripts, where a panic is
/// how an error reaches the user.
pub fn build_components(workspace_root: &Path, guests: &[Guest<'_>]) -> Vec<(String, PathBuf)> {
    for watched in ["wit", "Cargo.lock", "Cargo.toml"] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace_root.join(watched).display()
        );
    }
    for guest in guests {
        println!(
            "cargo:rerun-if-changed={}",
            workspace_root.join(guest.dir).display()
        );
    }
    let target_dir = components_target_dir(workspace_root);
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .current_dir(workspace_root)
        .args(["build", "--quiet", "--profile", PROFILE, "--target", TARGET])
        .arg("--target-dir")
        .arg(&target_dir);
    for guest in guests {
        cargo.args(["--package", guest.package]);
    }
    // Flags meant for the host build (coverage, sanitizers, clippy as a wrapper) must not leak into
    // the wasm build, where they either fail or change the embedded bytes.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
    ] {
        cargo.env_remove(var);
    }
    let output = cargo
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo to build policy components: {e}"));
    if !output.status.success() {
        panic!(
            "building policy components for {TARGET} failed (is the target installed? \
             `rustup target add {TARGET}`):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let artifacts = target_dir.join(TARGET).join(PROFILE);
    guests
        .iter()
        .map(|guest| {
            let file = artifacts.join(format!("{}.wasm", guest.package.replace('-', "_")));
            assert!(
                file.exists(),
                "component {} missing after build",
                file.display()
            );
            (guest.package.to_string(), file)
        })
        .collect()
}

/// Where nested component builds put their output: beside the normal target directory, so that
/// `cargo clean` removes it and repeated builds reuse it.
fn components_target_dir(workspace_root: &Path) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root.join("target"));
    target.join("policy-components")
}

//! Builds the default policy components for wasm32-wasip2 and tells `policy::embedded` where they
//! are, so the `ghmesh` binary carries them and needs no files beside it.

use ghmesh_component_builder::{Guest, build_components};
use std::path::Path;

fn main() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let workspace_root = Path::new(&manifest_dir)
        .parent()
        .expect("host/ sits inside the workspace");
    let built = build_components(
        workspace_root,
        &[
            Guest {
                package: "cache-policy",
                dir: "components/cache-policy",
            },
            Guest {
                package: "codeql-skip",
                dir: "components/codeql-skip",
            },
            Guest {
                package: "credential-scope",
                dir: "components/credential-scope",
            },
        ],
    );
    for (package, path) in built {
        let var = format!(
            "GHMESH_COMPONENT_{}",
            package.replace('-', "_").to_uppercase()
        );
        println!("cargo:rustc-env={var}={}", path.display());
    }
}

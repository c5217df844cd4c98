//! Builds the test-only guests (misbehaving, third-party, forbidden-import) for wasm32-wasip2 and
//! exposes one path constant per component to the system tests.

use ghmesh_component_builder::{Guest, build_components};
use std::path::Path;

fn main() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let workspace_root = Path::new(&manifest_dir)
        .parent()
        .expect("tests/ sits inside the workspace");
    let built = build_components(
        workspace_root,
        &[
            Guest {
                package: "evil-policy",
                dir: "components/evil",
            },
            Guest {
                package: "custom-cache-policy",
                dir: "tests/guests/custom-cache-policy",
            },
            Guest {
                package: "fs-reader-policy",
                dir: "tests/guests/fs-reader",
            },
        ],
    );
    let mut constants = String::new();
    for (package, path) in built {
        let name = package.replace('-', "_").to_uppercase();
        constants.push_str(&format!(
            "/// Path of the `{package}` test component.\npub const {name}: &str = {:?};\n",
            path.display().to_string()
        ));
    }
    let out =
        Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("components.rs");
    std::fs::write(out, constants).expect("write component paths");
}

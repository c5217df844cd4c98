//! Test-only guest that reads a host file. Using `std::fs` makes the component import
//! `wasi:filesystem`, which the host must refuse before linking, naming the import.

#[allow(missing_docs)]
mod bindings {
    wit_bindgen::generate!({ world: "credential-scope", path: "../../../wit" });
}

use bindings::exports::ghmesh::policy::credentials::*;

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct FileReader;

impl Guest for FileReader {
    fn decide(credential: Credential, _context: Context) -> AccessDecision {
        match std::fs::read_to_string(&credential.name) {
            Ok(text) => AccessDecision::Allow(text),
            Err(e) => AccessDecision::Deny(e.to_string()),
        }
    }
}

// Natively the export symbols (`ghmesh:policy/...#fn`) cannot be linked into a cdylib; the
// glue is only needed in the component anyway.
#[cfg(target_arch = "wasm32")]
bindings::export!(FileReader with_types_in bindings);

//! Default ghmesh credential scope policy: a job may read a stored credential only when it has not
//! expired, its identity is verified where required, and its repository, workflow or runner
//! matches the credential's scope. Anything missing or malformed denies.
//!
//! This file is glue for the `credential-scope` world; the decision lives in `access` and `scope`.

mod access;
mod pattern;
mod repo_name;
mod scope;
mod workflow_ref;

#[allow(missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        world: "credential-scope",
        path: "../../wit",
        additional_derives: [PartialEq, Eq],
    });
}

/// The generated types of the `credentials` interface, under a short name for the logic modules.
use bindings::exports::ghmesh::policy::credentials as api;

use api::{AccessDecision, Context, Credential, Guest};

/// The exported component; every call delegates to a plain function.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct Component;

impl Guest for Component {
    fn decide(credential: Credential, context: Context) -> AccessDecision {
        access::decide(&credential, &context)
    }
}

// Only a wasm build exports: the symbol names (`ghmesh:policy/credentials@0.1.0#decide`) are not
// valid in a native linker's version script, and native builds exist for the unit tests.
#[cfg(target_arch = "wasm32")]
bindings::export!(Component with_types_in bindings);

//! Default ghmesh CodeQL skip policy: reuse an earlier scan only when its inputs provably did not
//! change in a way CodeQL could see. Fail safe: anything unknown means the scan runs.
//!
//! Layout: [`rules`] decides; [`relevance`] judges each changed file with [`files`] (what a path
//! is), [`filters`] (`paths`/`paths-ignore`) and [`languages`] (CodeQL's language names).

pub mod files;
pub mod filters;
pub mod languages;
pub mod relevance;
pub mod rules;

/// Bindings generated from the WIT contract.
#[allow(missing_docs)]
mod bindings {
    wit_bindgen::generate!({ world: "codeql-skip", path: "../../wit" });
}

use bindings::exports::ghmesh::policy::codeql::{Guest, ScanRequest, SkipDecision};

/// The exported component; natively it is only type-checked, since nothing exports it there.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct Component;

impl Guest for Component {
    fn decide(request: ScanRequest) -> SkipDecision {
        let decision = rules::decide(&request);
        // The host import only exists inside a component; natively it would panic.
        #[cfg(target_arch = "wasm32")]
        log_decision(&request, &decision);
        decision
    }
}

#[cfg(target_arch = "wasm32")]
fn log_decision(request: &ScanRequest, decision: &SkipDecision) {
    use bindings::ghmesh::policy::host::{Field, Level, log};
    let (verdict, reason) = match decision {
        SkipDecision::Run(reason) => ("run", reason.as_str()),
        SkipDecision::Reuse(plan) => ("reuse", plan.reason.as_str()),
    };
    let field = |key: &str, value: &str| Field {
        key: key.to_string(),
        value: value.to_string(),
    };
    let fields = [
        field("repo", &request.repo),
        field("commit", &request.commit),
        field("verdict", verdict),
    ];
    log(Level::Debug, reason, &fields);
}

// Native cdylib linking rejects the `:`-laden export names, and nothing native calls them.
#[cfg(target_arch = "wasm32")]
bindings::export!(Component with_types_in bindings);

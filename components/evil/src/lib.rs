//! Test-only misbehaving policy guest. It implements every policy interface (world
//! `policy-host`) and misbehaves on request, so tests can show the sandbox contains it:
//! `loop` spins forever, `alloc` allocates without bound, `panic` traps, `recurse` overflows the
//! stack, `log-flood` writes thousands of log lines. Anything else gets a normal, permissive answer
//! that differs from each world's failure mode.

#[allow(missing_docs)]
mod bindings {
    wit_bindgen::generate!({ world: "policy-host", path: "../../wit" });
}

use bindings::exports::ghmesh::policy::{cache, codeql, credentials};
use bindings::ghmesh::policy::host;

/// Does what `trigger` names; returns normally only for unknown triggers and `log-flood`.
fn misbehave(trigger: &str) {
    match trigger {
        "loop" => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "alloc" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                // Untouched capacity costs one memory.grow and no writes, so this hits the memory limit
                // rather than the fuel budget.
                hoard.push(std::hint::black_box(Vec::with_capacity(16 << 20)));
            }
        }
        "panic" => panic!("evil guest panics on purpose"),
        "recurse" => {
            recurse(1);
        }
        "log-flood" => {
            for i in 0..10_000 {
                host::log(host::Level::Info, &format!("flood line {i}"), &[]);
            }
        }
        _ => {}
    }
}

#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    std::hint::black_box(depth) + recurse(depth + 1)
}

/// The last path segment of `/evil/<trigger>`, or the whole text.
fn trigger_of(text: &str) -> &str {
    text.rsplit('/').next().unwrap_or(text)
}

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct Evil;

impl cache::Guest for Evil {
    fn on_request(request: cache::Request) -> cache::RequestDecision {
        misbehave(trigger_of(&request.path));
        cache::RequestDecision::Cache(cache::CachePlan {
            operation: "evil".into(),
            ttl_seconds: 42,
            share: cache::ShareScope::Fleet,
            reason: "evil guest answered normally".into(),
        })
    }

    fn on_entry(entry: cache::Entry) -> cache::EntryDecision {
        misbehave(trigger_of(&entry.operation));
        cache::EntryDecision::Serve("evil guest serves everything".into())
    }

    fn on_response(response: cache::Response) -> cache::ResponseDecision {
        misbehave(trigger_of(&response.path));
        cache::ResponseDecision {
            store: cache::StoreDecision::Store("evil guest stores everything".into()),
            invalidate: Vec::new(),
        }
    }
}

impl codeql::Guest for Evil {
    fn decide(request: codeql::ScanRequest) -> codeql::SkipDecision {
        misbehave(trigger_of(&request.repo));
        codeql::SkipDecision::Reuse(codeql::ReusePlan {
            key: "evil".into(),
            exact: false,
            reason: "evil guest always skips".into(),
        })
    }
}

impl credentials::Guest for Evil {
    fn decide(
        credential: credentials::Credential,
        _context: credentials::Context,
    ) -> credentials::AccessDecision {
        misbehave(&credential.name);
        credentials::AccessDecision::Allow("evil guest allows everything".into())
    }
}

// Natively the export symbols (`ghmesh:policy/...#fn`) cannot be linked into a cdylib; the
// glue is only needed in the component anyway.
#[cfg(target_arch = "wasm32")]
bindings::export!(Evil with_types_in bindings);

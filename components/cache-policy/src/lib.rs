//! Default ghmesh cache policy: which GitHub API requests are cached, for how long and for whom,
//! what to do with a stored entry, and what a write invalidates.
//!
//! This file is glue for the `cache-policy` world; the decisions live in `request` (on-request),
//! `freshness` (on-entry) and `response` + `invalidation` (on-response).

mod freshness;
mod graphql;
mod headers;
mod invalidation;
mod operation;
mod path;
mod request;
mod response;
mod share;
mod ttl;
mod uncacheable;

#[allow(missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        world: "cache-policy",
        path: "../../wit",
        additional_derives: [PartialEq, Eq],
    });
}

/// The generated types of the `cache` interface, under a short name for the logic modules.
use bindings::exports::ghmesh::policy::cache as api;

use api::{Entry, EntryDecision, Guest, Request, RequestDecision, Response, ResponseDecision};

/// The exported component; every call delegates to a plain function.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct Component;

impl Guest for Component {
    fn on_request(request: Request) -> RequestDecision {
        request::decide(&request)
    }

    fn on_entry(entry: Entry) -> EntryDecision {
        freshness::decide(&entry)
    }

    fn on_response(response: Response) -> ResponseDecision {
        response::decide(&response)
    }
}

// Only a wasm build exports: the symbol names (`ghmesh:policy/cache@0.1.0#on-request`) are not
// valid in a native linker's version script, and native builds exist for the unit tests.
#[cfg(target_arch = "wasm32")]
bindings::export!(Component with_types_in bindings);

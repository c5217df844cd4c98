//! Test-only third-party cache policy, built separately from the defaults to show that a pinned
//! component replaces the embedded one: it caches every GET for an hour, fleet-wide.

#[allow(missing_docs)]
mod bindings {
    wit_bindgen::generate!({ world: "cache-policy", path: "../../../wit" });
}

use bindings::exports::ghmesh::policy::cache::*;

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct HourForEverything;

impl Guest for HourForEverything {
    fn on_request(request: Request) -> RequestDecision {
        if request.method != "GET" {
            return RequestDecision::Bypass("custom policy: only GET is cached".into());
        }
        RequestDecision::Cache(CachePlan {
            operation: "custom-everything".into(),
            ttl_seconds: 3600,
            share: ShareScope::Fleet,
            reason: "custom policy: every GET for an hour, fleet-wide".into(),
        })
    }

    fn on_entry(entry: Entry) -> EntryDecision {
        if entry.age_seconds <= u64::from(entry.ttl_seconds) {
            EntryDecision::Serve("custom policy: fresh".into())
        } else {
            EntryDecision::Refetch("custom policy: expired".into())
        }
    }

    fn on_response(response: Response) -> ResponseDecision {
        let store = if response.status < 500 {
            StoreDecision::Store("custom policy: stores everything below 500".into())
        } else {
            StoreDecision::NoStore("custom policy: server error".into())
        };
        ResponseDecision {
            store,
            invalidate: Vec::new(),
        }
    }
}

// Natively the export symbols (`ghmesh:policy/...#fn`) cannot be linked into a cdylib; the
// glue is only needed in the component anyway.
#[cfg(target_arch = "wasm32")]
bindings::export!(HourForEverything with_types_in bindings);

//! Typed wrapper of the `cache-policy` world. Failure mode: the request bypasses the cache, and
//! a response is not stored.

use super::bindings::cache::{
    self, EntryDecision, RequestDecision, ResponseDecision, StoreDecision,
};
use super::pool::{Pool, impl_exports};
use super::{ComponentInfo, Verdict, World};
use std::sync::Arc;

impl_exports!(cache, World::CachePolicy);

/// The loaded cache policy component.
pub struct CachePolicy {
    pub(crate) pool: Pool<cache::Guest>,
}

impl CachePolicy {
    /// The component answering.
    pub fn info(&self) -> &Arc<ComponentInfo> {
        self.pool.info()
    }

    /// Whether and how a request uses the cache.
    pub fn on_request(&self, request: &cache::Request) -> Verdict<RequestDecision> {
        let result = self
            .pool
            .call(|guest, store| guest.call_on_request(store, request));
        Verdict::from_call(self.info(), result, |why| {
            RequestDecision::Bypass(format!("cache policy failed ({why}); bypassing the cache"))
        })
    }

    /// What to do with a stored entry.
    pub fn on_entry(&self, entry: &cache::Entry) -> Verdict<EntryDecision> {
        let result = self
            .pool
            .call(|guest, store| guest.call_on_entry(store, entry));
        Verdict::from_call(self.info(), result, |why| {
            EntryDecision::Refetch(format!("cache policy failed ({why}); refetching"))
        })
    }

    /// Whether to store a response and what it invalidates.
    pub fn on_response(&self, response: &cache::Response) -> Verdict<ResponseDecision> {
        let result = self
            .pool
            .call(|guest, store| guest.call_on_response(store, response));
        Verdict::from_call(self.info(), result, |why| ResponseDecision {
            store: StoreDecision::NoStore(format!("cache policy failed ({why}); not storing")),
            invalidate: Vec::new(),
        })
    }

    /// `on_request` on a freshly instantiated component, bypassing the pool (benchmark baseline).
    #[doc(hidden)]
    pub fn on_request_fresh(&self, request: &cache::Request) -> Result<RequestDecision, String> {
        self.pool
            .call_fresh(|guest, store| guest.call_on_request(store, request))
    }
}

//! Typed wrapper of the `credential-scope` world. Failure mode: deny.

use super::bindings::credentials::{self, AccessDecision};
use super::pool::{Exports, Pool};
use super::state::HostState;
use super::{ComponentInfo, Verdict, World};
use std::sync::Arc;
use wasmtime::Store;
use wasmtime::component::{Instance, InstancePre};

impl Exports for credentials::Guest {
    type Indices = credentials::GuestIndices;
    const WORLD: World = World::CredentialScope;

    fn indices(pre: &InstancePre<HostState>) -> wasmtime::Result<Self::Indices> {
        credentials::GuestIndices::new(pre)
    }

    fn load(
        indices: &Self::Indices,
        store: &mut Store<HostState>,
        instance: &Instance,
    ) -> wasmtime::Result<Self> {
        indices.load(store, instance)
    }
}

/// The loaded credential scope component.
pub struct CredentialScope {
    pub(crate) pool: Pool<credentials::Guest>,
}

impl CredentialScope {
    /// The component answering.
    pub fn info(&self) -> &Arc<ComponentInfo> {
        self.pool.info()
    }

    /// Whether `context` may read `credential`. Fails closed.
    pub fn decide(
        &self,
        credential: &credentials::Credential,
        context: &credentials::Context,
    ) -> Verdict<AccessDecision> {
        let result = self
            .pool
            .call(|guest, store| guest.call_decide(store, credential, context));
        Verdict::from_call(self.info(), result, |why| {
            AccessDecision::Deny(format!("credential scope policy failed ({why}); denying"))
        })
    }
}

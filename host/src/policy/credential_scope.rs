//! Typed wrapper of the `credential-scope` world. Failure mode: deny.

use super::bindings::credentials::{self, AccessDecision};
use super::pool::{Pool, impl_exports};
use super::{ComponentInfo, Verdict, World};
use std::sync::Arc;

impl_exports!(credentials, World::CredentialScope);

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

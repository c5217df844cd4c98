//! Typed wrapper of the `codeql-skip` world. Failure mode: run the scan.

use super::bindings::codeql::{self, SkipDecision};
use super::pool::{Pool, impl_exports};
use super::{ComponentInfo, Verdict, World};
use std::sync::Arc;

impl_exports!(codeql, World::CodeqlSkip);

/// The loaded CodeQL skip component.
pub struct CodeqlSkip {
    pub(crate) pool: Pool<codeql::Guest>,
}

impl CodeqlSkip {
    /// The component answering.
    pub fn info(&self) -> &Arc<ComponentInfo> {
        self.pool.info()
    }

    /// Whether the scan runs or reuses an earlier result.
    pub fn decide(&self, request: &codeql::ScanRequest) -> Verdict<SkipDecision> {
        let result = self
            .pool
            .call(|guest, store| guest.call_decide(store, request));
        Verdict::from_call(self.info(), result, |why| {
            SkipDecision::Run(format!(
                "codeql skip policy failed ({why}); running the scan"
            ))
        })
    }
}

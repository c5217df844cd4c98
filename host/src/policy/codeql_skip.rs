//! Typed wrapper of the `codeql-skip` world. Failure mode: run the scan.

use super::bindings::codeql::{self, SkipDecision};
use super::pool::{Exports, Pool};
use super::state::HostState;
use super::{ComponentInfo, Verdict, World};
use std::sync::Arc;
use wasmtime::Store;
use wasmtime::component::{Instance, InstancePre};

impl Exports for codeql::Guest {
    type Indices = codeql::GuestIndices;
    const WORLD: World = World::CodeqlSkip;

    fn indices(pre: &InstancePre<HostState>) -> wasmtime::Result<Self::Indices> {
        codeql::GuestIndices::new(pre)
    }

    fn load(
        indices: &Self::Indices,
        store: &mut Store<HostState>,
        instance: &Instance,
    ) -> wasmtime::Result<Self> {
        indices.load(store, instance)
    }
}

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

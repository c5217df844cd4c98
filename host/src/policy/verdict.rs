//! A decision together with the component that made it, so every decision can be logged and
//! audited with the hash of its maker, and whether the world's failure mode had to stand in.

use super::ComponentInfo;
use std::sync::Arc;

/// A policy decision and its provenance.
#[derive(Clone, Debug)]
pub struct Verdict<T> {
    /// What was decided (by the component, or by the failure mode when `failure` is set).
    pub decision: T,
    /// The component that was asked.
    pub component: Arc<ComponentInfo>,
    /// Why the component could not decide, when it could not; the decision is then the world's
    /// safe default.
    pub failure: Option<String>,
}

impl<T: std::fmt::Debug> Verdict<T> {
    /// Builds a verdict from a pooled call, substituting `fail_safe` when the call failed.
    pub(crate) fn from_call(
        component: &Arc<ComponentInfo>,
        result: Result<T, String>,
        fail_safe: impl FnOnce(&str) -> T,
    ) -> Self {
        match result {
            Ok(decision) => {
                // Each decision is attributable to the exact component bytes that made it.
                tracing::debug!(world = %component.world, component = %component.sha256, ?decision, "policy decision");
                Self {
                    decision,
                    component: component.clone(),
                    failure: None,
                }
            }
            Err(reason) => {
                tracing::warn!(
                    world = %component.world,
                    component = %component.sha256,
                    "policy component failed, applying failure mode ({}): {reason}",
                    component.world.failure_mode()
                );
                Self {
                    decision: fail_safe(&reason),
                    component: component.clone(),
                    failure: Some(reason),
                }
            }
        }
    }
}

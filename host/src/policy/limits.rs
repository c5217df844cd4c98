//! The sandbox's budget for one component call: CPU as wasmtime fuel, memory as a cap on linear
//! memory growth. Both are per instance, set again before every call.

use wasmtime::{StoreLimits, StoreLimitsBuilder};

/// Limits applied to every policy component call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Fuel (roughly, wasm instructions) one call may burn before it is stopped.
    pub fuel_per_call: u64,
    /// Largest total linear memory an instance may grow to, in bytes.
    pub memory_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        // A decision is a few thousand instructions; 50 M is three orders of magnitude of slack and
        // still stops a runaway loop within tens of milliseconds.
        Self {
            fuel_per_call: 50_000_000,
            memory_bytes: 64 << 20,
        }
    }
}

impl Limits {
    /// wasmtime's per-store limiter for these limits.
    pub(crate) fn store_limits(&self) -> StoreLimits {
        StoreLimitsBuilder::new()
            .memory_size(self.memory_bytes)
            // Trapping (rather than returning -1 from memory.grow) gives the operator a precise
            // reason and keeps a guest from limping on after an allocation failure.
            .trap_on_grow_failure(true)
            .instances(8)
            .memories(4)
            .tables(8)
            .build()
    }
}

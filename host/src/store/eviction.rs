//! Size bounds and least-recently-used eviction.
//!
//! Eviction runs inside the write transaction of the `put` that went over a bound, so the store
//! is never committed over its limits. Recency is the entry's `last_access`, which `get` keeps
//! to a minute's precision (see [`super::Store::get`]); entries used within the same minute are
//! evicted in key order.

use super::error::{Fault, StoreError};
use super::index::Index;

/// How much the store may hold. Both bounds apply; whichever is exceeded triggers eviction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreLimits {
    /// Most entries (request keys) kept.
    pub max_entries: u64,
    /// Most bytes of distinct bodies kept (a body shared by several entries counts once;
    /// index rows and database overhead are not counted).
    pub max_bytes: u64,
}

impl StoreLimits {
    /// Refuses bounds that would make every `put` evict itself.
    pub(super) fn validate(&self) -> Result<(), StoreError> {
        if self.max_entries == 0 || self.max_bytes == 0 {
            return Err(StoreError::InvalidLimits {
                reason: format!(
                    "max_entries ({}) and max_bytes ({}) must both be greater than zero",
                    self.max_entries, self.max_bytes
                ),
            });
        }
        Ok(())
    }
}

/// Evicts least recently used entries, never `keep` (the entry just stored), until both bounds
/// hold. Returns the keys evicted, so a memory layer in front can drop them too.
pub(super) fn evict(
    ix: &mut Index<'_>,
    limits: &StoreLimits,
    keep: &str,
) -> Result<Vec<String>, Fault> {
    let mut evicted = Vec::new();
    while ix.entry_count()? > limits.max_entries || ix.blob_bytes()? > limits.max_bytes {
        // Only `keep` left: it fits alone (`put` refuses bodies over `max_bytes`).
        let Some((at, key)) = ix.oldest_except(keep)? else {
            break;
        };
        if ix.evict(at, &key)? {
            evicted.push(key);
        }
    }
    Ok(evicted)
}

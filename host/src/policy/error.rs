//! Why a policy component could not be loaded. Each variant names the world and the offending
//! thing, because the reader is an operator fixing a config file or an author fixing a component.

use super::World;
use std::path::PathBuf;

/// A component was refused or could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The component file could not be read.
    #[error("{world}: cannot read component {}: {source}", path.display())]
    Read {
        /// World the component was configured for.
        world: World,
        /// Configured path.
        path: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// The file's sha256 differs from the pin in configuration.
    #[error("{world}: sha256 mismatch for {}: config pins {expected}, file has {actual}; refusing to load it", path.display())]
    HashMismatch {
        /// World the component was configured for.
        world: World,
        /// Configured path.
        path: PathBuf,
        /// Pinned hash.
        expected: String,
        /// Hash of the file on disk.
        actual: String,
    },
    /// The bytes are not a valid WebAssembly component for this engine.
    #[error("{world}: not a valid WebAssembly component: {reason}")]
    Invalid {
        /// World the component was configured for.
        world: World,
        /// Compiler's explanation.
        reason: String,
    },
    /// The component imports something outside the allowlist.
    #[error(
        "{world}: component imports `{import}`, which policy components may not use (allowed: {allowed})"
    )]
    ForbiddenImport {
        /// World the component was configured for.
        world: World,
        /// Every refused import, joined for the message.
        import: String,
        /// The allowlist, for the message.
        allowed: String,
    },
    /// The component does not export the world's interface with the expected types.
    #[error(
        "{world}: component does not implement world `{world}`: expected export `{expected}` ({reason})"
    )]
    WrongWorld {
        /// World the component was configured for.
        world: World,
        /// Interface it should export.
        expected: &'static str,
        /// What was found instead.
        reason: String,
    },
    /// Instantiation failed (e.g. its start-up ran out of fuel or memory).
    #[error("{world}: component could not be instantiated: {reason}")]
    Instantiate {
        /// World the component was configured for.
        world: World,
        /// Runtime's explanation.
        reason: String,
    },
}

//! Where a component's bytes come from: embedded in the binary, or a third-party file whose
//! sha256 is pinned in configuration and checked before anything else looks at the bytes.

use super::World;
use super::error::PolicyError;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// The default components, built by `host/build.rs` for wasm32-wasip2.
mod embedded {
    pub const CACHE_POLICY: &[u8] = include_bytes!(env!("GHMESH_COMPONENT_CACHE_POLICY"));
    pub const CODEQL_SKIP: &[u8] = include_bytes!(env!("GHMESH_COMPONENT_CODEQL_SKIP"));
    pub const CREDENTIAL_SCOPE: &[u8] = include_bytes!(env!("GHMESH_COMPONENT_CREDENTIAL_SCOPE"));
}

/// Where a component was loaded from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The default component carried inside the `ghmesh` binary.
    Embedded,
    /// A file named in configuration.
    Path(PathBuf),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Embedded => f.write_str("embedded"),
            Origin::Path(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A component's verified bytes with their origin and hash.
pub(crate) struct ComponentBytes {
    pub origin: Origin,
    pub sha256: String,
    pub bytes: Vec<u8>,
}

/// The embedded default component of `world`.
pub(crate) fn embedded(world: World) -> ComponentBytes {
    let bytes = match world {
        World::CachePolicy => embedded::CACHE_POLICY,
        World::CodeqlSkip => embedded::CODEQL_SKIP,
        World::CredentialScope => embedded::CREDENTIAL_SCOPE,
    };
    ComponentBytes {
        origin: Origin::Embedded,
        sha256: sha256_hex(bytes),
        bytes: bytes.to_vec(),
    }
}

/// Reads a third-party component and checks it against its pinned sha256. A mismatch is refused
/// here, before the bytes reach the compiler: an unpinned or swapped file never runs.
pub(crate) fn pinned_file(
    world: World,
    path: PathBuf,
    expected_sha256: &str,
) -> Result<ComponentBytes, PolicyError> {
    let bytes = std::fs::read(&path).map_err(|source| PolicyError::Read {
        world,
        path: path.clone(),
        source,
    })?;
    let actual = sha256_hex(&bytes);
    if !actual.eq_ignore_ascii_case(expected_sha256) {
        return Err(PolicyError::HashMismatch {
            world,
            path,
            expected: expected_sha256.to_ascii_lowercase(),
            actual,
        });
    }
    Ok(ComponentBytes {
        origin: Origin::Path(path),
        sha256: actual,
        bytes,
    })
}

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

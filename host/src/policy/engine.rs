//! The wasmtime engine every component runs on, and the compilation cache that makes a warm
//! start cheap: compiled artifacts are stored under the cache directory, keyed by the
//! component's sha256 and the engine's compatibility hash, and checked against a digest of
//! their own bytes before they are loaded.

use super::World;
use super::error::PolicyError;
use super::source::ComponentBytes;
use crate::private_fs::write_private_atomic;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::component::Component;
use wasmtime::{Config, Engine};

/// Builds the engine: fuel metering on, nothing a policy does not need.
pub(crate) fn new_engine() -> wasmtime::Result<Engine> {
    let mut config = Config::new();
    config.consume_fuel(true);
    config.wasm_component_model(true);
    // Policies are single-threaded, pure functions: refuse proposals that widen the surface.
    config.wasm_threads(false);
    Engine::new(&config)
}

/// Compiles components, reusing artifacts from earlier runs when a cache directory is set.
pub(crate) struct Compiler {
    engine: Engine,
    cache_dir: Option<PathBuf>,
}

impl Compiler {
    /// A compiler for `engine`; artifacts go to `cache_dir` when given.
    pub(crate) fn new(engine: Engine, cache_dir: Option<PathBuf>) -> Self {
        Self { engine, cache_dir }
    }

    /// Returns the compiled component, from the cache when a sound artifact is there.
    pub(crate) fn compile(
        &self,
        world: World,
        source: &ComponentBytes,
    ) -> Result<Component, PolicyError> {
        let Some(dir) = &self.cache_dir else {
            return self.compile_fresh(world, source);
        };
        let artifact = dir.join(format!("{}-{}.cwasm", source.sha256, self.engine_key()));
        if let Some(component) = self.load_artifact(&artifact) {
            return Ok(component);
        }
        let serialized = self
            .engine
            .precompile_component(&source.bytes)
            .map_err(|e| PolicyError::Invalid {
                world,
                reason: format!("{e:#}"),
            })?;
        if let Err(e) = store_artifact(&artifact, &serialized) {
            tracing::warn!(path = %artifact.display(), "cannot write compiled component cache: {e:#}");
        }
        // SAFETY: `serialized` was produced by this engine a moment ago.
        unsafe { Component::deserialize(&self.engine, &serialized) }.map_err(|e| {
            PolicyError::Invalid {
                world,
                reason: format!("{e:#}"),
            }
        })
    }

    fn compile_fresh(
        &self,
        world: World,
        source: &ComponentBytes,
    ) -> Result<Component, PolicyError> {
        Component::new(&self.engine, &source.bytes).map_err(|e| PolicyError::Invalid {
            world,
            reason: format!("{e:#}"),
        })
    }

    /// A short, stable key for "artifacts this engine build can load".
    fn engine_key(&self) -> String {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    }

    /// Loads a cached artifact if it is intact; a corrupt or foreign file is ignored (and later
    /// overwritten), never trusted.
    fn load_artifact(&self, path: &Path) -> Option<Component> {
        let file = std::fs::read(path).ok()?;
        if file.len() < 32 || Sha256::digest(&file[32..]).as_slice() != &file[..32] {
            tracing::warn!(path = %path.display(), "ignoring corrupt compiled component cache entry");
            return None;
        }
        // SAFETY: deserializing runs native code produced by a compiler; the bytes are exactly what
        // this process family wrote (digest checked above) in a 0700 directory only the user can write.
        match unsafe { Component::deserialize(&self.engine, &file[32..]) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::debug!(path = %path.display(), "recompiling: cached artifact unusable: {e:#}");
                None
            }
        }
    }
}

/// Writes `digest || artifact` atomically: a reader sees the old file, the new one, or none.
fn store_artifact(path: &Path, serialized: &[u8]) -> std::io::Result<()> {
    write_private_atomic(path, &[&Sha256::digest(serialized), serialized])
}

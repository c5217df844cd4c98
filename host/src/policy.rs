//! Policy components: the only module that touches wasmtime. It loads components (embedded
//! defaults or pinned third-party files), refuses what is not allowed, runs every call under fuel
//! and memory limits on pooled instances, and turns any failure into the world's safe default.
//!
//! Knows nothing of HTTP, libp2p or storage: callers hand in WIT records and get [`Verdict`]s.

mod admission;
mod bindings;
mod cache_policy;
mod codeql_skip;
mod credential_scope;
mod engine;
mod error;
mod limits;
mod pool;
mod source;
mod state;
mod verdict;
mod world;

pub use admission::ALLOWED_IMPORTS;
pub use bindings::{cache, codeql, credentials};
pub use cache_policy::CachePolicy;
pub use codeql_skip::CodeqlSkip;
pub use credential_scope::CredentialScope;
pub use error::PolicyError;
pub use limits::Limits;
pub use source::{Origin, sha256_hex};
pub use verdict::Verdict;
pub use world::World;

use engine::Compiler;
use pool::{Exports, Pool};
use state::HostState;
use std::path::PathBuf;
use std::sync::Arc;
use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker};

/// Which component fills a world's slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ComponentSource {
    /// The default component embedded in the binary.
    Embedded,
    /// A third-party component file, accepted only if its sha256 equals the pin.
    Pinned {
        /// Path to the `.wasm` component.
        path: PathBuf,
        /// Expected lowercase hex sha256 of the file.
        sha256: String,
    },
}

/// What the host knows about a loaded component; shown by `ghmesh policy list` and attached to
/// every decision.
#[derive(Clone, Debug)]
pub struct ComponentInfo {
    /// The world it fills.
    pub world: World,
    /// Where it came from.
    pub origin: Origin,
    /// sha256 of its bytes (lowercase hex).
    pub sha256: String,
    /// Everything it imports, fully qualified.
    pub imports: Vec<String>,
}

/// The engine, linker and compilation cache shared by all components of a process.
pub struct PolicyRuntime {
    engine: Engine,
    linker: Linker<HostState>,
    compiler: Compiler,
    limits: Limits,
}

impl PolicyRuntime {
    /// A runtime applying `limits` to every call, caching compiled code in `compile_cache_dir`
    /// when given.
    pub fn new(limits: Limits, compile_cache_dir: Option<PathBuf>) -> anyhow::Result<Self> {
        let engine = engine::new_engine()?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        bindings::host::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state)?;
        let compiler = Compiler::new(engine.clone(), compile_cache_dir);
        Ok(Self {
            engine,
            linker,
            compiler,
            limits,
        })
    }

    /// Loads the cache policy component.
    pub fn cache_policy(&self, source: &ComponentSource) -> Result<CachePolicy, PolicyError> {
        Ok(CachePolicy {
            pool: self.admit(source)?,
        })
    }

    /// Loads the CodeQL skip component.
    pub fn codeql_skip(&self, source: &ComponentSource) -> Result<CodeqlSkip, PolicyError> {
        Ok(CodeqlSkip {
            pool: self.admit(source)?,
        })
    }

    /// Loads the credential scope component.
    pub fn credential_scope(
        &self,
        source: &ComponentSource,
    ) -> Result<CredentialScope, PolicyError> {
        Ok(CredentialScope {
            pool: self.admit(source)?,
        })
    }

    /// Loads the component for `world` and reports what it is, refusing it exactly as a real
    /// load would.
    pub fn inspect(
        &self,
        world: World,
        source: &ComponentSource,
    ) -> Result<Arc<ComponentInfo>, PolicyError> {
        Ok(match world {
            World::CachePolicy => self.cache_policy(source)?.info().clone(),
            World::CodeqlSkip => self.codeql_skip(source)?.info().clone(),
            World::CredentialScope => self.credential_scope(source)?.info().clone(),
        })
    }

    /// Verify -> compile -> check imports and exports -> link -> instantiate once.
    fn admit<E: Exports>(&self, source: &ComponentSource) -> Result<Pool<E>, PolicyError> {
        let world = E::WORLD;
        let bytes = match source {
            ComponentSource::Embedded => source::embedded(world),
            ComponentSource::Pinned { path, sha256 } => {
                source::pinned_file(world, path.clone(), sha256)?
            }
        };
        let component = self.compiler.compile(world, &bytes)?;
        let imports = admission::imports(&self.engine, &component);
        admission::check_imports(world, &imports)?;
        admission::check_export(world, &self.engine, &component)?;
        let pre =
            self.linker
                .instantiate_pre(&component)
                .map_err(|e| PolicyError::Instantiate {
                    world,
                    reason: format!("{e:#}"),
                })?;
        let info = Arc::new(ComponentInfo {
            world,
            origin: bytes.origin,
            sha256: bytes.sha256,
            imports,
        });
        Pool::new(info, pre, self.limits)
    }
}

//! Deny by default: before a component is linked, every import it declares is checked against
//! the allowlist, and its exports against its world. A component that wants files, sockets or
//! anything else the host did not offer is refused with the name of the import.

use super::World;
use super::error::PolicyError;
use wasmtime::Engine;
use wasmtime::component::Component;

/// Interfaces a policy component may import, without version. `ghmesh:policy/host` is the real
/// capability; the WASI ones are the plumbing Rust's standard library links, backed by an empty
/// context (no environment, arguments, preopened directories or inherited stdio).
pub const ALLOWED_IMPORTS: &[&str] = &[
    "ghmesh:policy/host",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
];

/// The component's imports, as fully qualified names (`wasi:io/streams@0.2.6`).
pub fn imports(engine: &Engine, component: &Component) -> Vec<String> {
    component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name.to_string())
        .collect()
}

/// Refuses a component with any import outside [`ALLOWED_IMPORTS`], naming every such import.
pub(crate) fn check_imports(world: World, imports: &[String]) -> Result<(), PolicyError> {
    let refused: Vec<&str> = imports
        .iter()
        .filter(|name| !ALLOWED_IMPORTS.contains(&unversioned(name)))
        .map(String::as_str)
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    Err(PolicyError::ForbiddenImport {
        world,
        import: refused.join("`, `"),
        allowed: ALLOWED_IMPORTS.join(", "),
    })
}

/// Refuses a component that does not export its world's interface, naming what it exports.
pub(crate) fn check_export(
    world: World,
    engine: &Engine,
    component: &Component,
) -> Result<(), PolicyError> {
    let ty = component.component_type();
    if ty.get_export(engine, world.export()).is_some() {
        return Ok(());
    }
    let found: Vec<_> = ty
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    Err(PolicyError::WrongWorld {
        world,
        expected: world.export(),
        reason: if found.is_empty() {
            "it exports nothing".into()
        } else {
            format!("it exports {}", found.join(", "))
        },
    })
}

/// `wasi:io/streams@0.2.6` -> `wasi:io/streams`.
fn unversioned(name: &str) -> &str {
    name.split_once('@').map_or(name, |(base, _)| base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_std_plumbing_are_allowed() {
        let imports = vec![
            "ghmesh:policy/host@0.1.0".to_string(),
            "wasi:io/streams@0.2.6".to_string(),
        ];
        assert!(check_imports(World::CachePolicy, &imports).is_ok());
    }

    #[test]
    fn filesystem_and_sockets_are_refused_by_name() {
        for import in [
            "wasi:filesystem/preopens@0.2.6",
            "wasi:sockets/tcp@0.2.0",
            "wasi:http/outgoing-handler@0.2.0",
        ] {
            let err = check_imports(World::CredentialScope, &[import.to_string()]).unwrap_err();
            assert!(err.to_string().contains(import), "{err}");
        }
    }
}

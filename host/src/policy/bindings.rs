//! The one `bindgen!` site: host-side Rust types and functions for every WIT interface in
//! `wit/`, generated from the `policy-host` world (which imports `host` and exports all three
//! policy interfaces). Each typed wrapper loads only the interface of its own world.

#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "policy-host",
    // `ghmesh policy eval` reads inputs and prints decisions as JSON.
    additional_derives: [serde::Serialize, serde::Deserialize],
});

pub use self::ghmesh::policy::host;
pub use exports::ghmesh::policy::{cache, codeql, credentials};

//! ghmesh: a native host for GitHub Actions runner fleets whose policy decisions are made by
//! sandboxed WebAssembly components.
//!
//! # Layout
//!
//! - [`cli`]: the command line as clap sees it, and the commands it runs.
//! - [`config`]: env > `.github/*-config.yml` > defaults, validated once, with provenance.
//! - [`policy`]: the only user of wasmtime; loads, sandboxes, pools and calls policy components.
//!
//! `main.rs` only parses arguments, sets up logging and calls [`cli::run`].

pub mod cli;
pub mod config;
pub mod policy;

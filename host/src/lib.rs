//! ghmesh: a native host for GitHub Actions runner fleets whose policy decisions are made by
//! sandboxed WebAssembly components.
//!
//! # Layout
//!
//! - [`cli`]: the command line as clap sees it, and the commands it runs.
//! - [`clock`]: the wall clock in Unix seconds, the unit every record uses.
//! - [`codeql`]: the CodeQL result cache: scan keys from the git tree, stored SARIF, skip checks.
//! - [`config`]: env > `.github/*-config.yml` > defaults, validated once, with provenance.
//! - [`policy`]: the only user of wasmtime; loads, sandboxes, pools and calls policy components.
//! - [`proxy`]: the caching proxy; the one orchestrator of a request (front ends, upstream,
//!   coalescing, rate limits, metrics and stats).
//! - [`store`]: content-addressed response bodies and their index in an embedded ACID database.
//!
//! `main.rs` only parses arguments, sets up logging and calls [`cli::run`].

pub mod cli;
pub mod clock;
pub mod codeql;
pub mod config;
pub mod policy;
pub mod proxy;
pub mod store;

//! ghmesh: a native host for GitHub Actions runner fleets whose policy decisions are made by
//! sandboxed WebAssembly components.
//!
//! # Layout
//!
//! - [`cli`]: the command line as clap sees it, and the commands it runs.
//! - [`clock`]: the wall clock in Unix seconds, the unit every record uses.
//! - [`codeql`]: the CodeQL result cache: scan keys from the git tree, stored SARIF, skip checks.
//! - [`credentials`]: the credential manager: encrypted vault and master key, scope decisions,
//!   hash-chained audit log, OIDC identity of a job, masked injection; `ghmesh creds`.
//! - [`crypto`]: the one caller of crypto primitives: fleet keys (PBKDF2) and AES-256-GCM seals.
//! - [`config`]: env > `.github/*-config.yml` > defaults, validated once, with provenance.
//! - [`mesh`]: the only user of libp2p; the private swarm that shares cache entries fleet-wide.
//! - [`policy`]: the only user of wasmtime; loads, sandboxes, pools and calls policy components.
//! - [`proxy`]: the caching proxy; the one orchestrator of a request (front ends, upstream,
//!   coalescing, rate limits, metrics and stats).
//! - [`private_fs`]: 0700 directories and atomically replaced 0600 files for secrets.
//! - [`store`]: content-addressed response bodies and their index in an embedded ACID database.
//!
//! `main.rs` only parses arguments, sets up logging and calls [`cli::run`].

pub mod cli;
pub mod clock;
pub mod codeql;
pub mod config;
pub mod credentials;
pub mod crypto;
pub mod mesh;
pub mod policy;
pub mod private_fs;
pub mod proxy;
pub mod store;

//! ghmesh system tests: one binary (see tests/README.md). Each module is one capability.

mod api_cache;
mod api_cli;
mod bad_input;
mod clients;
mod config_cli;
mod containment;
mod crash_safety;
mod mesh;
mod mesh_faults;
mod mesh_mdns;
mod metrics;
mod policy_cli;
mod seed_config;
mod third_party;

//! ghmesh system tests: one binary (see tests/README.md). Each module is one capability.

mod action;
mod action_binary;
mod api_cache;
mod api_cli;
mod bad_input;
mod cache_admin;
mod clients;
mod codeql_cache;
mod codeql_mesh;
mod config_cli;
mod containment;
mod crash_safety;
mod credentials;
mod credentials_keyring;
mod credentials_oidc;
mod eviction;
mod graphql_cache;
mod mesh;
mod mesh_faults;
mod mesh_mdns;
mod metrics;
mod policy_cli;
mod polling;
mod request_ids;
mod seed_config;
mod third_party;

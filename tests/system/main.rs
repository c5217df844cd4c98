//! ghmesh system tests: one binary (see tests/README.md). Each module is one capability.

mod config_cli;
mod containment;
mod policy_cli;
mod third_party;

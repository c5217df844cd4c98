//! The credential manager (issue 6): an encrypted vault of credentials, its master key, and the
//! operations of `ghmesh creds`. Whether a job may read a credential is decided by the
//! `credential-scope` policy component; this module gathers the facts and keeps the secrets.
//!
//! - [`vault`]: `credentials.json.enc`, locked, atomically replaced, values sealed one by one.
//! - [`record`]: a credential's metadata and sealed value, bound together as associated data.
//! - [`master_key`]: the master key in the Secret Service, kernel keyutils or a 0600 file.
//! - [`permissions`]: 0700 / 0600 checked at open; looser modes are refused.
//! - [`access`]: the asking job's context and the component's decision (fails closed).
//! - [`manager`]: store, get, rotate, delete, purge, list, stats as vault transactions.
//! - [`stats`]: counters kept next to the vault.

pub mod access;
pub mod manager;
pub mod master_key;
pub mod permissions;
pub mod record;
pub mod stats;
pub mod vault;

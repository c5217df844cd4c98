//! The credential manager (issue 6): an encrypted vault of credentials, its master key, the
//! operations of `ghmesh creds`, the record of every decision and the hand-over to later job
//! steps. Whether a job may read a credential is decided by the `credential-scope` policy
//! component; this module gathers the facts and keeps the secrets.
//!
//! - [`vault`]: `credentials.json.enc`, locked, atomically replaced, values sealed one by one.
//! - [`record`]: a credential's metadata and sealed value, bound together as associated data.
//! - [`master_key`]: the master key in the Secret Service, kernel keyutils or a 0600 file.
//! - [`permissions`]: 0700 / 0600 checked at open; looser modes are refused.
//! - [`access`]: the asking job's context and the component's decision (fails closed).
//! - [`manager`]: store, get, rotate, delete, purge, list, stats as vault transactions, each
//!   recorded in the audit log.
//! - [`stats`]: counters kept next to the vault.
//! - [`audit`]: the append-only, hash-chained JSONL audit log of every grant, denial, rotation,
//!   expiry and injection — never a secret value — and its verification (`creds audit verify`).
//! - [`oidc`]: verification of GitHub Actions OIDC ID tokens (RS256 against the issuer's JWKS),
//!   the *verified identity* the `credential-scope` component may rely on, and fetching such a
//!   token from inside a job.
//! - [`inject`]: handing values to later steps of the job: `::add-mask::` for every line first,
//!   then `GITHUB_ENV` / `GITHUB_OUTPUT` heredocs with random delimiters; names that could hijack
//!   the job are refused.

pub mod access;
pub mod audit;
pub mod inject;
pub mod manager;
pub mod master_key;
pub mod oidc;
pub mod permissions;
pub mod record;
pub mod stats;
pub mod vault;

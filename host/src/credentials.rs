//! The credential manager's library parts (issue 6): what a job may be handed, how it is handed
//! over, and the record of every decision.
//!
//! - [`audit`]: the append-only, hash-chained JSONL audit log of every grant, denial, rotation,
//!   expiry and injection — never a secret value — and its verification (`creds audit verify`).
//! - [`oidc`]: verification of GitHub Actions OIDC ID tokens (RS256 against the issuer's JWKS),
//!   the *verified identity* the `credential-scope` component may rely on, and fetching such a
//!   token from inside a job.
//! - [`inject`]: handing values to later steps of the job: `::add-mask::` for every line first,
//!   then `GITHUB_ENV` / `GITHUB_OUTPUT` heredocs with random delimiters; names that could hijack
//!   the job are refused.
//!
//! The vault (encrypted `credentials.json.enc`, master key) and the `ghmesh creds` commands build
//! on these modules; the decision itself belongs to the `credential-scope` policy component.

pub mod audit;
pub mod inject;
pub mod oidc;

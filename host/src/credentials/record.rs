//! A stored credential as the vault file holds it: metadata in clear (what `list` shows and the
//! scope component decides on) and the value sealed under the master key, with every field that
//! matters to an access decision bound to the ciphertext as associated data.

use crate::crypto::{CryptoError, VaultKey};
use crate::policy::credentials as wit;
use serde::{Deserialize, Serialize};

/// Longest credential name accepted.
pub const MAX_NAME_LEN: usize = 128;
/// Largest credential value accepted, in bytes.
pub const MAX_VALUE_LEN: usize = 64 * 1024;

/// Who a credential is stored for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Every job on this runner.
    Global,
    /// Jobs of repositories matching the filter (`owner/name`, globs).
    Repo,
    /// Jobs of workflows matching the filter (`owner/name/.github/workflows/f.yml[@ref]`).
    Workflow,
    /// Jobs on runners whose name matches the filter.
    Runner,
}

impl Scope {
    /// Lowercase name, as written on the command line and in the vault.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Global => "global",
            Scope::Repo => "repo",
            Scope::Workflow => "workflow",
            Scope::Runner => "runner",
        }
    }

    fn wit(self) -> wit::Scope {
        match self {
            Scope::Global => wit::Scope::Global,
            Scope::Repo => wit::Scope::Repo,
            Scope::Workflow => wit::Scope::Workflow,
            Scope::Runner => wit::Scope::Runner,
        }
    }
}

/// Everything about a credential except its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// Credential name (an environment variable name).
    pub name: String,
    /// Who it is for.
    pub scope: Scope,
    /// What the scope is narrowed to; `None` only for `global`.
    pub scope_filter: Option<String>,
    /// Expiry, Unix seconds; `None` never expires.
    pub expires_at: Option<u64>,
    /// Granted only to a context verified by an OIDC token.
    pub require_verified: bool,
    /// When it was first stored, Unix seconds.
    pub created_at: u64,
    /// When its value was last set (store or rotate), Unix seconds.
    pub updated_at: u64,
    /// 1 when stored, +1 on every rotation.
    pub version: u32,
}

impl Metadata {
    /// The record the scope component decides on.
    pub fn to_wit(&self) -> wit::Credential {
        wit::Credential {
            name: self.name.clone(),
            scope: self.scope.wit(),
            scope_filter: self.scope_filter.clone(),
            expires_at: self.expires_at,
            require_verified: self.require_verified,
        }
    }

    /// Whether the credential has expired at `now`.
    pub fn expired(&self, now: u64) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// Associated data of the sealed value: moving a ciphertext to another name, or widening
    /// its scope, expiry or verification requirement in the file, makes it fail to open.
    fn aad(&self) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!([
            "ghmesh/vault/v1/credential",
            self.name,
            self.scope.name(),
            self.scope_filter,
            self.expires_at,
            self.require_verified,
            self.version,
        ]))
        .expect("a JSON array of plain values serializes")
    }
}

/// A credential as stored: metadata plus its sealed value (hex of `nonce || ciphertext || tag`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// The metadata, in clear.
    #[serde(flatten)]
    pub meta: Metadata,
    /// The sealed value.
    pub sealed: String,
}

impl Record {
    /// Seals `value` for `meta` under a fresh nonce.
    pub fn seal(meta: Metadata, value: &[u8], key: &VaultKey) -> Self {
        let sealed = hex::encode(key.seal(&meta.aad(), value));
        Self { meta, sealed }
    }

    /// Opens the value; fails if the key is wrong or anything bound to it was changed.
    pub fn open(&self, key: &VaultKey) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
        let sealed = hex::decode(&self.sealed).map_err(|_| CryptoError::Truncated)?;
        key.open(&self.meta.aad(), &sealed)
            .map(zeroize::Zeroizing::new)
    }
}

/// Checks a credential name: an environment variable name (`[A-Za-z_][A-Za-z0-9_]*`), since
/// injection exports it as one.
pub fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "credential name {name:?} must be letters, digits and '_', not starting with a digit"
        ));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "credential name is {} bytes; at most {MAX_NAME_LEN}",
            name.len()
        ));
    }
    Ok(())
}

/// Checks that a scope has a filter exactly when it needs one.
pub fn check_scope(scope: Scope, filter: Option<&str>) -> Result<(), String> {
    match (scope, filter) {
        (Scope::Global, Some(_)) => Err("scope global takes no --scope-filter".to_owned()),
        (Scope::Global, None) => Ok(()),
        (_, Some(f)) if !f.trim().is_empty() => Ok(()),
        (scope, _) => Err(format!("scope {} needs --scope-filter", scope.name())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Metadata {
        Metadata {
            name: "NPM_TOKEN".to_owned(),
            scope: Scope::Repo,
            scope_filter: Some("octo/*".to_owned()),
            expires_at: None,
            require_verified: false,
            created_at: 1,
            updated_at: 1,
            version: 1,
        }
    }

    #[test]
    fn sealed_values_are_bound_to_name_scope_and_flags() {
        let key = VaultKey::generate();
        let record = Record::seal(meta(), b"s3cret", &key);
        assert_eq!(&*record.open(&key).unwrap(), b"s3cret");
        let tamper = |f: fn(&mut Metadata)| {
            let mut r = record.clone();
            f(&mut r.meta);
            r.open(&key).unwrap_err()
        };
        assert_eq!(
            tamper(|m| m.name = "OTHER".into()),
            CryptoError::Unauthentic
        );
        assert_eq!(
            tamper(|m| m.scope = Scope::Global),
            CryptoError::Unauthentic
        );
        assert_eq!(
            tamper(|m| m.scope_filter = Some("*/*".into())),
            CryptoError::Unauthentic
        );
        assert_eq!(
            tamper(|m| m.require_verified = true),
            CryptoError::Unauthentic
        );
        assert_eq!(tamper(|m| m.expires_at = Some(9)), CryptoError::Unauthentic);
        // Bookkeeping times are not bound: they decide nothing.
        let mut touched = record.clone();
        touched.meta.updated_at = 99;
        assert!(touched.open(&key).is_ok());
    }

    #[test]
    fn names_are_environment_variable_names() {
        assert!(check_name("NPM_TOKEN").is_ok());
        assert!(check_name("_x1").is_ok());
        for bad in ["", "1A", "A-B", "A B", "A=B", "Ä", &"A".repeat(129)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn filters_are_required_except_for_global() {
        assert!(check_scope(Scope::Global, None).is_ok());
        assert!(check_scope(Scope::Global, Some("x")).is_err());
        assert!(check_scope(Scope::Repo, None).is_err());
        assert!(check_scope(Scope::Runner, Some(" ")).is_err());
        assert!(check_scope(Scope::Workflow, Some("o/r/.github/workflows/*")).is_ok());
    }
}

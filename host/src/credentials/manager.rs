//! The credential manager: the operations behind `ghmesh creds`, each one vault transaction
//! (lock, read, change, atomic write) followed by its record. Access goes through the
//! `credential-scope` component; the manager never decides on its own except to deny.

use super::access::{self, Access, AccessContext};
use super::record::{self, Metadata, Scope};
use super::stats::Counters;
use super::vault::{KeyOptions, Vault};
use crate::clock::unix_now;
use crate::policy::CredentialScope;
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// What `store` is asked to keep.
#[derive(Debug, Clone)]
pub struct NewCredential {
    /// Name (an environment variable name).
    pub name: String,
    /// Scope.
    pub scope: Scope,
    /// What the scope is narrowed to (not for `global`).
    pub scope_filter: Option<String>,
    /// Lifetime in hours from now; `None` never expires.
    pub ttl_hours: Option<u64>,
    /// Grant only to verified contexts.
    pub require_verified: bool,
}

/// One credential's outcome of an access.
#[derive(Debug)]
pub struct Granted {
    /// The credential's metadata.
    pub meta: Metadata,
    /// Its value. Wiped on drop; never print it anywhere but the requested output.
    pub value: Zeroizing<Vec<u8>>,
    /// The decision.
    pub access: Access,
}

/// Why an access was refused.
#[derive(Debug, thiserror::Error)]
#[error("access to credential {name:?} denied: {reason}")]
pub struct Denied {
    /// The credential asked for.
    pub name: String,
    /// Why.
    pub reason: String,
}

/// The manager of the vault in one directory.
#[derive(Debug)]
pub struct Manager {
    dir: PathBuf,
    keys: KeyOptions,
}

impl Manager {
    /// A manager of the vault in `dir`, finding its key as `keys` says.
    pub fn new(dir: PathBuf, keys: KeyOptions) -> Self {
        Self { dir, keys }
    }

    /// The vault directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stores a new credential or replaces one (new value, new metadata).
    pub fn store(&self, new: &NewCredential, value: &[u8]) -> anyhow::Result<Metadata> {
        record::check_name(&new.name).map_err(anyhow::Error::msg)?;
        record::check_scope(new.scope, new.scope_filter.as_deref()).map_err(anyhow::Error::msg)?;
        check_value(value)?;
        let now = unix_now();
        let expires_at = match new.ttl_hours {
            Some(0) => bail!("--ttl-hours must be at least 1"),
            Some(hours) => Some(
                hours
                    .checked_mul(3600)
                    .and_then(|secs| now.checked_add(secs))
                    .context("--ttl-hours is too large")?,
            ),
            None => None,
        };
        let mut vault = Vault::open_or_create(&self.dir, &self.keys)?;
        let (created_at, version) = match vault.metadata(&new.name) {
            Some(old) => (old.created_at, old.version.saturating_add(1)),
            None => (now, 1),
        };
        let meta = Metadata {
            name: new.name.clone(),
            scope: new.scope,
            scope_filter: new.scope_filter.clone(),
            expires_at,
            require_verified: new.require_verified,
            created_at,
            updated_at: now,
            version,
        };
        vault.put(meta.clone(), value)?;
        vault.commit()?;
        Counters::update(&self.dir, |c| c.stored += 1)?;
        done("store", &meta);
        Ok(meta)
    }

    /// Replaces a credential's value, keeping its metadata; the old ciphertext is gone from the
    /// vault once this returns.
    pub fn rotate(&self, name: &str, value: &[u8]) -> anyhow::Result<Metadata> {
        check_value(value)?;
        let mut vault = self.open()?;
        let mut meta = vault
            .metadata(name)
            .cloned()
            .with_context(|| format!("no credential named {name:?}"))?;
        meta.updated_at = unix_now();
        meta.version = meta.version.saturating_add(1);
        vault.put(meta.clone(), value)?;
        vault.commit()?;
        Counters::update(&self.dir, |c| c.rotated += 1)?;
        done("rotate", &meta);
        Ok(meta)
    }

    /// Deletes a credential; `false` when there was none of that name.
    pub fn delete(&self, name: &str) -> anyhow::Result<bool> {
        let Some(mut vault) = Vault::open_metadata(&self.dir)? else {
            return Ok(false);
        };
        let Some(meta) = vault.remove(name) else {
            return Ok(false);
        };
        vault.commit()?;
        Counters::update(&self.dir, |c| c.deleted += 1)?;
        done("delete", &meta);
        Ok(true)
    }

    /// Removes every credential expired at `now`.
    pub fn purge_expired(&self, now: u64) -> anyhow::Result<Vec<Metadata>> {
        let Some(mut vault) = Vault::open_metadata(&self.dir)? else {
            return Ok(Vec::new());
        };
        let expired: Vec<String> = vault
            .list()
            .filter(|meta| meta.expired(now))
            .map(|meta| meta.name.clone())
            .collect();
        let purged: Vec<Metadata> = expired.iter().filter_map(|n| vault.remove(n)).collect();
        if !purged.is_empty() {
            vault.commit()?;
            Counters::update(&self.dir, |c| c.expired += purged.len() as u64)?;
        }
        for meta in &purged {
            done("expire", meta);
        }
        Ok(purged)
    }

    /// Every credential's metadata (no key needed).
    pub fn list(&self) -> anyhow::Result<Vec<Metadata>> {
        Ok(match Vault::open_metadata(&self.dir)? {
            Some(vault) => vault.list().cloned().collect(),
            None => Vec::new(),
        })
    }

    /// The counters plus the number of active (unexpired) credentials.
    pub fn stats(&self, now: u64) -> anyhow::Result<serde_json::Value> {
        let vault = Vault::open_metadata(&self.dir)?;
        let counters = Counters::load(&self.dir)?;
        let (active, expired_pending, key_store) = match &vault {
            Some(vault) => (
                vault.list().filter(|m| !m.expired(now)).count(),
                vault.list().filter(|m| m.expired(now)).count(),
                Some(vault.key_store().name()),
            ),
            None => (0, 0, None),
        };
        Ok(serde_json::json!({
            "active_credentials": active,
            "expired_pending_purge": expired_pending,
            "access_events": counters.granted + counters.denied,
            "granted": counters.granted,
            "denied": counters.denied,
            "expired": counters.expired,
            "stored": counters.stored,
            "rotated": counters.rotated,
            "deleted": counters.deleted,
            "key_store": key_store,
        }))
    }

    /// Asks the component about each of `names` for `context`; all are granted or none is
    /// handed out (a job gets either every credential it asked for or an error).
    pub fn access(
        &self,
        scope: &CredentialScope,
        names: &[String],
        context: &AccessContext,
        action: &str,
    ) -> anyhow::Result<Result<Vec<Granted>, Denied>> {
        let now = unix_now();
        let vault = Vault::open(&self.dir, &self.keys)?;
        let mut granted = Vec::new();
        let mut denied = None;
        let (mut grants, mut denials) = (0u64, 0u64);
        for name in names {
            let meta = vault.as_ref().and_then(|v| v.metadata(name)).cloned();
            let Some(meta) = meta else {
                denials += 1;
                tracing::info!(action, credential = %name, "deny: no such credential");
                denied.get_or_insert(Denied {
                    name: name.clone(),
                    reason: "no credential of that name".to_owned(),
                });
                continue;
            };
            let access = access::decide(scope, &meta, context, now);
            tracing::info!(
                action,
                credential = %name,
                granted = access.granted,
                component = %access.component_sha256,
                "{}",
                access.reason
            );
            if !access.granted {
                denials += 1;
                denied.get_or_insert(Denied {
                    name: name.clone(),
                    reason: access.reason,
                });
                continue;
            }
            grants += 1;
            let vault = vault.as_ref().context("the vault vanished")?;
            let value = vault.reveal(name)?;
            granted.push(Granted {
                meta,
                value,
                access,
            });
        }
        if vault.is_some() {
            Counters::update(&self.dir, |c| {
                c.granted += grants;
                c.denied += denials;
            })?;
        }
        Ok(match denied {
            Some(denied) => Err(denied),
            None => Ok(granted),
        })
    }

    fn open(&self) -> anyhow::Result<Vault> {
        Vault::open(&self.dir, &self.keys)?
            .with_context(|| format!("no vault in {}", self.dir.display()))
    }
}

fn check_value(value: &[u8]) -> anyhow::Result<()> {
    if value.is_empty() {
        bail!("the credential value is empty");
    }
    if value.len() > record::MAX_VALUE_LEN {
        bail!(
            "the credential value is {} bytes; at most {}",
            value.len(),
            record::MAX_VALUE_LEN
        );
    }
    Ok(())
}

fn done(action: &str, meta: &Metadata) {
    tracing::info!(action, credential = %meta.name, scope = meta.scope.name(), "done");
}

//! The credential manager: the operations behind `ghmesh creds`, each one vault transaction
//! (lock, read, change, atomic write) with its audit record. Access goes through the
//! `credential-scope` component; the manager never decides on its own except to deny. A grant is
//! recorded before the value is decrypted: no record, no value.

use super::access::{self, Access, AccessContext};
use super::audit::{Action, AuditEvent, AuditLog, Decision};
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

/// One credential's outcome of an access. `Debug` leaves the value out.
pub struct Granted {
    /// The credential's metadata.
    pub meta: Metadata,
    /// Its value. Wiped on drop; never print it anywhere but the requested output.
    pub value: Zeroizing<Vec<u8>>,
    /// The decision.
    pub access: Access,
}

impl std::fmt::Debug for Granted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Granted")
            .field("meta", &self.meta)
            .field("value", &"<redacted>")
            .field("access", &self.access)
            .finish()
    }
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

/// The audit log's name inside the vault directory.
pub const AUDIT_FILE: &str = "audit.jsonl";

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

    /// The audit log's path.
    pub fn audit_path(&self) -> PathBuf {
        self.dir.join(AUDIT_FILE)
    }

    fn audit(&self) -> anyhow::Result<AuditLog> {
        AuditLog::open(&self.audit_path()).context("opening the audit log")
    }

    /// Records an administrative action on `meta` (no decision involved).
    fn record_done(
        &self,
        log: &mut AuditLog,
        action: Action,
        meta: &Metadata,
        reason: &str,
    ) -> anyhow::Result<()> {
        log.append(AuditEvent {
            action,
            credential: meta.name.clone(),
            scope: scope_label(meta),
            context: serde_json::json!({}),
            verified: false,
            decision: Decision::Done,
            reason: reason.to_owned(),
            component_sha256: None,
        })
        .context("writing the audit log")?;
        done(action, meta);
        Ok(())
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
        let mut log = self.audit()?;
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
        let reason = if version == 1 { "stored" } else { "replaced" };
        self.record_done(&mut log, Action::Store, &meta, reason)?;
        Ok(meta)
    }

    /// Replaces a credential's value, keeping its metadata; the old ciphertext is gone from the
    /// vault once this returns.
    pub fn rotate(&self, name: &str, value: &[u8]) -> anyhow::Result<Metadata> {
        check_value(value)?;
        let mut vault = self.open()?;
        let mut log = self.audit()?;
        let mut meta = vault
            .metadata(name)
            .cloned()
            .with_context(|| format!("no credential named {name:?}"))?;
        meta.updated_at = unix_now();
        meta.version = meta.version.saturating_add(1);
        vault.put(meta.clone(), value)?;
        vault.commit()?;
        Counters::update(&self.dir, |c| c.rotated += 1)?;
        self.record_done(&mut log, Action::Rotate, &meta, "value replaced")?;
        Ok(meta)
    }

    /// Deletes a credential; `false` when there was none of that name.
    pub fn delete(&self, name: &str) -> anyhow::Result<bool> {
        let Some(mut vault) = Vault::open_metadata(&self.dir)? else {
            return Ok(false);
        };
        let mut log = self.audit()?;
        let Some(meta) = vault.remove(name) else {
            return Ok(false);
        };
        vault.commit()?;
        Counters::update(&self.dir, |c| c.deleted += 1)?;
        self.record_done(&mut log, Action::Delete, &meta, "deleted on request")?;
        Ok(true)
    }

    /// Removes every credential expired at `now`.
    pub fn purge_expired(&self, now: u64) -> anyhow::Result<Vec<Metadata>> {
        let Some(mut vault) = Vault::open_metadata(&self.dir)? else {
            return Ok(Vec::new());
        };
        let mut log = self.audit()?;
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
            let reason = format!("expired at {}", meta.expires_at.unwrap_or(0));
            self.record_done(&mut log, Action::Expire, meta, &reason)?;
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
        stats_document(&self.dir, now)
    }

    /// Asks the component about each of `names` for `context`; all are granted or none is
    /// handed out (a job gets either every credential it asked for or an error). Every decision
    /// is in the audit log before any value is decrypted.
    pub fn access(
        &self,
        scope: &CredentialScope,
        names: &[String],
        context: &AccessContext,
        action: Action,
    ) -> anyhow::Result<Result<Vec<Granted>, Denied>> {
        let now = unix_now();
        let vault = Vault::open(&self.dir, &self.keys)?;
        let mut log = match vault {
            Some(_) => Some(self.audit()?),
            None => None,
        };
        let mut decided = Vec::new();
        let mut events = Vec::with_capacity(names.len());
        for name in names {
            let meta = vault.as_ref().and_then(|v| v.metadata(name)).cloned();
            let (access, scope_text) = match &meta {
                Some(meta) => (access::decide(scope, meta, context, now), scope_label(meta)),
                None => (
                    Access {
                        granted: false,
                        reason: "no credential of that name".to_owned(),
                        component_sha256: String::new(),
                    },
                    String::new(),
                ),
            };
            tracing::info!(
                action = ?action,
                credential = %name,
                granted = access.granted,
                component = %access.component_sha256,
                "{}",
                access.reason
            );
            events.push(AuditEvent {
                action,
                credential: name.clone(),
                scope: scope_text,
                context: serde_json::to_value(context)?,
                verified: context.verified,
                decision: if access.granted {
                    Decision::Grant
                } else {
                    Decision::Deny
                },
                reason: access.reason.clone(),
                component_sha256: Some(access.component_sha256.clone())
                    .filter(|sha| !sha.is_empty()),
            });
            decided.push((name, meta, access));
        }
        // Every decision of the call in one durable write, before any value is decrypted.
        if let Some(log) = &mut log {
            log.append_all(events).context("writing the audit log")?;
        }
        let grants = decided.iter().filter(|(_, _, a)| a.granted).count() as u64;
        let denials = decided.len() as u64 - grants;
        if vault.is_some() {
            Counters::update(&self.dir, |c| {
                c.granted += grants;
                c.denied += denials;
            })?;
        }
        if let Some((name, _, access)) = decided.iter().find(|(_, _, a)| !a.granted) {
            return Ok(Err(Denied {
                name: (*name).clone(),
                reason: access.reason.clone(),
            }));
        }
        let vault = vault.context("the vault vanished")?;
        let mut granted = Vec::with_capacity(decided.len());
        for (name, meta, access) in decided {
            let meta = meta.context("a granted credential has metadata")?;
            let value = vault.reveal(name)?;
            granted.push(Granted {
                meta,
                value,
                access,
            });
        }
        Ok(Ok(granted))
    }

    /// Records that a job was refused before any credential was looked at (an OIDC token that
    /// did not verify): one denial per name asked for.
    pub fn record_refusal(
        &self,
        names: &[String],
        context: &AccessContext,
        action: Action,
        reason: &str,
    ) -> anyhow::Result<()> {
        if !self.dir.join(super::vault::VAULT_FILE).exists() {
            return Ok(());
        }
        let mut log = self.audit()?;
        for name in names {
            log.append(AuditEvent {
                action,
                credential: name.clone(),
                scope: String::new(),
                context: serde_json::to_value(context)?,
                verified: false,
                decision: Decision::Deny,
                reason: reason.to_owned(),
                component_sha256: None,
            })
            .context("writing the audit log")?;
        }
        let _lock = Vault::open_metadata(&self.dir)?;
        Counters::update(&self.dir, |c| c.denied += names.len() as u64)?;
        Ok(())
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

fn done(action: Action, meta: &Metadata) {
    tracing::info!(action = ?action, credential = %meta.name, scope = meta.scope.name(), "done");
}

/// The scope as the audit log writes it: `global`, `repo:octo/*`, ...
fn scope_label(meta: &Metadata) -> String {
    match &meta.scope_filter {
        Some(filter) => format!("{}:{filter}", meta.scope.name()),
        None => meta.scope.name().to_owned(),
    }
}

/// The counters of the vault in `dir` with the number of active credentials, as `ghmesh creds
/// stats` prints them. Reads metadata only: no key is needed and no value is decrypted.
pub fn stats_document(dir: &Path, now: u64) -> anyhow::Result<serde_json::Value> {
    let vault = Vault::open_metadata(dir)?;
    let counters = Counters::load(dir)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{ComponentSource, Limits, PolicyRuntime};

    #[test]
    fn granted_values_stay_out_of_debug_and_grants_are_audited_first() {
        let dir = tempfile::tempdir().unwrap();
        let manager = Manager::new(
            dir.path().join("vault"),
            KeyOptions {
                choice: Some(super::super::master_key::KeyStoreChoice::File),
                passphrase: None,
            },
        );
        let new = NewCredential {
            name: "TOKEN".into(),
            scope: Scope::Global,
            scope_filter: None,
            ttl_hours: None,
            require_verified: false,
        };
        manager.store(&new, b"hunter2-value").unwrap();
        let runtime = PolicyRuntime::new(Limits::default(), None).unwrap();
        let scope = runtime
            .credential_scope(&ComponentSource::Embedded)
            .unwrap();
        let names = ["TOKEN".to_owned()];
        let granted = manager
            .access(&scope, &names, &AccessContext::default(), Action::Get)
            .unwrap()
            .unwrap();
        assert_eq!(&*granted[0].value, b"hunter2-value");
        let shown = format!("{granted:?} {manager:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        let log = super::super::audit::read_all(&manager.audit_path()).unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(log[1].decision, Decision::Grant);
        assert_eq!(
            log[1].component_sha256.as_deref(),
            Some(scope.info().sha256.as_str())
        );
    }
}

//! The vault: `credentials.json.enc` in a 0700 directory. Metadata is clear JSON, each value is
//! sealed on its own (AES-256-GCM, fresh nonce per credential and per write, bound to its
//! metadata). Every open takes a file lock held until the `Vault` drops, so the read, change and
//! atomic replace of one process never interleave with another's: concurrent writers lose nothing.

use super::master_key::{self, Backend, KeyStoreChoice};
use super::permissions;
use super::record::{Metadata, Record};
use crate::crypto::{VAULT_KDF_ITERATIONS, VaultKey};
use crate::private_fs::{create_private_dir, write_private_atomic};
use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The vault file's name.
pub const VAULT_FILE: &str = "credentials.json.enc";
/// The lock file every vault operation holds.
pub const LOCK_FILE: &str = ".lock";
/// The vault file format this build reads and writes.
const FORMAT: u32 = 1;
/// What the key check seals: opening it proves the key is this vault's.
const KEY_CHECK: &[u8] = b"ghmesh vault key check";

/// How to find or make the master key.
#[derive(Default)]
pub struct KeyOptions {
    /// Which store; `auto` by default.
    pub choice: Option<KeyStoreChoice>,
    /// A passphrase to derive the key from instead of keeping one.
    pub passphrase: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for KeyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyOptions")
            .field("choice", &self.choice)
            .field(
                "passphrase",
                &self.passphrase.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// PBKDF2 parameters of a passphrase-derived key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Kdf {
    /// Hex of the random salt.
    salt: String,
    /// PBKDF2-HMAC-SHA256 rounds.
    iterations: u32,
}

/// The file's contents.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VaultFile {
    format: u32,
    /// Random id; names the vault's keyring entry.
    vault_id: String,
    /// Where the master key is kept.
    key_store: Backend,
    /// Set when the key is derived from a passphrase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kdf: Option<Kdf>,
    /// [`KEY_CHECK`] sealed under the master key (hex).
    key_check: String,
    credentials: BTreeMap<String, Record>,
}

/// An open, locked vault. Changes are in memory until [`Vault::commit`].
#[derive(Debug)]
pub struct Vault {
    dir: PathBuf,
    file: VaultFile,
    key: Option<VaultKey>,
    /// Held (exclusively) for the `Vault`'s lifetime; the OS releases it on close.
    _lock: File,
}

impl Vault {
    /// Opens the vault in `dir` without its key: metadata only. `None` when there is no vault.
    pub fn open_metadata(dir: &Path) -> anyhow::Result<Option<Self>> {
        if !dir.exists() {
            return Ok(None);
        }
        let lock = lock(dir, false)?;
        let Some(file) = read(dir)? else {
            return Ok(None);
        };
        Ok(Some(Self {
            dir: dir.to_owned(),
            file,
            key: None,
            _lock: lock,
        }))
    }

    /// Opens the vault in `dir` and its master key. `None` when there is no vault.
    pub fn open(dir: &Path, options: &KeyOptions) -> anyhow::Result<Option<Self>> {
        let Some(mut vault) = Self::open_metadata(dir)? else {
            return Ok(None);
        };
        vault.key = Some(vault.unlock(options)?);
        Ok(Some(vault))
    }

    /// Opens the vault in `dir`, creating it (and its master key) when there is none.
    pub fn open_or_create(dir: &Path, options: &KeyOptions) -> anyhow::Result<Self> {
        let lock = lock(dir, true)?;
        if let Some(file) = read(dir)? {
            let mut vault = Self {
                dir: dir.to_owned(),
                file,
                key: None,
                _lock: lock,
            };
            vault.key = Some(vault.unlock(options)?);
            return Ok(vault);
        }
        let vault_id = hex::encode(VaultKey::random_salt());
        let (key_store, kdf, key) = match &options.passphrase {
            Some(passphrase) => {
                let salt = VaultKey::random_salt();
                let key = VaultKey::derive(passphrase.as_bytes(), &salt, VAULT_KDF_ITERATIONS)?;
                let kdf = Kdf {
                    salt: hex::encode(salt),
                    iterations: VAULT_KDF_ITERATIONS,
                };
                (Backend::Passphrase, Some(kdf), key)
            }
            None => {
                let choice = options.choice.unwrap_or(KeyStoreChoice::Auto);
                let (backend, key) = master_key::create(choice, dir, &vault_id)?;
                (backend, None, key)
            }
        };
        let key_check = hex::encode(key.seal(&key_check_aad(&vault_id), KEY_CHECK));
        let vault = Self {
            dir: dir.to_owned(),
            file: VaultFile {
                format: FORMAT,
                vault_id,
                key_store,
                kdf,
                key_check,
                credentials: BTreeMap::new(),
            },
            key: Some(key),
            _lock: lock,
        };
        vault.commit()?;
        Ok(vault)
    }

    /// The vault directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the master key is kept.
    pub fn key_store(&self) -> Backend {
        self.file.key_store
    }

    /// Every credential's metadata, by name.
    pub fn list(&self) -> impl Iterator<Item = &Metadata> {
        self.file.credentials.values().map(|record| &record.meta)
    }

    /// One credential's metadata.
    pub fn metadata(&self, name: &str) -> Option<&Metadata> {
        self.file.credentials.get(name).map(|record| &record.meta)
    }

    /// Decrypts a credential's value.
    pub fn reveal(&self, name: &str) -> anyhow::Result<Zeroizing<Vec<u8>>> {
        let record = self
            .file
            .credentials
            .get(name)
            .with_context(|| format!("no credential named {name:?}"))?;
        record.open(self.key()?).map_err(|_| {
            anyhow::anyhow!(
                "credential {name:?} in {} does not open: its ciphertext or metadata was altered",
                self.file_path().display()
            )
        })
    }

    /// Adds or replaces a credential (the caller commits).
    pub fn put(&mut self, meta: Metadata, value: &[u8]) -> anyhow::Result<()> {
        let record = Record::seal(meta, value, self.key()?);
        self.file
            .credentials
            .insert(record.meta.name.clone(), record);
        Ok(())
    }

    /// Removes a credential; its ciphertext is gone from the next committed file.
    pub fn remove(&mut self, name: &str) -> Option<Metadata> {
        self.file.credentials.remove(name).map(|record| record.meta)
    }

    /// Writes the vault: a 0600 temporary file, fsync, rename over the old file, fsync of the
    /// directory. A crash leaves the old vault or the new one.
    pub fn commit(&self) -> anyhow::Result<()> {
        let text = serde_json::to_vec_pretty(&self.file).context("encoding the vault")?;
        let path = self.file_path();
        write_private_atomic(&path, &[&text, b"\n"])
            .with_context(|| format!("writing {}", path.display()))?;
        File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .with_context(|| format!("syncing {}", self.dir.display()))
    }

    fn file_path(&self) -> PathBuf {
        self.dir.join(VAULT_FILE)
    }

    fn key(&self) -> anyhow::Result<&VaultKey> {
        self.key
            .as_ref()
            .context("the vault was opened without its key")
    }

    /// Loads the master key from the vault's store (or passphrase) and checks it opens the vault.
    fn unlock(&self, options: &KeyOptions) -> anyhow::Result<VaultKey> {
        let backend = self.file.key_store;
        let key = match (&self.file.kdf, &options.passphrase) {
            (Some(kdf), Some(passphrase)) => {
                let salt = hex::decode(&kdf.salt).context("the vault's KDF salt is not hex")?;
                VaultKey::derive(passphrase.as_bytes(), &salt, kdf.iterations)?
            }
            (Some(_), None) => {
                bail!("this vault's key is derived from a passphrase; pass --passphrase-env VAR")
            }
            (None, Some(_)) => bail!(
                "this vault's key is kept in {}, not derived from a passphrase",
                backend.name()
            ),
            (None, None) => {
                master_key::check_choice(options.choice.unwrap_or(KeyStoreChoice::Auto), backend)?;
                backend
                    .load(&self.dir, &self.file.vault_id)?
                    .with_context(|| {
                        format!(
                            "the master key of vault {} is missing from {} (entry {}/{}); without \
                         it the credentials cannot be decrypted",
                            self.dir.display(),
                            backend.name(),
                            master_key::KEYRING_SERVICE,
                            self.file.vault_id
                        )
                    })?
            }
        };
        let check = hex::decode(&self.file.key_check).unwrap_or_default();
        if key
            .open(&key_check_aad(&self.file.vault_id), &check)
            .is_err()
        {
            bail!(
                "the master key from {} does not open vault {} (wrong passphrase, or the key \
                 entry was replaced); nothing was changed",
                backend.name(),
                self.dir.display()
            );
        }
        Ok(key)
    }
}

fn key_check_aad(vault_id: &str) -> Vec<u8> {
    format!("ghmesh/vault/v1/key-check/{vault_id}").into_bytes()
}

/// Takes the vault's lock, creating the 0700 directory first when `create` (else a missing
/// directory is simply "no vault" and the lock is taken in a fresh one only if it exists).
fn lock(dir: &Path, create: bool) -> anyhow::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    if create {
        create_private_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    permissions::check_dir(dir)?;
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    permissions::check_file(&path)?;
    file.lock()
        .with_context(|| format!("locking {}", path.display()))?;
    Ok(file)
}

/// Reads and parses the vault file; `None` when it does not exist.
fn read(dir: &Path) -> anyhow::Result<Option<VaultFile>> {
    let path = dir.join(VAULT_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
    };
    permissions::check_file(&path)?;
    let file: VaultFile = serde_json::from_slice(&bytes).map_err(|error| {
        anyhow::anyhow!(
            "vault file {} is corrupt or truncated ({error}); nothing was changed; restore it \
             from a backup",
            path.display()
        )
    })?;
    if file.format != FORMAT {
        bail!(
            "vault file {} has format {}; this ghmesh reads format {FORMAT}",
            path.display(),
            file.format
        );
    }
    for (name, record) in &file.credentials {
        if *name != record.meta.name {
            bail!(
                "vault file {} is corrupt: entry {name:?} holds credential {:?}",
                path.display(),
                record.meta.name
            );
        }
    }
    Ok(Some(file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::record::Scope;

    fn meta(name: &str) -> Metadata {
        Metadata {
            name: name.to_owned(),
            scope: Scope::Global,
            scope_filter: None,
            expires_at: None,
            require_verified: false,
            created_at: 1,
            updated_at: 1,
            version: 1,
        }
    }

    fn file_keys() -> KeyOptions {
        KeyOptions {
            choice: Some(KeyStoreChoice::File),
            passphrase: None,
        }
    }

    fn passphrase(p: &str) -> KeyOptions {
        KeyOptions {
            choice: None,
            passphrase: Some(Zeroizing::new(p.to_owned())),
        }
    }

    #[test]
    fn values_round_trip_through_a_reopened_vault() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("vault");
        let mut vault = Vault::open_or_create(&dir, &file_keys()).unwrap();
        vault.put(meta("A"), b"alpha").unwrap();
        vault.commit().unwrap();
        drop(vault);
        let vault = Vault::open(&dir, &KeyOptions::default()).unwrap().unwrap();
        assert_eq!(&*vault.reveal("A").unwrap(), b"alpha");
        assert_eq!(vault.key_store(), Backend::File);
        let text = std::fs::read_to_string(dir.join(VAULT_FILE)).unwrap();
        assert!(!text.contains("alpha"));
    }

    #[test]
    fn a_wrong_passphrase_is_a_clear_error_and_changes_nothing() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("vault");
        let mut vault = Vault::open_or_create(&dir, &passphrase("right horse")).unwrap();
        vault.put(meta("A"), b"alpha").unwrap();
        vault.commit().unwrap();
        drop(vault);
        let before = std::fs::read(dir.join(VAULT_FILE)).unwrap();
        let error = Vault::open(&dir, &passphrase("wrong horse")).unwrap_err();
        assert!(error.to_string().contains("does not open vault"), "{error}");
        let error = Vault::open(&dir, &KeyOptions::default()).unwrap_err();
        assert!(error.to_string().contains("--passphrase-env"), "{error}");
        assert_eq!(std::fs::read(dir.join(VAULT_FILE)).unwrap(), before);
        let vault = Vault::open(&dir, &passphrase("right horse"))
            .unwrap()
            .unwrap();
        assert_eq!(&*vault.reveal("A").unwrap(), b"alpha");
    }

    #[test]
    fn truncated_files_and_loose_modes_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("vault");
        Vault::open_or_create(&dir, &file_keys()).unwrap();
        let path = dir.join(VAULT_FILE);
        let whole = std::fs::read(&path).unwrap();
        std::fs::write(&path, &whole[..whole.len() / 2]).unwrap();
        let error = Vault::open_metadata(&dir).unwrap_err().to_string();
        assert!(error.contains("corrupt or truncated"), "{error}");
        std::fs::write(&path, &whole).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = Vault::open_metadata(&dir).unwrap_err().to_string();
        assert!(error.contains("mode 0644"), "{error}");
    }
}

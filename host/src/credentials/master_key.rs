//! Where the vault's master key is kept: the OS keyring (Secret Service or the kernel's keyutils,
//! through the `keyring` crate), a 0600 `.master_key` file next to the vault, or nowhere at all
//! when it is derived from a passphrase. Key material never reaches a log line or an error.

use crate::crypto::VaultKey;
use crate::private_fs::write_private_atomic;
use anyhow::{Context, bail};
use std::path::Path;
use zeroize::Zeroizing;

/// The keyring service name of every vault key; the user name is the vault's random id, so two
/// vaults of one user never share an entry.
pub const KEYRING_SERVICE: &str = "ghmesh-vault";
/// The file fallback's name inside the vault directory.
pub const KEY_FILE: &str = ".master_key";

/// A place that keeps a master key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// The freedesktop Secret Service (gnome-keyring, KWallet) over D-Bus.
    SecretService,
    /// The Linux kernel's key retention service, session keyring. Lives as long as the session.
    Keyutils,
    /// `.master_key` (0600) in the vault directory.
    File,
    /// Not kept: derived from a passphrase with PBKDF2 on every use.
    Passphrase,
}

/// What `--key-store` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyStoreChoice {
    /// An existing vault's recorded store; for a new vault the first that works of
    /// secret-service, keyutils, file.
    Auto,
    /// The Secret Service.
    SecretService,
    /// Kernel keyutils.
    Keyutils,
    /// The 0600 `.master_key` file.
    File,
}

impl Backend {
    /// Name as written in the vault header and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Backend::SecretService => "secret-service",
            Backend::Keyutils => "keyutils",
            Backend::File => "file",
            Backend::Passphrase => "passphrase",
        }
    }

    /// Reads the key of vault `vault_id`; `Ok(None)` when the store holds none.
    pub fn load(self, dir: &Path, vault_id: &str) -> anyhow::Result<Option<VaultKey>> {
        match self {
            Backend::File => load_file(dir),
            Backend::SecretService | Backend::Keyutils => {
                match self.entry(vault_id)?.get_secret() {
                    Ok(bytes) => {
                        let bytes = Zeroizing::new(bytes);
                        VaultKey::from_bytes(&bytes).map(Some).with_context(|| {
                            format!(
                                "the {} entry of vault {vault_id} is not a 256-bit key",
                                self.name()
                            )
                        })
                    }
                    Err(keyring::Error::NoEntry) => Ok(None),
                    Err(error) => Err(keyring_error(self, "reading", &error)),
                }
            }
            Backend::Passphrase => bail!("a passphrase-derived key is not kept in a store"),
        }
    }

    /// Keeps `key` as vault `vault_id`'s key, then reads it back: a store that accepts a write
    /// it cannot return is not a store.
    pub fn save(self, dir: &Path, vault_id: &str, key: &VaultKey) -> anyhow::Result<()> {
        match self {
            Backend::File => {
                let text = Zeroizing::new(hex::encode(key.as_bytes()));
                write_private_atomic(&dir.join(KEY_FILE), &[text.as_bytes()])
                    .with_context(|| format!("writing {}", dir.join(KEY_FILE).display()))?;
            }
            Backend::SecretService | Backend::Keyutils => self
                .entry(vault_id)?
                .set_secret(key.as_bytes())
                .map_err(|error| keyring_error(self, "writing", &error))?,
            Backend::Passphrase => bail!("a passphrase-derived key is not kept in a store"),
        }
        match self.load(dir, vault_id)? {
            Some(back) if back.as_bytes() == key.as_bytes() => Ok(()),
            _ => bail!(
                "the {} store did not return the key it was given",
                self.name()
            ),
        }
    }

    fn entry(self, vault_id: &str) -> anyhow::Result<keyring::Entry> {
        let credential: Box<keyring::Credential> = match self {
            Backend::SecretService => Box::new(
                keyring::secret_service::SsCredential::new_with_target(
                    None,
                    KEYRING_SERVICE,
                    vault_id,
                )
                .map_err(|error| keyring_error(self, "opening", &error))?,
            ),
            Backend::Keyutils => Box::new(
                keyring::keyutils::KeyutilsCredential::new_with_target(
                    None,
                    KEYRING_SERVICE,
                    vault_id,
                )
                .map_err(|error| keyring_error(self, "opening", &error))?,
            ),
            Backend::File | Backend::Passphrase => bail!("{} is not a keyring", self.name()),
        };
        Ok(keyring::Entry::new_with_credential(credential))
    }
}

/// Creates the key of a new vault in the store `choice` names; `auto` tries the Secret Service,
/// then keyutils, then the file, and logs which one it took.
pub fn create(
    choice: KeyStoreChoice,
    dir: &Path,
    vault_id: &str,
) -> anyhow::Result<(Backend, VaultKey)> {
    let key = VaultKey::generate();
    let order: &[Backend] = match choice {
        KeyStoreChoice::Auto => &[Backend::SecretService, Backend::Keyutils, Backend::File],
        KeyStoreChoice::SecretService => &[Backend::SecretService],
        KeyStoreChoice::Keyutils => &[Backend::Keyutils],
        KeyStoreChoice::File => &[Backend::File],
    };
    let mut failures = Vec::new();
    for &backend in order {
        match backend.save(dir, vault_id, &key) {
            Ok(()) if backend == Backend::File && choice == KeyStoreChoice::Auto => {
                // Worth seeing without -v: the key now sits next to the vault it opens.
                tracing::warn!(
                    vault = vault_id,
                    "no OS keyring works here; the new vault's master key is kept in {}/{KEY_FILE}",
                    dir.display()
                );
                return Ok((backend, key));
            }
            Ok(()) => {
                tracing::info!(
                    vault = vault_id,
                    "master key of the new vault kept in {}",
                    backend.name()
                );
                return Ok((backend, key));
            }
            Err(error) => {
                tracing::info!("key store {} unavailable: {error:#}", backend.name());
                failures.push(format!("{}: {error:#}", backend.name()));
            }
        }
    }
    bail!(
        "no key store could keep the master key ({})",
        failures.join("; ")
    )
}

/// Whether an existing vault kept in `backend` may be opened with `choice`.
pub fn check_choice(choice: KeyStoreChoice, backend: Backend) -> anyhow::Result<()> {
    let wanted = match choice {
        KeyStoreChoice::Auto => return Ok(()),
        KeyStoreChoice::SecretService => Backend::SecretService,
        KeyStoreChoice::Keyutils => Backend::Keyutils,
        KeyStoreChoice::File => Backend::File,
    };
    if wanted != backend {
        bail!(
            "this vault's master key is kept in {}, not {}; pass --key-store {} or auto",
            backend.name(),
            wanted.name(),
            backend.name()
        );
    }
    Ok(())
}

fn load_file(dir: &Path) -> anyhow::Result<Option<VaultKey>> {
    let path = dir.join(KEY_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => Zeroizing::new(text),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
    };
    super::permissions::check_file(&path)?;
    let bytes = Zeroizing::new(
        hex::decode(text.trim())
            .ok()
            .with_context(|| format!("{} does not hold a hex key", path.display()))?,
    );
    VaultKey::from_bytes(&bytes)
        .map(Some)
        .with_context(|| format!("{} does not hold a 256-bit key", path.display()))
}

/// A keyring error in words, without `Debug` (whose `BadEncoding` variant carries the bytes).
fn keyring_error(backend: Backend, doing: &str, error: &keyring::Error) -> anyhow::Error {
    let detail = match error {
        keyring::Error::BadEncoding(_) => "the entry is not valid data".to_owned(),
        other => other.to_string(),
    };
    anyhow::anyhow!("{doing} the {} keyring: {detail}", backend.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_store_round_trips_at_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let vault = dir.path().join("v");
        let (backend, key) = create(KeyStoreChoice::File, &vault, "id").unwrap();
        assert_eq!(backend, Backend::File);
        let back = Backend::File.load(&vault, "id").unwrap().unwrap();
        assert_eq!(back.as_bytes(), key.as_bytes());
        let mode = std::fs::metadata(vault.join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(Backend::File.load(dir.path(), "id").unwrap().is_none());
    }

    #[test]
    fn an_explicit_store_must_match_the_vaults() {
        assert!(check_choice(KeyStoreChoice::Auto, Backend::Keyutils).is_ok());
        assert!(check_choice(KeyStoreChoice::File, Backend::File).is_ok());
        let error = check_choice(KeyStoreChoice::File, Backend::SecretService).unwrap_err();
        assert!(
            error.to_string().contains("kept in secret-service"),
            "{error}"
        );
    }
}

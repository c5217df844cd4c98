//! The discovery file `<cache dir>/serve.json`: how commands find the `ghmesh serve` that holds
//! the store of their cache directory. `serve` writes it once it listens (0600, atomically: a
//! temporary file renamed into place) with its URL, pid and admin token, and removes it when it
//! stops cleanly. After a crash the file stays behind; a record whose process is gone or whose
//! URL does not answer with the admin token is stale and ignored.

use super::admin_client::AdminClient;
use crate::proxy::AdminToken;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file's name inside the cache directory.
pub const FILE: &str = "serve.json";

/// A local serve answers its admin API in milliseconds; a longer wait only hides a hung one.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// What `serve` publishes about itself.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServeRecord {
    /// Where it answers, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    /// Its process id.
    pub pid: u32,
    /// The bearer token of its admin endpoints.
    pub admin_token: String,
}

impl std::fmt::Debug for ServeRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeRecord")
            .field("url", &self.url)
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

impl ServeRecord {
    /// The record of this process, listening on `address`.
    pub fn of_this_process(address: SocketAddr, token: &AdminToken) -> Self {
        Self {
            url: format!("http://{}", connectable(address)),
            pid: std::process::id(),
            admin_token: token.expose().to_string(),
        }
    }
}

/// An address a client on this host can connect to: a wildcard listener is reached on loopback.
fn connectable(address: SocketAddr) -> SocketAddr {
    let mut address = address;
    if address.ip().is_unspecified() {
        address.set_ip(if address.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    address
}

/// A published record; dropping it removes the file, unless another serve has replaced it since.
#[derive(Debug)]
pub struct Published {
    path: PathBuf,
    record: ServeRecord,
}

/// Writes `record` to `dir/serve.json` (creating `dir` 0700 if needed), atomically and 0600.
pub fn publish(dir: &Path, record: ServeRecord) -> anyhow::Result<Published> {
    let path = dir.join(FILE);
    let write = || -> std::io::Result<()> {
        create_private_dir(dir)?;
        // tempfile creates the file 0600, so the token is never readable by others, not even
        // before the rename.
        let mut file = tempfile::NamedTempFile::new_in(dir)?;
        file.write_all(&serde_json::to_vec_pretty(&record)?)?;
        file.as_file().sync_all()?;
        file.persist(&path).map_err(|e| e.error)?;
        Ok(())
    };
    write().with_context(|| format!("writing the discovery file {}", path.display()))?;
    Ok(Published { path, record })
}

impl Drop for Published {
    fn drop(&mut self) {
        match read_file(&self.path) {
            Ok(Some(current)) if current == self.record => {
                if let Err(e) = std::fs::remove_file(&self.path) {
                    tracing::warn!("removing {}: {e}", self.path.display());
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("{e:#}"),
        }
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// The record in `dir`, if there is one; an unreadable record is reported and ignored.
pub fn read(dir: &Path) -> anyhow::Result<Option<ServeRecord>> {
    read_file(&dir.join(FILE))
}

fn read_file(path: &Path) -> anyhow::Result<Option<ServeRecord>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    match serde_json::from_slice(&bytes) {
        Ok(record) => Ok(Some(record)),
        Err(e) => {
            // Written atomically by serve, so this is someone else's file: not ours to delete.
            tracing::warn!(
                "ignoring {}: not a ghmesh serve record: {e}",
                path.display()
            );
            Ok(None)
        }
    }
}

/// What the discovery file says about a serve for `dir`.
#[derive(Debug)]
pub enum Discovery {
    /// No record.
    Absent,
    /// A serve that answered its admin API with the recorded token.
    Live(ServeRecord),
    /// A record whose serve is gone or does not answer; why, for error messages.
    Stale(ServeRecord, String),
}

/// Reads the record in `dir` and checks that its serve is alive and answers.
pub async fn discover(dir: &Path) -> anyhow::Result<Discovery> {
    let Some(record) = read(dir)? else {
        return Ok(Discovery::Absent);
    };
    if !process_exists(record.pid) {
        let reason = format!("its process {} is gone", record.pid);
        return Ok(Discovery::Stale(record, reason));
    }
    // The admin token proves it is that serve and not another program that took the port, so
    // a caller never sends a GitHub token to a stranger.
    let probe = AdminClient::new(&record, PROBE_TIMEOUT)?;
    Ok(match probe.stats().await {
        Ok(_) => Discovery::Live(record),
        Err(e) => {
            let reason = format!("it does not answer at {}: {e:#}", record.url);
            Discovery::Stale(record, reason)
        }
    })
}

/// Whether a process with this id exists; without `/proc` every pid counts as existing and the
/// probe decides.
fn process_exists(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(url: &str) -> ServeRecord {
        ServeRecord {
            url: url.into(),
            pid: std::process::id(),
            admin_token: "t".repeat(64),
        }
    }

    #[test]
    fn publish_writes_a_private_file_and_drop_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let published = publish(&cache, record("http://127.0.0.1:1")).unwrap();
        let path = cache.join(FILE);
        assert_eq!(read(&cache).unwrap(), Some(record("http://127.0.0.1:1")));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(&cache), 0o700);
        }
        drop(published);
        assert!(!path.exists());
        assert_eq!(read(&cache).unwrap(), None);
    }

    #[test]
    fn drop_leaves_a_record_another_serve_wrote_since() {
        let dir = tempfile::tempdir().unwrap();
        let first = publish(dir.path(), record("http://127.0.0.1:1")).unwrap();
        let _second = publish(dir.path(), record("http://127.0.0.1:2")).unwrap();
        drop(first);
        assert_eq!(
            read(dir.path()).unwrap(),
            Some(record("http://127.0.0.1:2"))
        );
    }

    #[test]
    fn a_foreign_file_is_ignored_and_debug_hides_the_token() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), "not json").unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        assert!(!format!("{:?}", record("u")).contains("tttt"));
    }

    #[test]
    fn wildcard_listeners_are_reached_on_loopback() {
        let token = AdminToken::generate().unwrap();
        let v4 = ServeRecord::of_this_process("0.0.0.0:8080".parse().unwrap(), &token);
        assert_eq!(v4.url, "http://127.0.0.1:8080");
        let v6 = ServeRecord::of_this_process("[::]:9".parse().unwrap(), &token);
        assert_eq!(v6.url, "http://[::1]:9");
        assert_eq!(v6.admin_token, token.expose());
    }

    #[tokio::test]
    async fn records_of_gone_processes_or_silent_urls_are_stale() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            discover(dir.path()).await.unwrap(),
            Discovery::Absent
        ));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let _published = publish(dir.path(), record(&format!("http://127.0.0.1:{port}"))).unwrap();
        assert!(matches!(
            discover(dir.path()).await.unwrap(),
            Discovery::Stale(..)
        ));
        let gone = ServeRecord {
            pid: u32::MAX,
            ..record("http://127.0.0.1:1")
        };
        let _replaced = publish(dir.path(), gone).unwrap();
        match discover(dir.path()).await.unwrap() {
            Discovery::Stale(_, reason) => assert!(reason.contains("gone"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }
}

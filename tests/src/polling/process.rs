//! Child processes of the harness (the upstream, `ghmesh serve`, runners): started, awaited until
//! they print their ready line, and killed when dropped, so an aborted run leaves nothing behind.

use anyhow::{Context, bail};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

/// How long a server may take to print its ready line (a debug `ghmesh serve` compiles its
/// policy component first).
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// A server process that announced a base URL.
pub struct Server {
    /// `http://127.0.0.1:PORT`, from the ready line.
    pub url: String,
    /// The fleet-mesh address a `ghmesh serve` with the mesh printed before its ready line
    /// (`ghmesh mesh /ip4/.../p2p/...`; the first one when it listens on several).
    pub mesh: Option<String>,
    child: Child,
    /// Kept open: a server whose stdout is closed might fail its next write.
    _stdout: BufReader<ChildStdout>,
}

impl Server {
    /// Starts `command` (stdout is taken over) and waits for its first line containing
    /// `http://`, noting a `ghmesh mesh` line before it; `name` is for error messages.
    pub async fn start(name: &str, mut command: Command) -> anyhow::Result<Self> {
        command
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        let mut stdout = BufReader::new(child.stdout.take().context("stdout")?);
        let (url, mesh) = tokio::time::timeout(READY_TIMEOUT, ready_url(&mut stdout))
            .await
            .with_context(|| format!("{name} printed no ready line within {READY_TIMEOUT:?}"))?
            .with_context(|| format!("{name} exited before it was ready"))?;
        Ok(Self {
            url,
            mesh,
            child,
            _stdout: stdout,
        })
    }

    /// Kills the process and waits for it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }

    /// The process id, while it has not been waited for.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Asks the process to stop with SIGTERM and waits up to `grace` for it to exit, then kills
    /// it. Returns whether it exited by itself within `grace`.
    pub async fn terminate(mut self, grace: Duration) -> anyhow::Result<bool> {
        let pid = self.child.id().context("the process was already reaped")?;
        // tokio offers SIGKILL only; `kill(1)` sends the polite signal without adding a crate.
        let status = tokio::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await
            .context("running kill -TERM")?;
        if !status.success() {
            bail!("kill -TERM {pid} failed ({status})");
        }
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(exit) => {
                exit.context("waiting for the process")?;
                Ok(true)
            }
            Err(_) => {
                let _ = self.child.kill().await;
                Ok(false)
            }
        }
    }
}

/// Reads lines until one names an `http://` URL; that URL, without trailing punctuation, and
/// the first address of a `ghmesh mesh ADDR...` line seen before it.
async fn ready_url(
    stdout: &mut BufReader<ChildStdout>,
) -> anyhow::Result<(String, Option<String>)> {
    let mut line = String::new();
    let mut mesh = None;
    loop {
        line.clear();
        if stdout.read_line(&mut line).await? == 0 {
            bail!("end of output");
        }
        if let Some(addresses) = line.strip_prefix("ghmesh mesh ") {
            mesh = addresses.split_whitespace().next().map(str::to_owned);
            continue;
        }
        if let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://")) {
            return Ok((url.trim_end_matches(['.', ',']).to_owned(), mesh));
        }
    }
}

//! Real processes the system tests run against: @octokit/fixtures-server (recorded GitHub
//! responses, installed by `tests/run` into `tests/rig/node_modules`) and `ghmesh serve`.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The token and media type fixtures-server insists on.
pub const FIXTURE_TOKEN: &str = "token 0000000000000000000000000000000000000001";
/// Accept header fixtures-server insists on.
pub const FIXTURE_ACCEPT: &str = "application/vnd.github.v3+json";

/// `tests/rig`, where the npm packages live.
pub fn rig_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("rig")
}

/// A port free right now on loopback (fixtures-server cannot be told to pick one itself).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A child process killed when dropped.
pub struct Running(Child);

impl Running {
    /// Takes ownership of `child`, to kill it on drop.
    pub fn new(child: Child) -> Self {
        Self(child)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running @octokit/fixtures-server.
pub struct FixtureServer {
    /// Its base URL.
    pub url: String,
    _process: Running,
}

impl FixtureServer {
    /// Starts the server with its recorded scenarios, or with the nock-style files matching
    /// `custom_glob` instead.
    pub fn start(custom_glob: Option<&str>) -> Self {
        let server = rig_dir().join("node_modules/@octokit/fixtures-server/bin/server.js");
        assert!(
            server.exists(),
            "{} missing: run tests/run (it installs tests/rig)",
            server.display()
        );
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let mut command = Command::new("node");
        command
            .arg(server)
            .args([
                "--port",
                &port.to_string(),
                "--fixtures-url",
                &url,
                "--log-level",
                "silent",
            ])
            .current_dir(rig_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(glob) = custom_glob {
            command.arg("--fixtures").arg(glob);
        }
        let process = Running(
            command
                .spawn()
                .expect("start fixtures-server (is node installed?)"),
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "fixtures-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            url,
            _process: process,
        }
    }

    /// Loads a scenario and returns the upstream base URL that replays it.
    pub fn scenario(&self, name: &str) -> String {
        let output = Command::new("curl")
            .args(["-sf", "-X", "POST", "-H", "content-type: application/json"])
            .arg("-d")
            .arg(format!("{{\"scenario\":\"{name}\"}}"))
            .arg(format!("{}/fixtures", self.url))
            .output()
            .expect("curl");
        assert!(output.status.success(), "loading scenario {name} failed");
        let reply: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("fixtures reply");
        reply["url"].as_str().expect("scenario url").to_string()
    }
}

/// A running `ghmesh serve`.
pub struct Serve {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The first mesh address it printed (`/ip4/.../tcp/PORT/p2p/ID`), when it joined a mesh.
    pub mesh_addr: Option<String>,
    _process: Running,
}

impl Serve {
    /// Starts `ghmesh serve` for `upstream` in `sandbox`, with extra args; waits until it is ready.
    pub fn start(sandbox: &crate::Sandbox, upstream: &str, extra: &[&str]) -> Self {
        Self::start_with_env(sandbox, upstream, extra, &[])
    }

    /// [`Serve::start`] with extra environment variables (the sandbox's environment is otherwise
    /// empty).
    pub fn start_with_env(
        sandbox: &crate::Sandbox,
        upstream: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let mut command =
            sandbox.command(&["serve", "--listen", "127.0.0.1:0", "--upstream", upstream]);
        command.args(extra).envs(env.iter().copied());
        Self::launch(command)
    }

    /// Spawns a prepared `ghmesh serve` command (e.g. wrapped in `ip netns exec`) and waits for
    /// its ready line. Lines before it are kept when they name the mesh address.
    pub fn launch(mut command: Command) -> Self {
        // Standard error stays as the caller set it (inherited by default).
        command.stdout(Stdio::piped());
        let mut child = command.spawn().expect("start ghmesh serve");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut mesh_addr = None;
        let ready = loop {
            let mut line = String::new();
            let read = stdout.read_line(&mut line).expect("ready line");
            assert!(read > 0, "ghmesh serve exited before its ready line");
            if let Some(addrs) = line.strip_prefix("ghmesh mesh ") {
                mesh_addr = addrs.split_whitespace().next().map(str::to_string);
            }
            if line.starts_with("ghmesh serving ") {
                break line;
            }
        };
        let address = ready
            .split_whitespace()
            .find_map(|word| word.strip_prefix("http://"))
            .unwrap_or_else(|| panic!("no address in ready line: {ready:?}"))
            .to_string();
        Self {
            url: format!("http://{address}"),
            mesh_addr,
            _process: Running(child),
        }
    }
}

/// An HTTP exchange made with curl: status, lowercase headers, body.
pub struct Exchange {
    /// HTTP status.
    pub status: u16,
    /// Response headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Body text.
    pub body: String,
}

impl Exchange {
    /// First value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Runs curl with the fixture credentials; `args` go before the URL. Status 0 means no answer.
pub fn curl(url: &str, args: &[&str]) -> Exchange {
    let output = Command::new("curl")
        .args(["-s", "-i", "-H"])
        .arg(format!("Authorization: {FIXTURE_TOKEN}"))
        .arg("-H")
        .arg(format!("Accept: {FIXTURE_ACCEPT}"))
        .args(args)
        .arg(url)
        .output()
        .expect("curl");
    Exchange::parse(&output.stdout)
}

impl Exchange {
    /// Parses what `curl -s -i` printed. Status 0 means no answer.
    pub fn parse(stdout: &[u8]) -> Self {
        let text = String::from_utf8_lossy(stdout).replace("\r\n", "\n");
        let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        // 0: no HTTP answer at all (connection refused or reset, e.g. after a kill).
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Exchange {
            status,
            headers,
            body: body.to_string(),
        }
    }
}

/// A minimal upstream for tests that need many distinct, always-available resources (recorded
/// fixtures serve each response once): answers every request with a small JSON body naming the
/// path, and counts the requests it answered.
pub struct EchoUpstream {
    /// Its base URL.
    pub url: String,
    /// Requests answered so far.
    requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl EchoUpstream {
    /// Starts serving on a free loopback port, in a background thread, for the life of the test
    /// process.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let counter = counter.clone();
                std::thread::spawn(move || {
                    if echo(stream) {
                        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                });
            }
        });
        Self { url, requests }
    }

    /// How many requests it has answered (what GitHub would have seen).
    pub fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Answers one request; whether it got one. Reads a request body (`content-length`), so that
/// closing the connection after a write does not reset it before the client read the answer.
fn echo(stream: std::net::TcpStream) -> bool {
    use std::io::{Read, Write};
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() || request_line.is_empty() {
        return false;
    }
    let mut line = String::new();
    let mut body_length = 0usize;
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-length")
        {
            body_length = value.trim().parse().unwrap_or(0);
        }
        line.clear();
    }
    let mut body = vec![0; body_length];
    if reader.read_exact(&mut body).is_err() {
        return false;
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    let body = serde_json::json!({ "path": path, "padding": "x".repeat(512) }).to_string();
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\netag: \"{}\"\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        path.len(),
        body.len()
    );
    (&stream).write_all(response.as_bytes()).is_ok()
}

impl Serve {
    /// The process id, for signals.
    pub fn pid(&self) -> u32 {
        self._process.0.id()
    }

    /// Whether the process is still running (it has not exited or crashed).
    pub fn is_running(&mut self) -> bool {
        matches!(self._process.0.try_wait(), Ok(None))
    }

    /// Stops the process with SIGTERM (a graceful shutdown) and waits for it to exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let signalled = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(signalled.success(), "kill -TERM {} failed", self.pid());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self._process.0.try_wait().expect("wait for ghmesh serve") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "ghmesh serve did not exit within 20 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Serve {
    /// Starts `ghmesh serve` like [`Serve::start`], with `env` added to its environment and its
    /// standard error (the log) written to `log`.
    pub fn start_logged(
        sandbox: &crate::Sandbox,
        upstream: &str,
        env: &[(&str, &str)],
        log: &Path,
    ) -> Self {
        let mut command =
            sandbox.command(&["serve", "--listen", "127.0.0.1:0", "--upstream", upstream]);
        command
            .envs(env.iter().copied())
            .stderr(std::fs::File::create(log).expect("create log file"));
        Self::launch(command)
    }
}

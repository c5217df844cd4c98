//! Helpers for the fleet-mesh system tests: an upstream that counts what reaches it
//! ([`CountingUpstream`]), `ghmesh serve` nodes joined into a mesh ([`MeshNode`]), the misbehaving
//! peer ([`TestPeer`]) and polling with deadlines ([`wait_for`]).

use crate::Sandbox;
use crate::rig::{Exchange, FIXTURE_ACCEPT, FIXTURE_TOKEN, Running, Serve};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// PBKDF2 iterations the test fleets use: the minimum ghmesh accepts, so that a debug build derives
/// the fleet keys in a fraction of a second.
pub const ITERATIONS: u32 = 10_000;

/// One request as the upstream saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// `Authorization`, if any.
    pub authorization: Option<String>,
    /// `If-None-Match`, if any.
    pub if_none_match: Option<String>,
    /// `If-Modified-Since`, if any.
    pub if_modified_since: Option<String>,
    /// The status it was answered with.
    pub status: u16,
}

impl Seen {
    /// Whether the request carried a validator (a revalidation, not a full fetch).
    pub fn conditional(&self) -> bool {
        self.if_none_match.is_some() || self.if_modified_since.is_some()
    }
}

#[derive(Default)]
struct Books {
    seen: Vec<Seen>,
    /// Bumped by every write: bodies, ETags and Last-Modified change with it.
    generation: u64,
}

/// A GitHub-like upstream in this test process that counts every request by path: 200 JSON
/// bodies with an `ETag` and a `Last-Modified`, 304 to a matching `If-None-Match` or (without one)
/// `If-Modified-Since`, and writes (POST, PATCH, PUT, DELETE) that change every body.
pub struct CountingUpstream {
    /// Its base URL.
    pub url: String,
    books: Arc<Mutex<Books>>,
}

impl CountingUpstream {
    /// Starts on a free loopback port.
    pub fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().expect("address"))
    }

    /// Starts on `addr` (e.g. a bridge address other network namespaces reach), in a background
    /// thread with its own runtime, for the life of the test process.
    pub fn start_on(addr: SocketAddr) -> Self {
        let books = Arc::new(Mutex::new(Books::default()));
        let listener = std::net::TcpListener::bind(addr).expect("bind the upstream");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(books.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("upstream runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                axum::serve(listener, app).await.expect("upstream serves");
            });
        });
        Self { url, books }
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.books.lock().expect("books").seen.clone()
    }

    /// Requests so far for `path` (path and query), any method.
    pub fn count(&self, path: &str) -> usize {
        self.seen().iter().filter(|s| s.path == path).count()
    }

    /// Full (unconditional) GETs so far for `path`.
    pub fn full_fetches(&self, path: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.path == path && s.method == "GET" && !s.conditional())
            .count()
    }

    /// The body a GET of `path` is answered with now.
    pub fn body(&self, path: &str) -> String {
        body(path, self.books.lock().expect("books").generation)
    }
}

fn body(path: &str, generation: u64) -> String {
    serde_json::json!({ "path": path, "generation": generation, "padding": "x".repeat(256) })
        .to_string()
}

fn etag(path: &str, generation: u64) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(body(path, generation));
    format!("\"{}\"", hex::encode(&digest[..8]))
}

/// One `Last-Modified` per generation, a second apart.
fn last_modified(generation: u64) -> String {
    let (minutes, seconds) = (generation / 60 % 60, generation % 60);
    format!("Wed, 01 May 2024 12:{minutes:02}:{seconds:02} GMT")
}

async fn answer(
    State(books): State<Arc<Mutex<Books>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let text = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let path = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_string(), ToString::to_string);
    let mut seen = Seen {
        method: method.to_string(),
        path: path.clone(),
        authorization: text(header::AUTHORIZATION),
        if_none_match: text(header::IF_NONE_MATCH),
        if_modified_since: text(header::IF_MODIFIED_SINCE),
        status: 200,
    };
    let mut books = books.lock().expect("books");
    let generation = books.generation;
    let response = if method == Method::GET || method == Method::HEAD {
        let (etag, modified) = (etag(&path, generation), last_modified(generation));
        let not_modified = match &seen.if_none_match {
            Some(tag) => *tag == etag,
            None => seen.if_modified_since.as_deref() == Some(modified.as_str()),
        };
        let validators = [
            (
                header::CONTENT_TYPE,
                "application/json; charset=utf-8".into(),
            ),
            (header::ETAG, etag),
            (header::LAST_MODIFIED, modified),
        ];
        if not_modified {
            seen.status = 304;
            (StatusCode::NOT_MODIFIED, validators).into_response()
        } else {
            (StatusCode::OK, validators, body(&path, generation)).into_response()
        }
    } else {
        books.generation += 1;
        let status = match method {
            Method::POST => StatusCode::CREATED,
            Method::DELETE => StatusCode::NO_CONTENT,
            _ => StatusCode::OK,
        };
        seen.status = status.as_u16();
        let headers = [(header::CONTENT_TYPE, "application/json; charset=utf-8")];
        if status == StatusCode::NO_CONTENT {
            (status, headers).into_response()
        } else {
            (status, headers, r#"{"ok":true}"#).into_response()
        }
    };
    books.seen.push(seen);
    response
}

/// How a node joins the test fleet.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// `GHMESH_FLEET_SECRET`.
    pub secret: String,
    /// `CACHE_BOOTSTRAP_PEERS` (empty: unset).
    pub bootstrap: Vec<String>,
    /// `GHMESH_P2P_MDNS`.
    pub mdns: bool,
    /// `GHMESH_P2P_LISTEN`.
    pub listen: String,
    /// `GHMESH_P2P_KADEMLIA`: content routing through provider records.
    pub kademlia: bool,
}

impl NodeConfig {
    /// A loopback node of the fleet `secret`, without mDNS, dialling `bootstrap`.
    pub fn loopback(secret: &str, bootstrap: &[String]) -> Self {
        Self {
            secret: secret.to_string(),
            bootstrap: bootstrap.to_vec(),
            mdns: false,
            listen: "/ip4/127.0.0.1/tcp/0".into(),
            kademlia: true,
        }
    }

    /// The environment `ghmesh serve` reads these settings from.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("ENABLE_P2P_CACHE".to_string(), "true".to_string()),
            ("GHMESH_FLEET_SECRET".into(), self.secret.clone()),
            ("GHMESH_P2P_LISTEN".into(), self.listen.clone()),
            ("GHMESH_P2P_MDNS".into(), self.mdns.to_string()),
            ("GHMESH_P2P_KADEMLIA".into(), self.kademlia.to_string()),
        ];
        if !self.bootstrap.is_empty() {
            env.push(("CACHE_BOOTSTRAP_PEERS".into(), self.bootstrap.join(",")));
        }
        // Logs on demand when a mesh test fails: `GHMESH_LOG=ghmesh::mesh=debug cargo test ...`.
        if let Ok(filter) = std::env::var("GHMESH_LOG") {
            env.push(("GHMESH_LOG".into(), filter));
        }
        env
    }
}

/// A sandbox whose `p2p-config.yml` lowers PBKDF2 to [`ITERATIONS`].
pub fn mesh_sandbox() -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.write_config(
        "p2p-config.yml",
        &format!("security:\n  encryption:\n    key_derivation:\n      iterations: {ITERATIONS}\n"),
    );
    sandbox
}

/// A `ghmesh serve` in the fleet, with its sandbox (cache, node key, known peers).
pub struct MeshNode {
    /// The sandbox; kept across restarts.
    pub sandbox: Sandbox,
    /// The running process.
    pub serve: Serve,
}

impl MeshNode {
    /// Starts a node in a new sandbox.
    pub fn start(upstream: &str, config: &NodeConfig) -> Self {
        let sandbox = mesh_sandbox();
        let serve = start_serve(&sandbox, upstream, config);
        Self { sandbox, serve }
    }

    /// Its mesh address (`/ip4/.../p2p/ID`), to give other nodes as a bootstrap peer.
    pub fn mesh_addr(&self) -> String {
        self.serve
            .mesh_addr
            .clone()
            .expect("node printed its mesh address")
    }

    /// `/_ghmesh/stats`.
    pub fn stats(&self) -> Value {
        json_at(&self.serve.url, "/_ghmesh/stats")
    }

    /// `/_ghmesh/peers`.
    pub fn peers(&self) -> Value {
        json_at(&self.serve.url, "/_ghmesh/peers")
    }

    /// `connected_peers` from the stats.
    pub fn connected_peers(&self) -> u64 {
        self.stats()["connected_peers"].as_u64().unwrap_or(0)
    }

    /// Waits until the node has at least `n` connected peers (the DHT may introduce more than
    /// the ones it was given).
    pub fn wait_connected(&self, n: u64) {
        wait_for(
            &format!("{} to connect to {n} peers", self.serve.url),
            || self.connected_peers() >= n,
        );
    }

    /// GET `path` with the fixture token.
    pub fn get(&self, path: &str) -> Exchange {
        get(&format!("{}{path}", self.serve.url), FIXTURE_TOKEN)
    }
}

/// Starts `ghmesh serve` in `sandbox` with the mesh settings of `config`.
pub fn start_serve(sandbox: &Sandbox, upstream: &str, config: &NodeConfig) -> Serve {
    let env = config.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Serve::start_with_env(sandbox, upstream, &[], &env)
}

/// `n` loopback nodes of the fleet `secret`, each bootstrapping to every node started before it,
/// so that every pair is connected; returns once they are.
pub fn start_fleet(upstream: &str, secret: &str, n: usize) -> Vec<MeshNode> {
    let mut nodes: Vec<MeshNode> = Vec::new();
    for _ in 0..n {
        let bootstrap: Vec<String> = nodes.iter().map(MeshNode::mesh_addr).collect();
        nodes.push(MeshNode::start(
            upstream,
            &NodeConfig::loopback(secret, &bootstrap),
        ));
    }
    for node in &nodes {
        node.wait_connected(n as u64 - 1);
    }
    nodes
}

/// GETs `path` of a JSON endpoint on `base`.
pub fn json_at(base: &str, path: &str) -> Value {
    let exchange = get(&format!("{base}{path}"), FIXTURE_TOKEN);
    serde_json::from_str(&exchange.body)
        .unwrap_or_else(|e| panic!("{base}{path} is not JSON ({e}): {:?}", exchange.body))
}

/// GET `url` through curl with `Authorization: <authorization>`.
pub fn get(url: &str, authorization: &str) -> Exchange {
    curl_in(&[], url, authorization)
}

/// GET `url` through curl run under `prefix` (e.g. `ip netns exec NS`).
pub fn curl_in(prefix: &[&str], url: &str, authorization: &str) -> Exchange {
    let (program, prefix_args) = match prefix.split_first() {
        Some((program, rest)) => (*program, rest),
        None => ("curl", &[][..]),
    };
    let mut command = Command::new(program);
    if !prefix.is_empty() {
        command.args(prefix_args).arg("curl");
    }
    let output = command
        .args(["-s", "-i", "--max-time", "30", "-H"])
        .arg(format!("Authorization: {authorization}"))
        .arg("-H")
        .arg(format!("Accept: {FIXTURE_ACCEPT}"))
        .arg(url)
        .output()
        .expect("curl");
    Exchange::parse(&output.stdout)
}

/// How long [`wait_for`] waits.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Polls `condition` every 100 ms until it holds; panics naming `what` after [`DEADLINE`].
pub fn wait_for(what: &str, condition: impl FnMut() -> bool) {
    wait_or_explain(what, condition, String::new);
}

/// [`wait_for`], adding what `explain` says (e.g. both nodes' peer books) to the panic message.
pub fn wait_or_explain(
    what: &str,
    mut condition: impl FnMut() -> bool,
    explain: impl FnOnce() -> String,
) {
    let deadline = Instant::now() + DEADLINE;
    while !condition() {
        if Instant::now() >= deadline {
            panic!(
                "timed out after {DEADLINE:?} waiting for {what}\n{}",
                explain()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The misbehaving peer (`ghmesh-test-peer`), killed when dropped.
pub struct TestPeer {
    /// Its address (`/ip4/.../p2p/ID`).
    pub addr: String,
    /// Its peer id.
    pub peer_id: String,
    _process: Running,
}

impl TestPeer {
    /// Starts `bin` (the test passes `env!("CARGO_BIN_EXE_ghmesh-test-peer")`) with `args`
    /// (its mode first), in the fleet `secret`, dialling `dial`; returns once it listens.
    pub fn start(bin: &str, args: &[&str], secret: &str, dial: &str) -> Self {
        let mut child = Command::new(bin)
            .args(args)
            .args(["--dial", dial, "--iterations", &ITERATIONS.to_string()])
            .env("GHMESH_FLEET_SECRET", secret)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start ghmesh-test-peer");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("test peer address");
        let addr = line.trim().to_string();
        let peer_id = addr
            .rsplit_once("/p2p/")
            .unwrap_or_else(|| panic!("test peer printed no address: {line:?}"))
            .1
            .to_string();
        Self {
            addr,
            peer_id,
            _process: Running::new(child),
        }
    }
}

/// The entry of `peer_id` in a `/_ghmesh/peers` document.
pub fn peer_entry(peers: &Value, peer_id: &str) -> Option<Value> {
    peers["peers"]
        .as_array()?
        .iter()
        .find(|p| p["peer_id"] == peer_id)
        .cloned()
}

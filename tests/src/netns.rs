//! Network namespaces built by a test: namespaces, veth links, bridges, routes, NAT routers, and
//! `ghmesh serve` run inside them. Everything made is removed when the [`Lab`] is dropped, even
//! when the test fails. Needs root and iproute2 (and iptables for NAT); `GHMESH_SKIP_NETNS=1`
//! skips such tests, loudly, where that is impossible.

use crate::fleet::{NodeConfig, curl_in, mesh_sandbox};
use crate::rig::{Exchange, FIXTURE_TOKEN, Serve};
use crate::{Sandbox, ghmesh_bin};
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

/// Runs `program args`, panicking with its error output on failure.
pub fn run(program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs `ip args`.
pub fn ip(args: &[&str]) {
    run("ip", args);
}

/// Why namespaces (and, with `nat`, iptables) cannot be used here, if they cannot.
fn unavailable(nat: bool) -> Option<String> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root {
        return Some("it must run as root to create network namespaces".into());
    }
    let works = |program: &str, arg: &str| {
        Command::new(program)
            .arg(arg)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !works("ip", "-V") {
        return Some("`ip` (iproute2) is not installed".into());
    }
    if nat && !works("iptables", "-V") {
        return Some("`iptables` is not installed".into());
    }
    // Root without CAP_NET_ADMIN (an unprivileged container) cannot either.
    let probe = format!("ghp{}", std::process::id() % 100_000);
    match Command::new("ip").args(["netns", "add", &probe]).output() {
        Ok(made) if made.status.success() => {
            let _ = Command::new("ip").args(["netns", "del", &probe]).status();
            None
        }
        Ok(made) => Some(format!(
            "`ip netns add` failed: {}",
            String::from_utf8_lossy(&made.stderr).trim()
        )),
        Err(e) => Some(format!("`ip netns add` did not run: {e}")),
    }
}

/// Whether `test` can build namespaces (and NAT routers, with `nat`). `false` only when the
/// environment says to skip; a machine that cannot run it otherwise fails it with the reason.
pub fn available(test: &str, nat: bool) -> bool {
    let Some(missing) = unavailable(nat) else {
        return true;
    };
    if std::env::var("GHMESH_SKIP_NETNS").as_deref() == Ok("1") {
        eprintln!("SKIPPED {test}: {missing} (GHMESH_SKIP_NETNS=1)");
        return false;
    }
    panic!(
        "{test} cannot run: {missing}; run the system tests as root with iproute2 and iptables, \
         or set GHMESH_SKIP_NETNS=1 to skip it knowingly"
    );
}

/// Namespaces and the links made into the host namespace, removed on drop.
pub struct Lab {
    prefix: String,
    spaces: Vec<String>,
    host_links: Vec<String>,
}

impl Lab {
    /// An empty lab whose names start with `tag` and this process's id (names stay short:
    /// interface names stop at 15 bytes).
    pub fn new(tag: &str) -> Self {
        Self {
            prefix: format!("{tag}{}", std::process::id() % 100_000),
            spaces: Vec::new(),
            host_links: Vec::new(),
        }
    }

    /// Adds namespace `<prefix><name>` with its loopback up; returns its name.
    pub fn space(&mut self, name: &str) -> String {
        let space = format!("{}{name}", self.prefix);
        ip(&["netns", "add", &space]);
        self.spaces.push(space.clone());
        ip(&["-n", &space, "link", "set", "lo", "up"]);
        space
    }

    /// A veth pair between `a` and `b` (`None`: the host namespace), with addresses in CIDR
    /// form, both ends up. Returns the interface names.
    pub fn link(
        &mut self,
        name: &str,
        (a, a_addr): (Option<&str>, &str),
        (b, b_addr): (Option<&str>, &str),
    ) -> (String, String) {
        let (a_if, b_if) = (
            format!("{}{name}a", self.prefix),
            format!("{}{name}b", self.prefix),
        );
        ip(&["link", "add", &a_if, "type", "veth", "peer", "name", &b_if]);
        for (space, link, addr) in [(a, &a_if, a_addr), (b, &b_if, b_addr)] {
            match space {
                Some(space) => {
                    ip(&["link", "set", link, "netns", space]);
                    if !addr.is_empty() {
                        ip(&["-n", space, "addr", "add", addr, "dev", link]);
                    }
                    ip(&["-n", space, "link", "set", link, "up"]);
                }
                None => {
                    self.host_links.push(link.clone());
                    if !addr.is_empty() {
                        ip(&["addr", "add", addr, "dev", link]);
                    }
                    ip(&["link", "set", link, "up"]);
                }
            }
        }
        (a_if, b_if)
    }

    /// Runs `program args` inside `space`.
    pub fn exec(&self, space: &str, program: &str, args: &[&str]) {
        let mut full = vec!["netns", "exec", space, program];
        full.extend_from_slice(args);
        ip(&full);
    }

    /// Makes `space` a NAT router: forwards, masquerades what leaves by `wan`, and drops what
    /// arrives by `wan` for itself or unasked (as home and cloud NAT gateways do; a dropped,
    /// not refused, SYN keeps a hole-punch attempt alive).
    pub fn nat_router(&self, space: &str, wan: &str) {
        self.exec(space, "sysctl", &["-qw", "net.ipv4.ip_forward=1"]);
        let rules: [&[&str]; 4] = [
            &[
                "-t",
                "nat",
                "-A",
                "POSTROUTING",
                "-o",
                wan,
                "-j",
                "MASQUERADE",
            ],
            &[
                "-A",
                "FORWARD",
                "-i",
                wan,
                "-m",
                "conntrack",
                "--ctstate",
                "ESTABLISHED,RELATED",
                "-j",
                "ACCEPT",
            ],
            &["-A", "FORWARD", "-i", wan, "-j", "DROP"],
            &[
                "-A",
                "INPUT",
                "-i",
                wan,
                "-m",
                "conntrack",
                "--ctstate",
                "NEW,INVALID",
                "-j",
                "DROP",
            ],
        ];
        for rule in rules {
            self.exec(space, "iptables", rule);
        }
    }

    /// `ghmesh serve` in `space` (HTTP on its loopback) with extra args and variables, in a new
    /// mesh sandbox (returned: it holds the node key, for a restart as the same peer).
    pub fn serve(
        &self,
        space: &str,
        upstream: &str,
        config: &NodeConfig,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> (Serve, Sandbox) {
        let sandbox = mesh_sandbox();
        let serve = self.serve_in(&sandbox, space, upstream, config, args, env);
        (serve, sandbox)
    }

    /// [`Lab::serve`] in an existing sandbox.
    pub fn serve_in(
        &self,
        sandbox: &Sandbox,
        space: &str,
        upstream: &str,
        config: &NodeConfig,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Serve {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", space])
            .arg(ghmesh_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--upstream", upstream])
            .args(args)
            .current_dir(sandbox.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", sandbox.dir.path())
            .env("CACHE_DIR", sandbox.path("cache"))
            .envs(config.env())
            .envs(env.iter().copied());
        Serve::launch(command)
    }

    /// GET `url` through curl inside `space`, with the fixture token.
    pub fn get(&self, space: &str, url: &str) -> Exchange {
        curl_in(&["ip", "netns", "exec", space], url, FIXTURE_TOKEN)
    }

    /// The JSON at `path` of the node serving `serve` in `space` (`Null` when unreadable).
    pub fn json(&self, space: &str, serve: &Serve, path: &str) -> Value {
        let body = self.get(space, &format!("{}{path}", serve.url)).body;
        serde_json::from_str(&body).unwrap_or(Value::Null)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for space in &self.spaces {
            let _ = Command::new("ip").args(["netns", "del", space]).status();
        }
        // Gone with their peers' namespaces already, unless those were never made.
        for link in &self.host_links {
            let _ = Command::new("ip")
                .args(["link", "del", link])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// Polls `condition` every 200 ms for up to `within`; panics naming `what`, with what
/// `explain` says, when it never holds.
pub fn wait_within(
    what: &str,
    within: Duration,
    mut condition: impl FnMut() -> bool,
    explain: impl FnOnce() -> String,
) {
    let deadline = Instant::now() + within;
    while !condition() {
        if Instant::now() >= deadline {
            panic!(
                "timed out after {within:?} waiting for {what}\n{}",
                explain()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

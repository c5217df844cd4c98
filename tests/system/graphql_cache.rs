//! `POST /graphql` through `ghmesh serve`: queries are cached per token under a digest of the
//! request body (query + variables), mutations pass through every time. The upstream here counts
//! what reaches it and answers with the request it saw, so a served body tells which request
//! fetched it.

use ghmesh_system_tests::Sandbox;
use ghmesh_system_tests::rig::Serve;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};

/// A request as the upstream saw it.
#[derive(Debug, Clone)]
struct Seen {
    authorization: String,
    body: String,
}

/// A GraphQL endpoint that records every request and answers
/// `{"data": {"n": <request number>, "body": <request body>}}`.
struct GraphqlUpstream {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl GraphqlUpstream {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = log.clone();
                std::thread::spawn(move || answer(stream, &log));
            }
        });
        Self { url, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn answer(stream: TcpStream, log: &Mutex<Vec<Seen>>) {
    let mut reader = BufReader::new(&stream);
    let (mut line, mut length, mut authorization) = (String::new(), 0, String::new());
    if reader.read_line(&mut line).is_err() {
        return;
    }
    loop {
        line.clear();
        if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap_or((&line, ""));
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().unwrap_or(0),
            "authorization" => authorization = value.trim().to_string(),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let body = String::from_utf8_lossy(&body).into_owned();
    let n = {
        let mut log = log.lock().unwrap();
        log.push(Seen {
            authorization,
            body: body.clone(),
        });
        log.len()
    };
    let reply = serde_json::json!({ "data": { "n": n, "body": body } }).to_string();
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\n\
         cache-control: private, max-age=60, s-maxage=60\r\netag: \"gql-{n}\"\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{reply}",
        reply.len()
    );
    let _ = (&stream).write_all(response.as_bytes());
}

/// What the proxy answered.
struct Answer {
    status: u16,
    x_cache: String,
    body: serde_json::Value,
}

/// POSTs `body` to `{serve}/graphql` with `token`.
fn post(serve: &Serve, token: &str, body: &serde_json::Value) -> Answer {
    let output = Command::new("curl")
        .args([
            "-s",
            "-i",
            "-X",
            "POST",
            "-H",
            "content-type: application/json",
        ])
        .arg("-H")
        .arg(format!("Authorization: bearer {token}"))
        .arg("-d")
        .arg(body.to_string())
        .arg(format!("{}/graphql", serve.url))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&output.stdout).replace("\r\n", "\n");
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let x_cache = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.eq_ignore_ascii_case("x-cache"))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    Answer {
        status,
        x_cache,
        body: serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    }
}

const VIEWER: &str =
    "query($first: Int!) { viewer { login repositories(first: $first) { nodes { name } } } }";

fn query(first: u32) -> serde_json::Value {
    serde_json::json!({ "query": VIEWER, "variables": { "first": first } })
}

#[test]
fn the_same_query_twice_is_a_hit_and_upstream_sees_it_once() {
    let upstream = GraphqlUpstream::start();
    let sandbox = Sandbox::new();
    let serve = Serve::start(&sandbox, &upstream.url, &[]);

    let first = post(&serve, "alice", &query(5));
    assert_eq!(
        (first.status, first.x_cache.as_str()),
        (200, "MISS"),
        "{}",
        first.body
    );
    let second = post(&serve, "alice", &query(5));
    assert_eq!((second.status, second.x_cache.as_str()), (200, "HIT"));
    assert_eq!(second.body, first.body, "the hit replays the stored answer");
    assert_eq!(upstream.seen().len(), 1);
}

#[test]
fn different_variables_are_a_different_entry() {
    let upstream = GraphqlUpstream::start();
    let sandbox = Sandbox::new();
    let serve = Serve::start(&sandbox, &upstream.url, &[]);

    assert_eq!(post(&serve, "alice", &query(5)).x_cache, "MISS");
    let other = post(&serve, "alice", &query(10));
    assert_eq!(other.x_cache, "MISS", "variables are part of the key");
    assert_eq!(other.body["data"]["n"], 2, "{}", other.body);
    assert_eq!(post(&serve, "alice", &query(10)).x_cache, "HIT");
    let seen = upstream.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen[1].body.contains("\"first\":10"), "{:?}", seen[1]);
}

#[test]
fn a_mutation_is_never_cached_and_always_reaches_upstream() {
    let upstream = GraphqlUpstream::start();
    let sandbox = Sandbox::new();
    let serve = Serve::start(&sandbox, &upstream.url, &[]);
    let star = serde_json::json!({
        "query": "mutation($id: ID!) { addStar(input: {starrableId: $id}) { clientMutationId } }",
        "variables": { "id": "R_1" },
    });
    for expected in 1..=2 {
        let answer = post(&serve, "alice", &star);
        assert_eq!((answer.status, answer.x_cache.as_str()), (200, "BYPASS"));
        assert_eq!(answer.body["data"]["n"], expected, "{}", answer.body);
    }
    let seen = upstream.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| s.body.contains("addStar")), "{seen:?}");
}

#[test]
fn another_token_is_not_served_from_the_first_tokens_entry() {
    let upstream = GraphqlUpstream::start();
    let sandbox = Sandbox::new();
    let serve = Serve::start(&sandbox, &upstream.url, &[]);

    let alice = post(&serve, "alice", &query(5));
    assert_eq!(alice.x_cache, "MISS");
    let bob = post(&serve, "bob", &query(5));
    assert_eq!(
        bob.x_cache, "MISS",
        "GraphQL answers depend on the caller (share scope token)"
    );
    assert_eq!(
        bob.body["data"]["n"], 2,
        "bob got his own answer: {}",
        bob.body
    );
    assert_eq!(post(&serve, "bob", &query(5)).x_cache, "HIT");
    assert_eq!(post(&serve, "alice", &query(5)).body, alice.body);
    let seen = upstream.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].authorization, "bearer alice");
    assert_eq!(
        seen[1].authorization, "bearer bob",
        "bob's request went with bob's token"
    );
}

//! Bad input gets a clear error status and the daemon keeps serving: malformed requests,
//! oversized headers, foreign hosts, and an upstream that sends garbage or hangs.

use ghmesh_system_tests::Sandbox;
use ghmesh_system_tests::rig::{EchoUpstream, Serve, curl};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// Sends raw bytes and returns the status code of the answer (0 when the connection closed
/// without one).
fn raw(serve: &Serve, bytes: &[u8]) -> u16 {
    let address = serve.url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = stream.write_all(bytes);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn still_serving(serve: &Serve) {
    let health = curl(&format!("{}/_ghmesh/health", serve.url), &[]);
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));
}

#[test]
fn malformed_requests_get_4xx_and_the_daemon_survives() {
    let upstream = EchoUpstream::start();
    let sandbox = Sandbox::new();
    let serve = Serve::start(&sandbox, &upstream.url, &[]);

    assert_eq!(raw(&serve, b"GARBAGE\r\n\r\n"), 400);
    assert_eq!(
        raw(
            &serve,
            b"GET /repos/o/r HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n"
        ),
        400
    );
    let traversal = curl(
        &format!("{}/repos/../../etc/passwd", serve.url),
        &["--path-as-is"],
    );
    assert_eq!(traversal.status, 400, "{}", traversal.body);
    assert!(traversal.body.contains("malformed request target"));

    let huge = format!(
        "GET /repos/o/r HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let status = raw(&serve, huge.as_bytes());
    assert!(
        status == 431 || status == 400 || status == 0,
        "oversized headers answered {status}"
    );

    let connect = raw(
        &serve,
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    );
    assert_eq!(connect, 405);
    still_serving(&serve);
}

#[test]
fn upstream_garbage_is_a_502() {
    let garbage = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", garbage.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut stream in garbage.incoming().flatten() {
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer);
            let _ = stream.write_all(b"this is not http\r\n\r\n");
        }
    });
    let sandbox = Sandbox::new();
    let serve = Serve::start(&sandbox, &url, &[]);
    let answer = curl(&format!("{}/repos/o/r", serve.url), &[]);
    assert_eq!(answer.status, 502, "{}", answer.body);
    assert!(
        answer.body.contains("upstream request failed"),
        "{}",
        answer.body
    );
    still_serving(&serve);
}

#[test]
fn a_hanging_upstream_is_cut_off_with_a_504() {
    let hang = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", hang.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in hang.incoming().flatten() {
            held.push(stream); // accept, read nothing, answer nothing
        }
    });
    let sandbox = Sandbox::new();
    let serve = Serve::start(&sandbox, &url, &["--upstream-timeout", "1"]);
    let started = Instant::now();
    let answer = curl(&format!("{}/repos/o/r", serve.url), &["--max-time", "20"]);
    assert_eq!(answer.status, 504, "{}", answer.body);
    assert!(answer.body.contains("did not answer"), "{}", answer.body);
    eprintln!("hanging upstream cut off after {:?}", started.elapsed());
    still_serving(&serve);
}

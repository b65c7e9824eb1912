//! signal against a real mediad: status API, mediad restart (signal re-connects and
//! re-reads what exists), and the all-in-one mode that starts its own mediad.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use system_tests::{bin, Mediad, Proc, TempDir};

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// GET `path`; returns (status, body). None while nothing listens.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, text.split("\r\n\r\n").nth(1).unwrap_or("").to_string()))
}

fn wait_status(port: u16, path: &str, want: u16) -> String {
    let end = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some((s, body)) = get(port, path) {
            if s == want {
                return body;
            }
        }
        assert!(Instant::now() < end, "{path} never answered {want}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn status_survives_a_mediad_restart() {
    let m = Mediad::start(1, "epoll", &[]);
    m.client().room_create(Some("before")).unwrap();
    let port = free_tcp_port();
    let _signal = Proc::spawn(
        "signal",
        Command::new(bin("signal"))
            .arg("--mediad-socket")
            .arg(&m.socket)
            .args(["--http", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let body = wait_status(port, "/api/v1/status", 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["connected"], true);
    assert_eq!(v["rooms"][0]["room"], "before");
    let page = wait_status(port, "/status", 200);
    assert!(page.contains("Media plane status"));
    let page = wait_status(port, "/c/4242", 200);
    assert!(page.contains("Conference ID") && page.contains("/app.js"), "{page}");

    // mediad goes away: signal reports it, and stays up.
    let socket = m.socket.clone();
    let ports = format!("{}-{}", m.ports.0, m.ports.1);
    drop(m);
    wait_status(port, "/healthz", 503);

    // A new mediad on the same socket: signal re-connects and sees the new state.
    let log = TempDir::new("restart");
    let _m2 = Proc::spawn(
        "mediad",
        Command::new(bin("mediad"))
            .args(["--workers", "1", "--metrics", "off", "--no-pin", "--rtp-ports", &ports])
            .arg("--control-socket")
            .arg(&socket)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log.path("m.log")).unwrap()),
    );
    let body = wait_status(port, "/api/v1/status", 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["rooms"].as_array().unwrap().len(), 0, "fresh daemon, fresh state: {v}");
}

#[test]
fn all_in_one_mode_starts_and_stops_its_own_mediad() {
    let port = free_tcp_port();
    let (lo, hi) = system_tests::port_block();
    let mut signal = Proc::spawn(
        "signal",
        Command::new(bin("signal"))
            .args(["--http", &format!("127.0.0.1:{port}")])
            .arg("--spawn-mediad")
            .arg(bin("mediad"))
            .args(["--mediad-args", "--workers", "2", "--no-pin", "--metrics", "off", "--rtp-ports", &format!("{lo}-{hi}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let body = wait_status(port, "/api/v1/status", 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["stats"]["workers"].as_array().unwrap().len(), 2);
    signal.signal(libc::SIGTERM);
    let st = signal.wait_timeout(Duration::from_secs(10)).expect("signal exits on SIGTERM");
    assert!(st.success());
    let mut out = String::new();
    signal.child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(out.contains(&format!("http://127.0.0.1:{port}/")), "prints where to point a browser:\n{out}");
    // Its mediad is gone with it: the runtime directory was removed.
    let pid = signal.pid();
    assert!(!std::path::Path::new(&format!("/tmp/mediad-dev-{pid}")).exists());
}

#[test]
fn https_and_hostile_http_requests() {
    let m = Mediad::start(1, "epoll", &[]);
    let (port, tls_port) = (free_tcp_port(), free_tcp_port());
    let _signal = Proc::spawn(
        "signal",
        Command::new(bin("signal"))
            .arg("--mediad-socket")
            .arg(&m.socket)
            .args(["--http", &format!("127.0.0.1:{port}"), "--https", &format!("127.0.0.1:{tls_port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_status(port, "/healthz", 200);
    // HTTPS with the generated certificate (curl checks nothing here: -k), and the
    // certificate is for localhost.
    let out = Command::new("curl").args(["-sk", "-v", &format!("https://127.0.0.1:{tls_port}/c/7")]).output().expect("curl");
    let (body, log) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && body.contains("Conference ID"), "{log}");
    assert!(log.contains("CN=localhost"), "{log}");
    // Hostile requests get an error status and leave the server serving.
    for bad in ["POST /ws HTTP/1.1\r\n\r\n", "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n", "\x00\x01garbage\r\n\r\n", "GET /nope HTTP/1.1\r\n\r\n"] {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(bad.as_bytes()).unwrap();
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        let status: u16 = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        assert!((400..500).contains(&status), "{bad:?} → {text}");
    }
    // A request head that never ends is cut at 16 KiB.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(40_000)).as_bytes());
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    assert!(text.starts_with("HTTP/1.1 431"), "{text}");
    wait_status(port, "/healthz", 200);
}

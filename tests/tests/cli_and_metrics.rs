//! The operator's tools: mediactl (one op, printed answer, exit codes) and the
//! Prometheus endpoint (live counters per core and per leg).

use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;
use system_tests::{bin, Mediad};

fn mediactl(m: &Mediad, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin("mediactl")).arg("--socket").arg(&m.socket).args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn mediactl_sends_one_op_and_prints_the_answer() {
    let m = Mediad::start(1, "epoll", &[]);
    let (code, out, _) = mediactl(&m, &["room.create", "room=demo"]);
    assert_eq!(code, 0);
    assert!(out.contains("\"room\": \"demo\""), "{out}");
    let (code, out, _) = mediactl(&m, &["leg.create", "media=video", "rtcp_mux=true", "room=demo", "remote=127.0.0.1:5004"]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["media"], "video");
    assert_eq!(v["rtcp_mux"], true);
    assert_eq!(v["rtp_port"], v["rtcp_port"]);
    // A daemon error: printed on stderr with its code, exit status 1.
    let (code, _, err) = mediactl(&m, &["leg.delete", "leg=999999"]);
    assert_eq!(code, 1);
    assert!(err.contains("no_such_leg"), "{err}");
    // A malformed field never reaches the daemon: exit status 2.
    let (code, _, err) = mediactl(&m, &["leg.create", "media"]);
    assert_eq!(code, 2, "{err}");
    let (code, out, _) = mediactl(&m, &["--raw", r#"{"id":77,"op":"room.list"}"#]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((v["id"].as_u64(), &v["ok"][0]["room"]), (Some(77), &serde_json::json!("demo")), "{out}");
}

#[test]
fn metrics_endpoint_serves_live_counters() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let m = Mediad::start(1, "epoll", &["--metrics", &format!("127.0.0.1:{port}")]);
    let mut c = m.client();
    c.room_create(Some("m")).unwrap();
    let leg = c.leg_create(control::LegCreate { room: Some("m".into()), label: Some("alice".into()), ..Default::default() }).unwrap();
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    tx.send_to(&[0x80, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xaa], ("127.0.0.1", leg.rtp_port)).unwrap();
    tx.send_to(b"\x00junk", ("127.0.0.1", leg.rtp_port)).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200") || text.starts_with("HTTP/1.0 200"), "{text}");
    let line = |name: &str| text.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} missing:\n{text}")).to_string();
    assert!(line("mediad_core_rx_packets_total{core=\"0\"}").ends_with(" 2"));
    assert!(line("mediad_core_malformed_total{core=\"0\"}").ends_with(" 1"));
    let rx = line(&format!("mediad_leg_rx_packets_total{{leg=\"{}\"", leg.leg));
    assert!(rx.contains("label=\"alice\"") && rx.contains("room=\"m\"") && rx.ends_with(" 1"), "{rx}");
    assert!(line("mediad_rooms ").ends_with(" 1"));
}

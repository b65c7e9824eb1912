//! A WebRTC client that may only use relay candidates connects through mediad's TURN:
//! two aiortc peers (ICE, DTLS, SCTP data channel), iceTransportPolicy=relay.

use std::process::Command;
use system_tests::{free_udp_port, port_block, Mediad};

fn python() -> std::path::PathBuf {
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/peers-venv/bin/python3");
    if venv.exists() { venv } else { "python3".into() }
}

#[test]
fn aiortc_relay_only_peers_connect_through_turn() {
    let port = free_udp_port();
    let (lo, hi) = port_block();
    let m = Mediad::start(
        2,
        "epoll",
        &["--turn-no-tls", "--turn-no-tcp", "--turn-port", &port.to_string(), "--turn-user", "web:rtc", "--turn-allow-loopback-peers",
          "--turn-relay-ports", &format!("{}-{hi}", lo + 100), "--rtp-ports", &format!("{lo}-{}", lo + 99)],
    );
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/webrtc_relay_only.py");
    let out = Command::new("timeout")
        .args(["-s", "KILL", "90"])
        .arg(python())
        .arg(script)
        .args([&port.to_string(), "web", "rtc", "200"])
        .output()
        .expect("python3 with aiortc (scripts/setup.sh --test installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "aiortc peers failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap();
    assert_eq!(v["messages"], 200, "{v}");
    assert_eq!(v["in_order"], true, "{v}");
    assert_eq!((v["local_type"].as_str(), v["remote_type"].as_str()), (Some("relay"), Some("relay")), "{v}");
    let d = m.client().daemon_stats().unwrap();
    let allocations: u64 = d.workers.iter().map(|w| w.turn.allocations_total).sum();
    let relayed: u64 = d.workers.iter().map(|w| w.turn.relayed_to_peer).sum();
    // Packets, not messages: SCTP bundles a burst of small messages (one run counted 343
    // for 200 messages each way), so the floor is the handshakes plus a few full
    // packets; without the relay it would be about 0.
    let both_ways = d.workers.iter().filter(|w| w.turn.allocations_total > 0).all(|w| w.turn.relayed_to_peer > 0 && w.turn.relayed_from_peer > 0);
    assert!(allocations >= 2 && relayed >= 50 && both_ways, "both peers allocated and the traffic went through: {d:?}");
}

//! TURN over TCP against hostile and minimal clients (raw sockets, no TURN library):
//! a Binding over TCP is answered with the client's TCP address; bytes that are neither
//! STUN nor ChannelData close that connection only, counted; a TLS port fed plain text
//! counts a handshake failure; the server keeps serving everyone else.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use system_tests::{free_tcp_port, free_udp_tcp_port, port_block, Mediad};

fn binding(txid: u8) -> Vec<u8> {
    let mut m = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    m.extend([txid; 12]);
    m
}

/// Read one STUN message from the stream (header, then its length).
fn read_message(s: &mut TcpStream) -> Vec<u8> {
    let mut h = [0u8; 20];
    s.read_exact(&mut h).expect("a STUN answer");
    let mut body = vec![0u8; u16::from_be_bytes([h[2], h[3]]) as usize];
    s.read_exact(&mut body).unwrap();
    [h.to_vec(), body].concat()
}

/// The XOR-MAPPED-ADDRESS of a Binding success (IPv4).
fn mapped(m: &[u8]) -> SocketAddr {
    let mut at = 20;
    while at + 4 <= m.len() {
        let (t, l) = (u16::from_be_bytes([m[at], m[at + 1]]), u16::from_be_bytes([m[at + 2], m[at + 3]]) as usize);
        if t == 0x0020 {
            let v = &m[at + 4..at + 4 + l];
            let port = u16::from_be_bytes([v[2], v[3]]) ^ 0x2112;
            let ip = [v[4] ^ 0x21, v[5] ^ 0x12, v[6] ^ 0xa4, v[7] ^ 0x42];
            return SocketAddr::from((ip, port));
        }
        at += 4 + ((l + 3) & !3);
    }
    panic!("no XOR-MAPPED-ADDRESS in {m:?}");
}

fn connected(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

#[test]
fn tcp_binding_garbage_and_bad_tls_are_contained() {
    let (port, tls_port, metrics) = (free_udp_tcp_port(), free_tcp_port(), free_tcp_port());
    let (lo, hi) = port_block();
    let m = Mediad::start(
        1,
        "epoll",
        &[
            "--turn-port", &port.to_string(), "--turn-tls-port", &tls_port.to_string(), "--turn-user", "a:b",
            "--turn-unauth-rate", "0", "--metrics", &format!("127.0.0.1:{metrics}"),
            "--turn-relay-ports", &format!("{}-{hi}", lo + 100), "--rtp-ports", &format!("{lo}-{}", lo + 99),
        ],
    );
    // Two Bindings in one write, then one split across writes: framing, not segments.
    let mut good = connected(port);
    good.write_all(&[binding(1), binding(2)].concat()).unwrap();
    for id in [1, 2] {
        let a = read_message(&mut good);
        assert_eq!((&a[..2], a[8]), (&[0x01, 0x01][..], id), "Binding success for transaction {id}");
        assert_eq!(mapped(&a), good.local_addr().unwrap(), "the client's TCP address");
    }
    let b = binding(3);
    good.write_all(&b[..7]).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    good.write_all(&b[7..]).unwrap();
    assert_eq!(read_message(&mut good)[8], 3);

    // 5000 Bindings in one write (100 KB, more than one read's worth): every one is
    // answered, in order; nothing waits for more bytes to arrive.
    let burst: Vec<u8> = (0..5000u32).flat_map(|i| binding((i % 200) as u8 + 10)).collect();
    let mut writer = good.try_clone().unwrap();
    let w = std::thread::spawn(move || writer.write_all(&burst).unwrap());
    for i in 0..5000u32 {
        assert_eq!(read_message(&mut good)[8], (i % 200) as u8 + 10, "answer {i}");
    }
    w.join().unwrap();

    // Garbage: that connection is closed (EOF), counted as malformed.
    let mut bad = connected(port);
    bad.write_all(&[0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0]).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(bad.read(&mut buf).unwrap_or(0), 0, "closed by the server");
    // Plain text on the TLS port: a handshake failure, counted.
    let mut not_tls = connected(tls_port);
    not_tls.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let _ = not_tls.read(&mut buf);
    // A connection that sends half a message and goes away leaves nothing behind.
    let mut half = connected(port);
    half.write_all(&[0x00, 0x03, 0x00, 0x40]).unwrap();
    drop(half);

    // The first client is still served.
    good.write_all(&binding(4)).unwrap();
    assert_eq!(read_message(&mut good)[8], 4);
    std::thread::sleep(Duration::from_millis(300));
    let t = &m.client().daemon_stats().unwrap().workers[0].turn;
    assert_eq!((t.bindings, t.malformed, t.tls_failures), (5004, 1, 1), "{t:?}");
    assert_eq!(t.stream_connections, 1, "only the good connection is left: {t:?}");
    // The same counters on /metrics.
    let mut s = connected(metrics);
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    for want in [
        "mediad_turn_stream_connections{core=\"0\"} 1",
        "mediad_turn_tls_failures_total{core=\"0\"} 1",
        "mediad_turn_bindings_total{core=\"0\"} 5004",
    ] {
        assert!(text.lines().any(|l| l == want), "{want} missing:\n{text}");
    }
}

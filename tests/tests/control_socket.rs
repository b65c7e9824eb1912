//! The control protocol as a client sees it: clear error codes for bad requests,
//! quotas and exhaustion, and state that survives a client disconnect.

use control::{Client, ErrorCode, LegCreate, Op};
use serde_json::Value;
use system_tests::Mediad;

fn raw(c: &mut Client, line: &str) -> Value {
    serde_json::from_str(&c.raw(line).unwrap()).unwrap()
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or_else(|| panic!("expected an error: {v}"))
}

#[test]
fn bad_requests_get_clear_error_codes() {
    let m = Mediad::start(1, "epoll", &[]);
    let mut c = m.client();
    let v = raw(&mut c, "this is not json");
    assert_eq!((code(&v), &v["id"]), ("bad_request", &Value::Null));
    let v = raw(&mut c, r#"{"op":"leg.list"}"#);
    assert_eq!(code(&v), "bad_request");
    let v = raw(&mut c, r#"{"id":9,"op":"leg.teleport"}"#);
    assert_eq!((code(&v), v["id"].as_u64()), ("bad_request", Some(9)));
    assert!(v["error"]["message"].as_str().unwrap().contains("leg.teleport"));
    let v = raw(&mut c, r#"{"id":10,"op":"leg.create","media":"smell"}"#);
    assert_eq!((code(&v), v["id"].as_u64()), ("bad_request", Some(10)));
    let v = raw(&mut c, r#"{"id":11,"op":"leg.delete"}"#);
    assert_eq!(code(&v), "bad_request", "missing field");
    let v = raw(&mut c, r#"{"id":12,"op":"hello","version":99}"#);
    assert_eq!(code(&v), "version_mismatch");
    let v = raw(&mut c, r#"{"id":13,"op":"leg.delete","leg":424242}"#);
    assert_eq!(code(&v), "no_such_leg");
    let v = raw(&mut c, r#"{"id":14,"op":"room.attach","room":"nope","leg":1}"#);
    assert_eq!(code(&v), "no_such_leg");
    let leg = c.leg_create(LegCreate::default()).unwrap();
    let v = raw(&mut c, &format!(r#"{{"id":15,"op":"room.attach","room":"nope","leg":{}}}"#, leg.leg));
    assert_eq!(code(&v), "no_such_room");
    c.room_create(Some("a")).unwrap();
    c.room_create(Some("b")).unwrap();
    assert_eq!(c.room_create(Some("a")).unwrap_err().code(), Some(ErrorCode::RoomExists));
    c.room_attach("a", leg.leg).unwrap();
    c.room_attach("a", leg.leg).expect("attaching twice to the same room is idempotent");
    assert_eq!(c.room_attach("b", leg.leg).unwrap_err().code(), Some(ErrorCode::AlreadyAttached));
    let e = c.leg_create(LegCreate { core: Some(7), ..Default::default() }).unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Unsupported));
    let e = c.leg_create(LegCreate { family: control::Family::Ipv6, ..Default::default() }).unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Unsupported), "no bind6 configured");
    let e = c.leg_create(LegCreate { room: Some("zzz".into()), ..Default::default() }).unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::NoSuchRoom));
    // SDES keys are checked before any port is taken: base64 of key||salt, the
    // suite's size, plain legs only; a good pair shows the suite in the leg's stats.
    let key30 = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";
    for (sdes, webrtc) in [
        (format!(r#"{{"suite":"AES_CM_128_HMAC_SHA1_80","send_key":"not base64!","recv_key":"{key30}"}}"#), ""),
        (format!(r#"{{"suite":"AEAD_AES_128_GCM","send_key":"{key30}","recv_key":"{key30}"}}"#), ""),
        (format!(r#"{{"suite":"AES_CM_128_HMAC_SHA1_32","send_key":"{key30}","recv_key":"{key30}"}}"#), ""),
        (format!(r#"{{"suite":"AES_CM_128_HMAC_SHA1_80","send_key":"{key30}","recv_key":"{key30}"}}"#), r#","webrtc":{"ice_ufrag":"abcd","ice_pwd":"0123456789012345678901","fingerprint":"sha-256 00"}"#),
    ] {
        let v = raw(&mut c, &format!(r#"{{"id":16,"op":"leg.create","sdes":{sdes}{webrtc}}}"#));
        assert_eq!(code(&v), "bad_request", "{sdes}: {v}");
    }
    let v = raw(&mut c, &format!(r#"{{"id":17,"op":"leg.create","sdes":{{"suite":"AES_CM_128_HMAC_SHA1_80","send_key":"{key30}","recv_key":"{key30}"}}}}"#));
    let keyed = v["ok"]["leg"].as_u64().unwrap_or_else(|| panic!("{v}"));
    let st: control::LegStats = c.call(Op::StatsLeg { leg: keyed }).unwrap();
    assert_eq!(st.sdes.map(|s| s.suite), Some("AES_CM_128_HMAC_SHA1_80".to_string()));
    c.leg_delete(keyed).unwrap();
    // After all that the connection and the daemon still work.
    assert_eq!(c.daemon_stats().unwrap().legs, 1);
}

#[test]
fn oversized_request_line_is_refused() {
    use std::io::{BufRead, Write};
    let m = Mediad::start(1, "epoll", &[]);
    let s = std::os::unix::net::UnixStream::connect(&m.socket).unwrap();
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        // The daemon stops reading at 1 MiB and hangs up: the write may fail.
        let _ = w.write_all(format!(r#"{{"id":1,"op":"room.create","room":"{}"}}"#, "x".repeat(2 << 20)).as_bytes());
    });
    let mut line = String::new();
    std::io::BufReader::new(s).read_line(&mut line).unwrap();
    writer.join().unwrap();
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(code(&v), "bad_request");
    // The daemon is fine; a new connection works.
    assert!(m.client().daemon_stats().is_ok());
}

#[test]
fn ports_exhausted_and_quota_exceeded() {
    // 4 ports = 2 pairs on one worker.
    let m = Mediad::start(1, "epoll", &["--rtp-ports", "39990-39993", "--max-legs", "3"]);
    let mut c = m.client();
    let a = c.leg_create(LegCreate::default()).unwrap();
    c.leg_create(LegCreate::default()).unwrap();
    let e = c.leg_create(LegCreate::default()).unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::PortsExhausted), "{e}");
    // A muxed leg needs one port, but every even port is taken too.
    let e = c.leg_create(LegCreate { rtcp_mux: true, ..Default::default() }).unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::PortsExhausted));
    // Freeing a leg frees its ports.
    c.leg_delete(a.leg).unwrap();
    c.leg_create(LegCreate::default()).unwrap();
    // The WebRTC pool is separate; the leg quota still applies.
    c.leg_create(LegCreate { pool: control::PortPool::Webrtc, ..Default::default() }).unwrap();
    let e = c.leg_create(LegCreate { pool: control::PortPool::Webrtc, ..Default::default() }).unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::QuotaExceeded));
}

#[test]
fn state_survives_client_disconnect_and_events_flow() {
    let m = Mediad::start(2, "epoll", &[]);
    let (leg_a, leg_b) = {
        let mut c = m.client();
        c.room_create(Some("conf-42")).unwrap();
        let a = c.leg_create(LegCreate { room: Some("conf-42".into()), core: Some(0), ..Default::default() }).unwrap();
        let b = c.leg_create(LegCreate { room: Some("conf-42".into()), core: Some(1), ..Default::default() }).unwrap();
        (a, b)
        // the client (as signal would) goes away here
    };
    let mut ev = m.client();
    let v: Value = ev.call_value(Op::EventsSubscribe { events: vec!["leg.".into()] }).unwrap();
    assert!(v["subscribed"].is_array());
    // Media still flows with nobody connected; the source's address is learned.
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    m.client()
        .leg_update(control::LegUpdate { leg: leg_b.leg, remote: Some(rx.local_addr().unwrap()), ..Default::default() })
        .unwrap();
    rx.set_read_timeout(Some(std::time::Duration::from_secs(2))).unwrap();
    let mut pkt = vec![0x80u8, 0, 0, 1, 0, 0, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd];
    pkt.extend([7u8; 100]);
    tx.send_to(&pkt, ("127.0.0.1", leg_a.rtp_port)).unwrap();
    let mut buf = [0u8; 2000];
    let n = rx.recv(&mut buf).expect("forwarded across cores");
    assert_eq!(&buf[12..n], &pkt[12..], "payload forwarded unchanged");
    let e = ev.next_event(std::time::Duration::from_secs(2)).unwrap().expect("an event");
    assert_eq!(e, control::Event::RemoteLearned { leg: leg_a.leg, remote: tx.local_addr().unwrap() });
    // A new client lists everything that exists.
    let mut c = m.client();
    let legs: Vec<control::LegInfo> = c.call(Op::LegList).unwrap();
    assert_eq!(legs.len(), 2);
    assert_eq!(legs[0].remote, Some(tx.local_addr().unwrap()), "learned remote is visible");
    let rooms: Vec<control::RoomInfo> = c.call(Op::RoomList).unwrap();
    assert_eq!(rooms[0].legs, vec![leg_a.leg, leg_b.leg]);
    let s = c.leg_stats(leg_a.leg).unwrap();
    assert_eq!((s.rx_packets, s.ssrc), (1, Some(0xaabbccdd)));
    assert_eq!(c.leg_stats(leg_b.leg).unwrap().tx_packets, 1);
}

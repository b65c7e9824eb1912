//! The TURN server driven through a recording `TurnIo`: no sockets, exact answers.

use super::auth::{long_term_key, Credentials};
use super::policy::PeerPolicy;
use super::server::{TurnConfig, TurnServer};
use super::Quotas;
use super::{Relay, RelayPort, TurnIo};
use crate::stun::message::{Builder, Class, Message};
use crate::stun::{attr, method};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Io {
    sent: Vec<(u32, SocketAddr, Vec<u8>)>,
    next_relay: u32,
    closed: Vec<u32>,
    /// Multiplexed mode: every allocation gets relay socket 100.
    shared: bool,
    asked: Vec<RelayPort>,
}

impl TurnIo for Io {
    fn send(&mut self, via: u32, to: SocketAddr, parts: &[&[u8]]) {
        self.sent.push((via, to, parts.concat()));
    }
    fn open_relay(&mut self, _ipv6: bool, want: RelayPort) -> Option<Relay> {
        if self.shared {
            return Some(Relay { token: 100, addr: "192.0.2.50:50000".parse().unwrap(), reservation: None });
        }
        self.asked.push(want);
        if matches!(want, RelayPort::Reserved(t) if t != [7; 8]) {
            return None; // unknown token
        }
        self.next_relay += 1;
        let addr = format!("192.0.2.50:{}", 50000 + self.next_relay).parse().unwrap();
        let reservation = (want == RelayPort::EvenReserveNext).then_some([7; 8]);
        Some(Relay { token: 100 + self.next_relay, addr, reservation })
    }
    fn close_relay(&mut self, token: u32) {
        self.closed.push(token);
    }
}

const CLIENT: &str = "192.0.2.10:40000";
const PEER: &str = "198.51.100.20:6000";

fn server(f: impl FnOnce(&mut TurnConfig)) -> TurnServer {
    let mut users = HashMap::new();
    users.insert("alice".to_string(), "pw".to_string());
    let mut cfg = TurnConfig { credentials: Credentials { realm: "r".into(), users, secrets: vec![] }, ..Default::default() };
    f(&mut cfg);
    TurnServer::new(cfg, [1; 32], Arc::new(Quotas::default()))
}

struct Client {
    from: SocketAddr,
    nonce: Vec<u8>,
    key: [u8; 16],
    txid: u8,
}

impl Client {
    fn new(from: &str) -> Self {
        Client { from: from.parse().unwrap(), nonce: vec![], key: long_term_key("alice", "r", "pw"), txid: 0 }
    }

    /// Build a request; `auth` adds USERNAME/REALM/NONCE/MESSAGE-INTEGRITY.
    fn request(&mut self, method: u16, auth: bool, add: impl FnOnce(&mut Builder<'_>)) -> Vec<u8> {
        self.txid += 1;
        let mut buf = [0u8; 512];
        let mut b = Builder::new(&mut buf, Class::Request, method, [self.txid; 12]).unwrap();
        add(&mut b);
        if auth {
            b.add(attr::USERNAME, b"alice").unwrap();
            b.add(attr::REALM, b"r").unwrap();
            b.add(attr::NONCE, &self.nonce).unwrap();
            b.add_integrity(&self.key).unwrap();
        }
        b.add_fingerprint().unwrap();
        let n = b.len();
        buf[..n].to_vec()
    }

    /// Send and return (class, error code) of the answer; learns nonces from challenges.
    fn call(&mut self, s: &mut TurnServer, io: &mut Io, now: Instant, req: &[u8]) -> (Class, Option<u16>) {
        io.sent.clear();
        s.on_client(io, 1, self.from, req, now);
        let (_, to, bytes) = io.sent.pop().expect("an answer");
        assert_eq!(to, self.from);
        let m = Message::parse(&bytes).unwrap();
        if let Some(n) = m.attr(attr::NONCE) {
            self.nonce = n.to_vec();
        }
        (m.class, m.attr(attr::ERROR_CODE).and_then(attr::decode_error))
    }

    /// An unauthenticated request: answered 401 with a nonce for this address.
    fn challenge(&mut self, s: &mut TurnServer, io: &mut Io, now: Instant) {
        let req = self.request(method::ALLOCATE, false, |b| {
            b.add(attr::REQUESTED_TRANSPORT, &[17, 0, 0, 0]).unwrap();
        });
        let first = self.call(s, io, now, &req);
        assert_eq!(first, (Class::Error, Some(401)), "unauthenticated first attempt is challenged");
    }

    fn allocate(&mut self, s: &mut TurnServer, io: &mut Io, now: Instant) -> (Class, Option<u16>) {
        self.challenge(s, io, now);
        let req = self.request(method::ALLOCATE, true, |b| {
            b.add(attr::REQUESTED_TRANSPORT, &[17, 0, 0, 0]).unwrap();
        });
        self.call(s, io, now, &req)
    }
}

fn peer_attr(b: &mut Builder<'_>, peer: &str) {
    b.add_xor_address(attr::XOR_PEER_ADDRESS, peer.parse().unwrap()).unwrap();
}

/// A Send indication carrying `data` for `peer`.
fn send_indication(peer: &str, data: &[u8]) -> Vec<u8> {
    let mut buf = [0u8; 256];
    let mut b = Builder::new(&mut buf, Class::Indication, method::SEND, [9; 12]).unwrap();
    peer_attr(&mut b, peer);
    b.add(attr::DATA, data).unwrap();
    let n = b.len();
    buf[..n].to_vec()
}

#[test]
fn allocate_permission_send_and_data() {
    let (mut s, mut io, now) = (server(|c| c.peers = PeerPolicy { allow_loopback: false, allow_private: false }), Io::default(), Instant::now());
    let mut c = Client::new(CLIENT);
    assert_eq!(c.allocate(&mut s, &mut io, now), (Class::Success, None));
    // Send before a permission: dropped silently.
    let send = |peer: &str| send_indication(peer, b"hello");
    io.sent.clear();
    s.on_client(&mut io, 1, c.from, &send(PEER), now);
    assert!(io.sent.is_empty());
    assert_eq!(s.stats.dropped_no_permission, 1);
    let req = c.request(method::CREATE_PERMISSION, true, |b| peer_attr(b, PEER));
    assert_eq!(c.call(&mut s, &mut io, now, &req), (Class::Success, None));
    io.sent.clear();
    s.on_client(&mut io, 1, c.from, &send(PEER), now);
    assert_eq!(io.sent, vec![(101, PEER.parse().unwrap(), b"hello".to_vec())], "relayed from the relay socket");
    // The peer answers: a Data indication to the client.
    io.sent.clear();
    s.on_peer(&mut io, 101, PEER.parse().unwrap(), b"world", now);
    let (via, to, bytes) = io.sent.pop().unwrap();
    assert_eq!((via, to), (1, c.from));
    let m = Message::parse(&bytes).unwrap();
    assert_eq!((m.class, m.method), (Class::Indication, method::DATA));
    assert_eq!(m.attr(attr::DATA), Some(&b"world"[..]));
    // A peer without permission is not relayed.
    io.sent.clear();
    s.on_peer(&mut io, 101, "198.51.100.99:1".parse().unwrap(), b"x", now);
    assert!(io.sent.is_empty());
    // Private and loopback peers are forbidden by default.
    for bad in ["10.0.0.1:5", "127.0.0.1:5"] {
        let req = c.request(method::CREATE_PERMISSION, true, |b| peer_attr(b, bad));
        assert_eq!(c.call(&mut s, &mut io, now, &req), (Class::Error, Some(403)), "{bad}");
    }
}

#[test]
fn channels_bind_relay_and_reject_bad_numbers() {
    let (mut s, mut io, now) = (server(|_| {}), Io::default(), Instant::now());
    let mut c = Client::new(CLIENT);
    c.allocate(&mut s, &mut io, now);
    for bad in [0x3fffu16, 0x8000, 0xffff] {
        let req = c.request(method::CHANNEL_BIND, true, |b| {
            b.add(attr::CHANNEL_NUMBER, &[(bad >> 8) as u8, bad as u8, 0, 0]).unwrap();
            peer_attr(b, PEER);
        });
        assert_eq!(c.call(&mut s, &mut io, now, &req), (Class::Error, Some(400)), "channel {bad:#x}");
    }
    let bind = |c: &mut Client, n: u16, peer: &str| {
        c.request(method::CHANNEL_BIND, true, |b| {
            b.add(attr::CHANNEL_NUMBER, &[(n >> 8) as u8, n as u8, 0, 0]).unwrap();
            peer_attr(b, peer);
        })
    };
    let req = bind(&mut c, 0x4001, PEER);
    assert_eq!(c.call(&mut s, &mut io, now, &req), (Class::Success, None));
    // Same channel to another peer, or another channel to the same peer: refused.
    let req = bind(&mut c, 0x4001, "198.51.100.21:6000");
    assert_eq!(c.call(&mut s, &mut io, now, &req).1, Some(400));
    let req = bind(&mut c, 0x4002, PEER);
    assert_eq!(c.call(&mut s, &mut io, now, &req).1, Some(400));
    // ChannelData both ways.
    io.sent.clear();
    s.on_client(&mut io, 1, c.from, &[0x40, 0x01, 0, 3, b'a', b'b', b'c', 0], now);
    assert_eq!(io.sent.pop().unwrap().2, b"abc");
    s.on_peer(&mut io, 101, PEER.parse().unwrap(), b"xyz", now);
    assert_eq!(io.sent.pop().unwrap().2, vec![0x40, 0x01, 0, 3, b'x', b'y', b'z']);
    // A ChannelData length past the datagram, or an unbound channel: dropped.
    io.sent.clear();
    s.on_client(&mut io, 1, c.from, &[0x40, 0x01, 0, 9, 1], now);
    s.on_client(&mut io, 1, c.from, &[0x40, 0x09, 0, 1, 1], now);
    assert!(io.sent.is_empty());
    // Channels expire after 10 minutes without refresh.
    s.on_tick(&mut io, now + Duration::from_secs(601));
    s.on_client(&mut io, 1, c.from, &[0x40, 0x01, 0, 1, 1], now + Duration::from_secs(601));
    assert!(io.sent.is_empty());
}

#[test]
fn credentials_nonces_and_integrity() {
    let (mut s, mut io, now) = (server(|c| c.nonce_lifetime_s = 600), Io::default(), Instant::now());
    let mut c = Client::new(CLIENT);
    c.allocate(&mut s, &mut io, now);
    // A wrong key: 401 again, counted.
    let mut bad = Client::new("192.0.2.11:1");
    bad.key = long_term_key("alice", "r", "wrong");
    assert_eq!(bad.allocate(&mut s, &mut io, now), (Class::Error, Some(401)));
    assert_eq!(s.stats.bad_credentials, 1);
    // A nonce minted for another address is invalid here.
    let mut thief = Client::new("192.0.2.12:1");
    thief.nonce = c.nonce.clone();
    let req = thief.request(method::ALLOCATE, true, |b| {
        b.add(attr::REQUESTED_TRANSPORT, &[17, 0, 0, 0]).unwrap();
    });
    assert_eq!(thief.call(&mut s, &mut io, now, &req), (Class::Error, Some(401)));
    // Tampering after signing breaks MESSAGE-INTEGRITY (the fingerprint is recomputed).
    let mut req = c.request(method::REFRESH, true, |b| b.add_u32(attr::LIFETIME, 700).map(|_| ()).unwrap());
    req[24 + 3] ^= 1; // inside the LIFETIME value
    let fp = req.len() - 8;
    let mut h = crc32fast::Hasher::new();
    h.update(&req[..fp]);
    let crc = h.finalize() ^ 0x5354_554e;
    req[fp + 4..].copy_from_slice(&crc.to_be_bytes());
    assert_eq!(c.call(&mut s, &mut io, now, &req), (Class::Error, Some(401)));
}

#[test]
fn stale_nonce_gets_438() {
    let (mut s, mut io, now) = (server(|c| c.nonce_lifetime_s = 0), Io::default(), Instant::now());
    let mut c = Client::new(CLIENT);
    c.challenge(&mut s, &mut io, now);
    // The nonce from the challenge expires before it is used (lifetime 0).
    std::thread::sleep(Duration::from_millis(1100));
    let req = c.request(method::ALLOCATE, true, |b| {
        b.add(attr::REQUESTED_TRANSPORT, &[17, 0, 0, 0]).unwrap();
    });
    assert_eq!(c.call(&mut s, &mut io, now, &req), (Class::Error, Some(438)));
    assert_eq!(s.stats.stale_nonces, 1);
}

#[test]
fn quotas_lifetimes_and_refresh() {
    let quotas = Arc::new(Quotas::default());
    let mk = |q: &Arc<Quotas>| {
        let mut users = HashMap::new();
        users.insert("alice".to_string(), "pw".to_string());
        let cfg = TurnConfig {
            credentials: Credentials { realm: "r".into(), users, secrets: vec![] },
            user_quota: 2,
            max_lifetime: Duration::from_secs(3600),
            ..Default::default()
        };
        TurnServer::new(cfg, [1; 32], q.clone())
    };
    // Two cores share the quota table.
    let (mut core0, mut core1) = (mk(&quotas), mk(&quotas));
    let (mut io, now) = (Io::default(), Instant::now());
    assert_eq!(Client::new("192.0.2.1:1").allocate(&mut core0, &mut io, now).0, Class::Success);
    assert_eq!(Client::new("192.0.2.1:2").allocate(&mut core1, &mut io, now).0, Class::Success);
    assert_eq!(Client::new("192.0.2.1:3").allocate(&mut core1, &mut io, now), (Class::Error, Some(486)));
    // A huge LIFETIME is clamped to the maximum; 0 deletes the allocation.
    let mut c = Client::new("192.0.2.1:1");
    c.allocate(&mut core0, &mut io, now); // learns a nonce (437: it exists already)
    let req = c.request(method::REFRESH, true, |b| b.add_u32(attr::LIFETIME, u32::MAX).map(|_| ()).unwrap());
    io.sent.clear();
    core0.on_client(&mut io, 1, c.from, &req, now);
    let m = Message::parse(&io.sent[0].2).unwrap();
    assert_eq!(m.u32_attr(attr::LIFETIME), Some(3600));
    let req = c.request(method::REFRESH, true, |b| b.add_u32(attr::LIFETIME, 0).map(|_| ()).unwrap());
    assert_eq!(c.call(&mut core0, &mut io, now, &req), (Class::Success, None));
    assert_eq!(io.closed, vec![101]);
    assert_eq!(Client::new("192.0.2.1:4").allocate(&mut core0, &mut io, now).0, Class::Success, "quota freed");
    // Allocations expire on their own.
    core1.on_tick(&mut io, now + Duration::from_secs(601));
    assert_eq!(core1.stats.allocations, 0);
}

#[test]
fn unsupported_transport_family_and_bad_reservations() {
    let (mut s, mut io, now) = (server(|_| {}), Io::default(), Instant::now());
    let cases: [(u16, &[u8], u16); 6] = [
        (attr::REQUESTED_TRANSPORT, &[132, 0, 0, 0], 442),  // SCTP: no such relay
        (attr::REQUESTED_ADDRESS_FAMILY, &[3, 0, 0, 0], 440), // no such family
        (attr::RESERVATION_TOKEN, &[1, 2, 3, 4], 400),       // a token is 8 bytes
        (attr::RESERVATION_TOKEN, &[9; 8], 508),             // nobody holds this one
        (attr::EVEN_PORT, &[], 400),                         // EVEN-PORT carries its R bit
        (0x7ffe, &[1, 2, 3, 4], 420),                        // unknown comprehension-required
    ];
    for (t, v, code) in cases {
        let mut c = Client::new(CLIENT);
        c.challenge(&mut s, &mut io, now);
        let req = c.request(method::ALLOCATE, true, |b| {
            if t != attr::REQUESTED_TRANSPORT {
                b.add(attr::REQUESTED_TRANSPORT, &[17, 0, 0, 0]).unwrap();
            }
            b.add(t, v).unwrap();
        });
        assert_eq!(c.call(&mut s, &mut io, now, &req), (Class::Error, Some(code)), "attribute {t:#x}");
    }
    assert_eq!(s.stats.allocations, 0);
}

#[test]
fn bandwidth_cap_drops_the_excess() {
    // 8000 bit/s = 1000 bytes/s with a one-second burst.
    let (mut s, mut io, now) = (server(|c| c.max_bps = 8000), Io::default(), Instant::now());
    let mut c = Client::new(CLIENT);
    c.allocate(&mut s, &mut io, now);
    let req = c.request(method::CHANNEL_BIND, true, |b| {
        b.add(attr::CHANNEL_NUMBER, &[0x40, 0x00, 0, 0]).unwrap();
        peer_attr(b, PEER);
    });
    assert_eq!(c.call(&mut s, &mut io, now, &req), (Class::Success, None));
    let mut data = vec![0x40, 0x00, 0x02, 0x58];
    data.resize(4 + 600, 7);
    io.sent.clear();
    s.on_client(&mut io, 1, c.from, &data, now);
    s.on_client(&mut io, 1, c.from, &data, now);
    assert_eq!((io.sent.len(), s.stats.dropped_bandwidth), (1, 1), "600 B fit the bucket, 1200 B do not");
    // A second later the bucket has refilled.
    s.on_client(&mut io, 1, c.from, &data, now + Duration::from_secs(1));
    assert_eq!(io.sent.len(), 2);
}

#[test]
fn unauthenticated_floods_are_rate_limited_per_address() {
    let (mut s, mut io, now) = (server(|c| {
        c.unauth_rate = 10;
        c.unauth_burst = 20;
    }), Io::default(), Instant::now());
    let mut buf = [0u8; 64];
    let n = Builder::new(&mut buf, Class::Request, method::BINDING, [1; 12]).unwrap().len();
    for _ in 0..100 {
        s.on_client(&mut io, 1, CLIENT.parse().unwrap(), &buf[..n], now);
    }
    assert_eq!((io.sent.len(), s.stats.rate_limited), (20, 80), "burst answered, the rest dropped");
    // Another address is not affected; an authenticated client still gets its allocation.
    let mut c = Client::new("192.0.2.77:1");
    assert_eq!(c.allocate(&mut s, &mut io, now), (Class::Success, None));
}

#[test]
fn challenges_do_not_amplify() {
    let (mut s, mut io, now) = (server(|_| {}), Io::default(), Instant::now());
    // A minimal unauthenticated Allocate without FINGERPRINT.
    let mut buf = [0u8; 64];
    let mut b = Builder::new(&mut buf, Class::Request, method::ALLOCATE, [3; 12]).unwrap();
    b.add(attr::REQUESTED_TRANSPORT, &[17, 0, 0, 0]).unwrap();
    let n = b.len();
    s.on_client(&mut io, 1, CLIENT.parse().unwrap(), &buf[..n], now);
    let (_, _, answer) = io.sent.pop().unwrap();
    let m = Message::parse(&answer).unwrap();
    assert!(m.attr(attr::SOFTWARE).is_none() && !m.has_fingerprint, "only what a 401 needs");
    // Header + ERROR-CODE("Unauthorized") + REALM("r") + NONCE(32 bytes).
    assert_eq!(answer.len(), 20 + (4 + 16) + (4 + 4) + (4 + 32), "{} vs request {n}", answer.len());
}

#[test]
fn multiplexed_relays_route_by_peer_address() {
    let (mut s, now) = (server(|c| c.multiplexed = true), Instant::now());
    let mut io = Io { shared: true, ..Default::default() };
    let (mut a, mut b) = (Client::new(CLIENT), Client::new("192.0.2.11:40000"));
    a.allocate(&mut s, &mut io, now);
    b.allocate(&mut s, &mut io, now);
    let permit = |c: &mut Client, s: &mut TurnServer, io: &mut Io, peer: &str| {
        let req = c.request(method::CREATE_PERMISSION, true, |b| peer_attr(b, peer));
        assert_eq!(c.call(s, io, now, &req), (Class::Success, None));
    };
    const OTHER: &str = "198.51.100.30:7000";
    permit(&mut a, &mut s, &mut io, PEER);
    permit(&mut b, &mut s, &mut io, OTHER);
    // Each peer reaches the one allocation that permits its IP, on the shared socket.
    let from_peer = |s: &mut TurnServer, io: &mut Io, peer: &str| {
        io.sent.clear();
        s.on_peer(io, 100, peer.parse().unwrap(), b"hi", now);
        io.sent.pop().map(|(_, to, _)| to)
    };
    assert_eq!(from_peer(&mut s, &mut io, PEER), Some(a.from));
    assert_eq!(from_peer(&mut s, &mut io, OTHER), Some(b.from));
    // Both permit PEER's IP: by IP alone it is ambiguous and dropped, counted.
    permit(&mut b, &mut s, &mut io, PEER);
    assert_eq!(from_peer(&mut s, &mut io, PEER), None);
    assert_eq!(s.stats.dropped_ambiguous_peer, 1);
    // Once A sends to PEER's exact address, PEER's answers route back to A.
    let send = send_indication(PEER, b"x");
    io.sent.clear();
    s.on_client(&mut io, 1, a.from, &send, now);
    assert_eq!(io.sent.pop().map(|(via, to, _)| (via, to)), Some((100, PEER.parse().unwrap())));
    assert_eq!(from_peer(&mut s, &mut io, PEER), Some(a.from));
    // B sending to the same address takes it over (counted); A leaving hands PEER to B.
    s.on_client(&mut io, 1, b.from, &send, now);
    assert_eq!(s.stats.mux_rebinds, 1);
    assert_eq!(from_peer(&mut s, &mut io, PEER), Some(b.from));
    let req = a.request(method::REFRESH, true, |m| m.add_u32(attr::LIFETIME, 0).map(|_| ()).unwrap());
    assert_eq!(a.call(&mut s, &mut io, now, &req), (Class::Success, None));
    assert!(io.closed.is_empty(), "the shared socket stays open");
    assert_eq!(from_peer(&mut s, &mut io, PEER), Some(b.from));
    // Relaying onto the allocation's own shared socket is refused.
    let req = b.request(method::CREATE_PERMISSION, true, |m| peer_attr(m, "192.0.2.50:50000"));
    assert_eq!(b.call(&mut s, &mut io, now, &req), (Class::Error, Some(403)));
    // Permissions expire by the sweep: nothing reaches B any more, and the index is empty.
    s.on_tick(&mut io, now + Duration::from_secs(301));
    assert_eq!(from_peer(&mut s, &mut io, OTHER), None);
}

#[test]
fn even_port_reserves_the_next_for_a_token() {
    let (mut s, mut io, now) = (server(|_| {}), Io::default(), Instant::now());
    let ask = |c: &mut Client, s: &mut TurnServer, io: &mut Io, add: &dyn Fn(&mut Builder<'_>)| {
        c.challenge(s, io, now);
        let req = c.request(method::ALLOCATE, true, |b| {
            b.add(attr::REQUESTED_TRANSPORT, &[17, 0, 0, 0]).unwrap();
            add(b);
        });
        io.sent.clear();
        s.on_client(io, 1, c.from, &req, now);
        let answer = io.sent.pop().unwrap().2;
        let m = Message::parse(&answer).unwrap();
        assert_eq!(m.class, Class::Success);
        m.attr(attr::RESERVATION_TOKEN).map(<[u8]>::to_vec)
    };
    // RTP: an even port, the next one held; the answer carries the token.
    let token = ask(&mut Client::new(CLIENT), &mut s, &mut io, &|b| {
        b.add(attr::EVEN_PORT, &[0x80]).unwrap();
    });
    assert_eq!(token.as_deref(), Some(&[7u8; 8][..]));
    // RTCP from the next client port: the token claims the held port.
    let none = ask(&mut Client::new("192.0.2.10:40001"), &mut s, &mut io, &|b| {
        b.add(attr::RESERVATION_TOKEN, &[7; 8]).unwrap();
    });
    assert!(none.is_none());
    assert_eq!(io.asked, vec![RelayPort::EvenReserveNext, RelayPort::Reserved([7; 8])]);
    assert_eq!(s.stats.allocations, 2);
    // EVEN-PORT and a token together are contradictory.
    let mut c = Client::new("192.0.2.10:40002");
    c.challenge(&mut s, &mut io, now);
    let req = c.request(method::ALLOCATE, true, |b| {
        b.add(attr::REQUESTED_TRANSPORT, &[17, 0, 0, 0]).unwrap();
        b.add(attr::EVEN_PORT, &[0]).unwrap();
        b.add(attr::RESERVATION_TOKEN, &[7; 8]).unwrap();
    });
    assert_eq!(c.call(&mut s, &mut io, now, &req), (Class::Error, Some(400)));
}

#[path = "tests_tcp.rs"]
mod tcp;

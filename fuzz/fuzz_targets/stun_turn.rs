//! STUN/TURN parsing, stream framing, and the TURN server's handling of any client or
//! peer datagram (plain and multiplexed relay mode): never a panic, and everything it
//! answers parses as STUN (or is ChannelData/relay).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mediad::stun::message::Message;
use mediad::turn::auth::Credentials;
use mediad::turn::framing::{self, Frame};
use mediad::turn::{Quotas, Relay, RelayPort, TurnConfig, TurnIo, TurnServer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

struct Io(u32);
impl TurnIo for Io {
    fn send(&mut self, via: u32, _to: SocketAddr, parts: &[&[u8]]) {
        let bytes = parts.concat();
        if via == 1 && bytes.first().is_some_and(|b| *b < 4) {
            assert!(Message::parse(&bytes).is_ok(), "the server sent invalid STUN");
        }
    }
    fn open_relay(&mut self, _ipv6: bool, want: RelayPort) -> Option<Relay> {
        self.0 += 1;
        let reservation = (want == RelayPort::EvenReserveNext).then_some([1; 8]);
        Some(Relay { token: 100 + self.0, addr: "192.0.2.1:50000".parse().unwrap(), reservation })
    }
    fn close_relay(&mut self, _token: u32) {}
}

fuzz_target!(|data: &[u8]| {
    let _ = Message::parse(data).map(|m| (m.check_integrity(b"k"), m.xor_address(0x0012)));
    // Stream framing: every whole frame lies inside the buffer and makes progress.
    let mut at = 0;
    while let Frame::Whole { len, used } = framing::next(&data[at..]) {
        assert!(len <= used && used >= 4 && at + used <= data.len());
        at += used;
    }
    let mut users = std::collections::HashMap::new();
    users.insert("u".to_string(), "p".to_string());
    let multiplexed = data.first().is_some_and(|b| b & 1 == 1);
    let cfg = TurnConfig { credentials: Credentials { realm: "r".into(), users, secrets: vec!["s".into()] }, multiplexed, ..Default::default() };
    let mut s = TurnServer::new(cfg, [0; 32], Arc::new(Quotas::default()));
    let mut io = Io(0);
    let now = Instant::now();
    let from: SocketAddr = "198.51.100.1:4000".parse().unwrap();
    // Split the input into datagrams alternating between the client and a peer.
    for (i, chunk) in data.split(|b| *b == 0xff).enumerate() {
        if i % 3 == 2 {
            s.on_peer(&mut io, 101, from, chunk, now);
        } else {
            s.on_client(&mut io, 1, from, chunk, now);
        }
    }
    s.on_tick(&mut io, now + std::time::Duration::from_secs(4000));
});

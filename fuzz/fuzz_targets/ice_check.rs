//! The ICE-lite agent fed any datagram: never a panic; whatever it answers parses as
//! STUN; nothing is selected without a check signed with the local password.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mediad::ice::IceLite;
use mediad::stun::message::{Builder, Class, Message};
use std::time::Instant;

fuzz_target!(|data: &[u8]| {
    let mut a = IceLite::new("lufr", "localpassword0123456789");
    a.set_remote_ufrag("rufr");
    let (mut out, mut ev) = ([0u8; 1500], Vec::new());
    let from = "192.0.2.1:4000".parse().unwrap();
    let now = Instant::now();
    let ans = a.on_stun(data, from, now, &mut out, &mut ev);
    if ans.reply > 0 {
        assert!(Message::parse(&out[..ans.reply]).is_ok(), "invalid STUN answer");
    }
    // Random bytes cannot carry a valid MESSAGE-INTEGRITY for our key.
    assert!(a.selected().is_none() || ans.refused.is_none());
    // The same bytes as attributes of a correctly signed check: still no panic.
    let mut buf = [0u8; 1500];
    if let Ok(mut b) = Builder::new(&mut buf, Class::Request, 0x001, [3; 12]) {
        let _ = b.add(0x0006, b"lufr:rufr");
        for chunk in data.chunks(7) {
            if chunk.len() > 2 {
                let _ = b.add(u16::from_be_bytes([chunk[0], chunk[1]]) & 0x7fff, &chunk[2..]);
            }
        }
        if b.add_integrity(b"localpassword0123456789").is_ok() {
            let n = b.len();
            let ans = a.on_stun(&buf[..n], from, now, &mut out, &mut ev);
            if ans.reply > 0 {
                assert!(Message::parse(&out[..ans.reply]).is_ok());
            }
        }
    }
    a.on_tick(now + std::time::Duration::from_secs(40), &mut ev);
});

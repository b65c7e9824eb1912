//! Every SIP datagram is attacker-controlled: parsing never panics, what parses
//! writes back to bytes that parse to the same message, and the endpoint (with a
//! stand-in mediad) answers or drops whatever arrives without panicking. The SDP
//! offer parser and the dial plan get the bodies and URIs.
#![no_main]
use libfuzzer_sys::fuzz_target;
use signal::sip::endpoint::{Config, Endpoint};
use signal::sip::message::Message;
use signal::sip::{sdp, uri};
use signal::webrtc::conference::MediaOps;
use std::time::{Duration, Instant};

struct NoMedia(u64);

impl MediaOps for NoMedia {
    fn ensure_room(&mut self, _: &str) -> Result<(), String> {
        Ok(())
    }
    fn delete_room(&mut self, _: &str) {}
    fn create_leg(&mut self, _: control::LegCreate) -> Result<control::LegInfo, String> {
        self.0 += 1;
        serde_json::from_value(serde_json::json!({"leg": self.0, "core": 0, "media": "audio", "pool": "rtp", "rtcp_mux": false,
            "local_ip": "127.0.0.1", "rtp_port": 50000, "rtcp_port": 50001, "advertised_ip": "127.0.0.1"})).map_err(|e| e.to_string())
    }
    fn update_leg(&mut self, _: control::LegUpdate) -> Result<(), String> {
        Ok(())
    }
    fn delete_leg(&mut self, _: control::LegId) {}
}

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::parse(data) {
        let back = Message::parse(&m.to_bytes()).expect("what we write parses");
        // Content-Length is always written, from the body.
        let without_length = |m: &Message| m.headers.iter().filter(|(n, _)| n != "Content-Length").cloned().collect::<Vec<_>>();
        assert_eq!((&back.start, &back.body, without_length(&back)), (&m.start, &m.body, without_length(&m)));
        if let Some(u) = m.uri().and_then(uri::Uri::parse) {
            let _ = uri::destination(&u);
            assert_eq!(uri::Uri::parse(&u.to_string()).as_ref(), Some(&u), "{u}");
        }
        let _ = sdp::parse_offer(&m.body);
    }
    let cfg = Config { local: "127.0.0.1:5060".parse().unwrap(), default_conference: Some("default".into()), pins: Default::default(), answer_delay: Duration::ZERO };
    let mut ep = Endpoint::new(cfg);
    let (mut media, now) = (NoMedia(0), Instant::now());
    let from = "127.0.0.1:6000".parse().unwrap();
    // Twice: the second is a retransmission (or a second try) of the first.
    ep.receive(data, from, now, &mut media);
    ep.receive(data, from, now, &mut media);
    ep.tick(now + Duration::from_secs(40), &mut media);
    for (_, bytes) in &ep.out {
        assert!(Message::parse(bytes).is_ok(), "our own message does not parse: {}", String::from_utf8_lossy(bytes));
    }
});

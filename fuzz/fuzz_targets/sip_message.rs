//! Every SIP datagram is attacker-controlled: parsing never panics, what parses
//! writes back to bytes that parse to the same message, and the endpoint (with a
//! stand-in mediad) answers or drops whatever arrives without panicking: calls, PIN
//! entry by INFO, REGISTER with Digest (the header parser and verifier get every
//! Authorization), responses to calls out. The SDP offer parser and the dial plan get
//! the bodies and URIs; the Digest parameter parser gets every header value.
#![no_main]
use libfuzzer_sys::fuzz_target;
use signal::sip::endpoint::{Config, Endpoint};
use signal::sip::message::Message;
use signal::sip::{sdp, uri};
use signal::webrtc::conference::MediaOps;
use std::time::{Duration, Instant};

struct NoMedia(u64);

impl MediaOps for NoMedia {
    fn ensure_room(&mut self, _: &str) -> Result<bool, String> {
        // Composing video: offers' video m-lines take the video leg path too.
        Ok(true)
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
    fn attach(&mut self, _: &str, _: control::LegId) -> Result<(), String> {
        Ok(())
    }
    fn play_prompt(&mut self, _: control::LegId, _: &str) -> Result<u64, String> {
        self.0 += 1;
        Ok(self.0)
    }
    fn stop_prompt(&mut self, _: u64) {}
    fn leg_stats(&mut self, _: control::LegId) -> Option<control::LegStats> {
        None
    }
    fn request_keyframe(&mut self, _: control::LegId) {}
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
        for (_, v) in &m.headers {
            let _ = signal::sip::digest::params(v);
        }
    }
    // A PIN conference, a registrar user and a trunk: every path a datagram can take.
    let cfg = Config {
        local: "127.0.0.1:5060".parse().unwrap(),
        default_conference: Some("default".into()),
        pins: [("777".to_string(), "1234".to_string())].into_iter().collect(),
        answer_delay: Duration::ZERO,
        realm: "mediad".into(),
        users: [("room1".to_string(), "password1".to_string())].into_iter().collect(),
        digest: vec![signal::sip::digest::Algorithm::Sha256, signal::sip::digest::Algorithm::Md5],
        trunks: vec![],
        prompts: "/nonexistent".into(),
        // SRTP offered or not, every SDES path is open.
        srtp: signal::sip::sdes::Policy::Optional,
    };
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

//! A phone's SDP is attacker-controlled: parsing an offer never panics, and when it
//! parses, our answer is valid SDP whose own parse picks the same codec, payload type
//! and address; our offers for any codec list parse back too.
#![no_main]
use libfuzzer_sys::fuzz_target;
use signal::sip::sdp::{self, Local};

fuzz_target!(|data: &[u8]| {
    let local = Local { session_id: 1, version: 1, addr: "127.0.0.1".parse().unwrap(), port: 50000, user: "mediad" };
    if let Ok(offer) = sdp::parse_offer(data) {
        let answer = sdp::answer(&offer, &local);
        let back = sdp::parse_offer(answer.as_bytes()).unwrap_or_else(|e| panic!("our answer does not parse: {e}\n{answer}"));
        assert_eq!((back.audio.codec, back.audio.pt, back.port), (offer.audio.codec, offer.audio.pt, 50000));
    }
    // The bytes as a codec allow-list (trunk files are operator input, but still).
    let names: Vec<String> = String::from_utf8_lossy(data).split(',').map(str::to_string).collect();
    let codecs = sdp::known(&names);
    if !codecs.is_empty() {
        let ours = sdp::offer(&local, &codecs);
        let parsed = sdp::parse_offer(ours.as_bytes()).expect("our offer parses");
        assert_eq!(parsed.audio.codec, codecs[0]);
    }
});

//! A phone's SDP is attacker-controlled: parsing an offer never panics, and when it
//! parses, our answer is valid SDP whose own parse picks the same codec, payload type
//! and address (and, when the offer had a usable `a=crypto` line, the key of ours we
//! answered with); our offers for any codec list parse back too.
#![no_main]
use libfuzzer_sys::fuzz_target;
use signal::sip::sdes::Crypto;
use signal::sip::sdp::{self, Local};

fn local(crypto: Option<&Crypto>, savp: bool, video_port: Option<u16>) -> Local<'_> {
    Local { session_id: 1, version: 1, addr: "127.0.0.1".parse().unwrap(), port: 50000, user: "mediad", crypto, savp, video_port }
}

fuzz_target!(|data: &[u8]| {
    let ours = Crypto::ours(1, control::SdesSuite::AesCm128HmacSha1_80);
    if let Ok(offer) = sdp::parse_offer(data) {
        let mine = offer.crypto.as_ref().map(|c| Crypto::ours(c.tag, c.suite));
        // A video m-line we take is answered from a video leg's port.
        let video_port = offer.video.as_ref().map(|_| 50010);
        let answer = sdp::answer(&offer, &local(mine.as_ref(), false, video_port));
        let back = sdp::parse_offer(answer.as_bytes()).unwrap_or_else(|e| panic!("our answer does not parse: {e}\n{answer}"));
        assert_eq!((back.audio.codec, back.audio.pt, back.port), (offer.audio.codec, offer.audio.pt, 50000));
        let video = |o: &sdp::Offer| o.video.as_ref().map(|v| (v.pt, v.codec));
        assert_eq!(video(&back), video(&offer), "our video answer reads back: {answer}");
        assert_eq!(back.crypto, mine, "our key is read back as written");
    }
    let savp = data.len() % 2 == 1;
    // The bytes as a codec allow-list (trunk files are operator input, but still).
    let names: Vec<String> = String::from_utf8_lossy(data).split(',').map(str::to_string).collect();
    let codecs = sdp::known(&names);
    if !codecs.is_empty() {
        let offer = sdp::offer(&local(Some(&ours), savp, None), &codecs);
        let parsed = sdp::parse_offer(offer.as_bytes()).expect("our offer parses");
        assert_eq!((parsed.audio.codec, parsed.savp, parsed.crypto.as_ref()), (codecs[0], savp, Some(&ours)));
    }
});

//! A browser's SDP is attacker-controlled text: parsing it never panics, and an answer
//! written from whatever parsed is itself valid SDP that parses back with the same
//! m-lines and transport.
#![no_main]
use libfuzzer_sys::fuzz_target;
use signal::webrtc::sdp::{self, Local, Section};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(offer) = sdp::parse(text) else { return };
    let cands = ["127.0.0.1:53000".parse().unwrap()];
    let local = Local { ice_ufrag: "ufrg", ice_pwd: "passwordpasswordpassword", fingerprint: "sha-256 AA:BB", candidates: &cands, setup: "passive" };
    let sections: Vec<Section> = offer
        .media
        .iter()
        .map(|m| Section {
            kind: m.kind,
            mid: &m.mid,
            codec: sdp::choose_codec(m),
            direction: "recvonly",
            send: None,
            rejected_as: Some((&m.proto, &m.fmt)),
            extmaps: vec![],
            // RIDs parsed from hostile text go back into our answer: they must stay tokens.
            recv_rids: &m.send_rids,
            extra_feedback: &["transport-cc"],
        })
        .collect();
    let answer = sdp::write(1, 1, &local, &sections);
    // Values copied from the offer (mid, fmtp, proto) may hold what SDP cannot carry;
    // the writer must not turn them into extra lines.
    // (An answer that accepts nothing is never sent: the conference refuses the offer.)
    if sections.iter().any(|s| s.codec.is_some()) && offer.media.iter().all(|m| clean(&m.mid) && clean(&m.proto) && clean(&m.fmt) && m.codecs.iter().all(|c| c.fmtp.as_deref().is_none_or(clean) && clean(&c.name))) {
        let back = sdp::parse(&answer).expect("our answer parses");
        assert_eq!(back.media.len(), offer.media.len());
        assert_eq!(back.ice_ufrag, "ufrg");
        for m in &offer.media {
            assert!(m.send_rids.iter().all(|r| r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')));
        }
    }
});

fn clean(s: &str) -> bool {
    !s.is_empty() && !s.contains(['\r', '\n'])
}

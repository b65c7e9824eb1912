//! What simulcast forwarding reads from each packet of a publisher: the RID and
//! transport-wide sequence extensions, the keyframe marks of every codec's payload
//! format; and what it does with them: the layer choice and TWCC feedback.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mediad::rtp::extensions::one_byte;
use mediad::rtp::keyframe::{starts_keyframe, VideoCodec};
use mediad::rtp::simulcast::{LayerSelector, LayerTag};
use mediad::rtp::twcc::TwccRecorder;
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let t0 = Instant::now();
    let first = LayerTag { track_ssrc: 7, layer: 0, layers: 3, keyframe: false, tid: None };
    let mut sel = LayerSelector::new(&first, 90_000, t0);
    let mut twcc = TwccRecorder::new(3);
    let mut out = [0u8; 1500];
    let mut rest = data;
    let mut i = 0u64;
    while rest.len() >= 3 {
        let len = (u16::from_be_bytes([rest[0], rest[1]]) as usize).min(rest.len() - 3);
        let budget = rest[2] as u64 * 20_000;
        let pkt = &rest[3..3 + len];
        rest = &rest[3 + len..];
        i += 1;
        let now = t0 + Duration::from_millis(i * 7);
        let rid = one_byte(pkt, 10).and_then(|r| r.first().copied()).unwrap_or(0);
        let key = [VideoCodec::Vp8, VideoCodec::Vp9, VideoCodec::H264, VideoCodec::Av1].iter().any(|&c| starts_keyframe(c, pkt));
        let tid = mediad::rtp::keyframe::vp8_tid(pkt);
        let tag = LayerTag { layer: rid % 4, keyframe: key, tid, ..first };
        let (seq, ts) = match pkt.get(2..8) {
            Some(h) => (u16::from_be_bytes([h[0], h[1]]), u32::from_be_bytes([h[2], h[3], h[4], h[5]])),
            None => (i as u16, 0),
        };
        let _ = sel.on_packet(&tag, 100 + tag.layer as u32, seq, ts, pkt.len(), now);
        if let Some(&[a, b]) = one_byte(pkt, 3) {
            twcc.on_packet(u16::from_be_bytes([a, b]), i * 1000, 1);
        }
        if i % 16 == 0 {
            sel.measure(now);
            let (_, ask) = sel.choose(budget, now);
            assert!(ask.is_none_or(|l| l < 3));
            for _ in 0..4 {
                if let Some(n) = twcc.write_feedback(&mut out, 9) {
                    assert!(n <= out.len());
                }
            }
        }
    }
});

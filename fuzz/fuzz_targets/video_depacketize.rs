//! What the video MCU reads from every sender: RTP packets of H.264, VP8 and AV1 in
//! any order, loss, duplication and content, through the reorder buffer and each
//! payload format's depacketizer. Never a panic, frames handed out stay within the
//! size limit, counters stay consistent.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mediad::video::assembler::{Assembler, AssemblerConfig, Output};
use mediad::video::VideoCodec;
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, mut rest)) = data.split_first() else { return };
    let codec = [VideoCodec::H264, VideoCodec::Vp8, VideoCodec::Av1][pick as usize % 3];
    let config = AssemblerConfig { max_frame_bytes: 4096, max_packets: 64, ..Default::default() };
    let mut a = Assembler::new(codec, config).expect("decoded codec");
    let mut now = Instant::now();
    let mut seq = 1000u16;
    let mut ts = 0u32;
    // Each packet: [payload length, sequence step, flags (marker, new timestamp,
    // time passes)], then the payload.
    while let [len, step, flags, tail @ ..] = rest {
        let n = (*len as usize).min(tail.len());
        seq = seq.wrapping_add(*step as u16).wrapping_sub(8);
        if flags & 2 != 0 {
            ts = ts.wrapping_add(3000);
        }
        let mut p = vec![0x80, 96 | (flags & 1) << 7];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 9]);
        p.extend_from_slice(&tail[..n]);
        a.push(now, &p);
        if flags & 4 != 0 {
            now += Duration::from_millis(60);
            a.handle_timeout(now);
        }
        rest = &tail[n..];
        while let Some(o) = a.poll() {
            if let Output::Frame { unit, .. } = o {
                assert!(unit.data.len() <= 4096, "frame of {} bytes", unit.data.len());
            }
        }
    }
    let s = a.stats;
    assert!(s.frames <= s.packets && s.keyframes <= s.frames, "{s:?}");
});

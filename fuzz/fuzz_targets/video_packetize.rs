//! The MCU's packetizers on any frame bytes and payload size: never a panic, every
//! payload within the size, and our depacketizers give back the frame (H.264: its NAL
//! units behind 4-byte start codes; VP8: the bytes).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mediad::video::h264::H264;
use mediad::video::packetize::{h264, nal_units, vp8};
use mediad::video::vp8::Vp8;
use mediad::video::Unit;

fuzz_target!(|data: &[u8]| {
    let Some((&size, frame)) = data.split_first() else { return };
    let max = 16 + size as usize * 4;
    if let Ok(payloads) = h264(frame, max) {
        assert!(payloads.iter().all(|p| p.len() <= max && !p.is_empty()));
        let (mut d, mut u) = (H264::default(), Unit::default());
        for p in &payloads {
            d.push(p, &mut u).expect("our own payloads read back");
        }
        d.finish().expect("whole fragments");
        let want: Vec<u8> = nal_units(frame).iter().flat_map(|n| [0, 0, 0, 1].iter().chain(n.iter()).copied()).collect();
        assert_eq!(u.data, want);
    }
    if let Ok(payloads) = vp8(frame, size as u16, max) {
        assert!(payloads.iter().all(|p| p.len() <= max));
        let (mut d, mut u) = (Vp8::default(), Unit::default());
        for p in &payloads {
            d.push(p, &mut u).expect("our own payloads read back");
        }
        assert_eq!(u.data, frame);
    }
});

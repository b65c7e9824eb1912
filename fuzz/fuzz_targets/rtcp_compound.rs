//! RTCP termination: compound parsing and the feedback items we act on; whatever is
//! accepted must be re-encodable.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mediad::rtp::rtcp::{parse, write_fir, write_nack, write_pli, Item};

fuzz_target!(|data: &[u8]| {
    let mut buf = [0u8; 2048];
    let _ = parse(data, |item| match item {
        Item::Pli { media_ssrc } => {
            write_pli(&mut buf, 1, media_ssrc).unwrap();
        }
        Item::Fir { ssrc, seq } => {
            write_fir(&mut buf, 1, ssrc, seq).unwrap();
        }
        Item::Nack { media_ssrc, seqs } => {
            // The engine relays at most what fits one datagram.
            let n = seqs.len().min(200);
            write_nack(&mut buf, 1, media_ssrc, &seqs[..n]).unwrap();
        }
        _ => {}
    });
});

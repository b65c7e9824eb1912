//! Everything the engine does with an incoming datagram before routing it:
//! classification, RTP parsing, receive statistics, rewrite of the fixed header.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mediad::rtp::demux::{classify, Kind};
use mediad::rtp::receive_stats::ReceiveStats;
use mediad::rtp::rewrite::Rewriter;
use std::time::Instant;

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let mut stats = ReceiveStats::default();
    let mut rw = Rewriter::new(1, 90000);
    // Treat the input as a sequence of length-prefixed datagrams for one leg.
    let mut rest = data;
    let mut i = 0u64;
    while rest.len() >= 2 {
        let len = (u16::from_be_bytes([rest[0], rest[1]]) as usize).min(rest.len() - 2);
        let mut pkt = rest[2..2 + len].to_vec();
        rest = &rest[2 + len..];
        i += 1;
        if classify(&pkt) != Kind::Rtp {
            continue;
        }
        let Ok(p) = rtp_types::RtpPacket::parse(&pkt) else { continue };
        let (ssrc, seq, ts) = (p.ssrc(), p.sequence_number(), p.timestamp());
        if stats.ssrc != Some(ssrc) {
            stats.reset(ssrc, seq);
        }
        stats.on_packet(seq, ts, i * 3000);
        let _ = (stats.lost(), stats.expected(), stats.jitter(), stats.take_fraction_lost());
        let (s, t, _) = rw.rewrite(ssrc, seq, ts, now);
        pkt[2..4].copy_from_slice(&s.to_be_bytes());
        pkt[4..8].copy_from_slice(&t.to_be_bytes());
        assert!(rtp_types::RtpPacket::parse(&pkt).is_ok(), "a rewrite keeps a valid packet valid");
    }
});

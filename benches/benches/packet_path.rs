//! Cost of the per-packet work of the relay, without sockets: classification, RTP
//! parse, receive statistics and in-place rewrite. Prints nanoseconds per packet; the
//! kernel's share is measured end to end by `perf relay`.

use mediad::rtp::demux::classify;
use mediad::rtp::receive_stats::ReceiveStats;
use mediad::rtp::rewrite::Rewriter;
use std::hint::black_box;
use std::time::{Duration, Instant};

fn packet(seq: u16, size: usize) -> Vec<u8> {
    let mut p = vec![0u8; size];
    p[0] = 0x80;
    p[1] = 96;
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[4..8].copy_from_slice(&(seq as u32 * 160).to_be_bytes());
    p[8..12].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    p
}

fn main() {
    let n: u32 = std::env::var("BENCH_PACKETS").ok().and_then(|v| v.parse().ok()).unwrap_or(5_000_000);
    let mut pkts: Vec<Vec<u8>> = (0..1024).map(|i| packet(i as u16, 200)).collect();
    let mut stats = ReceiveStats::default();
    stats.reset(0x1234_5678, 0);
    let mut rw = Rewriter::new(0xdead_beef, 48000);
    let mut hist = hdrhistogram::Histogram::<u64>::new(3).unwrap();
    let start = Instant::now();
    let now = Instant::now();
    let mut chunk_start = Instant::now();
    for i in 0..n {
        let p = &mut pkts[(i & 1023) as usize];
        let seq = i as u16;
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        black_box(classify(p));
        let r = rtp_types::RtpPacket::parse(p).unwrap();
        let (ssrc, seq, ts) = (r.ssrc(), r.sequence_number(), r.timestamp());
        stats.on_packet(seq, ts, i as u64 * 160);
        let (s, t, _) = rw.rewrite(ssrc, seq, ts, now + Duration::from_micros(i as u64 * 20));
        p[2..4].copy_from_slice(&s.to_be_bytes());
        p[4..8].copy_from_slice(&t.to_be_bytes());
        p[8..12].copy_from_slice(&rw.out_ssrc.to_be_bytes());
        if i % 1024 == 1023 {
            let el = chunk_start.elapsed().as_nanos() as u64 / 1024;
            hist.record(el.max(1)).unwrap();
            chunk_start = Instant::now();
        }
    }
    let total = start.elapsed();
    black_box(&pkts);
    println!(
        "packet_path: {n} packets, {:.1} ns/packet mean, per-1024-batch p50 {} ns p99 {} ns per packet ({:.1} M packets/s on one core)",
        total.as_nanos() as f64 / n as f64,
        hist.value_at_quantile(0.5),
        hist.value_at_quantile(0.99),
        n as f64 / total.as_secs_f64() / 1e6
    );
}

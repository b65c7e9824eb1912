//! The load generator: one thread on its own core sends RTP-shaped packets to a set of
//! flow destinations at a paced rate and receives what the system under test forwards.
//! Each packet carries its send time, flow and sequence number in the payload, so the
//! receiver measures one-way latency (same clock) and loss per flow.

use crate::sys::{self, now_ns, RecvBatch};
use hdrhistogram::Histogram;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

pub struct Load {
    /// Where flow i's packets are sent.
    pub dests: Vec<SocketAddr>,
    pub payload: usize,
    pub rate_pps: f64,
    pub duration: Duration,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub sent: u64,
    pub received: u64,
    pub wall_s: f64,
    pub hist: Histogram<u64>,
}

impl Outcome {
    pub fn loss(&self, fanout: usize) -> f64 {
        let want = self.sent as f64 * fanout as f64;
        if want == 0.0 { 0.0 } else { (1.0 - self.received as f64 / want).max(0.0) }
    }
    pub fn delivered_pps(&self) -> f64 {
        self.received as f64 / self.wall_s
    }
}

const HDR: usize = 12;

/// Run one load phase. `tx` sends, `rx` receives (both non-blocking, on this thread).
pub fn run(load: &Load, tx: &UdpSocket, rx: &UdpSocket) -> Outcome {
    let size = (HDR + 16).max(load.payload);
    let dests: Vec<_> = load.dests.iter().map(|d| sys::sockaddr(*d)).collect();
    let mut pkts: Vec<Vec<u8>> = (0..dests.len())
        .map(|f| {
            let mut p = vec![0u8; size];
            p[0] = 0x80;
            p[1] = 96;
            p[8..12].copy_from_slice(&(0x5000_0000u32 + f as u32).to_be_bytes());
            p[20..24].copy_from_slice(&(f as u32).to_be_bytes());
            p
        })
        .collect();
    let mut seq = vec![0u32; dests.len()];
    let mut hist = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).unwrap();
    let mut rb = RecvBatch::new(64);
    let (mut sent, mut received) = (0u64, 0u64);
    let start = now_ns();
    let end = start + load.duration.as_nanos() as u64;
    let interval = 1e9 / load.rate_pps;
    let mut next_flow = 0usize;
    let mut batch: Vec<usize> = Vec::with_capacity(64);
    let drain = |rb: &mut RecvBatch, hist: &mut Histogram<u64>| -> u64 {
        let mut got = 0;
        loop {
            let n = rb.recv(rx, libc::MSG_DONTWAIT);
            if n == 0 {
                return got;
            }
            let now = now_ns();
            for i in 0..n {
                if rb.lens[i] >= HDR + 16 {
                    let t = u64::from_be_bytes(rb.bufs[i][HDR..HDR + 8].try_into().unwrap());
                    let _ = hist.record(now.saturating_sub(t).max(1));
                    got += 1;
                }
            }
        }
    };
    loop {
        let now = now_ns();
        if now >= end {
            break;
        }
        let due = ((now - start) as f64 / interval) as u64 + 1;
        let mut want = due.saturating_sub(sent).min(64) as usize;
        while want > 0 {
            batch.clear();
            for _ in 0..want {
                batch.push(next_flow);
                next_flow = (next_flow + 1) % dests.len();
            }
            let t = now_ns();
            for &f in &batch {
                let p = &mut pkts[f];
                seq[f] = seq[f].wrapping_add(1);
                p[2..4].copy_from_slice(&(seq[f] as u16).to_be_bytes());
                p[4..8].copy_from_slice(&(seq[f].wrapping_mul(160)).to_be_bytes());
                p[HDR..HDR + 8].copy_from_slice(&t.to_be_bytes());
                p[24..28].copy_from_slice(&seq[f].to_be_bytes());
            }
            let items: Vec<(&[u8], &(libc::sockaddr_in, libc::socklen_t))> =
                batch.iter().map(|&f| (pkts[f].as_slice(), &dests[f])).collect();
            let n = sys::send_batch(tx, &items);
            sent += n as u64;
            want = 0;
            if n < items.len() {
                break;
            }
        }
        received += drain(&mut rb, &mut hist);
    }
    // Let packets in flight arrive.
    let tail = now_ns() + 200_000_000;
    while now_ns() < tail {
        received += drain(&mut rb, &mut hist);
    }
    Outcome { sent, received, wall_s: (end - start) as f64 / 1e9, hist }
}

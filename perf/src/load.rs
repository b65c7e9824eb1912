//! The load generator: one thread on its own core sends RTP-shaped packets to a set of
//! flow destinations at a paced rate and receives what the system under test forwards.
//! Each packet carries its send time, flow and sequence number in the payload, so the
//! receiver measures one-way latency (same clock) and loss per flow.

use crate::sys::{self, now_ns, RecvBatch};
use hdrhistogram::Histogram;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

/// One stream of the load: which generator socket sends it, where, and the bytes that
/// go before the measured packet (a TURN ChannelData header, or nothing).
#[derive(Debug, Clone)]
pub struct Flow {
    pub sock: usize,
    pub dest: SocketAddr,
    pub prefix: Vec<u8>,
}

pub struct Load<'a> {
    pub flows: Vec<Flow>,
    /// Generator sockets the flows send from (one for a relay, one per allocation for TURN).
    pub socks: &'a [&'a UdpSocket],
    pub payload: usize,
    pub rate_pps: f64,
    pub duration: Duration,
    /// Packets a flow sends back to back before the next flow (at least 1).
    pub burst: usize,
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

/// Run one load phase: the flows send from their sockets, `rx` receives what comes
/// out of the system under test (all non-blocking, on this thread).
pub fn run(load: &Load, rx: &UdpSocket) -> Outcome {
    let size = (HDR + 16).max(load.payload);
    let dests: Vec<_> = load.flows.iter().map(|f| sys::sockaddr(f.dest)).collect();
    // Offset of the measured packet inside what is sent.
    let at: Vec<usize> = load.flows.iter().map(|f| f.prefix.len()).collect();
    let mut pkts: Vec<Vec<u8>> = load
        .flows
        .iter()
        .enumerate()
        .map(|(f, flow)| {
            let mut p = flow.prefix.clone();
            let o = p.len();
            p.resize(o + size, 0);
            p[o] = 0x80;
            p[o + 1] = 96;
            p[o + 8..o + 12].copy_from_slice(&(0x5000_0000u32 + f as u32).to_be_bytes());
            p[o + 20..o + 24].copy_from_slice(&(f as u32).to_be_bytes());
            p
        })
        .collect();
    let mut per_sock: Vec<Vec<usize>> = vec![Vec::new(); load.socks.len()];
    let mut seq = vec![0u32; dests.len()];
    let mut hist = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).unwrap();
    let mut rb = RecvBatch::new(64);
    let (mut sent, mut received) = (0u64, 0u64);
    let start = now_ns();
    let end = start + load.duration.as_nanos() as u64;
    let interval = 1e9 / load.rate_pps;
    let (mut next_flow, mut in_burst) = (0usize, 0usize);
    let mut skipped = 0u64;
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
        // A generator that fell behind (descheduled) must not catch up in one burst: a
        // burst of thousands of packets is not what sources send and it turns into queueing
        // at whatever system is measured. Missed sends beyond 1 ms of traffic are skipped.
        let backlog_cap = (1_000_000.0 / interval).max(1.0) as u64;
        if due > sent + skipped + backlog_cap {
            skipped = due - sent - backlog_cap;
        }
        let mut want = due.saturating_sub(sent + skipped).min(64) as usize;
        while want > 0 {
            batch.clear();
            for _ in 0..want {
                batch.push(next_flow);
                in_burst += 1;
                if in_burst >= load.burst.max(1) {
                    in_burst = 0;
                    next_flow = (next_flow + 1) % dests.len();
                }
            }
            let t = now_ns();
            for &f in &batch {
                let (p, o) = (&mut pkts[f], at[f]);
                seq[f] = seq[f].wrapping_add(1);
                p[o + 2..o + 4].copy_from_slice(&(seq[f] as u16).to_be_bytes());
                p[o + 4..o + 8].copy_from_slice(&(seq[f].wrapping_mul(160)).to_be_bytes());
                p[o + HDR..o + HDR + 8].copy_from_slice(&t.to_be_bytes());
                p[o + 24..o + 28].copy_from_slice(&seq[f].to_be_bytes());
                per_sock[load.flows[f].sock].push(f);
            }
            let mut short = false;
            for (si, flows) in per_sock.iter_mut().enumerate() {
                if flows.is_empty() {
                    continue;
                }
                let items: Vec<(&[u8], &(libc::sockaddr_in, libc::socklen_t))> =
                    flows.iter().map(|&f| (pkts[f].as_slice(), &dests[f])).collect();
                let n = sys::send_batch(load.socks[si], &items, load.burst > 1);
                sent += n as u64;
                short |= n < items.len();
                flows.clear();
            }
            want = 0;
            if short {
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

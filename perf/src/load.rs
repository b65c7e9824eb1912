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
    /// SRTP per flow (WebRTC legs): packets are protected before sending, and the send
    /// time travels in a header extension, which SRTP leaves in the clear, so
    /// receivers measure latency without decrypting.
    pub protect: Option<&'a std::cell::RefCell<Vec<SrtpFlow>>>,
    /// Every flow's SSRC, when the system needs one (else 0x5000_0000 + flow).
    pub fixed_ssrc: Option<u32>,
}

/// One SRTP flow's keys and where its numbering goes on: SRTP refuses a replayed
/// index, so a later load phase must not start the sequence over.
pub struct SrtpFlow {
    pub session: mediad::srtp::SrtpSession,
    pub next_seq: u32,
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
/// Where the send time sits when it rides in the header extension.
const TIME_EXT: usize = 17;

/// Run one load phase: the flows send from their sockets, `rx` receives what comes
/// out of the system under test (all non-blocking, on this thread).
pub fn run(load: &Load, rx: &UdpSocket) -> Outcome {
    let size = (HDR + 24).max(load.payload);
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
            p[o] = if load.protect.is_some() { 0x90 } else { 0x80 };
            p[o + 1] = 96;
            if load.protect.is_some() {
                // One-byte-header extension (RFC 8285), 3 words: id 1, 8 bytes of time.
                p[o + 12..o + 16].copy_from_slice(&[0xBE, 0xDE, 0, 3]);
                p[o + 16] = 0x17;
            }
            p[o + 8..o + 12].copy_from_slice(&load.fixed_ssrc.unwrap_or(0x5000_0000u32 + f as u32).to_be_bytes());
            p[o + 32..o + 36].copy_from_slice(&(f as u32).to_be_bytes());
            p
        })
        .collect();
    let mut per_sock: Vec<Vec<usize>> = vec![Vec::new(); load.socks.len()];
    let mut seq = match load.protect {
        Some(c) => c.borrow().iter().map(|f| f.next_seq).collect(),
        None => vec![0u32; dests.len()],
    };
    let mut hist = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).unwrap();
    let mut rb = RecvBatch::new(64);
    let (mut sent, mut received) = (0u64, 0u64);
    let start = now_ns();
    let end = start + load.duration.as_nanos() as u64;
    let interval = 1e9 / load.rate_pps;
    let (mut next_flow, mut in_burst) = (0usize, 0usize);
    let mut skipped = 0u64;
    let mut batch: Vec<usize> = Vec::with_capacity(64);
    let mut wire: Vec<Vec<u8>> = (0..64).map(|_| Vec::with_capacity(size + 64)).collect();
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
                    let at = if rb.bufs[i][0] & 0x10 != 0 { TIME_EXT } else { HDR };
                    let t = u64::from_be_bytes(rb.bufs[i][at..at + 8].try_into().unwrap());
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
            let mut srtp = load.protect.map(|c| c.borrow_mut());
            for (j, &f) in batch.iter().enumerate() {
                let (p, o) = (&mut pkts[f], at[f]);
                seq[f] = seq[f].wrapping_add(1);
                p[o + 2..o + 4].copy_from_slice(&(seq[f] as u16).to_be_bytes());
                p[o + 4..o + 8].copy_from_slice(&(seq[f].wrapping_mul(160)).to_be_bytes());
                let time_at = if srtp.is_some() { o + TIME_EXT } else { o + HDR };
                p[time_at..time_at + 8].copy_from_slice(&t.to_be_bytes());
                p[o + 28..o + 32].copy_from_slice(&seq[f].to_be_bytes());
                // Each batch position has its own copy: a flow sending a burst puts
                // several of its packets in one batch, each with its own numbers.
                let w = &mut wire[j];
                w.clear();
                w.extend_from_slice(p);
                if let Some(s) = srtp.as_mut() {
                    let len = w.len();
                    w.resize(len + 16, 0);
                    let n = s[f].session.protect_rtp(w, len).expect("room for the tag");
                    w.truncate(n);
                }
                per_sock[load.flows[f].sock].push(j);
            }
            drop(srtp);
            let mut short = false;
            for (si, flows) in per_sock.iter_mut().enumerate() {
                if flows.is_empty() {
                    continue;
                }
                let items: Vec<(&[u8], &(libc::sockaddr_in, libc::socklen_t))> =
                    flows.iter().map(|&j| (wire[j].as_slice(), &dests[batch[j]])).collect();
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
    if let Some(c) = load.protect {
        for (f, flow) in c.borrow_mut().iter_mut().enumerate() {
            flow.next_seq = seq[f];
        }
    }
    // Let packets in flight arrive.
    let tail = now_ns() + 200_000_000;
    while now_ns() < tail {
        received += drain(&mut rb, &mut hist);
    }
    Outcome { sent, received, wall_s: (end - start) as f64 / 1e9, hist }
}

//! RFC 3261 §17 timers, sans-IO: what is resent when, over an unreliable transport.
//! A `Retransmit` holds one message and its schedule (T1 doubling up to a cap) and
//! says when to give up; the endpoint keeps one per server transaction that must
//! repeat its final response (INVITE) and per request we send (BYE).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// RTT estimate (RFC 3261: 500 ms).
pub const T1: Duration = Duration::from_millis(500);
/// Longest retransmit interval for non-INVITE requests and INVITE responses.
pub const T2: Duration = Duration::from_secs(4);
/// How long a completed transaction absorbs retransmissions (Timer J / H / F: 64·T1).
pub const LINGER: Duration = Duration::from_secs(32);

#[derive(Debug, Clone)]
pub struct Retransmit {
    pub to: SocketAddr,
    pub bytes: Vec<u8>,
    next: Instant,
    interval: Duration,
    cap: Duration,
    give_up: Instant,
}

impl Retransmit {
    /// Sent once now; again after T1, 2·T1, ... (at most `cap` apart) until stopped
    /// or 64·T1 have passed.
    pub fn new(to: SocketAddr, bytes: Vec<u8>, now: Instant, cap: Duration) -> Self {
        Retransmit { to, bytes, next: now + T1, interval: T1, cap, give_up: now + LINGER }
    }

    pub fn due(&self) -> Instant {
        self.next.min(self.give_up)
    }

    /// At `now`: queue the message again into `out` when due (`Some(true)`), nothing
    /// yet (`Some(false)`), or gave up (`None`).
    pub fn resend(&mut self, now: Instant, out: &mut Vec<(SocketAddr, Vec<u8>)>) -> Option<bool> {
        let due = self.poll(now)?;
        if due {
            out.push((self.to, self.bytes.clone()));
        }
        Some(due)
    }

    /// At `now`: `Some(true)` send again, `Some(false)` nothing yet, `None` gave up.
    fn poll(&mut self, now: Instant) -> Option<bool> {
        if now >= self.give_up {
            return None;
        }
        if now < self.next {
            return Some(false);
        }
        self.interval = (self.interval * 2).min(self.cap);
        self.next = now + self.interval;
        Some(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_then_gives_up_after_64_t1() {
        let t0 = Instant::now();
        let mut r = Retransmit::new("127.0.0.1:5060".parse().unwrap(), vec![1], t0, T2);
        let mut sent = vec![];
        let mut t = t0;
        while let Some(again) = r.poll(t) {
            if again {
                sent.push((t - t0).as_millis());
            }
            t += Duration::from_millis(50);
        }
        assert_eq!(&sent[..5], &[500, 1500, 3500, 7500, 11500], "T1, then doubling up to T2 = 4 s");
        assert!((t - t0) >= LINGER && (t - t0) < LINGER + Duration::from_millis(100));
    }
}

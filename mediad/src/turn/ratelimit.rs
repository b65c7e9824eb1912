//! Per-source-IP token buckets for requests answered without credentials (Binding,
//! 401/438 challenges): a flood from one address is dropped before it costs an answer.
//! The table is bounded; idle full buckets are forgotten on the tick.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

const MAX_TRACKED: usize = 100_000;

pub struct RateLimit {
    per_s: f64,
    burst: f64,
    buckets: HashMap<IpAddr, (f64, Instant)>,
}

impl RateLimit {
    /// `per_s` requests per second with a burst of `burst`; 0 disables the limit.
    pub fn new(per_s: u32, burst: u32) -> Self {
        RateLimit { per_s: per_s as f64, burst: burst.max(1) as f64, buckets: HashMap::new() }
    }

    /// Take one token for `ip`; false means drop the request.
    pub fn allow(&mut self, ip: IpAddr, now: Instant) -> bool {
        if self.per_s == 0.0 {
            return true;
        }
        if self.buckets.len() >= MAX_TRACKED && !self.buckets.contains_key(&ip) {
            // Under a spoofed-source flood the table is full: new addresses wait for the
            // tick to forget idle ones instead of growing memory without bound.
            return false;
        }
        let (per_s, burst) = (self.per_s, self.burst);
        let b = self.buckets.entry(ip).or_insert((burst, now));
        b.0 = (b.0 + now.saturating_duration_since(b.1).as_secs_f64() * per_s).min(burst);
        b.1 = now;
        if b.0 >= 1.0 {
            b.0 -= 1.0;
            true
        } else {
            false
        }
    }

    /// Forget addresses whose bucket has been full for a while.
    pub fn forget_idle(&mut self, now: Instant) {
        let refill = Duration::from_secs_f64(self.burst / self.per_s.max(1.0)) + Duration::from_secs(10);
        self.buckets.retain(|_, b| now.saturating_duration_since(b.1) < refill);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let mut r = RateLimit::new(10, 5);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let t = Instant::now();
        assert_eq!((0..10).filter(|_| r.allow(ip, t)).count(), 5, "burst of 5");
        assert!(r.allow(ip, t + Duration::from_millis(100)), "one token per 100 ms");
        assert!(!r.allow(ip, t + Duration::from_millis(100)));
        assert!(r.allow("192.0.2.2".parse().unwrap(), t), "per address");
        r.forget_idle(t + Duration::from_secs(60));
        assert!(r.buckets.is_empty());
        assert!(RateLimit::new(0, 0).allow(ip, t), "0 disables");
    }
}

//! One allocation: the client's 5-tuple, its relay socket, permissions, channels,
//! lifetime, bandwidth bucket and counters.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

pub const PERMISSION_LIFETIME: Duration = Duration::from_secs(300);
pub const CHANNEL_LIFETIME: Duration = Duration::from_secs(600);

#[derive(Debug, Clone)]
pub struct Channel {
    pub number: u16,
    pub peer: SocketAddr,
    pub expires: Instant,
}

#[derive(Debug, Clone, Default)]
pub struct Counters {
    pub to_peer_packets: u64,
    pub to_peer_bytes: u64,
    pub from_peer_packets: u64,
    pub from_peer_bytes: u64,
    pub dropped: u64,
}

#[derive(Debug)]
pub struct Allocation {
    pub client: SocketAddr,
    pub listener: u32,
    pub relay: u32,
    pub relay_addr: SocketAddr,
    pub user: String,
    pub key: [u8; 16],
    pub created: Instant,
    pub expires: Instant,
    pub permissions: Vec<(IpAddr, Instant)>,
    pub channels: Vec<Channel>,
    pub counters: Counters,
    /// Multiplexed mode: peer addresses routed to this allocation (bounded, oldest
    /// first) and the last one sent to, so the per-packet check is one compare.
    pub peers_bound: Vec<SocketAddr>,
    pub last_peer: Option<SocketAddr>,
    /// RFC 6062 TCP relay: `relay` is a listener and peers come as connections.
    pub tcp: bool,
    /// Token bucket for `max-bps`: bytes available and when it was last filled.
    pub bucket: (f64, Instant),
}

impl Allocation {
    pub fn permitted(&self, ip: IpAddr, now: Instant) -> bool {
        self.permissions.iter().any(|&(p, exp)| p == ip && exp > now)
    }

    /// Install or refresh a permission; true when it is new.
    pub fn permit(&mut self, ip: IpAddr, now: Instant) -> bool {
        let exp = now + PERMISSION_LIFETIME;
        match self.permissions.iter_mut().find(|p| p.0 == ip) {
            Some(p) => {
                p.1 = exp;
                false
            }
            None => {
                self.permissions.push((ip, exp));
                true
            }
        }
    }

    pub fn channel_by_number(&self, n: u16, now: Instant) -> Option<&Channel> {
        self.channels.iter().find(|c| c.number == n && c.expires > now)
    }

    pub fn channel_by_peer(&self, peer: SocketAddr, now: Instant) -> Option<&Channel> {
        self.channels.iter().find(|c| c.peer == peer && c.expires > now)
    }

    /// Spend `bytes` from the bandwidth bucket; false means over the cap (drop).
    pub fn spend(&mut self, bytes: usize, max_bps: u64, now: Instant) -> bool {
        if max_bps == 0 {
            return true;
        }
        let rate = max_bps as f64 / 8.0;
        let (tokens, last) = self.bucket;
        // Burst of up to one second at the cap.
        let tokens = (tokens + now.saturating_duration_since(last).as_secs_f64() * rate).min(rate);
        if tokens < bytes as f64 {
            self.bucket = (tokens, now);
            return false;
        }
        self.bucket = (tokens - bytes as f64, now);
        true
    }

    /// Drop expired permissions (their IPs go to `gone`) and channels.
    pub fn expire(&mut self, now: Instant, gone: &mut Vec<IpAddr>) {
        self.permissions.retain(|p| {
            if p.1 > now {
                return true;
            }
            gone.push(p.0);
            false
        });
        self.channels.retain(|c| c.expires > now);
    }
}

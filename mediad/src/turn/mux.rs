//! Multiplexed relay mode: many allocations share one relay socket, so the relayed
//! address no longer names the allocation and a datagram from a peer must be matched
//! by the peer's own address instead.
//!
//! Matching, in order:
//! 1. the exact peer transport address (ip:port) the allocation last sent to or bound
//!    a channel to: the common case, since both ICE and media start from the client;
//! 2. else the one allocation on that socket holding a permission for the peer's IP.
//!
//! Two allocations on one socket talking to the same peer address cannot be told
//! apart: the latest to send or bind wins ("rebind", counted), and an IP-only match
//! with several candidates is dropped and counted as ambiguous. Port mode has no such
//! limit; ARCHITECTURE.md says when to pick which.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

#[derive(Debug, Default)]
pub struct MuxIndex {
    /// (relay socket, peer address) → allocation slot.
    by_peer: HashMap<(u32, SocketAddr), usize>,
    /// (relay socket, peer IP) → allocations holding a permission for it (usually one).
    by_ip: HashMap<(u32, IpAddr), Vec<usize>>,
}

pub enum Match {
    Found(usize),
    Ambiguous,
    None,
}

impl MuxIndex {
    /// `idx` sent to or bound `peer`: route its replies there. True when this took the
    /// address over from another allocation.
    pub fn bind_peer(&mut self, relay: u32, peer: SocketAddr, idx: usize) -> bool {
        match self.by_peer.insert((relay, peer), idx) {
            Some(old) => old != idx,
            None => false,
        }
    }

    /// Forget `peer` for `idx` (only if still its owner).
    pub fn unbind_peer(&mut self, relay: u32, peer: SocketAddr, idx: usize) {
        if self.by_peer.get(&(relay, peer)) == Some(&idx) {
            self.by_peer.remove(&(relay, peer));
        }
    }

    pub fn add_permission(&mut self, relay: u32, ip: IpAddr, idx: usize) {
        let owners = self.by_ip.entry((relay, ip)).or_default();
        if !owners.contains(&idx) {
            owners.push(idx);
        }
    }

    pub fn remove_permission(&mut self, relay: u32, ip: IpAddr, idx: usize) {
        if let Some(owners) = self.by_ip.get_mut(&(relay, ip)) {
            owners.retain(|&o| o != idx);
            if owners.is_empty() {
                self.by_ip.remove(&(relay, ip));
            }
        }
    }

    pub fn find(&self, relay: u32, from: SocketAddr) -> Match {
        if let Some(&idx) = self.by_peer.get(&(relay, from)) {
            return Match::Found(idx);
        }
        match self.by_ip.get(&(relay, from.ip())).map(|v| v.as_slice()) {
            Some([idx]) => Match::Found(*idx),
            Some([_, _, ..]) => Match::Ambiguous,
            _ => Match::None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.by_peer.is_empty() && self.by_ip.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn exact_address_beats_ip_and_ip_needs_one_owner() {
        let mut m = MuxIndex::default();
        m.add_permission(1, a("10.0.0.1:1").ip(), 7);
        assert!(matches!(m.find(1, a("10.0.0.1:5000")), Match::Found(7)));
        assert!(matches!(m.find(2, a("10.0.0.1:5000")), Match::None), "other socket");
        m.add_permission(1, a("10.0.0.1:1").ip(), 8);
        assert!(matches!(m.find(1, a("10.0.0.1:5000")), Match::Ambiguous));
        assert!(!m.bind_peer(1, a("10.0.0.1:5000"), 8));
        assert!(matches!(m.find(1, a("10.0.0.1:5000")), Match::Found(8)));
        assert!(m.bind_peer(1, a("10.0.0.1:5000"), 7), "taken over");
        m.unbind_peer(1, a("10.0.0.1:5000"), 8);
        assert!(matches!(m.find(1, a("10.0.0.1:5000")), Match::Found(7)), "not 8's to remove");
        m.unbind_peer(1, a("10.0.0.1:5000"), 7);
        m.remove_permission(1, a("10.0.0.1:1").ip(), 7);
        assert!(matches!(m.find(1, a("10.0.0.1:5000")), Match::Found(8)));
        m.remove_permission(1, a("10.0.0.1:1").ip(), 8);
        assert!(m.is_empty());
    }
}

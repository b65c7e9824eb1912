//! The relay path, per datagram: Send indications and ChannelData from clients to
//! peers, peer datagrams back as ChannelData or Data indications, the permission and
//! bandwidth gate both pass, and multiplexed-mode peer routing.

use super::{TurnServer, TurnIo};
use crate::stun::message::{Builder, Class, Message};
use crate::stun::{attr, method};
use crate::turn::mux::Match;
use std::net::SocketAddr;
use std::time::Instant;

impl TurnServer {
    /// Multiplexed mode: datagrams from `peer` on this allocation's relay socket go to
    /// this allocation from now on.
    pub(super) fn route_peer(&mut self, idx: usize, peer: SocketAddr) {
        /// Addresses one allocation keeps routed; the oldest is let go beyond this.
        const MAX_ROUTED: usize = 64;
        let a = &mut self.allocs[idx];
        if !self.cfg.multiplexed || a.last_peer == Some(peer) {
            return;
        }
        a.last_peer = Some(peer);
        if self.mux.bind_peer(a.relay, peer, idx) {
            self.stats.mux_rebinds += 1;
        }
        if !a.peers_bound.contains(&peer) {
            if a.peers_bound.len() == MAX_ROUTED {
                let old = a.peers_bound.remove(0);
                self.mux.unbind_peer(a.relay, old, idx);
            }
            a.peers_bound.push(peer);
        }
    }

    pub(super) fn send_indication(&mut self, io: &mut dyn TurnIo, via: u32, from: SocketAddr, m: &Message<'_>, now: Instant) {
        let (Some(&idx), Some(peer), Some(data)) =
            (self.by_client.get(&(from, via)), m.xor_address(attr::XOR_PEER_ADDRESS), m.attr(attr::DATA))
        else {
            self.stats.malformed += 1;
            return;
        };
        self.relay_to_peer(io, idx, peer, data, now);
    }

    pub(super) fn channel_data(&mut self, io: &mut dyn TurnIo, via: u32, from: SocketAddr, data: &[u8], now: Instant) {
        if data.len() < 4 {
            self.stats.malformed += 1;
            return;
        }
        let number = u16::from_be_bytes([data[0], data[1]]);
        let len = u16::from_be_bytes([data[2], data[3]]) as usize;
        let Some(&idx) = self.by_client.get(&(from, via)) else {
            self.stats.dropped_no_permission += 1;
            return;
        };
        // Over UDP the datagram may carry padding after the data, never less than it.
        if data.len() < 4 + len {
            self.stats.malformed += 1;
            return;
        }
        let Some(peer) = self.allocs[idx].channel_by_number(number, now).map(|c| c.peer) else {
            self.stats.dropped_no_permission += 1;
            return;
        };
        self.relay_to_peer(io, idx, peer, &data[4..4 + len], now);
    }

    /// The gate both directions pass: a permission for the peer's address and room in
    /// the allocation's bandwidth bucket. Counts what it refuses.
    fn admit(&mut self, idx: usize, peer: SocketAddr, bytes: usize, now: Instant) -> bool {
        let a = &mut self.allocs[idx];
        let refusal = if !a.permitted(peer.ip(), now) {
            &mut self.stats.dropped_no_permission
        } else if !a.spend(bytes, self.cfg.max_bps, now) {
            &mut self.stats.dropped_bandwidth
        } else {
            return true;
        };
        *refusal += 1;
        a.counters.dropped += 1;
        false
    }

    pub(super) fn relay_to_peer(&mut self, io: &mut dyn TurnIo, idx: usize, peer: SocketAddr, payload: &[u8], now: Instant) {
        if !self.admit(idx, peer, payload.len(), now) {
            return;
        }
        let a = &mut self.allocs[idx];
        a.counters.to_peer_packets += 1;
        a.counters.to_peer_bytes += payload.len() as u64;
        self.stats.relayed_to_peer += 1;
        io.send(a.relay, peer, &[payload]);
        self.route_peer(idx, peer);
    }

    /// A datagram from a peer on relay socket `relay`.
    pub fn on_peer(&mut self, io: &mut dyn TurnIo, relay: u32, from: SocketAddr, data: &[u8], now: Instant) {
        let idx = if self.cfg.multiplexed {
            match self.mux.find(relay, from) {
                Match::Found(idx) => idx,
                Match::Ambiguous => {
                    self.stats.dropped_ambiguous_peer += 1;
                    return;
                }
                Match::None => {
                    self.stats.dropped_no_permission += 1;
                    return;
                }
            }
        } else {
            let Some(&idx) = self.by_relay.get(&relay) else { return };
            idx
        };
        if !self.admit(idx, from, data.len(), now) {
            return;
        }
        let a = &mut self.allocs[idx];
        a.counters.from_peer_packets += 1;
        a.counters.from_peer_bytes += data.len() as u64;
        self.stats.relayed_from_peer += 1;
        let (client, via) = (a.client, a.listener);
        if let Some(c) = a.channel_by_peer(from, now) {
            let mut h = [0u8; 4];
            h[..2].copy_from_slice(&c.number.to_be_bytes());
            h[2..].copy_from_slice(&(data.len() as u16).to_be_bytes());
            io.send(via, client, &[&h, data]);
            return;
        }
        self.indicate(io, via, client, method::DATA, |b| {
            b.add_xor_address(attr::XOR_PEER_ADDRESS, from)?;
            b.add(attr::DATA, data)?;
            Ok(())
        });
    }

    /// Send an indication to a client.
    pub(super) fn indicate(
        &mut self,
        io: &mut dyn TurnIo,
        via: u32,
        client: SocketAddr,
        method: u16,
        add: impl FnOnce(&mut Builder<'_>) -> Result<(), crate::stun::StunError>,
    ) {
        // Indications need a transaction id nobody matches: a counter is enough.
        self.next_txid += 1;
        let mut txid = [0u8; 12];
        txid[4..].copy_from_slice(&self.next_txid.to_be_bytes());
        let built = (|| {
            let mut b = Builder::new(&mut self.out, Class::Indication, method, txid)?;
            add(&mut b)?;
            Ok::<usize, crate::stun::StunError>(b.len())
        })();
        if let Ok(n) = built {
            io.send(via, client, &[&self.out[..n]]);
        }
    }

}

//! RFC 6062: TCP relay allocations. The allocation's relay is a TCP listener; each peer
//! connection (the client's Connect, or a peer connecting in, announced with a
//! ConnectionAttempt indication) gets a CONNECTION-ID, and the client binds it to a
//! new data connection to the server with ConnectionBind. From then on the runtime
//! pipes the two connections' bytes and this server only remembers the pairing, to
//! close both when the allocation ends.
//!
//! Connection ids carry the owning core in their top byte, so a ConnectionBind that
//! SO_REUSEPORT hands to another core can be routed to the core holding the peer
//! connection (the runtime moves the data connection there).

use super::{Answer, Reply, TurnServer};
use crate::stun::{attr, method};
use crate::turn::TurnIo;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A peer connection waits this long for its ConnectionBind, a Connect for the peer.
pub const BIND_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug)]
enum State {
    /// Our connect to the peer is under way; the Connect request waits for its answer.
    Connecting(Answer),
    /// Established; waiting for the client's ConnectionBind.
    Waiting,
    /// Piped to this data connection.
    Bound(u32),
}

#[derive(Debug)]
struct PeerConn {
    alloc: usize,
    token: u32,
    peer: SocketAddr,
    since: Instant,
    state: State,
}

#[derive(Debug, Default)]
pub struct TcpRelays {
    conns: HashMap<u32, PeerConn>,
    by_token: HashMap<u32, u32>,
    by_data: HashMap<u32, u32>,
    next: u32,
    /// This core's index in the top byte of every id it hands out.
    prefix: u32,
}

/// The core that holds connection `id`.
pub fn core_of(id: u32) -> usize {
    (id >> 24) as usize
}

impl TcpRelays {
    fn new_id(&mut self) -> u32 {
        loop {
            self.next = (self.next + 1) & 0x00ff_ffff;
            let id = self.prefix | self.next;
            if self.next != 0 && !self.conns.contains_key(&id) {
                return id;
            }
        }
    }

    fn forget(&mut self, id: u32) -> Option<PeerConn> {
        let c = self.conns.remove(&id)?;
        self.by_token.remove(&c.token);
        if let State::Bound(d) = c.state {
            self.by_data.remove(&d);
        }
        Some(c)
    }
}

impl TurnServer {
    /// Which core this server runs on (the top byte of its connection ids).
    pub fn set_core(&mut self, core: usize) {
        self.tcp.prefix = (core as u32 & 0xff) << 24;
    }

    pub(super) fn connect(&mut self, io: &mut dyn TurnIo, q: super::Req<'_, '_>, key: [u8; 16]) {
        let Some(&idx) = self.by_client.get(&(q.from, q.via)) else {
            return self.error(io, q, &key, 437, "Allocation Mismatch");
        };
        let Some(peer) = q.m.xor_address(attr::XOR_PEER_ADDRESS) else {
            return self.error(io, q, &key, 400, "Bad Request");
        };
        if !self.allocs[idx].tcp {
            return self.error(io, q, &key, 400, "Bad Request");
        }
        if !self.peer_allowed(idx, peer) {
            self.stats.forbidden_peers += 1;
            return self.error(io, q, &key, 403, "Forbidden");
        }
        if self.tcp.conns.values().any(|c| c.alloc == idx && c.peer == peer) {
            return self.error(io, q, &key, 446, "Connection Already Exists");
        }
        let Some(token) = io.connect_peer(self.allocs[idx].relay, peer) else {
            return self.error(io, q, &key, 447, "Connection Timeout or Failure");
        };
        self.permit(idx, peer.ip(), q.now);
        let answer = Answer { via: q.via, to: q.from, method: q.m.method, txid: q.m.txid, fingerprint: q.m.has_fingerprint };
        let id = self.tcp.new_id();
        self.tcp.by_token.insert(token, id);
        self.tcp.conns.insert(id, PeerConn { alloc: idx, token, peer, since: q.now, state: State::Connecting(answer) });
    }

    /// The runtime finished (or failed) the connect behind a Connect request.
    pub fn on_peer_connected(&mut self, io: &mut dyn TurnIo, token: u32, ok: bool, now: Instant) {
        let Some(&id) = self.tcp.by_token.get(&token) else { return };
        let Some(c) = self.tcp.conns.get_mut(&id) else { return };
        let State::Connecting(answer) = c.state else { return };
        let key = self.allocs.get(c.alloc).map(|a| a.key).unwrap_or_default();
        if ok {
            c.state = State::Waiting;
            c.since = now;
            self.answer(io, answer, Reply { code: None, key: Some(&key) }, |b| b.add_u32(attr::CONNECTION_ID, id).map(|_| ()));
        } else {
            self.tcp.forget(id);
            io.close_stream(token);
            self.answer(io, answer, Reply { code: Some((447, "Connection Timeout or Failure")), key: Some(&key) }, |_| Ok(()));
        }
    }

    /// A peer connected to the relay listener `listener`: admitted if the allocation
    /// permits its IP, then announced to the client.
    pub fn on_peer_connection(&mut self, io: &mut dyn TurnIo, listener: u32, token: u32, peer: SocketAddr, now: Instant) {
        let Some(&idx) = self.by_relay.get(&listener) else { return io.close_stream(token) };
        if !self.allocs[idx].permitted(peer.ip(), now) {
            self.stats.dropped_no_permission += 1;
            return io.close_stream(token);
        }
        let id = self.tcp.new_id();
        self.tcp.by_token.insert(token, id);
        self.tcp.conns.insert(id, PeerConn { alloc: idx, token, peer, since: now, state: State::Waiting });
        let (via, client) = (self.allocs[idx].listener, self.allocs[idx].client);
        self.indicate(io, via, client, method::CONNECTION_ATTEMPT, |b| {
            b.add_u32(attr::CONNECTION_ID, id)?;
            b.add_xor_address(attr::XOR_PEER_ADDRESS, peer)?;
            Ok(())
        });
    }

    /// ConnectionBind on a new data connection `q.via`, signed with the allocation's
    /// credentials: answer, then hand both connections to the runtime to pipe.
    pub(super) fn connection_bind(&mut self, io: &mut dyn TurnIo, q: super::Req<'_, '_>, user: &str, key: [u8; 16]) {
        let id = match q.m.attr(attr::CONNECTION_ID) {
            Some(v) if v.len() == 4 => u32::from_be_bytes(v.try_into().expect("4 bytes")),
            _ => return self.error(io, q, &key, 400, "Bad Request"),
        };
        let usable = self.tcp.conns.get(&id).is_some_and(|c| {
            matches!(c.state, State::Waiting) && self.allocs.get(c.alloc).is_some_and(|a| a.user == user)
        });
        if !usable || !io.is_stream(q.via) || self.by_client.contains_key(&(q.from, q.via)) {
            return self.error(io, q, &key, 400, "Bad Request");
        }
        let c = self.tcp.conns.get_mut(&id).expect("checked");
        c.state = State::Bound(q.via);
        let token = c.token;
        self.tcp.by_data.insert(q.via, id);
        self.respond(io, q, Reply { code: None, key: Some(&key) }, |_| Ok(()));
        io.pipe(q.via, token);
    }

    /// A stream closed: forget the peer connection it was or carried.
    pub(super) fn tcp_stream_closed(&mut self, io: &mut dyn TurnIo, token: u32) {
        let id = self.tcp.by_token.get(&token).or_else(|| self.tcp.by_data.get(&token)).copied();
        let Some(c) = id.and_then(|id| self.tcp.forget(id)) else { return };
        if let State::Connecting(answer) = c.state {
            let key = self.allocs.get(c.alloc).map(|a| a.key).unwrap_or_default();
            self.answer(io, answer, Reply { code: Some((447, "Connection Timeout or Failure")), key: Some(&key) }, |_| Ok(()));
        }
    }

    /// The allocation ends: so do its peer and data connections.
    pub(super) fn tcp_allocation_gone(&mut self, io: &mut dyn TurnIo, idx: usize) {
        let ids: Vec<u32> = self.tcp.conns.iter().filter(|(_, c)| c.alloc == idx).map(|(id, _)| *id).collect();
        for id in ids {
            if let Some(c) = self.tcp.forget(id) {
                io.close_stream(c.token);
                if let State::Bound(d) = c.state {
                    io.close_stream(d);
                }
            }
        }
    }

    /// Connects that never completed and peer connections never bound expire.
    pub(super) fn tcp_tick(&mut self, io: &mut dyn TurnIo, now: Instant) {
        let stale: Vec<u32> = self
            .tcp
            .conns
            .iter()
            .filter(|(_, c)| !matches!(c.state, State::Bound(_)) && now.saturating_duration_since(c.since) >= BIND_TIMEOUT)
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            let token = self.tcp.conns[&id].token;
            io.close_stream(token);
            self.tcp_stream_closed(io, token);
        }
    }
}

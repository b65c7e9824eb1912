//! Request handling: authentication, Allocate/Refresh/CreatePermission/ChannelBind,
//! expiry. The relayed data (Send/Data indications, ChannelData, peer datagrams) is in
//! `relay_path.rs`, RFC 6062 in `tcp_relay.rs`.

use super::allocation::{Allocation, Channel, CHANNEL_LIFETIME};
use super::auth::{Credentials, NonceCheck, Nonces};
#[path = "relay_path.rs"]
mod relay_path;
#[path = "tcp_relay.rs"]
pub mod tcp_relay;

use super::mux::MuxIndex;
use super::policy::PeerPolicy;
use super::quotas::Quotas;
use super::{RelayPort, TurnIo};
use crate::stun::message::{Builder, Class, Message};
use crate::stun::{attr, binding, method};
use slab::Slab;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct TurnConfig {
    pub credentials: Credentials,
    pub default_lifetime: Duration,
    pub max_lifetime: Duration,
    /// Allocations the node may hold (0 = unlimited).
    pub total_quota: usize,
    pub user_quota: usize,
    /// Bits per second per allocation (0 = unlimited).
    pub max_bps: u64,
    pub peers: PeerPolicy,
    pub nonce_lifetime_s: u64,
    pub software: String,
    /// Unauthenticated requests per second per source IP (0 = no limit), and burst.
    pub unauth_rate: u32,
    pub unauth_burst: u32,
    /// Relay sockets shared by many allocations (see `mux`) instead of one port each.
    pub multiplexed: bool,
}

impl Default for TurnConfig {
    fn default() -> Self {
        TurnConfig {
            credentials: Credentials::default(),
            default_lifetime: Duration::from_secs(600),
            max_lifetime: Duration::from_secs(3600),
            total_quota: 0,
            user_quota: 0,
            max_bps: 0,
            peers: PeerPolicy::default(),
            nonce_lifetime_s: 600,
            software: "mediad".into(),
            unauth_rate: 0,
            unauth_burst: 0,
            multiplexed: false,
        }
    }
}

/// Live counters of one core's TURN server (the control protocol's type).
pub type TurnStats = control::TurnCounters;

pub struct TurnServer {
    cfg: TurnConfig,
    nonces: Nonces,
    limiter: super::ratelimit::RateLimit,
    allocs: Slab<Allocation>,
    by_client: HashMap<(SocketAddr, u32), usize>,
    /// Port mode: relay socket → allocation.
    by_relay: HashMap<u32, usize>,
    /// Multiplexed mode: (relay socket, peer) → allocation.
    mux: MuxIndex,
    /// Slab index where the next expiry sweep starts (a slice per tick, not all).
    sweep_at: usize,
    gone_ips: Vec<std::net::IpAddr>,
    /// RFC 6062 peer connections of TCP allocations.
    tcp: tcp_relay::TcpRelays,
    quotas: Arc<Quotas>,
    pub stats: TurnStats,
    next_txid: u64,
    out: Vec<u8>,
    keys: Vec<[u8; 16]>,
    unknown: Vec<u16>,
}

/// Attributes TURN requests may carry that we act on or may ignore.
const KNOWN: &[u16] = &[
    attr::USERNAME,
    attr::REALM,
    attr::NONCE,
    attr::MESSAGE_INTEGRITY,
    attr::LIFETIME,
    attr::REQUESTED_TRANSPORT,
    attr::REQUESTED_ADDRESS_FAMILY,
    attr::DONT_FRAGMENT,
    attr::EVEN_PORT,
    attr::RESERVATION_TOKEN,
    attr::XOR_PEER_ADDRESS,
    attr::CHANNEL_NUMBER,
    attr::DATA,
    attr::CONNECTION_ID,
];

/// Where a client request came from: enough to answer it.
#[derive(Clone, Copy)]
struct Req<'a, 'm> {
    via: u32,
    from: SocketAddr,
    m: &'a Message<'m>,
    now: Instant,
}

pub(super) struct Reply<'k> {
    pub code: Option<(u16, &'static str)>,
    pub key: Option<&'k [u8]>,
}

/// Where and to what an answer goes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Answer {
    pub via: u32,
    pub to: SocketAddr,
    pub method: u16,
    pub txid: [u8; 12],
    pub fingerprint: bool,
}

impl TurnServer {
    pub fn new(cfg: TurnConfig, nonce_secret: [u8; 32], quotas: Arc<Quotas>) -> Self {
        let nonces = Nonces::new(nonce_secret, cfg.nonce_lifetime_s);
        let limiter = super::ratelimit::RateLimit::new(cfg.unauth_rate, cfg.unauth_burst);
        TurnServer {
            cfg,
            nonces,
            limiter,
            allocs: Slab::new(),
            by_client: HashMap::new(),
            by_relay: HashMap::new(),
            mux: MuxIndex::default(),
            sweep_at: 0,
            gone_ips: Vec::new(),
            tcp: Default::default(),
            quotas,
            stats: TurnStats::default(),
            next_txid: 1,
            out: vec![0u8; 2048],
            keys: Vec::new(),
            unknown: Vec::new(),
        }
    }

    pub fn allocations(&self) -> impl Iterator<Item = &Allocation> {
        self.allocs.iter().map(|(_, a)| a)
    }

    /// Operator view of every allocation on this core.
    pub fn snapshot(&self, core: usize, now: Instant) -> Vec<control::AllocationInfo> {
        self.allocations()
            .map(|a| control::AllocationInfo {
                core,
                user: a.user.clone(),
                client: a.client.to_string(),
                relay: a.relay_addr.to_string(),
                age_s: now.saturating_duration_since(a.created).as_secs_f64(),
                expires_in_s: a.expires.saturating_duration_since(now).as_secs_f64(),
                permissions: a.permissions.len(),
                channels: a.channels.len(),
                to_peer_packets: a.counters.to_peer_packets,
                to_peer_bytes: a.counters.to_peer_bytes,
                from_peer_packets: a.counters.from_peer_packets,
                from_peer_bytes: a.counters.from_peer_bytes,
                dropped: a.counters.dropped,
            })
            .collect()
    }

    /// A datagram from a client on listener `via`.
    pub fn on_client(&mut self, io: &mut dyn TurnIo, via: u32, from: SocketAddr, data: &[u8], now: Instant) {
        if let Some(&b0) = data.first() {
            if (0x40..=0x7f).contains(&b0) {
                return self.channel_data(io, via, from, data, now);
            }
        }
        let Ok(m) = Message::parse(data) else {
            self.stats.malformed += 1;
            return;
        };
        match (m.class, m.method) {
            (Class::Request, method::BINDING) => {
                if !self.limiter.allow(from.ip(), now) {
                    self.stats.rate_limited += 1;
                    return;
                }
                self.stats.bindings += 1;
                if let binding::Outcome::Reply(n) = binding::respond(&m, from, &mut self.out, &mut self.unknown) {
                    io.send(via, from, &[&self.out[..n]]);
                }
            }
            (Class::Indication, method::SEND) => self.send_indication(io, via, from, &m, now),
            (
                Class::Request,
                method::ALLOCATE
                | method::REFRESH
                | method::CREATE_PERMISSION
                | method::CHANNEL_BIND
                | method::CONNECT
                | method::CONNECTION_BIND,
            ) => {
                self.authenticated_request(io, Req { via, from, m: &m, now })
            }
            _ => self.stats.malformed += 1,
        }
    }

    fn respond(&mut self, io: &mut dyn TurnIo, q: Req<'_, '_>, r: Reply<'_>, add: impl FnOnce(&mut Builder<'_>) -> Result<(), crate::stun::StunError>) {
        let to = Answer { via: q.via, to: q.from, method: q.m.method, txid: q.m.txid, fingerprint: q.m.has_fingerprint };
        self.answer(io, to, r, add)
    }

    /// Answer a request, now or later (a Connect answered when the peer connects).
    pub(super) fn answer(&mut self, io: &mut dyn TurnIo, a: Answer, r: Reply<'_>, add: impl FnOnce(&mut Builder<'_>) -> Result<(), crate::stun::StunError>) {
        let (via, to) = (a.via, a.to);
        let class = if r.code.is_some() { Class::Error } else { Class::Success };
        let built = (|| {
            let mut b = Builder::new(&mut self.out, class, a.method, a.txid)?;
            if let Some((code, reason)) = r.code {
                b.add_error(code, reason)?;
            }
            add(&mut b)?;
            // Before authentication, answer with no more than RFC 8656 requires (no
            // SOFTWARE; FINGERPRINT only if the request had one): no amplification.
            if let Some(k) = r.key {
                b.add(attr::SOFTWARE, self.cfg.software.as_bytes())?;
                b.add_integrity(k)?;
            }
            if r.key.is_some() || a.fingerprint {
                b.add_fingerprint()?;
            }
            Ok::<usize, crate::stun::StunError>(b.len())
        })();
        if let Ok(n) = built {
            io.send(via, to, &[&self.out[..n]]);
        }
    }

    /// 401/438 carrying a fresh nonce and the realm (rate-limited per source address).
    fn challenge(&mut self, io: &mut dyn TurnIo, q: Req<'_, '_>, code: (u16, &'static str)) {
        if !self.limiter.allow(q.from.ip(), q.now) {
            self.stats.rate_limited += 1;
            return;
        }
        let nonce = self.nonces.mint(&q.from);
        let realm = self.cfg.credentials.realm.clone();
        self.respond(io, q, Reply { code: Some(code), key: None }, |b| {
            b.add(attr::REALM, realm.as_bytes())?;
            b.add(attr::NONCE, nonce.as_bytes())?;
            Ok(())
        });
    }

    fn authenticated_request(&mut self, io: &mut dyn TurnIo, q: Req<'_, '_>) {
        let (from, m) = (q.from, q.m);
        if !m.has_integrity() {
            self.stats.unauthenticated += 1;
            return self.challenge(io, q, (401, "Unauthorized"));
        }
        let (Some(user), Some(_realm), Some(nonce)) = (m.attr(attr::USERNAME), m.attr(attr::REALM), m.attr(attr::NONCE)) else {
            self.stats.malformed += 1;
            return self.respond(io, q, Reply { code: Some((400, "Bad Request")), key: None }, |_| Ok(()));
        };
        match self.nonces.check(nonce, &from) {
            NonceCheck::Valid => {}
            NonceCheck::Stale => {
                self.stats.stale_nonces += 1;
                return self.challenge(io, q, (438, "Stale Nonce"));
            }
            NonceCheck::Invalid => {
                self.stats.unauthenticated += 1;
                return self.challenge(io, q, (401, "Unauthorized"));
            }
        }
        let user = String::from_utf8_lossy(user).into_owned();
        let mut keys = std::mem::take(&mut self.keys);
        let key = match self.cfg.credentials.keys(&user, &mut keys) {
            Ok(()) => keys.iter().find(|k| m.check_integrity(&k[..])).copied(),
            Err(_) => None,
        };
        self.keys = keys;
        let Some(key) = key else {
            self.stats.bad_credentials += 1;
            return self.challenge(io, q, (401, "Unauthorized"));
        };
        m.unknown_required(KNOWN, &mut self.unknown);
        if !self.unknown.is_empty() {
            let unknown: Vec<u8> = self.unknown.iter().take(16).flat_map(|t| t.to_be_bytes()).collect();
            return self.respond(io, q, Reply { code: Some((420, "Unknown Attribute")), key: Some(&key) }, |b| {
                b.add(attr::UNKNOWN_ATTRIBUTES, &unknown)?;
                Ok(())
            });
        }
        match m.method {
            method::ALLOCATE => self.allocate(io, q, user, key),
            method::REFRESH => self.refresh(io, q, key),
            method::CREATE_PERMISSION => self.create_permission(io, q, key),
            method::CONNECT => self.connect(io, q, key),
            method::CONNECTION_BIND => self.connection_bind(io, q, &user, key),
            _ => self.channel_bind(io, q, key),
        }
    }

    fn error(&mut self, io: &mut dyn TurnIo, q: Req<'_, '_>, key: &[u8; 16], code: u16, reason: &'static str) {
        self.respond(io, q, Reply { code: Some((code, reason)), key: Some(key) }, |_| Ok(()));
    }

    fn lifetime(&self, m: &Message<'_>) -> Duration {
        let asked = m.u32_attr(attr::LIFETIME).map(|s| Duration::from_secs(s as u64)).unwrap_or(self.cfg.default_lifetime);
        asked.min(self.cfg.max_lifetime).max(self.cfg.default_lifetime)
    }

    fn allocate(&mut self, io: &mut dyn TurnIo, q: Req<'_, '_>, user: String, key: [u8; 16]) {
        let (via, from, m, now) = (q.via, q.from, q.m, q.now);
        if self.by_client.contains_key(&(from, via)) {
            return self.error(io, q, &key, 437, "Allocation Mismatch");
        }
        let tcp = match m.attr(attr::REQUESTED_TRANSPORT) {
            Some(v) if v.len() == 4 && v[0] == 17 => false,
            // RFC 6062: a TCP relay is asked for over a stream, and without the
            // UDP-only attributes.
            Some(v) if v.len() == 4 && v[0] == 6 => {
                let udp_only = [attr::EVEN_PORT, attr::RESERVATION_TOKEN, attr::DONT_FRAGMENT];
                if !io.is_stream(via) || udp_only.iter().any(|&t| m.attr(t).is_some()) {
                    return self.error(io, q, &key, 400, "Bad Request");
                }
                true
            }
            Some(_) => return self.error(io, q, &key, 442, "Unsupported Transport Protocol"),
            None => return self.error(io, q, &key, 400, "Bad Request"),
        };
        let ipv6 = match m.attr(attr::REQUESTED_ADDRESS_FAMILY) {
            None => from.is_ipv6() && from.ip().to_canonical().is_ipv6(),
            Some([1, ..]) => false,
            Some([2, ..]) => true,
            Some(_) => return self.error(io, q, &key, 440, "Address Family not Supported"),
        };
        let port = match (m.attr(attr::EVEN_PORT), m.attr(attr::RESERVATION_TOKEN)) {
            (None, None) => RelayPort::Any,
            (Some([b, ..]), None) if b & 0x80 != 0 => RelayPort::EvenReserveNext,
            (Some([_, ..]), None) => RelayPort::Even,
            // A token names a port of its own family: it cannot come with another.
            (None, Some(t)) if t.len() == 8 && m.attr(attr::REQUESTED_ADDRESS_FAMILY).is_none() => {
                RelayPort::Reserved(t.try_into().expect("8 bytes"))
            }
            _ => return self.error(io, q, &key, 400, "Bad Request"),
        };
        if !self.quotas.take(&user, self.cfg.user_quota, self.cfg.total_quota) {
            self.stats.quota_refusals += 1;
            return self.error(io, q, &key, 486, "Allocation Quota Reached");
        }
        let relay = if tcp { io.open_tcp_relay(ipv6) } else { io.open_relay(ipv6, port) };
        let Some(super::Relay { token: relay, addr: relay_addr, reservation }) = relay else {
            self.quotas.give_back(&user);
            return self.error(io, q, &key, 508, "Insufficient Capacity");
        };
        let lifetime = self.lifetime(m);
        let idx = self.allocs.insert(Allocation {
            client: from,
            listener: via,
            relay,
            relay_addr,
            user,
            key,
            created: now,
            expires: now + lifetime,
            permissions: Vec::new(),
            channels: Vec::new(),
            counters: Default::default(),
            peers_bound: Vec::new(),
            last_peer: None,
            tcp,
            bucket: (self.cfg.max_bps as f64 / 8.0, now),
        });
        self.by_client.insert((from, via), idx);
        if !self.cfg.multiplexed || tcp {
            self.by_relay.insert(relay, idx);
        }
        self.stats.allocations = self.allocs.len() as u64;
        self.stats.allocations_total += 1;
        self.respond(io, q, Reply { code: None, key: Some(&key) }, |b| {
            b.add_xor_address(attr::XOR_RELAYED_ADDRESS, relay_addr)?;
            b.add_u32(attr::LIFETIME, lifetime.as_secs() as u32)?;
            b.add_xor_address(attr::XOR_MAPPED_ADDRESS, from)?;
            if let Some(t) = reservation {
                b.add(attr::RESERVATION_TOKEN, &t)?;
            }
            Ok(())
        });
    }

    fn remove(&mut self, io: &mut dyn TurnIo, idx: usize) {
        if self.allocs[idx].tcp {
            self.tcp_allocation_gone(io, idx);
        }
        let a = self.allocs.remove(idx);
        self.by_client.remove(&(a.client, a.listener));
        self.quotas.give_back(&a.user);
        if self.cfg.multiplexed && !a.tcp {
            for (ip, _) in &a.permissions {
                self.mux.remove_permission(a.relay, *ip, idx);
            }
            for p in &a.peers_bound {
                self.mux.unbind_peer(a.relay, *p, idx);
            }
        } else {
            self.by_relay.remove(&a.relay);
            io.close_relay(a.relay);
        }
        self.stats.allocations = self.allocs.len() as u64;
    }

    fn refresh(&mut self, io: &mut dyn TurnIo, q: Req<'_, '_>, key: [u8; 16]) {
        let (via, from, m, now) = (q.via, q.from, q.m, q.now);
        let Some(&idx) = self.by_client.get(&(from, via)) else {
            return self.error(io, q, &key, 437, "Allocation Mismatch");
        };
        let asked = m.u32_attr(attr::LIFETIME);
        let lifetime = if asked == Some(0) {
            self.remove(io, idx);
            Duration::ZERO
        } else {
            let l = self.lifetime(m);
            self.allocs[idx].expires = now + l;
            l
        };
        self.respond(io, q, Reply { code: None, key: Some(&key) }, |b| {
            b.add_u32(attr::LIFETIME, lifetime.as_secs() as u32)?;
            Ok(())
        });
    }

    fn create_permission(&mut self, io: &mut dyn TurnIo, q: Req<'_, '_>, key: [u8; 16]) {
        let (via, from, m, now) = (q.via, q.from, q.m, q.now);
        let Some(&idx) = self.by_client.get(&(from, via)) else {
            return self.error(io, q, &key, 437, "Allocation Mismatch");
        };
        let peers: Vec<SocketAddr> =
            m.attr_all(attr::XOR_PEER_ADDRESS).filter_map(|v| attr::decode_address(v, true, &m.txid)).collect();
        if peers.is_empty() {
            return self.error(io, q, &key, 400, "Bad Request");
        }
        if peers.iter().any(|&p| !self.peer_allowed(idx, p)) {
            self.stats.forbidden_peers += 1;
            return self.error(io, q, &key, 403, "Forbidden");
        }
        for p in peers {
            self.permit(idx, p.ip(), now);
        }
        self.respond(io, q, Reply { code: None, key: Some(&key) }, |_| Ok(()));
    }

    fn channel_bind(&mut self, io: &mut dyn TurnIo, q: Req<'_, '_>, key: [u8; 16]) {
        let (via, from, m, now) = (q.via, q.from, q.m, q.now);
        let Some(&idx) = self.by_client.get(&(from, via)) else {
            return self.error(io, q, &key, 437, "Allocation Mismatch");
        };
        let number = match m.attr(attr::CHANNEL_NUMBER) {
            Some(v) if v.len() == 4 => u16::from_be_bytes([v[0], v[1]]),
            _ => return self.error(io, q, &key, 400, "Bad Request"),
        };
        let Some(peer) = m.xor_address(attr::XOR_PEER_ADDRESS) else {
            return self.error(io, q, &key, 400, "Bad Request");
        };
        // RFC 8656 narrowed channels to 0x4000-0x4FFF, but RFC 5766 clients (coturn's
        // own among them) use up to 0x7FFF; ChannelData framing is the same.
        if !(0x4000..=0x7fff).contains(&number) {
            return self.error(io, q, &key, 400, "Bad Request");
        }
        if !self.peer_allowed(idx, peer) {
            self.stats.forbidden_peers += 1;
            return self.error(io, q, &key, 403, "Forbidden");
        }
        let a = &mut self.allocs[idx];
        // A channel stays bound to one peer and a peer to one channel (RFC 8656 §12.2).
        let clash = a.channels.iter().any(|c| c.expires > now && ((c.number == number) != (c.peer == peer)));
        if clash {
            return self.error(io, q, &key, 400, "Bad Request");
        }
        let expires = now + CHANNEL_LIFETIME;
        match a.channels.iter_mut().find(|c| c.number == number) {
            Some(c) => {
                c.peer = peer;
                c.expires = expires;
            }
            None => a.channels.push(Channel { number, peer, expires }),
        }
        self.permit(idx, peer.ip(), now);
        self.route_peer(idx, peer);
        self.respond(io, q, Reply { code: None, key: Some(&key) }, |_| Ok(()));
    }

    /// Policy (address ranges), family, and in multiplexed mode no hairpin onto the
    /// allocation's own shared socket: a datagram from that socket to itself could not
    /// be told apart from the allocation's own peers', so it is refused up front.
    fn peer_allowed(&self, idx: usize, peer: SocketAddr) -> bool {
        let relay = self.allocs[idx].relay_addr;
        self.cfg.peers.allows(peer.ip()) && peer.is_ipv6() == relay.is_ipv6() && !(self.cfg.multiplexed && peer == relay)
    }

    fn permit(&mut self, idx: usize, ip: std::net::IpAddr, now: Instant) {
        let a = &mut self.allocs[idx];
        if a.permit(ip, now) && self.cfg.multiplexed {
            self.mux.add_permission(a.relay, ip, idx);
        }
    }

    /// The stream connection `via` from `from` closed: its allocation ends with it.
    pub fn on_transport_closed(&mut self, io: &mut dyn TurnIo, via: u32, from: SocketAddr) {
        if let Some(&idx) = self.by_client.get(&(from, via)) {
            self.remove(io, idx);
        }
        self.tcp_stream_closed(io, via);
    }

    pub fn has_allocation(&self, from: SocketAddr, via: u32) -> bool {
        self.by_client.contains_key(&(from, via))
    }

    /// Expire allocations, permissions and channels. A large table is swept a tenth
    /// per tick, so a core holding 100 000 allocations visits each once a second
    /// instead of stalling on all of them at once. Permissions and channels are also
    /// checked where used, so a late sweep only frees memory late; an allocation may
    /// outlive its lifetime by at most one sweep (a second).
    pub fn on_tick(&mut self, io: &mut dyn TurnIo, now: Instant) {
        const SLICES: usize = 10;
        const SMALL: usize = 4096;
        let cap = self.allocs.capacity();
        let step = cap.div_ceil(SLICES).max(SMALL);
        let (start, end) = (self.sweep_at.min(cap), (self.sweep_at + step).min(cap));
        self.sweep_at = if end >= cap { 0 } else { end };
        for idx in start..end {
            let Some(a) = self.allocs.get_mut(idx) else { continue };
            if a.expires <= now {
                self.remove(io, idx);
                continue;
            }
            self.gone_ips.clear();
            a.expire(now, &mut self.gone_ips);
            if self.cfg.multiplexed {
                let relay = a.relay;
                for ip in self.gone_ips.drain(..) {
                    self.mux.remove_permission(relay, ip, idx);
                }
            }
        }
        self.tcp_tick(io, now);
        self.limiter.forget_idle(now);
    }
}

//! The per-core engine: everything a worker owns (legs, rooms, buffers, outbox) and
//! the decisions of the packet path. It never calls a socket itself: the I/O backend
//! feeds it datagrams and sends what it leaves in `outbox`.

pub mod buffers;
pub mod counters;
pub mod layers;
pub mod leg;
pub mod media;
pub mod mix;
pub mod mesh;
pub mod ports;
pub mod reports;
pub mod reservations;
pub mod rooms;
pub mod streams;
pub mod tcp_relay;
pub mod turn_io;
pub mod video;
pub mod webrtc;

use crate::config::Config;
use crate::io::{socket, RawAddr, SendItem};
use crate::rtp::ntp::NtpClock;
use crate::rtp::rewrite::{ssrc_for_leg, ssrc_for_stream};
use buffers::{Buf, HoldId, HoldKind, Holds};
use control::{ErrorBody, ErrorCode, Event, Family, LegCreate, LegId, LegUpdate, Media, PortPool};
use counters::{LegCounters, WorkerCounters};
use crossbeam_channel::Sender;
use leg::Leg;
use mesh::Mesh;
use ports::PortSlice;
use rooms::Rooms;
use slab::Slab;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Instant;

/// What a socket token stands for.
#[derive(Debug, Clone, Copy)]
pub enum SockSlot {
    Leg { leg: u32, rtcp: bool },
    /// The shared STUN/TURN port (clients).
    TurnListener,
    /// An allocation's relay socket (peers).
    TurnRelay,
    /// A TURN TCP/TLS listener or connection (served by `streams`, not the backend).
    TurnStream,
}

/// Result of creating a leg, before its sockets are registered with the backend.
pub struct Created {
    pub rtp_port: u16,
    pub rtcp_port: u16,
    pub local_ip: IpAddr,
    pub tokens: Vec<u32>,
    pub out_ssrcs: Vec<u32>,
    pub webrtc: Option<control::WebrtcLocal>,
}

pub struct Engine {
    pub core: usize,
    pub cfg: Arc<Config>,
    pub mesh: Arc<Mesh>,
    pub counters: Arc<WorkerCounters>,
    events: Sender<Event>,
    pub ntp: NtpClock,
    /// Engine epoch for the microsecond timestamps in counters.
    pub epoch: Instant,
    /// Time of the current batch; set once per batch, not per packet.
    pub now: Instant,
    /// When the backend's wait last returned (start of the current loop turn).
    pub woke: Instant,
    legs: Slab<Leg>,
    leg_index: HashMap<LegId, u32>,
    /// Socket tokens (what the backend reports datagrams with) to their leg.
    socks: Slab<SockSlot>,
    /// Scratch list of leg slots for the tick, kept to avoid an allocation per tick.
    tick_slots: Vec<u32>,
    pub turn: Option<crate::turn::TurnServer>,
    /// TURN over TCP/TLS on this core (when TURN is on).
    pub streams: Option<streams::Streams>,
    /// TURN listener and relay sockets by token.
    turn_socks: HashMap<u32, UdpSocket>,
    relay_ports: HashMap<Family, PortSlice>,
    /// Multiplexed TURN relay mode: this core's shared relay sockets per family, handed
    /// to new allocations in turn.
    mux_relays: HashMap<Family, Vec<(u32, SocketAddr)>>,
    mux_next: usize,
    /// Relay ports held under RESERVATION-TOKENs (shared by every core).
    pub reservations: Arc<reservations::Reservations>,
    /// Sockets the worker must register with / remove from the backend.
    pending_register: Vec<u32>,
    pending_close: Vec<(UdpSocket, u32)>,
    pub rooms: Rooms,
    ports: HashMap<(PortPool, Family), PortSlice>,
    pub holds: Holds,
    /// A hold that is never freed, for buffers the backend reuses only after flushing
    /// (epoll's receive batch): no hold to create and drop per received datagram.
    pub transient: HoldId,
    // Boxed on purpose: a buffer crosses cores as a pointer and returns to this pool.
    #[allow(clippy::vec_box)]
    pool: Vec<Box<Buf>>,
    pub outbox: Vec<SendItem>,
    /// Video this core forwarded lately, to answer NACKs itself.
    pub sent_cache: crate::rtp::packet_cache::PacketCache,
    /// Cores we queued hand-offs for during this turn.
    wake_mask: u64,
    /// The audio MCU's mixers on this core.
    pub mix: mix::MixState,
    /// The video MCU's threads: participants' video goes there, composites come back.
    pub video: Arc<crate::compute::VideoPool>,
    rng: u64,
}

impl Engine {
    pub fn new(core: usize, cfg: Arc<Config>, mesh: Arc<Mesh>, counters: Arc<WorkerCounters>, events: Sender<Event>) -> Self {
        let cores = mesh.cores;
        let mut ports = HashMap::new();
        for fam in [Family::Ipv4, Family::Ipv6] {
            ports.insert((PortPool::Rtp, fam), PortSlice::new(cfg.rtp_ports.min, cfg.rtp_ports.max, core, cores));
            ports.insert((PortPool::Webrtc, fam), PortSlice::new(cfg.webrtc_ports.min, cfg.webrtc_ports.max, core, cores));
        }
        let mut relay_ports = HashMap::new();
        if let Some(t) = &cfg.turn {
            for fam in [Family::Ipv4, Family::Ipv6] {
                relay_ports.insert(fam, PortSlice::every_port(t.min_port, t.max_port, core, cores));
            }
        }
        let now = Instant::now();
        let mut holds = Holds::default();
        let transient = holds.hold(HoldKind::Transient);
        Engine {
            core,
            cfg,
            mesh,
            counters,
            events,
            ntp: NtpClock::new(),
            epoch: now,
            now,
            woke: now,
            legs: Slab::new(),
            leg_index: HashMap::new(),
            socks: Slab::new(),
            tick_slots: Vec::new(),
            turn: None,
            streams: None,
            turn_socks: HashMap::new(),
            relay_ports,
            mux_relays: HashMap::new(),
            mux_next: 0,
            reservations: Arc::default(),
            pending_register: Vec::new(),
            pending_close: Vec::new(),
            rooms: Rooms::default(),
            ports,
            holds,
            transient,
            pool: Vec::new(),
            outbox: Vec::with_capacity(4096),
            sent_cache: Default::default(),
            wake_mask: 0,
            mix: Default::default(),
            video: crate::compute::VideoPool::none(),
            rng: 0x9E37_79B9_7F4A_7C15 ^ (core as u64 + 1),
        }
    }

    pub fn now_us(&self) -> u64 {
        self.now.saturating_duration_since(self.epoch).as_micros() as u64
    }

    pub(crate) fn emit(&self, e: Event) {
        // Events are advisory; a stalled control thread must not stall media.
        let _ = self.events.try_send(e);
    }

    pub(crate) fn random(&mut self) -> u64 {
        // xorshift64*: cheap jitter for RTCP intervals, not for security.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    // ---- buffers ------------------------------------------------------------

    pub fn take_buf(&mut self) -> Box<Buf> {
        if let Some(b) = self.pool.pop() {
            return b;
        }
        if let Some(b) = self.mesh.take_returned(self.core) {
            return b;
        }
        Buf::new(self.core)
    }

    pub fn recycle(&mut self, buf: Box<Buf>) {
        if buf.owner as usize == self.core {
            if self.pool.len() < 8192 {
                self.pool.push(buf);
            }
        } else {
            self.mesh.give_back(buf);
        }
    }

    /// Drop one reference to a hold; a ring buffer whose last reference goes is
    /// reported to `ring` so the io_uring backend can hand it back to the kernel.
    #[inline]
    pub fn release(&mut self, id: HoldId, ring: &mut impl FnMut(u16)) {
        match self.holds.release(id) {
            Some(HoldKind::Pooled(b)) => self.recycle(b),
            Some(HoldKind::Ring(bid)) => ring(bid),
            _ => {}
        }
    }

    // ---- sockets and legs -----------------------------------------------------

    pub fn sock_slot(&self, token: u32) -> Option<SockSlot> {
        self.socks.get(token as usize).copied()
    }

    pub fn leg_slot(&self, id: LegId) -> Option<u32> {
        self.leg_index.get(&id).copied()
    }

    pub fn leg(&self, slot: u32) -> Option<&Leg> {
        self.legs.get(slot as usize)
    }

    pub fn leg_mut(&mut self, slot: u32) -> Option<&mut Leg> {
        self.legs.get_mut(slot as usize)
    }

    pub fn socket_of(&self, token: u32) -> Option<&UdpSocket> {
        match self.sock_slot(token)? {
            SockSlot::Leg { leg, rtcp } => {
                let leg = self.leg(leg)?;
                if rtcp { leg.rtcp.as_ref() } else { Some(&leg.rtp) }
            }
            SockSlot::TurnListener | SockSlot::TurnRelay => self.turn_socks.get(&token),
            SockSlot::TurnStream => None,
        }
    }

    pub fn create_leg(&mut self, id: LegId, spec: &LegCreate, counters: Arc<LegCounters>) -> Result<Created, ErrorBody> {
        let v6 = spec.family == Family::Ipv6;
        let ip = if v6 {
            self.cfg.bind6.ok_or_else(|| ErrorBody::new(ErrorCode::Unsupported, "no IPv6 bind address configured (bind6)"))?
        } else {
            self.cfg.bind
        };
        let dscp = match spec.media {
            Media::Audio => self.cfg.dscp_audio,
            Media::Video => self.cfg.dscp_video,
        };
        // WebRTC: BUNDLE and rtcp-mux on one port from the WebRTC range.
        let (mux, pool) = if spec.webrtc.is_some() { (true, PortPool::Webrtc) } else { (spec.rtcp_mux, spec.pool) };
        let webrtc = match &spec.webrtc {
            Some(remote) => Some(Box::new(webrtc::WebrtcTransport::new(remote).map_err(|e| ErrorBody::new(ErrorCode::Internal, e))?)),
            None => None,
        };
        // Keys before a port is taken: a refusal must not leave one behind.
        let sdes = match &spec.sdes {
            Some(_) if webrtc.is_some() => return Err(ErrorBody::new(ErrorCode::BadRequest, "sdes: a WebRTC leg is keyed by DTLS")),
            Some(k) => Some((Box::new(crate::srtp::SrtpPair::from_sdes(k).map_err(|e| ErrorBody::new(ErrorCode::BadRequest, format!("sdes: {e}")))?), k.suite)),
            None => None,
        };
        let slice = self.ports.get_mut(&(pool, spec.family)).expect("all pools exist");
        let (port, (rtp, rtcp)) = slice
            .allocate(|p| -> std::io::Result<(UdpSocket, Option<UdpSocket>)> {
                let rtp = socket::bind_udp(SocketAddr::new(ip, p), dscp)?;
                let rtcp = if mux { None } else { Some(socket::bind_udp(SocketAddr::new(ip, p + 1), dscp)?) };
                Ok((rtp, rtcp))
            })
            .ok_or_else(|| {
                ErrorBody::new(
                    ErrorCode::PortsExhausted,
                    format!("no free {:?} port pair on core {} for {:?}", pool, self.core, spec.family).to_lowercase(),
                )
            })?;
        // Spread first reports of legs created together over the interval.
        let jitter = self.random() % 1000;
        let entry = self.legs.vacant_entry();
        let slot = entry.key() as u32;
        let rtp_token = self.socks.insert(SockSlot::Leg { leg: slot, rtcp: false }) as u32;
        let rtcp_token = rtcp.as_ref().map(|_| self.socks.insert(SockSlot::Leg { leg: slot, rtcp: true }) as u32);
        let clock_rate = spec.clock_rate.unwrap_or(match spec.media {
            Media::Audio => 48000,
            Media::Video => 90000,
        });
        let (streams, out_ssrcs) = if spec.streams.is_empty() {
            let s = leg::SourceStream::new(ssrc_for_stream(id, 0), clock_rate, Vec::new(), None);
            let ssrc = s.rewriter.out_ssrc;
            (vec![s], vec![ssrc])
        } else {
            source_streams(id, &spec.streams)
        };
        if webrtc.is_some() {
            counters::set(&counters.webrtc, 1);
        }
        let local_webrtc = webrtc.as_ref().map(|w| {
            let mut cands = vec![SocketAddr::new(ip, port)];
            if let Some(adv) = self.cfg.advertised(v6).filter(|a| *a != ip) {
                cands.push(SocketAddr::new(adv, port));
            }
            w.local(cands)
        });
        let mut leg = Leg {
            id,
            media: spec.media,
            rtp,
            rtcp,
            rtp_token,
            rtcp_token,
            rtp_port: port,
            pool,
            family: spec.family,
            remote: None,
            remote_raw: RawAddr::empty(),
            remote_rtcp: None,
            remote_rtcp_raw: RawAddr::empty(),
            rtcp_remote_explicit: false,
            room: None,
            muted: false,
            streams,
            sendonly: spec.sendonly,
            skip_source: spec.skip_source,
            webrtc,
            tx_streams: Vec::new(),
            last_tx_stream: 0,
            counters,
            local_ssrc: ssrc_for_leg(id) ^ 0x5A5A_5A5A,
            next_rtcp: self.now + self.cfg.rtcp_interval().mul_f64(0.5 + jitter as f64 / 1000.0),
            last_rx: None,
            rate_window: (self.now, 0, 0),
            inactive_reported: false,
            fir_seq: 0,
            layer_selectors: Vec::new(),
            bwe: crate::rtp::bwe::Estimate::new(spec.max_bitrate).with_remb(spec.remb),
            twcc: spec.twcc_ext.map(crate::rtp::twcc::TwccRecorder::new),
            mix_at: None,
            takes_mix: spec.audio.as_ref().is_some_and(|a| a.send.is_some()),
            video_at: None,
            video_ssrc: spec.video.as_ref().and_then(|v| v.send.as_ref()).map(|_| crate::compute::video_ssrc(id)),
            no_sfu_video: spec.video.as_ref().is_some_and(|v| v.send.is_some() && !v.sfu_video),
            sdes: None,
        };
        if let Some((keys, suite)) = sdes {
            leg.install_sdes(keys, suite);
        }
        if let Some(r) = spec.remote {
            leg.set_remote(r);
        }
        if let Some(r) = spec.remote_rtcp {
            leg.set_remote_rtcp(r);
        }
        let tokens = std::iter::once(rtp_token).chain(rtcp_token).collect();
        entry.insert(leg);
        self.leg_index.insert(id, slot);
        counters::set(&self.counters.legs, self.leg_index.len() as u64);
        Ok(Created { rtp_port: port, rtcp_port: if mux { port } else { port + 1 }, local_ip: ip, tokens, out_ssrcs, webrtc: local_webrtc })
    }

    pub fn update_leg(&mut self, upd: &LegUpdate) -> Result<(), ErrorBody> {
        let slot = self.leg_slot(upd.leg).ok_or_else(|| no_leg(upd.leg))?;
        let leg = self.leg_mut(slot).expect("indexed");
        if let Some(r) = upd.remote {
            leg.set_remote(r);
        }
        if let Some(r) = upd.remote_rtcp {
            leg.set_remote_rtcp(r);
        }
        if let Some(m) = upd.muted {
            leg.muted = m;
        }
        if let Some(cap) = upd.max_bitrate {
            leg.bwe.set_cap((cap > 0).then_some(cap));
        }
        if let Some(k) = &upd.sdes {
            leg.set_sdes(k).map_err(|e| ErrorBody::new(ErrorCode::BadRequest, e))?;
        }
        if let Some(w) = &upd.webrtc {
            self.webrtc_set_remote(slot, w)?;
        }
        Ok(())
    }

    /// Remove a leg; returns its sockets with their tokens for the backend to close.
    pub fn delete_leg(&mut self, id: LegId) -> Result<Vec<(UdpSocket, u32)>, ErrorBody> {
        self.leave_room(id);
        let _ = self.mix_command(mix::MixCommand::Leave { room: None, leg: id });
        let slot = self.leg_index.remove(&id).ok_or_else(|| no_leg(id))?;
        let leg = self.legs.remove(slot as usize);
        if let Some(s) = self.ports.get_mut(&(leg.pool, leg.family)) {
            s.release(leg.rtp_port);
        }
        let mut out = vec![(leg.rtp, leg.rtp_token)];
        if let (Some(s), Some(t)) = (leg.rtcp, leg.rtcp_token) {
            out.push((s, t));
        }
        for (_, t) in &out {
            self.socks.remove(*t as usize);
        }
        counters::set(&self.counters.legs, self.leg_index.len() as u64);
        Ok(out)
    }

    // ---- rooms ------------------------------------------------------------------

    pub fn join_room(&mut self, leg: LegId, room: u32) -> Result<(), ErrorBody> {
        let slot = self.leg_slot(leg).ok_or_else(|| no_leg(leg))?;
        self.leave_room(leg);
        let rslot = self.rooms.ensure(room);
        self.rooms.get_mut(rslot).expect("ensured").legs.push(slot);
        self.leg_mut(slot).expect("indexed").room = Some(rslot);
        Ok(())
    }

    pub fn leave_room(&mut self, leg: LegId) {
        let Some(slot) = self.leg_slot(leg) else { return };
        let Some(rslot) = self.leg_mut(slot).and_then(|l| l.room.take()) else { return };
        if let Some(r) = self.rooms.get_mut(rslot) {
            r.legs.retain(|&l| l != slot);
        }
        self.rooms.gc(rslot);
    }

    /// Which other cores hold legs of `room` (bit per core, this core's bit ignored).
    pub fn set_room_cores(&mut self, room: u32, mask: u64) {
        let mask = mask & !(1u64 << self.core);
        match self.rooms.slot_of(room) {
            Some(s) => {
                self.rooms.get_mut(s).expect("indexed").remote_cores = mask;
                self.rooms.gc(s);
            }
            None if mask != 0 => {
                let s = self.rooms.ensure(room);
                self.rooms.get_mut(s).expect("ensured").remote_cores = mask;
            }
            None => {}
        }
    }

    /// Wake the cores this turn queued hand-offs for.
    pub fn wake_peers(&mut self) {
        let mut m = self.wake_mask;
        self.wake_mask = 0;
        while m != 0 {
            let c = m.trailing_zeros() as usize;
            m &= m - 1;
            self.mesh.nudge(c);
        }
    }
}

/// The receive streams of a leg from its spec: one per stream, one per RID of a
/// simulcast stream. The outgoing SSRC of each spec stream (what subscribers see) is
/// that of its first receive stream.
fn source_streams(id: LegId, specs: &[control::StreamSpec]) -> (Vec<leg::SourceStream>, Vec<u32>) {
    let mut streams = Vec::new();
    let mut out_ssrcs = Vec::new();
    for s in specs {
        let first = streams.len();
        let track_ssrc = ssrc_for_stream(id, first);
        out_ssrcs.push(track_ssrc);
        let codec = crate::rtp::keyframe::VideoCodec::from_name(s.codec.as_deref());
        let layers = s.rids.len().min(crate::rtp::simulcast::MAX_LAYERS);
        for k in 0..layers.max(1) {
            let mut st = leg::SourceStream::new(ssrc_for_stream(id, first + k), s.clock_rate, s.payload_types.clone(), s.audio_level_ext);
            st.codec = codec;
            if let (Some(rid), Some(ext)) = (s.rids.get(k).filter(|_| layers > 1), s.rid_ext) {
                let tag = crate::rtp::simulcast::LayerTag { track_ssrc, layer: k as u8, layers: layers as u8, keyframe: false, tid: None };
                st.layer = Some(leg::Layer { rid: rid.as_bytes().to_vec(), rid_ext: ext, tag });
            }
            streams.push(st);
        }
    }
    (streams, out_ssrcs)
}

pub(crate) fn no_leg(id: LegId) -> ErrorBody {
    ErrorBody::new(ErrorCode::NoSuchLeg, format!("leg {id} does not exist"))
}

//! WebRTC legs in the packet path: one UDP port per leg carries STUN (ICE-lite
//! checks and consent), DTLS (the handshake that yields SRTP keys), and SRTP/SRTCP,
//! told apart by their first byte (RFC 7983). The protocols themselves are sans-IO
//! (`ice::lite`, `dtls`, `srtp`); this file feeds them and queues what they answer.
//!
//! Media from a WebRTC leg is unprotected in place in the receive buffer and then takes
//! the same path as plain RTP. Media to a WebRTC leg is copied once into a pooled
//! buffer and protected with that leg's keys: each receiver has its own keys, so the
//! zero-copy fan-out of plain legs cannot apply to the encrypted bytes.

use super::buffers::HoldKind;
use super::counters::{add, set};
use super::Engine;
use crate::dtls::{self, Dtls, Role};
use crate::ice::lite::{Event as IceEvent, IceLite, State as IceState};
use crate::io::{RawAddr, SendItem};
use crate::rtp::demux::{classify, Kind};
use control::{Event, WebrtcRemote};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

/// SRTP adds at most this much (16-byte GCM tag; 10-byte HMAC + 4-byte SRTCP index).
pub const SRTP_OVERHEAD: usize = 16 + 4;

pub use crate::srtp::SrtpPair as Srtp;

/// ICE, DTLS and SRTP state of one WebRTC leg.
pub struct WebrtcTransport {
    pub ice: IceLite,
    pub local_pwd: String,
    pub dtls: Dtls,
    pub remote_fingerprint: String,
    /// Keys, once DTLS completed and the peer's certificate matched the SDP.
    pub srtp: Option<Srtp>,
    /// DTLS completed before the SDP answer brought the fingerprint: the keys wait.
    pending: Option<dtls::Keys>,
    /// DTLS failed or the fingerprint did not match: nothing more is accepted.
    pub failed: bool,
    /// `leg.connected` was emitted.
    announced: bool,
    events: Vec<IceEvent>,
}

/// Random ICE credentials (RFC 8445 §5.3: ufrag ≥ 24 bits, pwd ≥ 128 bits of
/// randomness) from openssl's CSPRNG, in the ice-char alphabet.
fn ice_token(chars: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut raw = vec![0u8; chars];
    openssl::rand::rand_bytes(&mut raw).expect("openssl RNG");
    raw.iter().map(|b| ALPHABET[(*b & 63) as usize] as char).collect()
}

impl WebrtcTransport {
    pub fn new(remote: &WebrtcRemote) -> Result<Self, String> {
        let id = dtls::identity();
        let dtls = Dtls::with_context(Role::Server, &id.context).map_err(|e| format!("{e:?}"))?;
        let (ufrag, pwd) = (ice_token(8), ice_token(24));
        let mut ice = IceLite::new(ufrag, pwd.clone());
        if !remote.ice_ufrag.is_empty() {
            ice.set_remote_ufrag(remote.ice_ufrag.clone());
        }
        Ok(WebrtcTransport {
            ice,
            local_pwd: pwd,
            dtls,
            remote_fingerprint: remote.fingerprint.clone(),
            srtp: None,
            pending: None,
            failed: false,
            announced: false,
            events: Vec::new(),
        })
    }

    pub fn local(&self, candidates: Vec<SocketAddr>) -> control::WebrtcLocal {
        control::WebrtcLocal {
            ice_ufrag: self.ice.local_ufrag().to_string(),
            ice_pwd: self.local_pwd.clone(),
            fingerprint: format!("sha-256 {}", dtls::identity().fingerprint),
            candidates,
        }
    }
}

/// Keys from a finished handshake count only if the peer's certificate is the one
/// its SDP named. Returns why not, if not.
fn accept_keys(w: &mut WebrtcTransport, keys: dtls::Keys, c: &super::counters::LegCounters) -> Option<String> {
    if !dtls::fingerprint_matches(&w.remote_fingerprint, &keys.peer_fingerprint) {
        return Some("DTLS certificate does not match the SDP fingerprint".into());
    }
    set(&c.srtp_profile, if keys.profile == "SRTP_AEAD_AES_128_GCM" { 2 } else { 1 });
    set(&c.dtls_state, 2);
    w.srtp = Some(Srtp { outbound: keys.outbound, inbound: keys.inbound });
    None
}

fn ice_code(s: IceState) -> u64 {
    match s {
        IceState::New => 0,
        IceState::Checking => 1,
        IceState::Connected => 2,
        IceState::Disconnected => 3,
    }
}

impl Engine {
    /// A datagram on a WebRTC leg's port.
    pub(super) fn on_webrtc_packet(&mut self, slot: u32, from: &RawAddr, data: &mut [u8], hold: super::buffers::HoldId) {
        let Some(addr) = from.to_std() else { return self.malformed(slot) };
        match classify(data) {
            Kind::Stun => self.webrtc_stun(slot, addr, data),
            Kind::Dtls => self.webrtc_dtls(slot, addr, data),
            kind @ (Kind::Rtp | Kind::Rtcp) => {
                let leg = &mut self.legs[slot as usize];
                let w = leg.webrtc.as_mut().expect("a WebRTC leg");
                // Media only from an address that passed an ICE check, only with keys.
                let (Some(srtp), true) = (w.srtp.as_mut(), w.ice.is_valid_source(addr)) else {
                    add(&leg.counters.srtp_failures, 1);
                    return;
                };
                let plain = match kind {
                    Kind::Rtp => srtp.inbound.unprotect_rtp(data),
                    _ => srtp.inbound.unprotect_rtcp(data),
                };
                match plain {
                    Ok(n) if kind == Kind::Rtp => self.on_rtp(slot, from, &mut data[..n], hold),
                    Ok(n) => self.on_rtcp(slot, from, &data[..n], false),
                    Err(_) => add(&leg.counters.srtp_failures, 1),
                }
            }
            Kind::Unknown => self.malformed(slot),
        }
    }

    fn webrtc_stun(&mut self, slot: u32, from: SocketAddr, data: &[u8]) {
        let now = self.now;
        let mut buf = self.take_buf();
        let leg = &mut self.legs[slot as usize];
        let w = leg.webrtc.as_mut().expect("a WebRTC leg");
        let mut events = std::mem::take(&mut w.events);
        let answer = w.ice.on_stun(data, from, now, &mut buf.data, &mut events);
        if answer.refused.is_some() {
            add(&leg.counters.ice_refused, 1);
        }
        self.webrtc_ice_events(slot, &mut events);
        self.legs[slot as usize].webrtc.as_mut().expect("a WebRTC leg").events = events;
        if answer.reply == 0 {
            return self.recycle(buf);
        }
        buf.len = answer.reply as u16;
        self.queue_to(slot, RawAddr::from_std(from), buf);
    }

    fn webrtc_ice_events(&mut self, slot: u32, events: &mut Vec<IceEvent>) {
        for e in events.drain(..) {
            let leg = &mut self.legs[slot as usize];
            match e {
                IceEvent::Selected(a) => {
                    leg.set_remote(a);
                    *leg.counters.selected.lock().unwrap() = Some(a);
                    self.webrtc_maybe_connected(slot);
                }
                IceEvent::StateChanged(s) => {
                    set(&leg.counters.ice_state, ice_code(s));
                    if s == IceState::Disconnected {
                        // RFC 7675 §5.1: without consent, stop sending.
                        leg.remote = None;
                        leg.remote_rtcp = None;
                        let e = Event::Disconnected { leg: leg.id, reason: "ICE consent expired".into() };
                        self.emit(e);
                    }
                }
            }
        }
    }

    fn webrtc_dtls(&mut self, slot: u32, from: SocketAddr, data: &[u8]) {
        let leg = &mut self.legs[slot as usize];
        let w = leg.webrtc.as_mut().expect("a WebRTC leg");
        if w.failed || !w.ice.is_valid_source(from) {
            return self.malformed(slot);
        }
        if w.srtp.is_none() {
            set(&leg.counters.dtls_state, 1);
        }
        let result = w.dtls.handle_datagram(data);
        let mut failure = None;
        match result {
            Ok(Some(keys)) if w.remote_fingerprint.is_empty() => w.pending = Some(keys),
            Ok(Some(keys)) => failure = accept_keys(w, keys, &leg.counters),
            Ok(None) => {}
            Err(e) => failure = Some(format!("DTLS: {e:?}")),
        }
        let mut out = Vec::new();
        while let Some(d) = w.dtls.poll_output() {
            out.push(d);
        }
        if let Some(reason) = failure {
            self.webrtc_fail(slot, reason);
        }
        for d in out {
            let mut buf = self.take_buf();
            let n = d.len().min(buf.data.len());
            buf.data[..n].copy_from_slice(&d[..n]);
            buf.len = n as u16;
            self.queue_to(slot, RawAddr::from_std(from), buf);
        }
        self.webrtc_maybe_connected(slot);
    }

    fn webrtc_fail(&mut self, slot: u32, reason: String) {
        let leg = &mut self.legs[slot as usize];
        let Some(w) = leg.webrtc.as_mut() else { return };
        w.failed = true;
        w.srtp = None;
        set(&leg.counters.dtls_state, 3);
        let e = Event::Disconnected { leg: leg.id, reason };
        self.emit(e);
    }

    /// The browser's answer to our offer: its ufrag and fingerprint (keys that waited
    /// for it are checked now).
    pub(super) fn webrtc_set_remote(&mut self, slot: u32, remote: &WebrtcRemote) -> Result<(), control::ErrorBody> {
        let leg = &mut self.legs[slot as usize];
        let Some(w) = leg.webrtc.as_mut() else {
            return Err(control::ErrorBody::new(control::ErrorCode::BadRequest, "not a WebRTC leg"));
        };
        if !remote.ice_ufrag.is_empty() {
            w.ice.set_remote_ufrag(remote.ice_ufrag.clone());
        }
        if !remote.fingerprint.is_empty() {
            w.remote_fingerprint = remote.fingerprint.clone();
            if let Some(keys) = w.pending.take() {
                if let Some(reason) = accept_keys(w, keys, &leg.counters) {
                    self.webrtc_fail(slot, reason);
                }
            }
        }
        self.webrtc_maybe_connected(slot);
        Ok(())
    }

    /// Emit `leg.connected` once both ICE has a nominated pair and SRTP has keys.
    fn webrtc_maybe_connected(&mut self, slot: u32) {
        let leg = &mut self.legs[slot as usize];
        let Some(w) = leg.webrtc.as_mut() else { return };
        let (Some(remote), true, false) = (leg.remote, w.srtp.is_some(), w.announced) else { return };
        w.announced = true;
        let profile = match leg.counters.srtp_profile.load(std::sync::atomic::Ordering::Relaxed) {
            2 => "SRTP_AEAD_AES_128_GCM",
            _ => "SRTP_AES128_CM_SHA1_80",
        };
        let e = Event::Connected { leg: leg.id, remote, srtp_profile: profile.into() };
        self.emit(e);
    }

    /// Consent freshness, from the tick.
    pub(super) fn webrtc_tick(&mut self, slot: u32) {
        let now = self.now;
        let Some(w) = self.legs[slot as usize].webrtc.as_mut() else { return };
        let mut events = std::mem::take(&mut w.events);
        w.ice.on_tick(now, &mut events);
        self.webrtc_ice_events(slot, &mut events);
        if let Some(w) = self.legs[slot as usize].webrtc.as_mut() {
            w.events = events;
        }
    }

    /// Media for a WebRTC or SDES leg: one copy, protected with its keys; its (seq, ts, ssrc)
    /// replaced first when `header` says so (a simulcast layer, renumbered for it).
    pub(super) fn send_protected(&mut self, dst: u32, data: &[u8], header: Option<(u16, u32, u32)>) {
        let mut buf = self.take_buf();
        let leg = &mut self.legs[dst as usize];
        let srtp = leg.srtp_mut();
        let (Some(srtp), true) = (srtp, data.len() + SRTP_OVERHEAD <= buf.data.len()) else {
            add(&leg.counters.tx_dropped, 1);
            return self.recycle(buf);
        };
        buf.data[..data.len()].copy_from_slice(data);
        if let Some(h) = header {
            super::media::patch_header(&mut buf.data, h);
        }
        match srtp.outbound.protect_rtp(&mut buf.data, data.len()) {
            Ok(n) => {
                buf.len = n as u16;
                add(&leg.counters.tx_packets, 1);
                add(&leg.counters.tx_bytes, n as u64);
                let (fd, dest, ptr) = (leg.rtp.as_raw_fd(), leg.remote_raw, buf.data.as_ptr());
                // The box moves into the hold; the bytes `ptr` points at stay put.
                let hold = self.holds.hold(HoldKind::Pooled(buf));
                self.outbox.push(SendItem { fd, dest, data: ptr, len: n as u32, hold });
            }
            Err(_) => {
                add(&leg.counters.tx_dropped, 1);
                self.recycle(buf);
            }
        }
    }

    /// Protect an RTCP packet we built for a WebRTC or SDES leg, in its buffer. False: no keys
    /// yet (the caller drops it).
    pub(super) fn protect_rtcp_for(&mut self, slot: u32, buf: &mut super::buffers::Buf) -> bool {
        let Some(srtp) = self.legs[slot as usize].srtp_mut() else { return false };
        let len = buf.len as usize;
        if len + SRTP_OVERHEAD > buf.data.len() {
            return false;
        }
        match srtp.outbound.protect_rtcp(&mut buf.data, len) {
            Ok(n) => {
                buf.len = n as u16;
                true
            }
            Err(_) => false,
        }
    }

    /// Queue a datagram we built (STUN answer, DTLS flight, retransmission) to `to`
    /// from the leg's port.
    pub(super) fn queue_to(&mut self, slot: u32, to: RawAddr, buf: Box<super::buffers::Buf>) {
        let fd = self.legs[slot as usize].rtp.as_raw_fd();
        let (ptr, len) = (buf.data.as_ptr(), buf.len as u32);
        let hold = self.holds.hold(HoldKind::Pooled(buf));
        self.outbox.push(SendItem { fd, dest: to, data: ptr, len, hold });
    }
}

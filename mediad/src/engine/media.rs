//! The packet path: classify, account, rewrite once in place, fan out to local legs
//! by reference and to other cores once each; RTCP is terminated here and feedback
//! is relayed to the source leg.

use super::buffers::{HoldId, HoldKind};
use super::counters::{add, set};
use super::mesh::{FeedbackMsg, Handoff};
use super::{Engine, SockSlot};
use crate::io::{RawAddr, SendItem};
use crate::rtp::demux::{classify, Kind};
use crate::rtp::ntp::{mid32, mid32_to_us};
use crate::rtp::rewrite::stream_for_ssrc;
use crate::rtp::rtcp::{self, Item};
use control::{leg_core, Event, LegId};
use crate::rtp::keyframe::{starts_keyframe, VideoCodec};
use crate::rtp::simulcast::LayerTag;
use rtp_types::RtpPacket;
use std::os::fd::AsRawFd;
use std::time::Duration;

/// Keyframe requests to one source are relayed at most this often: every receiver of
/// a room asks at once after a loss, one request is enough.
const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(250);
/// Streams at this clock rate are video: their packets are cached for NACKs.
pub(super) const VIDEO_CLOCK: u32 = 90_000;

#[inline]
fn clock_is_audio(clock: u32) -> bool {
    clock != VIDEO_CLOCK
}

/// Write (seq, ts, ssrc) into an RTP header (checked by the caller to be there).
#[inline]
pub(super) fn patch_header(packet: &mut [u8], (seq, ts, ssrc): (u16, u32, u32)) {
    packet[2..4].copy_from_slice(&seq.to_be_bytes());
    packet[4..8].copy_from_slice(&ts.to_be_bytes());
    packet[8..12].copy_from_slice(&ssrc.to_be_bytes());
}

impl Engine {
    /// One received datagram. `hold` keeps `data` alive; the caller drops its own
    /// reference after this returns.
    pub fn on_packet(&mut self, token: u32, from: &RawAddr, data: &mut [u8], hold: HoldId) {
        add(&self.counters.rx_packets, 1);
        let (slot, rtcp) = match self.sock_slot(token) {
            Some(SockSlot::Leg { leg, rtcp }) => (leg, rtcp),
            Some(SockSlot::TurnListener) => return self.turn_client(token, from, data),
            Some(SockSlot::TurnRelay) => return self.turn_peer(token, from, data),
            Some(SockSlot::TurnStream) | None => return,
        };
        if self.legs[slot as usize].webrtc.is_some() {
            return self.on_webrtc_packet(slot, from, data, hold);
        }
        if self.legs[slot as usize].sdes.is_some() {
            return self.on_sdes_packet(slot, from, data, hold, rtcp);
        }
        match classify(data) {
            Kind::Rtp if !rtcp => self.on_rtp(slot, from, data, hold),
            Kind::Rtcp => self.on_rtcp(slot, from, data, rtcp),
            // STUN and DTLS belong to WebRTC legs only.
            _ => self.malformed(slot),
        }
    }

    /// A datagram on a plain leg keyed by SDES: unprotected in place, then handled as
    /// any other; what fails authentication or replay checks (or comes in the clear)
    /// is counted and dropped.
    fn on_sdes_packet(&mut self, slot: u32, from: &RawAddr, data: &mut [u8], hold: HoldId, rtcp: bool) {
        let kind = classify(data);
        let srtp = self.legs[slot as usize].sdes.as_deref_mut().expect("checked by the caller");
        let plain = match kind {
            Kind::Rtp if !rtcp => srtp.inbound.unprotect_rtp(data),
            Kind::Rtcp => srtp.inbound.unprotect_rtcp(data),
            _ => return self.malformed(slot),
        };
        match plain {
            Ok(n) if kind == Kind::Rtp => self.on_rtp(slot, from, &mut data[..n], hold),
            Ok(n) => self.on_rtcp(slot, from, &data[..n], rtcp),
            Err(_) => add(&self.legs[slot as usize].counters.srtp_failures, 1),
        }
    }

    /// A datagram larger than our buffers: counted as malformed on its leg.
    pub fn on_oversize(&mut self, token: u32) {
        add(&self.counters.rx_packets, 1);
        match self.sock_slot(token) {
            Some(SockSlot::Leg { leg, .. }) => self.malformed(leg),
            _ => add(&self.counters.malformed, 1),
        }
    }

    pub(super) fn malformed(&mut self, slot: u32) {
        add(&self.counters.malformed, 1);
        if let Some(l) = self.leg(slot) {
            add(&l.counters.malformed, 1);
        }
    }

    pub(super) fn on_rtp(&mut self, slot: u32, from: &RawAddr, data: &mut [u8], hold: HoldId) {
        let now = self.now;
        let now_us = self.now_us();
        let len = data.len();
        let (ssrc, seq, ts, pt) = match RtpPacket::parse(data) {
            Ok(p) => (p.ssrc(), p.sequence_number(), p.timestamp(), p.payload_type()),
            Err(_) => return self.malformed(slot),
        };
        let mut events: [Option<Event>; 2] = [None, None];
        let leg = &mut self.legs[slot as usize];
        // A payload type no stream of this leg declared: not ours to forward.
        let Some(k) = leg.stream_for(ssrc, pt, data) else { return self.malformed(slot) };
        if let Some(tw) = leg.twcc.as_mut() {
            if let Some(&[a, b]) = crate::rtp::extensions::one_byte(data, tw.ext_id) {
                tw.on_packet(u16::from_be_bytes([a, b]), now_us, ssrc);
            }
        }
        let c = &leg.counters;
        add(&c.rx_packets, 1);
        add(&c.rx_bytes, len as u64);
        set(&c.last_rx_us, now_us.max(1));
        if leg.remote.is_none() {
            if let Some(addr) = from.to_std() {
                leg.set_remote(addr);
                events[0] = Some(Event::RemoteLearned { leg: leg.id, remote: addr });
            }
        }
        let stream = &mut leg.streams[k];
        if stream.rx.ssrc != Some(ssrc) {
            let old = stream.rx.ssrc;
            stream.rx.reset(ssrc, seq);
            if k == 0 {
                set(&leg.counters.ssrc_plus1, ssrc as u64 + 1);
            }
            if old.is_some() {
                events[1] = Some(Event::SsrcChanged { leg: leg.id, old, new: ssrc });
            }
        }
        let arrival = now_us * stream.clock_rate as u64 / 1_000_000;
        stream.rx.on_packet(seq, ts, arrival);
        if let Some(id) = stream.audio_level_id {
            if let Some(&[level]) = crate::rtp::extensions::one_byte(data, id) {
                stream.loudness_sum += 127 - (level & 0x7f) as u32;
                stream.loudness_n += 1;
            }
        }
        if leg.inactive_reported {
            leg.inactive_reported = false;
            events[0] = Some(Event::Active { leg: leg.id });
        }
        leg.last_rx = Some(now);
        let room = if leg.muted { None } else { leg.room };
        // The audio MCU takes what was received (muted legs too: their keys count).
        let mix_at = if clock_is_audio(leg.streams[k].clock_rate) { leg.mix_at } else { None };
        let stream = &mut leg.streams[k];
        let (out_seq, out_ts, _) = stream.rewriter.rewrite(ssrc, seq, ts, now);
        let out_ssrc = stream.rewriter.out_ssrc;
        let (src_id, clock) = (leg.id, stream.clock_rate);
        let layer = stream.layer.as_ref().map(|l| {
            let tid = if stream.codec == VideoCodec::Vp8 { crate::rtp::keyframe::vp8_tid(data) } else { None };
            LayerTag { keyframe: starts_keyframe(stream.codec, data), tid, ..l.tag }
        });
        for e in events.into_iter().flatten() {
            self.emit(e);
        }
        if let Some(at) = mix_at {
            self.mix_input(at, src_id, data);
        }
        // Video to its room's video thread while the room composes. A simulcast
        // publisher's pictures are composed from one layer: its last RID (browsers list
        // encodings leanest first), one decoder per participant.
        let composer = (clock == VIDEO_CLOCK && layer.as_ref().is_none_or(|l| l.layer + 1 == l.layers))
            .then(|| self.legs[slot as usize].video_at.as_ref())
            .flatten()
            .filter(|a| a.composing.load(std::sync::atomic::Ordering::Relaxed))
            .map(|a| (a.thread, a.room));
        if let Some((thread, vroom)) = composer {
            let buf = self.copy_to_buf(data);
            if let Err(buf) = self.video.push_packet(thread, vroom, src_id, now, buf) {
                self.recycle(buf);
            }
        }
        let Some(rslot) = room else { return };
        // The fixed header is validated above; rewrite its fields where they sit.
        patch_header(data, (out_seq, out_ts, out_ssrc));
        let data: &[u8] = data;
        let (nlegs, remote) = match self.rooms.get(rslot) {
            Some(r) => (r.legs.len(), r.remote_cores),
            None => return,
        };
        // Only receivers on this core NACK to it: no local receiver, nothing to keep.
        if clock == VIDEO_CLOCK && nlegs > 1 {
            self.sent_cache.insert(out_ssrc, out_seq, data);
        }
        for i in 0..nlegs {
            let dst = self.rooms.get(rslot).expect("checked").legs[i];
            if dst != slot {
                self.send_media(dst, src_id, data, hold, out_ssrc, out_ts, clock, layer.as_ref());
            }
        }
        if remote != 0 {
            let room_id = self.rooms.get(rslot).expect("checked").id;
            self.hand_off(remote, room_id, src_id, clock, layer, data);
        }
    }

    /// Queue `data` (from leg `src`) for leg `dst` (a slot on this core).
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn send_media(&mut self, dst: u32, src: LegId, data: &[u8], hold: HoldId, ssrc: u32, ts: u32, clock: u32, layer: Option<&LayerTag>) {
        let now = self.now;
        let leg = &mut self.legs[dst as usize];
        // A leg that takes the mix gets its audio from the mixer, not the SFU.
        if leg.sendonly || leg.skip_source == Some(src) || (leg.takes_mix && clock_is_audio(clock)) || (leg.no_sfu_video && clock == VIDEO_CLOCK) {
            return;
        }
        if leg.remote.is_none() {
            add(&leg.counters.tx_dropped, 1);
            return;
        }
        if let Some(tag) = layer {
            return self.send_layer(dst, data, ssrc, clock, tag);
        }
        if leg.is_secure() {
            leg.note_sent(ssrc, ts, data.len(), now, clock);
            return self.send_protected(dst, data, None);
        }
        add(&leg.counters.tx_packets, 1);
        add(&leg.counters.tx_bytes, data.len() as u64);
        leg.note_sent(ssrc, ts, data.len(), now, clock);
        let item = SendItem { fd: leg.rtp.as_raw_fd(), dest: leg.remote_raw, data: data.as_ptr(), len: data.len() as u32, hold };
        self.holds.retain(hold);
        self.outbox.push(item);
    }

    fn hand_off(&mut self, mut cores: u64, room: u32, src_leg: LegId, clock_rate: u32, layer: Option<LayerTag>, data: &[u8]) {
        while cores != 0 {
            let to = cores.trailing_zeros() as usize;
            cores &= cores - 1;
            let buf = self.copy_to_buf(data);
            self.push_handoff(to, Handoff::Media { room, src_leg, clock_rate, layer, buf });
        }
    }

    /// Take everything other cores queued for us.
    pub fn drain_mesh(&mut self) {
        self.adopt_moved_streams();
        for from in 0..self.mesh.cores {
            if from == self.core {
                continue;
            }
            // Bounded per turn so one busy peer cannot starve our own sockets.
            for _ in 0..1024 {
                let Some(h) = self.mesh.pop(from, self.core) else { break };
                add(&self.counters.handoff_in, 1);
                match h {
                    Handoff::Media { room, src_leg, clock_rate, layer, buf } => self.media_from_peer(room, src_leg, clock_rate, layer, buf),
                    Handoff::Feedback { to_leg, stream, item } => {
                        if let Some(slot) = self.leg_slot(to_leg) {
                            self.send_feedback(slot, stream as usize, &item);
                        }
                    }
                    Handoff::MixIn { room, leg, buf } => {
                        self.mix_push(room, leg, buf.bytes());
                        self.recycle(buf);
                    }
                    Handoff::ToLeg { leg, buf } => self.deliver_from_peer(leg, buf),
                }
            }
        }
        self.drain_video();
    }

    fn media_from_peer(&mut self, room: u32, src: LegId, clock: u32, layer: Option<LayerTag>, buf: Box<super::buffers::Buf>) {
        let Some(rslot) = self.rooms.slot_of(room) else {
            return self.recycle(buf);
        };
        let bytes = buf.bytes();
        let (ssrc, ts) = (u32::from_be_bytes(bytes[8..12].try_into().unwrap()), u32::from_be_bytes(bytes[4..8].try_into().unwrap()));
        // The box moves into the hold; its heap address, which `data` points at, stays.
        let ptr = bytes.as_ptr();
        let len = bytes.len();
        let hold = self.holds.hold(HoldKind::Pooled(buf));
        // SAFETY: the bytes live in the boxed buffer now owned by `hold`, which is
        // released only after every send that references it has completed.
        let data = unsafe { std::slice::from_raw_parts(ptr, len) };
        let n = self.rooms.get(rslot).map_or(0, |r| r.legs.len());
        if clock == VIDEO_CLOCK && n > 0 {
            let seq = u16::from_be_bytes([data[2], data[3]]);
            self.sent_cache.insert(ssrc, seq, data);
        }
        for i in 0..n {
            let dst = self.rooms.get(rslot).expect("checked").legs[i];
            self.send_media(dst, src, data, hold, ssrc, ts, clock, layer.as_ref());
        }
        self.release(hold, &mut |_| {});
    }

    pub(super) fn on_rtcp(&mut self, slot: u32, from: &RawAddr, data: &[u8], on_rtcp_socket: bool) {
        let now = self.now;
        let ntp_now = mid32(self.ntp.ntp(now));
        let mut feedback: Vec<(u32, FeedbackMsg)> = Vec::new();
        let mut bye = None;
        let tx_bps = self.legs[slot as usize].counters.tx_bps.load(std::sync::atomic::Ordering::Relaxed);
        let leg = &mut self.legs[slot as usize];
        add(&leg.counters.rtcp_rx, 1);
        // Symmetric RTCP: what arrives on the RTCP port tells where its sender
        // listens, unless the controller fixed the address.
        if on_rtcp_socket && !leg.rtcp_remote_explicit {
            if let Some(a) = from.to_std() {
                leg.set_remote_rtcp(a);
            }
        }
        let ok = rtcp::parse(data, |item| match item {
            Item::SenderReport { ssrc, ntp } => {
                if let Some(s) = leg.streams.iter_mut().find(|s| s.rx.ssrc == Some(ssrc)) {
                    s.rx.last_sr = Some((mid32(ntp), now));
                }
            }
            Item::Report { about, fraction_lost, lsr, dlsr } => {
                let sent = leg.tx_streams.iter().find(|s| s.ssrc == about).map(|s| s.clock_rate);
                if about == leg.local_ssrc || sent.is_some() {
                    set(&leg.counters.remote_fraction_lost, fraction_lost as u64);
                    // Loss of the video we forward drives what layers this leg can take.
                    if sent == Some(VIDEO_CLOCK) {
                        leg.bwe.on_report(fraction_lost, tx_bps, now);
                    }
                    if lsr != 0 {
                        let rtt = ntp_now.wrapping_sub(lsr).wrapping_sub(dlsr);
                        // A negative result wraps to a huge value: clock trouble, skip it.
                        if rtt < 0x8000_0000 {
                            set(&leg.counters.rtt_us, mid32_to_us(rtt));
                        }
                    }
                }
            }
            Item::Pli { media_ssrc } => feedback.push((media_ssrc, FeedbackMsg::Pli)),
            Item::Fir { ssrc, .. } => feedback.push((ssrc, FeedbackMsg::Fir)),
            Item::Nack { media_ssrc, seqs } => feedback.push((media_ssrc, FeedbackMsg::Nack(seqs))),
            Item::Remb { bps } => leg.bwe.on_remb(bps, now),
            Item::Bye { ssrc } => {
                if leg.is_remote_ssrc(ssrc) {
                    bye = Some(Event::Bye { leg: leg.id, ssrc });
                }
            }
        });
        if ok.is_err() {
            return self.malformed(slot);
        }
        if let Some(e) = bye {
            self.emit(e);
        }
        for (media_ssrc, msg) in feedback {
            let Some(msg) = self.composite_feedback(slot, media_ssrc, msg) else { continue };
            // About a simulcast track: translate to the layer this leg gets.
            let Some((media_ssrc, msg)) = self.layer_feedback(slot, media_ssrc, msg) else { continue };
            let msg = match msg {
                FeedbackMsg::Nack(seqs) => match self.answer_nack(slot, media_ssrc, seqs) {
                    Some(missing) => FeedbackMsg::Nack(missing),
                    None => continue,
                },
                other => other,
            };
            self.route_feedback(slot, media_ssrc, msg);
        }
    }

    /// Resend what this core still holds of a NACK; the rest (if any) is returned to
    /// be asked of the source.
    pub(super) fn answer_nack(&mut self, slot: u32, media_ssrc: u32, seqs: Vec<u16>) -> Option<Vec<u16>> {
        let cache = std::mem::take(&mut self.sent_cache);
        let mut missing = Vec::new();
        for seq in seqs {
            match cache.get(media_ssrc, seq) {
                Some(packet) => {
                    add(&self.legs[slot as usize].counters.retransmitted, 1);
                    self.resend(slot, packet, None);
                }
                None => missing.push(seq),
            }
        }
        self.sent_cache = cache;
        (!missing.is_empty()).then_some(missing)
    }

    /// Send a copy of `data` to leg `slot` (a retransmission, a simulcast layer),
    /// with its (seq, ts, ssrc) replaced when `header` says so.
    pub(super) fn resend(&mut self, slot: u32, data: &[u8], header: Option<(u16, u32, u32)>) {
        if self.legs[slot as usize].is_secure() {
            return self.send_protected(slot, data, header);
        }
        let mut buf = self.take_buf();
        let leg = &self.legs[slot as usize];
        if leg.remote.is_none() || data.len() > buf.data.len() {
            return self.recycle(buf);
        }
        buf.data[..data.len()].copy_from_slice(data);
        buf.len = data.len() as u16;
        if let Some(h) = header {
            patch_header(&mut buf.data, h);
        }
        add(&leg.counters.tx_packets, 1);
        add(&leg.counters.tx_bytes, data.len() as u64);
        let dest = leg.remote_raw;
        self.queue_to(slot, dest, buf);
    }

    /// Feedback about one of our outgoing SSRCs goes to the leg and stream that source it.
    pub(super) fn route_feedback(&mut self, from_slot: u32, media_ssrc: u32, msg: FeedbackMsg) {
        let (src, stream) = stream_for_ssrc(media_ssrc);
        let counters = self.leg(from_slot).map(|l| l.counters.clone());
        let core = leg_core(src);
        if core == self.core {
            let Some(s) = self.leg_slot(src) else { return };
            if self.leg(s).and_then(|l| l.streams.get(stream)).map(|st| st.rewriter.out_ssrc) != Some(media_ssrc) {
                return;
            }
            if let Some(c) = counters {
                add(&c.feedback_relayed, 1);
            }
            self.send_feedback(s, stream, &msg);
        } else if core < self.mesh.cores {
            if let Some(c) = counters {
                add(&c.feedback_relayed, 1);
            }
            if self.mesh.push(self.core, core, Handoff::Feedback { to_leg: src, stream: stream as u8, item: msg }).is_ok() {
                self.wake_mask |= 1 << core;
            } else {
                add(&self.counters.handoff_dropped, 1);
            }
        }
    }

    /// Ask stream `stream` of source leg `slot` for what a receiver wants, in the
    /// source's numbering.
    pub(crate) fn send_feedback(&mut self, slot: u32, stream: usize, msg: &FeedbackMsg) {
        let now = self.now;
        let mut buf = self.take_buf();
        let leg = &mut self.legs[slot as usize];
        let remote_rtcp = leg.remote_rtcp.is_some();
        let Some(st) = leg.streams.get_mut(stream) else { return self.recycle(buf) };
        let (Some(media), true) = (st.rx.ssrc, remote_rtcp) else {
            return self.recycle(buf);
        };
        let written = match msg {
            FeedbackMsg::Pli | FeedbackMsg::Fir => {
                if matches!(st.last_keyframe_request, Some(t) if now.duration_since(t) < KEYFRAME_REQUEST_INTERVAL) {
                    return self.recycle(buf);
                }
                st.last_keyframe_request = Some(now);
                if matches!(msg, FeedbackMsg::Pli) {
                    rtcp::write_pli(&mut buf.data, leg.local_ssrc, media)
                } else {
                    leg.fir_seq = leg.fir_seq.wrapping_add(1);
                    rtcp::write_fir(&mut buf.data, leg.local_ssrc, media, leg.fir_seq)
                }
            }
            FeedbackMsg::Nack(seqs) => {
                let mapped: Vec<u16> = seqs.iter().map(|&s| st.rewriter.to_source_seq(s)).collect();
                rtcp::write_nack(&mut buf.data, leg.local_ssrc, media, &mapped)
            }
        };
        match written {
            Ok(n) => {
                buf.len = n as u16;
                self.queue_rtcp(slot, buf);
            }
            Err(_) => self.recycle(buf),
        }
    }

    /// Queue an RTCP packet we built toward the leg's RTCP address.
    pub(crate) fn queue_rtcp(&mut self, slot: u32, mut buf: Box<super::buffers::Buf>) {
        if self.legs[slot as usize].remote_rtcp.is_none() {
            return self.recycle(buf);
        }
        if self.legs[slot as usize].is_secure() && !self.protect_rtcp_for(slot, &mut buf) {
            return self.recycle(buf);
        }
        let leg = &self.legs[slot as usize];
        add(&leg.counters.rtcp_tx, 1);
        let (fd, dest) = (leg.rtcp_fd(), leg.remote_rtcp_raw);
        let (ptr, len) = (buf.data.as_ptr(), buf.len as u32);
        let hold = self.holds.hold(HoldKind::Pooled(buf));
        self.outbox.push(SendItem { fd, dest, data: ptr, len, hold });
    }
}

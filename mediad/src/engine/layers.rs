//! Simulcast in the packet path: every layer of a track reaches each receiver's
//! core (rewritten once in place at the source, like any stream); per receiver a
//! `LayerSelector` decides which layer it gets, and the chosen packets are copied and
//! renumbered into the track's one SSRC. WebRTC receivers copy every packet anyway
//! (each has its own SRTP keys), so the renumbering costs nothing extra there.
//!
//! Feedback from a receiver names the track SSRC in its numbering; it is mapped to
//! the layer it gets before the NACK cache or the publisher sees it. Once a tick, each
//! receiver's estimate is split over its simulcast tracks and layers are chosen.

use super::counters::set;
use super::mesh::FeedbackMsg;
use super::Engine;
use crate::rtp::simulcast::{LayerSelector, LayerTag, Verdict};
use std::time::Duration;

/// A selector whose track sent nothing for this long is dropped (publisher gone).
const SELECTOR_IDLE: Duration = Duration::from_secs(10);

impl Engine {
    /// One packet of a simulcast layer for receiver `dst` (checked to want media).
    pub(super) fn send_layer(&mut self, dst: u32, data: &[u8], ssrc: u32, clock: u32, tag: &LayerTag) {
        let now = self.now;
        let leg = &mut self.legs[dst as usize];
        let (seq, ts) = (u16::from_be_bytes([data[2], data[3]]), u32::from_be_bytes([data[4], data[5], data[6], data[7]]));
        let i = match leg.layer_selectors.iter().position(|s| s.track_ssrc == tag.track_ssrc) {
            Some(i) => i,
            None => {
                leg.layer_selectors.push(LayerSelector::new(tag, clock, now));
                leg.layer_selectors.len() - 1
            }
        };
        match leg.layer_selectors[i].on_packet(tag, ssrc, seq, ts, data.len(), now) {
            Verdict::Forward { seq, ts } => {
                leg.note_sent(tag.track_ssrc, ts, data.len(), now, clock);
                self.resend(dst, data, Some((seq, ts, tag.track_ssrc)));
            }
            // The packet is of the layer wanted: its SSRC is the one to ask.
            Verdict::DropAskKeyframe(_) => self.route_feedback(dst, ssrc, FeedbackMsg::Pli),
            Verdict::Drop => {}
        }
    }

    /// Feedback from receiver `slot` about `media_ssrc`: unchanged unless it is a
    /// simulcast track this leg receives. Then a keyframe request goes to the layer it
    /// gets, and a NACK is answered from the cache in the layer's numbering (what is
    /// missing goes on, mapped, to the publisher). None: nothing left to route.
    pub(super) fn layer_feedback(&mut self, slot: u32, media_ssrc: u32, msg: FeedbackMsg) -> Option<(u32, FeedbackMsg)> {
        let leg = &self.legs[slot as usize];
        let Some(sel) = leg.layer_selectors.iter().find(|s| s.track_ssrc == media_ssrc) else { return Some((media_ssrc, msg)) };
        let layer = sel.current.unwrap_or(sel.target) as usize;
        let layer_ssrc = sel.layer_ssrc[layer];
        let FeedbackMsg::Nack(seqs) = msg else { return Some((layer_ssrc, FeedbackMsg::Pli)) };
        // Numbers it never got mapped (too old, or before a switch) are not asked for.
        let in_layer: Vec<(u16, u16)> = seqs.iter().filter_map(|&s| sel.source_seq(s).map(|o| (s, o))).collect();
        let mut missing = Vec::new();
        let cache = std::mem::take(&mut self.sent_cache);
        for &(theirs, ours) in &in_layer {
            let Some(packet) = cache.get(layer_ssrc, ours) else {
                missing.push(ours);
                continue;
            };
            let ts = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
            let sel = self.legs[slot as usize].layer_selectors.iter().find(|s| s.track_ssrc == media_ssrc).expect("found above");
            let (_, ts) = sel.rewriter.map(ours, ts);
            super::counters::add(&self.legs[slot as usize].counters.retransmitted, 1);
            self.resend(slot, packet, Some((theirs, ts, media_ssrc)));
        }
        self.sent_cache = cache;
        // Already answered here: the NACK goes no further (the layer's own numbering
        // is what the source core maps back).
        (!missing.is_empty()).then_some((layer_ssrc, FeedbackMsg::Nack(missing)))
    }

    /// Choose layers for receiver `slot`: its estimate shared evenly over its
    /// simulcast tracks, what one track leaves unused going to the next.
    pub(super) fn choose_layers(&mut self, slot: u32) {
        let now = self.now;
        let leg = &mut self.legs[slot as usize];
        if leg.layer_selectors.is_empty() {
            return;
        }
        leg.layer_selectors.retain(|s| now.saturating_duration_since(s.last_packet) < SELECTOR_IDLE);
        let estimate = leg.bwe.bps(now);
        set(&leg.counters.estimate_bps, estimate);
        // Audio and single-layer video come first out of the budget.
        let simulcast_tx: u64 = leg.layer_selectors.iter().map(|s| s.current.map_or(0, |l| s.rate_bps(l as usize))).sum();
        let other = leg.counters.tx_bps.load(std::sync::atomic::Ordering::Relaxed).saturating_sub(simulcast_tx);
        let mut budget = estimate.saturating_sub(other);
        let mut asks = Vec::new();
        let mut measured = false;
        let n = leg.layer_selectors.len() as u64;
        for (i, sel) in leg.layer_selectors.iter_mut().enumerate() {
            measured |= sel.measure(now);
            let share = budget / (n - i as u64);
            let (used, ask) = sel.choose(share, now);
            budget = budget.saturating_sub(used);
            if let Some(l) = ask {
                asks.push(sel.layer_ssrc[l as usize]);
            }
        }
        for ssrc in asks.into_iter().filter(|&s| s != 0) {
            self.route_feedback(slot, ssrc, FeedbackMsg::Pli);
        }
        // Stats follow the rates: once a second, not every tick.
        if measured {
            self.publish_layer_stats(slot);
        }
    }

    fn publish_layer_stats(&mut self, slot: u32) {
        let leg = &self.legs[slot as usize];
        let stats = leg
            .layer_selectors
            .iter()
            .map(|s| control::SimulcastStats {
                ssrc: s.track_ssrc,
                layer: s.current,
                target: s.target,
                layers: s.layers,
                layer_bps: (0..s.layers as usize).map(|l| s.rate_bps(l)).collect(),
                max_temporal: (s.max_tid != crate::rtp::simulcast::ALL_TIDS).then_some(s.max_tid),
                switches: s.switches,
            })
            .collect();
        *leg.counters.simulcast.lock().unwrap() = stats;
    }

    /// TWCC feedback for a publisher that sends transport-wide sequence numbers: what
    /// arrived since the last tick (a few packets at most per tick).
    pub(super) fn send_twcc(&mut self, slot: u32) {
        for _ in 0..4 {
            let leg = &mut self.legs[slot as usize];
            let local_ssrc = leg.local_ssrc;
            if !leg.twcc.as_ref().is_some_and(|t| t.has_pending()) {
                return;
            }
            let mut buf = self.take_buf();
            let tw = self.legs[slot as usize].twcc.as_mut().expect("checked");
            match tw.write_feedback(&mut buf.data, local_ssrc) {
                Some(n) => {
                    buf.len = n as u16;
                    self.queue_rtcp(slot, buf);
                }
                None => return self.recycle(buf),
            }
        }
    }
}

//! Simulcast forwarding for one subscriber and one simulcast track: which layer it
//! gets, and the switch between layers. A publisher sends up to three encodings of
//! one source (RIDs, lowest quality first); the subscriber sees one stream under the
//! track's SSRC, numbered continuously across switches by its own `Rewriter`.
//!
//! A switch waits for a keyframe of the new layer (the current one keeps flowing
//! until then) and asks for one; the layer is chosen from the subscriber's bandwidth
//! estimate and the rates of the layers as they arrive, so a layer the publisher
//! paused (its own uplink fell) is not chosen.

use super::rewrite::Rewriter;
use std::time::{Duration, Instant};

pub const MAX_LAYERS: usize = 3;
/// A layer with no packet for this long is not offered (the publisher dropped it).
const LAYER_IDLE: Duration = Duration::from_secs(1);
/// Keyframe requests for a pending switch go out at most this often.
const KEYFRAME_RETRY: Duration = Duration::from_millis(300);
/// Going up needs this much headroom over the layer's measured rate.
const UP_HEADROOM: f64 = 1.15;
/// Forwarded packets whose source numbering is kept for NACKs (a power of two).
const SEQ_MAP: usize = 1024;
/// Temporal layers a stream may have (VP8: up to 4).
const TIDS: usize = 4;
/// `max_tid` when no temporal layer is dropped.
pub const ALL_TIDS: u8 = TIDS as u8 - 1;

/// What the source core knows about a packet of a simulcast layer, carried with it
/// to every receiver (local or on another core).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerTag {
    /// The SSRC subscribers see for the whole track.
    pub track_ssrc: u32,
    /// 0 = lowest quality.
    pub layer: u8,
    pub layers: u8,
    pub keyframe: bool,
    /// VP8 temporal layer index, when the payload descriptor carries one.
    pub tid: Option<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send it, renumbered to these.
    Forward { seq: u16, ts: u32 },
    Drop,
    /// Drop it, and ask the publisher for a keyframe of this layer.
    DropAskKeyframe(u8),
}

#[derive(Debug, Clone)]
pub struct LayerSelector {
    pub track_ssrc: u32,
    pub layers: u8,
    pub current: Option<u8>,
    pub target: u8,
    pub rewriter: Rewriter,
    pub switches: u64,
    /// The in-place SSRC of each layer as last seen (to ask it for keyframes).
    pub layer_ssrc: [u32; MAX_LAYERS],
    bytes: [u64; MAX_LAYERS],
    rate_bps: [u64; MAX_LAYERS],
    last_seen: [Option<Instant>; MAX_LAYERS],
    /// Outgoing → layer sequence number of recent forwarded packets, by outgoing
    /// number: with frames left out, offsets alone no longer map a NACK back.
    seq_map: Box<[(u16, u16); SEQ_MAP]>,
    /// Bytes and rates per temporal layer of the layer being forwarded, and the
    /// highest temporal layer forwarded: below the leanest layer's rate, frames of
    /// upper temporal layers are left out (VP8 decodes without them).
    tid_bytes: [u64; TIDS],
    tid_rate: [u64; TIDS],
    pub max_tid: u8,
    window_start: Instant,
    /// Rates exist once a whole window was measured; no choice is made before.
    measured: bool,
    last_ask: Option<Instant>,
    pub last_packet: Instant,
}

impl LayerSelector {
    pub fn new(tag: &LayerTag, clock_rate: u32, now: Instant) -> Self {
        LayerSelector {
            track_ssrc: tag.track_ssrc,
            layers: tag.layers.clamp(1, MAX_LAYERS as u8),
            current: None,
            // Start low: its keyframes are small and come fast; the first choice after
            // a second of rates moves up if the estimate allows.
            target: 0,
            rewriter: Rewriter::new(tag.track_ssrc, clock_rate),
            switches: 0,
            layer_ssrc: [0; MAX_LAYERS],
            bytes: [0; MAX_LAYERS],
            rate_bps: [0; MAX_LAYERS],
            last_seen: [None; MAX_LAYERS],
            seq_map: Box::new([(0, 0); SEQ_MAP]),
            tid_bytes: [0; TIDS],
            tid_rate: [0; TIDS],
            max_tid: ALL_TIDS,
            window_start: now,
            measured: false,
            last_ask: None,
            last_packet: now,
        }
    }

    /// One packet of layer `tag.layer`, with its in-place (ssrc, seq, ts).
    pub fn on_packet(&mut self, tag: &LayerTag, ssrc: u32, seq: u16, ts: u32, len: usize, now: Instant) -> Verdict {
        let l = tag.layer as usize;
        if l >= self.layers as usize {
            return Verdict::Drop;
        }
        self.bytes[l] += len as u64;
        self.last_seen[l] = Some(now);
        self.layer_ssrc[l] = ssrc;
        self.last_packet = now;
        if self.current != Some(tag.layer) {
            if tag.layer != self.target {
                return Verdict::Drop;
            }
            if !tag.keyframe {
                if self.last_ask.is_some_and(|t| now.saturating_duration_since(t) < KEYFRAME_RETRY) {
                    return Verdict::Drop;
                }
                self.last_ask = Some(now);
                return Verdict::DropAskKeyframe(tag.layer);
            }
            if self.current.is_some() {
                self.switches += 1;
            }
            self.current = Some(tag.layer);
        }
        if let Some(t) = tag.tid.map(|t| t.min(ALL_TIDS)) {
            self.tid_bytes[t as usize] += len as u64;
            if t > self.max_tid {
                self.rewriter.skip(seq);
                return Verdict::Drop;
            }
        }
        let (out, ts, _) = self.rewriter.rewrite(ssrc, seq, ts, now);
        self.seq_map[out as usize % SEQ_MAP] = (out, seq);
        Verdict::Forward { seq: out, ts }
    }

    /// The layer's own sequence number of what this receiver got as `out` (recently),
    /// for answering its NACKs.
    pub fn source_seq(&self, out: u16) -> Option<u16> {
        let (o, s) = self.seq_map[out as usize % SEQ_MAP];
        (o == out && self.current.is_some()).then_some(s)
    }

    fn active(&self, l: usize, now: Instant) -> bool {
        self.last_seen[l].is_some_and(|t| now.saturating_duration_since(t) < LAYER_IDLE)
    }

    pub fn rate_bps(&self, l: usize) -> u64 {
        self.rate_bps[l]
    }

    /// Fold the bytes seen into per-layer rates (about once a second); true when it did.
    pub fn measure(&mut self, now: Instant) -> bool {
        let span = now.saturating_duration_since(self.window_start);
        if span < Duration::from_secs(1) {
            return false;
        }
        let micros = span.as_micros().max(1) as u64;
        for l in 0..MAX_LAYERS {
            self.rate_bps[l] = self.bytes[l] * 8_000_000 / micros;
            self.bytes[l] = 0;
        }
        for t in 0..TIDS {
            self.tid_rate[t] = self.tid_bytes[t] * 8_000_000 / micros;
            self.tid_bytes[t] = 0;
        }
        self.window_start = now;
        self.measured = true;
        true
    }

    /// Choose the layer for a share `budget_bps` of the subscriber's estimate: the
    /// richest active layer that fits (with headroom to go up), else the leanest
    /// active one. Layers are ranked by their measured rates, not by their RID order,
    /// so a publisher that lists its encodings high-first is served right too.
    /// Returns the rate the choice uses, and the layer to ask for a keyframe when the
    /// target changed.
    pub fn choose(&mut self, budget_bps: u64, now: Instant) -> (u64, Option<u8>) {
        if !self.measured {
            return (0, None);
        }
        // At most three layers: ranked in place, no allocation on the core's tick.
        let mut ranked = [0usize; MAX_LAYERS];
        let mut n = 0;
        for l in (0..self.layers as usize).filter(|&l| self.active(l, now)) {
            ranked[n] = l;
            n += 1;
        }
        let active = &mut ranked[..n];
        active.sort_by_key(|&l| (self.rate_bps[l], l));
        let Some(&leanest) = active.first() else { return (0, None) };
        let current_rate = self.current.map(|c| self.rate_bps[c as usize]);
        let mut pick = leanest;
        for &l in active.iter() {
            let up = current_rate.is_some_and(|r| self.rate_bps[l] > r);
            let need = self.rate_bps[l] as f64 * if up { UP_HEADROOM } else { 1.0 };
            if need <= budget_bps as f64 {
                pick = l;
            }
        }
        let mut used = self.rate_bps[pick];
        self.max_tid = ALL_TIDS;
        // Even the leanest layer is too much: keep its lower temporal layers only (as
        // many as fit; the base layer always).
        if pick == leanest && self.current == Some(pick as u8) && used > budget_bps && self.tid_rate.iter().skip(1).any(|&r| r > 0) {
            let mut sum = 0;
            self.max_tid = 0;
            for t in 0..TIDS {
                sum += self.tid_rate[t];
                if t == 0 || sum <= budget_bps {
                    self.max_tid = t as u8;
                    used = sum;
                } else {
                    break;
                }
            }
        }
        if pick as u8 == self.target {
            return (used, None);
        }
        self.target = pick as u8;
        // The current layer may already be the new target (a change of mind mid-switch).
        if self.current == Some(self.target) {
            return (used, None);
        }
        self.last_ask = Some(now);
        (used, Some(self.target))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(layer: u8, keyframe: bool) -> LayerTag {
        LayerTag { track_ssrc: 1000, layer, layers: 3, keyframe, tid: None }
    }

    /// Feed `secs` seconds of all three layers at (100, 300, 900) kbit/s, 10 packets a
    /// second each; keyframes on every packet where `key`.
    fn feed(s: &mut LayerSelector, t0: Instant, from_ms: u64, secs: u64, key: bool, seqs: &mut [u16; 3]) -> Vec<(u8, Verdict)> {
        let mut out = vec![];
        for i in 0..secs * 10 {
            let now = t0 + Duration::from_millis(from_ms + i * 100);
            for l in 0..3u8 {
                let len = [1250, 3750, 11250][l as usize];
                seqs[l as usize] += 1;
                let v = s.on_packet(&tag(l, key), 50 + l as u32, seqs[l as usize], 0, len, now);
                out.push((l, v));
            }
            s.measure(now);
        }
        out
    }

    #[test]
    fn starts_low_on_a_keyframe_then_climbs_to_what_fits() {
        let t0 = Instant::now();
        let mut s = LayerSelector::new(&tag(0, false), 90_000, t0);
        let mut seqs = [0u16; 3];
        // Without a keyframe nothing flows; the low layer is asked for one.
        let v = s.on_packet(&tag(0, false), 50, 1, 0, 100, t0);
        assert_eq!(v, Verdict::DropAskKeyframe(0));
        let out = feed(&mut s, t0, 100, 2, true, &mut seqs);
        assert!(out.iter().filter(|(l, _)| *l == 0).all(|(_, v)| matches!(v, Verdict::Forward { .. })));
        assert!(out.iter().filter(|(l, _)| *l != 0).all(|(_, v)| *v == Verdict::Drop));
        let now = t0 + Duration::from_millis(2100);
        assert!((90_000..110_000).contains(&s.rate_bps(0)), "{}", s.rate_bps(0));
        // 500 kbit/s fits the middle layer (300 k × 1.15) but not the top.
        assert_eq!(s.choose(500_000, now), (s.rate_bps(1), Some(1)));
        let out = feed(&mut s, t0, 2200, 1, true, &mut seqs);
        assert!(matches!(out[1], (1, Verdict::Forward { .. })));
        assert_eq!(s.current, Some(1));
        assert_eq!(s.switches, 1);
    }

    #[test]
    fn switch_waits_for_a_keyframe_and_numbering_stays_continuous() {
        let t0 = Instant::now();
        let mut s = LayerSelector::new(&tag(0, true), 90_000, t0);
        let mut seqs = [100u16, 5000, 9000];
        feed(&mut s, t0, 0, 2, true, &mut seqs);
        seqs[0] += 1;
        let mut last = match s.on_packet(&tag(0, false), 50, seqs[0], 0, 10, t0 + Duration::from_millis(2050)) {
            Verdict::Forward { seq, .. } => seq,
            v => panic!("{v:?}"),
        };
        assert_eq!(s.choose(10_000_000, t0 + Duration::from_millis(2100)).1, Some(2));
        // Delta frames of the top layer: dropped; the low layer keeps flowing.
        let out = feed(&mut s, t0, 2100, 1, false, &mut seqs);
        for (l, v) in &out {
            match (l, v) {
                (0, Verdict::Forward { seq, .. }) => {
                    assert_eq!(*seq, last.wrapping_add(1));
                    last = *seq;
                }
                (2, Verdict::Drop | Verdict::DropAskKeyframe(2)) | (1, Verdict::Drop) => {}
                other => panic!("{other:?}"),
            }
        }
        assert!(out.iter().filter(|(_, v)| *v == Verdict::DropAskKeyframe(2)).count() >= 2, "asks again while waiting");
        // The top layer's keyframe: switch, numbering goes on by one.
        match s.on_packet(&tag(2, true), 52, seqs[2] + 1, 0, 10, t0 + Duration::from_millis(3200)) {
            Verdict::Forward { seq, .. } => assert_eq!(seq, last.wrapping_add(1)),
            v => panic!("{v:?}"),
        }
        assert_eq!(s.on_packet(&tag(0, true), 50, seqs[0] + 1, 0, 10, t0 + Duration::from_millis(3210)), Verdict::Drop);
    }

    #[test]
    fn a_stopped_layer_is_not_chosen() {
        let t0 = Instant::now();
        let mut s = LayerSelector::new(&tag(0, true), 90_000, t0);
        let mut seqs = [0u16; 3];
        feed(&mut s, t0, 0, 2, true, &mut seqs);
        // Only the low layer goes on (the publisher's uplink shrank).
        for i in 0..20 {
            s.on_packet(&tag(0, true), 50, 1000 + i, 0, 1250, t0 + Duration::from_millis(2000 + i as u64 * 100));
        }
        let (_, ask) = s.choose(10_000_000, t0 + Duration::from_millis(4000));
        assert_eq!(ask, None);
        assert_eq!(s.target, 0);
    }

    #[test]
    fn layers_rank_by_rate_not_by_rid_order() {
        let t0 = Instant::now();
        let mut s = LayerSelector::new(&tag(0, true), 90_000, t0);
        // Layer 0 is the rich one here (a publisher listing high first).
        for i in 0..20u16 {
            let now = t0 + Duration::from_millis(i as u64 * 100);
            s.on_packet(&tag(0, true), 50, i, 0, 11250, now);
            s.on_packet(&tag(1, true), 51, i, 0, 1250, now);
            s.measure(now);
        }
        let now = t0 + Duration::from_millis(2000);
        assert_eq!(s.choose(200_000, now).1, Some(1), "only the lean layer fits");
        // Back to the rich one, which still flows (the switch never happened): no ask.
        assert_eq!(s.choose(5_000_000, now), (s.rate_bps(0), None));
        assert_eq!((s.target, s.current), (0, Some(0)));
    }

    #[test]
    fn below_the_leanest_layer_upper_temporal_layers_go_first() {
        let t0 = Instant::now();
        let one = LayerTag { track_ssrc: 1, layer: 0, layers: 1, keyframe: true, tid: Some(0) };
        let mut s = LayerSelector::new(&one, 90_000, t0);
        // 40 frames a second in the L1T3 pattern 0,2,1,2: 1000 bytes each → TL0 80 k,
        // TL1 80 k, TL2 160 k bit/s.
        let pattern = [0u8, 2, 1, 2];
        let mut seq = 0u16;
        let mut out = vec![];
        let mut send = |s: &mut LayerSelector, from_ms: u64, n: u64, out: &mut Vec<(u8, Verdict)>| {
            for i in 0..n {
                let now = t0 + Duration::from_millis(from_ms + i * 25);
                let tid = pattern[(i % 4) as usize];
                seq = seq.wrapping_add(1);
                let v = s.on_packet(&LayerTag { tid: Some(tid), keyframe: i == 0, ..one }, 9, seq, 0, 1000, now);
                out.push((tid, v));
                s.measure(now);
            }
        };
        send(&mut s, 0, 40, &mut out);
        // 200 kbit/s: TL0+TL1 (160 k) fit, TL2 does not.
        s.measure(t0 + Duration::from_millis(1000));
        s.choose(200_000, t0 + Duration::from_millis(1000));
        assert_eq!(s.max_tid, 1);
        out.clear();
        send(&mut s, 1000, 40, &mut out);
        let mut last = None;
        for (i, (tid, v)) in out.iter().enumerate() {
            match (tid, v) {
                (2, Verdict::Drop) => {}
                (0 | 1, Verdict::Forward { seq, .. }) => {
                    if let Some(l) = last {
                        assert_eq!(*seq, u16::wrapping_add(l, 1), "no gap where TL2 was");
                    }
                    last = Some(*seq);
                    // A NACK for it finds the packet it really was (41 sent before).
                    assert_eq!(s.source_seq(*seq), Some(41 + i as u16));
                }
                other => panic!("{other:?}"),
            }
        }
        // 50 kbit/s: the base layer only, never nothing.
        s.measure(t0 + Duration::from_millis(2000));
        s.choose(50_000, t0 + Duration::from_millis(2000));
        assert_eq!(s.max_tid, 0);
        // Room again: everything.
        s.choose(1_000_000, t0 + Duration::from_millis(2000));
        assert_eq!(s.max_tid, ALL_TIDS);
    }

    #[test]
    fn out_of_range_layers_are_dropped() {
        let t0 = Instant::now();
        let mut s = LayerSelector::new(&LayerTag { track_ssrc: 1, layer: 0, layers: 2, keyframe: true, tid: None }, 90_000, t0);
        assert_eq!(s.on_packet(&LayerTag { track_ssrc: 1, layer: 2, layers: 3, keyframe: true, tid: None }, 9, 1, 0, 10, t0), Verdict::Drop);
        assert_eq!(s.choose(0, t0), (0, None), "nothing active: nothing chosen");
    }
}

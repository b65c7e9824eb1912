//! Adaptive jitter buffer for one incoming audio stream.
//!
//! Packets are slotted by sequence number from the next one to play; the consumer
//! (the mixer's 20 ms tick) pops in order. Late packets (behind the play point) and
//! duplicates are counted and dropped; the window is bounded (`MAX_SLOTS`), so a
//! flood cannot grow it. The target depth follows measured jitter (RFC 3550's
//! estimator): see `target_ms`. Play starts, and restarts after an
//! underrun, once the target is buffered; when the buffer runs deeper than the target
//! for a while, one packet is dropped to bring the delay back down.

use std::collections::VecDeque;

/// Most packets held (1.28 s of 20 ms packets).
pub const MAX_SLOTS: usize = 64;
/// Least margin above one frame (see the module comment).
const MIN_MARGIN_MS: f32 = 20.0;
const MAX_TARGET_MS: f32 = 200.0;
/// Pops in a row with the buffer too deep before one packet is dropped.
const SHRINK_AFTER: u32 = 25;
/// A sequence jump this large is a new stream (a restart), not loss.
const RESTART_GAP: u16 = 1000;

#[derive(Debug, Default, Clone)]
pub struct Packet {
    pub seq: u16,
    pub ts: u32,
    pub payload: Vec<u8>,
    /// RFC 6464 level (−dBov, 0 loud .. 127 silent) when the sender wrote one.
    pub level: Option<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    Accepted,
    Late,
    Duplicate,
    /// Stream restarted (sequence jump): the buffer was flushed first.
    Restarted,
}

#[derive(Debug)]
pub enum Pop {
    Packet(Packet),
    /// The next packet is missing but later ones are here: conceal one frame.
    Lost,
    /// Nothing to play (still buffering, or underrun).
    Empty,
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct JitterStats {
    pub depth_ms: u32,
    pub target_ms: u32,
    pub jitter_ms: f32,
    pub late: u64,
    pub duplicate: u64,
    pub lost: u64,
    pub dropped_to_shrink: u64,
    pub underruns: u64,
}

pub struct JitterBuffer {
    slots: VecDeque<Option<Packet>>,
    next_seq: Option<u16>,
    clock_rate: u32,
    /// Samples (RTP clock) per packet, learned from consecutive packets.
    frame_ts: u32,
    last_transit: Option<i64>,
    /// RFC 3550 interarrival jitter, in RTP clock units, scaled ×16.
    jitter16: i64,
    playing: bool,
    too_deep: u32,
    last_seen: Option<(u16, u32)>,
    spare: Vec<Vec<u8>>,
    stats: JitterStats,
}

impl JitterBuffer {
    pub fn new(clock_rate: u32) -> Self {
        JitterBuffer {
            slots: VecDeque::with_capacity(MAX_SLOTS),
            next_seq: None,
            clock_rate: clock_rate.max(1),
            frame_ts: clock_rate / 50,
            last_transit: None,
            jitter16: 0,
            playing: false,
            too_deep: 0,
            last_seen: None,
            spare: Vec::new(),
            stats: JitterStats::default(),
        }
    }

    fn frame_ms(&self) -> f32 {
        self.frame_ts as f32 * 1000.0 / self.clock_rate as f32
    }

    pub fn target_ms(&self) -> f32 {
        let jitter_ms = (self.jitter16 / 16) as f32 * 1000.0 / self.clock_rate as f32;
        (self.frame_ms() + (3.0 * jitter_ms).max(MIN_MARGIN_MS)).min(MAX_TARGET_MS)
    }

    /// Audio held, from the play point to the newest packet.
    pub fn depth_ms(&self) -> f32 {
        let held = self.slots.iter().rposition(Option::is_some).map_or(0, |i| i + 1);
        held as f32 * self.frame_ms()
    }

    pub fn stats(&self) -> JitterStats {
        JitterStats {
            depth_ms: self.depth_ms() as u32,
            target_ms: self.target_ms() as u32,
            jitter_ms: (self.jitter16 / 16) as f32 * 1000.0 / self.clock_rate as f32,
            ..self.stats
        }
    }

    /// A buffer for a payload, reused from popped packets.
    pub fn payload_buf(&mut self) -> Vec<u8> {
        self.spare.pop().unwrap_or_default()
    }

    /// Give a played packet's buffer back.
    pub fn recycle(&mut self, mut p: Vec<u8>) {
        if self.spare.len() < MAX_SLOTS {
            p.clear();
            self.spare.push(p);
        }
    }

    pub fn reset(&mut self) {
        while let Some(s) = self.slots.pop_front() {
            if let Some(p) = s {
                self.recycle(p.payload);
            }
        }
        self.next_seq = None;
        self.playing = false;
        self.last_transit = None;
        self.last_seen = None;
    }

    /// A packet arrived at `arrival` (in the stream's clock units, any origin).
    pub fn push(&mut self, packet: Packet, arrival: u64) -> Pushed {
        let mut result = Pushed::Accepted;
        let next = *self.next_seq.get_or_insert(packet.seq);
        let mut offset = packet.seq.wrapping_sub(next);
        if (RESTART_GAP..=u16::MAX - RESTART_GAP).contains(&offset) {
            self.reset();
            self.next_seq = Some(packet.seq);
            offset = 0;
            result = Pushed::Restarted;
        } else if offset > u16::MAX - RESTART_GAP {
            self.stats.late += 1;
            self.recycle(packet.payload);
            return Pushed::Late;
        }
        if offset as usize >= MAX_SLOTS {
            // Beyond the window: what lies between is gone; playing it out as
            // concealment would only add its length as delay. Start over from here.
            self.stats.lost += offset as u64;
            self.reset();
            self.next_seq = Some(packet.seq);
            result = Pushed::Restarted;
        }
        let index = packet.seq.wrapping_sub(self.next_seq.expect("set")) as usize;
        while self.slots.len() <= index {
            self.slots.push_back(None);
        }
        if self.slots[index].is_some() {
            self.stats.duplicate += 1;
            self.recycle(packet.payload);
            return Pushed::Duplicate;
        }
        self.learn(&packet, arrival);
        self.slots[index] = Some(packet);
        result
    }

    fn learn(&mut self, p: &Packet, arrival: u64) {
        if let Some((seq, ts)) = self.last_seen {
            let dseq = p.seq.wrapping_sub(seq);
            let dts = p.ts.wrapping_sub(ts);
            if (1..=4).contains(&dseq) && dts > 0 && dts / dseq as u32 <= self.clock_rate / 5 {
                self.frame_ts = dts / dseq as u32;
            }
        }
        if self.last_seen.is_none_or(|(s, _)| p.seq.wrapping_sub(s) < 0x8000) {
            self.last_seen = Some((p.seq, p.ts));
        }
        let transit = arrival as i64 - p.ts as i64;
        if let Some(last) = self.last_transit {
            // Timestamps wrap: take the difference modulo 2^32 as a signed value.
            let d = ((transit - last) as i32 as i64).abs();
            self.jitter16 += d - ((self.jitter16 + 8) >> 4);
        }
        self.last_transit = Some(transit);
    }

    /// Drop the packet at the play point on purpose (to shrink the delay).
    fn skip_front(&mut self) {
        if let Some(Some(p)) = self.slots.pop_front() {
            self.recycle(p.payload);
        }
        if let Some(n) = self.next_seq.as_mut() {
            *n = n.wrapping_add(1);
        }
    }

    /// The packet after the play point, if here (for Opus FEC of a lost frame).
    pub fn peek(&self) -> Option<&Packet> {
        self.slots.front().and_then(Option::as_ref)
    }

    /// The next frame to play.
    pub fn pop(&mut self) -> Pop {
        if !self.playing {
            if self.slots.is_empty() || self.depth_ms() + 0.5 < self.target_ms() {
                return Pop::Empty;
            }
            self.playing = true;
        }
        if self.depth_ms() > self.target_ms() + 2.0 * self.frame_ms() {
            self.too_deep += 1;
            // Far too deep (a burst after a stall): catch up quickly.
            let after = if self.depth_ms() > 2.0 * self.target_ms() { SHRINK_AFTER / 5 } else { SHRINK_AFTER };
            if self.too_deep >= after && self.slots.len() > 1 {
                self.too_deep = 0;
                self.stats.dropped_to_shrink += 1;
                self.skip_front();
            }
        } else {
            self.too_deep = 0;
        }
        let Some(front) = self.slots.pop_front() else {
            // Nothing arrived in time: the next packet starts a new play point (after a
            // pause, packets sent meanwhile are not waited for, nor concealed).
            self.playing = false;
            self.next_seq = None;
            self.stats.underruns += 1;
            return Pop::Empty;
        };
        self.next_seq = self.next_seq.map(|n| n.wrapping_add(1));
        match front {
            Some(p) => Pop::Packet(p),
            None => {
                self.stats.lost += 1;
                Pop::Lost
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(seq: u16) -> Packet {
        Packet { seq, ts: seq as u32 * 960, payload: vec![seq as u8], level: None }
    }

    fn seqs_played(jb: &mut JitterBuffer, n: usize) -> Vec<Option<u16>> {
        (0..n)
            .map(|_| match jb.pop() {
                Pop::Packet(p) => Some(p.seq),
                Pop::Lost => None,
                Pop::Empty => Some(u16::MAX),
            })
            .collect()
    }

    #[test]
    fn reorders_and_reports_loss() {
        let mut jb = JitterBuffer::new(48_000);
        for (i, s) in [10u16, 12, 11, 14, 15].into_iter().enumerate() {
            jb.push(pkt(s), i as u64 * 960);
        }
        assert_eq!(seqs_played(&mut jb, 6), vec![Some(10), Some(11), Some(12), None, Some(14), Some(15)]);
        assert_eq!(jb.stats().lost, 1);
    }

    #[test]
    fn late_and_duplicate_packets_are_dropped_and_counted() {
        let mut jb = JitterBuffer::new(48_000);
        jb.push(pkt(100), 0);
        jb.push(pkt(101), 960);
        assert!(matches!(jb.pop(), Pop::Packet(_)));
        assert_eq!(jb.push(pkt(100), 2000), Pushed::Late);
        assert_eq!(jb.push(pkt(101), 2000), Pushed::Duplicate);
        let s = jb.stats();
        assert_eq!((s.late, s.duplicate), (1, 1));
    }

    #[test]
    fn window_is_bounded_under_a_flood() {
        let mut jb = JitterBuffer::new(48_000);
        for s in 0..5000u16 {
            jb.push(pkt(s.wrapping_mul(7919)), s as u64);
        }
        assert!(jb.slots.len() <= MAX_SLOTS);
    }

    #[test]
    fn target_grows_with_jitter_and_is_capped() {
        let mut jb = JitterBuffer::new(48_000);
        for s in 0..200u16 {
            // Arrivals alternate 0 and 40 ms late.
            let late = if s % 2 == 0 { 0 } else { 1920 };
            jb.push(pkt(s), s as u64 * 960 + late);
            jb.pop();
        }
        let t = jb.target_ms();
        assert!(t > 60.0 && t <= MAX_TARGET_MS, "{t}");
        let mut calm = JitterBuffer::new(48_000);
        for s in 0..200u16 {
            calm.push(pkt(s), s as u64 * 960);
            calm.pop();
        }
        assert_eq!(calm.target_ms(), 40.0);
    }

    #[test]
    fn deep_buffer_shrinks_back_toward_the_target() {
        let mut jb = JitterBuffer::new(48_000);
        for s in 0..30u16 {
            jb.push(pkt(s), 0);
        }
        for s in 30..200u16 {
            jb.push(pkt(s), s as u64 * 960);
            jb.pop();
        }
        assert!(jb.depth_ms() <= jb.target_ms() + 40.0, "{} vs {}", jb.depth_ms(), jb.target_ms());
        assert!(jb.stats().dropped_to_shrink > 0);
    }

    #[test]
    fn a_pause_or_a_jump_adds_no_delay() {
        let mut jb = JitterBuffer::new(48_000);
        for s in 0..3u16 {
            jb.push(pkt(s), s as u64 * 960);
        }
        while !matches!(jb.pop(), Pop::Empty) {}
        // The sender paused for 10 packets (or they were lost), then goes on.
        jb.push(pkt(13), 13 * 960);
        jb.push(pkt(14), 14 * 960);
        assert!(matches!(jb.pop(), Pop::Packet(p) if p.seq == 13), "no concealment of the pause");
        assert_eq!(jb.push(pkt(14 + 500), 15 * 960), Pushed::Restarted, "a jump past the window restarts");
        assert!(jb.depth_ms() <= 20.0);
    }

    #[test]
    fn a_restart_flushes() {
        let mut jb = JitterBuffer::new(48_000);
        jb.push(pkt(5), 0);
        assert_eq!(jb.push(pkt(30_000), 960), Pushed::Restarted);
        assert!(matches!(jb.pop(), Pop::Empty), "one frame is below the 40 ms target");
        jb.push(pkt(30_001), 1920);
        assert!(matches!(jb.pop(), Pop::Packet(p) if p.seq == 30_000));
    }
}

//! SSRC / sequence / timestamp rewriting of one outgoing stream.
//!
//! A room gives each source leg one outgoing stream with an SSRC of our own. When the
//! source behind it changes SSRC (a phone re-INVITEs, a publisher restarts), the
//! offsets are recomputed so receivers see one continuous stream: sequence numbers
//! go on from the last one sent and timestamps advance by the wall time elapsed.
//! Rewriting happens once, in place, in the receive buffer; every receiver gets the
//! same bytes, so fan-out costs no copy.

use std::time::Instant;

#[derive(Debug, Clone)]
pub struct Rewriter {
    pub out_ssrc: u32,
    clock_rate: u32,
    in_ssrc: Option<u32>,
    seq_offset: u16,
    ts_offset: u32,
    /// Highest sequence number sent and the timestamp that went with it.
    last_out_seq: u16,
    last_out_ts: u32,
    last_at: Option<Instant>,
}

/// What `rewrite` did, so the caller can raise an event on a switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    None,
    /// First packet ever.
    Started,
    /// The input SSRC changed; carries the old one.
    Changed(u32),
}

impl Rewriter {
    pub fn new(out_ssrc: u32, clock_rate: u32) -> Self {
        Rewriter {
            out_ssrc,
            clock_rate: clock_rate.max(1),
            in_ssrc: None,
            seq_offset: 0,
            ts_offset: 0,
            last_out_seq: 0,
            last_out_ts: 0,
            last_at: None,
        }
    }

    pub fn in_ssrc(&self) -> Option<u32> {
        self.in_ssrc
    }

    /// Map an incoming (ssrc, seq, ts) to the outgoing (seq, ts).
    pub fn rewrite(&mut self, ssrc: u32, seq: u16, ts: u32, now: Instant) -> (u16, u32, Switch) {
        let mut switch = Switch::None;
        if self.in_ssrc != Some(ssrc) {
            match (self.in_ssrc, self.last_at) {
                (Some(old), Some(last_at)) => {
                    let next_seq = self.last_out_seq.wrapping_add(1);
                    let elapsed = now.saturating_duration_since(last_at);
                    let ticks = (elapsed.as_micros() as u64 * self.clock_rate as u64 / 1_000_000).max(1);
                    let next_ts = self.last_out_ts.wrapping_add(ticks as u32);
                    self.seq_offset = next_seq.wrapping_sub(seq);
                    self.ts_offset = next_ts.wrapping_sub(ts);
                    switch = Switch::Changed(old);
                }
                _ => {
                    // First source: keep its numbering so captures line up with it.
                    self.seq_offset = 0;
                    self.ts_offset = 0;
                    self.last_out_seq = seq.wrapping_sub(1);
                    switch = Switch::Started;
                }
            }
            self.in_ssrc = Some(ssrc);
        }
        let out_seq = seq.wrapping_add(self.seq_offset);
        let out_ts = ts.wrapping_add(self.ts_offset);
        // Reordered packets keep their place; only a newer one moves the high mark.
        let delta = out_seq.wrapping_sub(self.last_out_seq);
        if delta != 0 && delta < 0x8000 {
            self.last_out_seq = out_seq;
            self.last_out_ts = out_ts;
            self.last_at = Some(now);
        }
        (out_seq, out_ts, switch)
    }

    /// Leave out packet `seq` of the current source (a dropped temporal layer): later
    /// packets close the gap, so the receiver sees no loss. Only a packet newer than
    /// any mapped so far can be left out (one that arrives reordered after it would
    /// be numbered as if the gap were not there; it is sent anyway).
    pub fn skip(&mut self, seq: u16) {
        let out = seq.wrapping_add(self.seq_offset);
        let delta = out.wrapping_sub(self.last_out_seq);
        if delta != 0 && delta < 0x8000 {
            self.seq_offset = self.seq_offset.wrapping_sub(1);
        }
    }

    /// Map an incoming (seq, ts) of the current source without moving any state (a
    /// retransmission of a packet already sent).
    pub fn map(&self, seq: u16, ts: u32) -> (u16, u32) {
        (seq.wrapping_add(self.seq_offset), ts.wrapping_add(self.ts_offset))
    }

    /// Map an outgoing sequence number back to the current source's numbering (for
    /// NACKs from receivers).
    pub fn to_source_seq(&self, out_seq: u16) -> u16 {
        out_seq.wrapping_sub(self.seq_offset)
    }

    /// The outgoing RTP timestamp that corresponds to `now` (for sender reports).
    pub fn rtp_ts_at(&self, now: Instant) -> Option<u32> {
        let last_at = self.last_at?;
        let elapsed = now.saturating_duration_since(last_at);
        let ticks = elapsed.as_micros() as u64 * self.clock_rate as u64 / 1_000_000;
        Some(self.last_out_ts.wrapping_add(ticks as u32))
    }
}

/// An invertible 32-bit mix, so outgoing SSRCs look random yet map back to the leg
/// that owns them without a table (feedback about an SSRC finds its source leg).
pub fn ssrc_for_leg(leg: u64) -> u32 {
    let mut x = leg as u32;
    x = x.wrapping_mul(0x9E37_79B1);
    x ^= x >> 16;
    x = x.wrapping_mul(0x85EB_CA6B);
    x ^= x >> 13;
    x
}

pub fn leg_for_ssrc(ssrc: u32) -> u32 {
    let mut x = ssrc;
    // inverse of x ^= x >> 13
    x ^= (x >> 13) ^ (x >> 26);
    x = x.wrapping_mul(0x85EB_CA6Bu32.wrapping_inv());
    x ^= x >> 16;
    x.wrapping_mul(0x9E37_79B1u32.wrapping_inv())
}

/// Streams per leg that get an SSRC of their own (BUNDLE: audio, video, screen...).
pub const MAX_STREAMS: usize = 8;
/// Leg ids stay below this so the stream index fits above them in 32 bits.
pub const LEG_ID_LIMIT: u64 = 1 << 29;

/// The outgoing SSRC of stream `stream` of leg `leg` (stream 0 is `ssrc_for_leg`).
pub fn ssrc_for_stream(leg: u64, stream: usize) -> u32 {
    debug_assert!(leg < LEG_ID_LIMIT && stream < MAX_STREAMS);
    ssrc_for_leg(leg | (stream as u64) << 29)
}

/// Inverse of `ssrc_for_stream`: (leg, stream).
pub fn stream_for_ssrc(ssrc: u32) -> (u64, usize) {
    let x = leg_for_ssrc(ssrc);
    ((x & (LEG_ID_LIMIT as u32 - 1)) as u64, (x >> 29) as usize)
}

trait WrappingInv {
    fn wrapping_inv(self) -> Self;
}
impl WrappingInv for u32 {
    /// Multiplicative inverse modulo 2^32 of an odd number (Newton iteration).
    fn wrapping_inv(self) -> u32 {
        let mut x = self;
        for _ in 0..5 {
            x = x.wrapping_mul(2u32.wrapping_sub(self.wrapping_mul(x)));
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn continuous_across_ssrc_switch() {
        let t0 = Instant::now();
        let mut r = Rewriter::new(42, 8000);
        for i in 0..10u16 {
            let (s, ts, _) = r.rewrite(1, 1000 + i, 5000 + i as u32 * 160, t0 + Duration::from_millis(20 * i as u64));
            assert_eq!((s, ts), (1000 + i, 5000 + i as u32 * 160));
        }
        // New source, unrelated numbering, 20 ms after the last packet.
        let (s, ts, sw) = r.rewrite(2, 7, 999_999, t0 + Duration::from_millis(200));
        assert_eq!(sw, Switch::Changed(1));
        assert_eq!(s, 1010);
        assert_eq!(ts, 5000 + 9 * 160 + 160);
        let (s, ts, sw) = r.rewrite(2, 8, 999_999 + 160, t0 + Duration::from_millis(220));
        assert_eq!((s, ts, sw), (1011, 5000 + 11 * 160, Switch::None));
        assert_eq!(r.to_source_seq(1011), 8);
    }

    #[test]
    fn skipped_packets_leave_no_gap() {
        let t0 = Instant::now();
        let mut r = Rewriter::new(1, 90000);
        assert_eq!(r.rewrite(5, 100, 0, t0).0, 100);
        r.skip(101);
        r.skip(102);
        assert_eq!(r.rewrite(5, 103, 0, t0).0, 101);
        r.skip(90); // old: no effect
        assert_eq!(r.rewrite(5, 104, 0, t0).0, 102);
        assert_eq!(r.to_source_seq(102), 104, "NACKs map back across the gap");
    }

    #[test]
    fn reordering_does_not_move_high_mark() {
        let t0 = Instant::now();
        let mut r = Rewriter::new(1, 90000);
        r.rewrite(5, 10, 0, t0);
        r.rewrite(5, 12, 0, t0);
        r.rewrite(5, 11, 0, t0);
        let (s, _, _) = r.rewrite(6, 0, 0, t0);
        assert_eq!(s, 13);
    }

    #[test]
    fn ssrc_mapping_inverts() {
        for leg in [0u64, 1, 256, 257, 0xdead_beef, 123_456_789] {
            assert_eq!(leg_for_ssrc(ssrc_for_leg(leg)), leg as u32);
        }
        assert_ne!(ssrc_for_leg(256), ssrc_for_leg(257));
        for (leg, k) in [(257u64, 0usize), (257, 1), (LEG_ID_LIMIT - 1, MAX_STREAMS - 1)] {
            assert_eq!(stream_for_ssrc(ssrc_for_stream(leg, k)), (leg, k));
        }
        assert_eq!(ssrc_for_stream(257, 0), ssrc_for_leg(257));
    }
}

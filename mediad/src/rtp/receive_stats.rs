//! Per-source reception statistics, RFC 3550 appendix A.1 (sequence validation),
//! A.3 (loss) and A.8 (interarrival jitter), plus what an RR block needs.

use std::time::Instant;

const MAX_DROPOUT: u16 = 3000;
const MAX_MISORDER: u16 = 100;
const SEQ_MOD: u32 = 1 << 16;

#[derive(Debug, Clone, Default)]
pub struct ReceiveStats {
    pub ssrc: Option<u32>,
    max_seq: u16,
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    pub received: u64,
    /// Snapshot at the last report, for the fraction-lost field.
    expected_prior: u64,
    received_prior: u64,
    /// Relative transit time of the previous packet, in RTP timestamp units.
    transit: Option<i64>,
    /// Jitter estimate in timestamp units, scaled by 16 (A.8's integer form).
    jitter_x16: u64,
    /// Middle 32 bits of the NTP time of the last SR from this source, and when it came.
    pub last_sr: Option<(u32, Instant)>,
}

impl ReceiveStats {
    /// Restart for a new source (SSRC change).
    pub fn reset(&mut self, ssrc: u32, seq: u16) {
        *self = ReceiveStats { ssrc: Some(ssrc), ..Default::default() };
        self.init_seq(seq);
    }

    fn init_seq(&mut self, seq: u16) {
        self.base_seq = seq as u32;
        self.max_seq = seq;
        self.bad_seq = SEQ_MOD + 1;
        self.cycles = 0;
    }

    /// Account one packet. `arrival_ts` is the arrival time in RTP timestamp units of
    /// this stream's clock. Returns false for a packet the A.1 validation rejects
    /// (a large jump that is not yet confirmed by a following packet).
    pub fn on_packet(&mut self, seq: u16, rtp_ts: u32, arrival_ts: u64) -> bool {
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.received == 0 {
            self.init_seq(seq);
        } else if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles += SEQ_MOD;
            }
            self.max_seq = seq;
        } else if udelta as u32 <= SEQ_MOD - MAX_MISORDER as u32 {
            if seq as u32 == self.bad_seq {
                // Two sequential packets after a jump: the source restarted.
                self.init_seq(seq);
                self.received = 0;
                self.expected_prior = 0;
                self.received_prior = 0;
            } else {
                self.bad_seq = (seq as u32 + 1) & (SEQ_MOD - 1);
                return false;
            }
        } // else: duplicate or reordered packet, counted below
        self.received += 1;

        let transit = arrival_ts as i64 - rtp_ts as i64;
        if let Some(prev) = self.transit {
            let d = (transit - prev).unsigned_abs();
            // J += (|D| - J) / 16, kept scaled by 16.
            self.jitter_x16 = self.jitter_x16 + d - ((self.jitter_x16 + 8) >> 4);
        }
        self.transit = Some(transit);
        true
    }

    pub fn extended_max(&self) -> u32 {
        self.cycles + self.max_seq as u32
    }

    pub fn expected(&self) -> u64 {
        if self.received == 0 {
            return 0;
        }
        (self.extended_max() as u64 + 1).saturating_sub(self.base_seq as u64)
    }

    /// Cumulative lost, which RFC 3550 allows to go negative with duplicates.
    pub fn lost(&self) -> i64 {
        self.expected() as i64 - self.received as i64
    }

    pub fn jitter(&self) -> u32 {
        (self.jitter_x16 >> 4) as u32
    }

    /// Fraction lost since the previous call, as the 8-bit RR field; advances the
    /// snapshot.
    pub fn take_fraction_lost(&mut self) -> u8 {
        let expected = self.expected();
        let exp_int = expected.saturating_sub(self.expected_prior);
        let rec_int = self.received.saturating_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_int = exp_int as i64 - rec_int as i64;
        if exp_int == 0 || lost_int <= 0 {
            0
        } else {
            ((lost_int << 8) / exp_int as i64).min(255) as u8
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(s: &mut ReceiveStats, seqs: &[u16]) {
        for &q in seqs {
            s.on_packet(q, q as u32 * 160, q as u64 * 160);
        }
    }

    #[test]
    fn counts_loss_across_wrap() {
        let mut s = ReceiveStats::default();
        s.reset(1, 65530);
        let seqs: Vec<u16> = (65530u32..65550).map(|x| x as u16).filter(|&q| q != 65534 && q != 3).collect();
        feed(&mut s, &seqs);
        assert_eq!(s.expected(), 20);
        assert_eq!(s.lost(), 2);
        assert_eq!(s.extended_max(), 65536 + 13);
        assert_eq!(s.take_fraction_lost(), (2 * 256 / 20) as u8);
        assert_eq!(s.take_fraction_lost(), 0);
        assert_eq!(s.jitter(), 0, "perfectly paced stream has no jitter");
    }

    #[test]
    fn jitter_follows_arrival_variation() {
        let mut s = ReceiveStats::default();
        s.reset(1, 0);
        for q in 0..200u16 {
            let wobble = if q % 2 == 0 { 0 } else { 80 };
            s.on_packet(q, q as u32 * 160, q as u64 * 160 + wobble);
        }
        // Alternating 80-unit deviations converge to a jitter near 80.
        assert!((70..=80).contains(&s.jitter()), "{}", s.jitter());
    }

    #[test]
    fn big_jump_needs_confirmation() {
        let mut s = ReceiveStats::default();
        s.reset(1, 100);
        feed(&mut s, &[100, 101, 102]);
        assert!(!s.on_packet(40000, 0, 0));
        assert!(s.on_packet(40001, 0, 0), "second sequential packet confirms the restart");
        assert_eq!(s.expected(), 1);
    }
}

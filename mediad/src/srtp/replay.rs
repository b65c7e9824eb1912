//! Per-SSRC receive state: the rollover counter estimate (RFC 3711 Appendix A) and a
//! 64-packet replay window (§3.3.2) over the 48-bit packet index.

/// Packets behind the highest index still accepted once.
pub const WINDOW: u64 = 64;

#[derive(Debug, Clone, Default)]
pub struct ReceiveState {
    started: bool,
    /// Highest index authenticated so far.
    highest: u64,
    /// Bit i set: index `highest - i` was received.
    seen: u64,
}

impl ReceiveState {
    /// The packet index a sequence number most likely belongs to.
    pub fn estimate(&self, seq: u16) -> u64 {
        if !self.started {
            return seq as u64;
        }
        let roc = (self.highest >> 16) as i64;
        let s_l = (self.highest & 0xffff) as i64;
        let seq_i = seq as i64;
        let v = if s_l < 32768 {
            if seq_i - s_l > 32768 { roc - 1 } else { roc }
        } else if s_l - 32768 > seq_i {
            roc + 1
        } else {
            roc
        };
        // A ROC of -1 (a packet from before the first one, across a wrap) cannot be
        // represented: treat it as index 0's epoch; authentication decides.
        ((v.max(0) as u64) << 16) | seq as u64
    }

    /// Whether `index` is new (not seen, not too old).
    pub fn fresh(&self, index: u64) -> bool {
        if !self.started || index > self.highest {
            return true;
        }
        let behind = self.highest - index;
        behind < WINDOW && self.seen & (1 << behind) == 0
    }

    /// Record an authenticated packet.
    pub fn accept(&mut self, index: u64) {
        if !self.started {
            *self = ReceiveState { started: true, highest: index, seen: 1 };
        } else if index > self.highest {
            let ahead = index - self.highest;
            self.seen = if ahead >= WINDOW { 1 } else { (self.seen << ahead) | 1 };
            self.highest = index;
        } else {
            self.seen |= 1 << (self.highest - index);
        }
    }
}

/// Per-SSRC send state: our own sequence numbers, counting their wraps (the ROC).
#[derive(Debug, Clone, Default)]
pub struct SendState {
    started: bool,
    last_seq: u16,
    pub roc: u32,
}

impl SendState {
    /// The packet index of the next packet we protect with `seq`.
    pub fn index(&mut self, seq: u16) -> u64 {
        if !self.started {
            self.started = true;
            self.last_seq = seq;
            return ((self.roc as u64) << 16) | seq as u64;
        }
        // A step back by more than half the space is a wrap.
        if seq < self.last_seq && self.last_seq - seq > 0x8000 {
            self.roc = self.roc.wrapping_add(1);
            self.last_seq = seq;
        } else if seq > self.last_seq && seq - self.last_seq > 0x8000 {
            // A retransmission of a packet from before the last wrap: its own ROC.
            return ((self.roc.wrapping_sub(1) as u64) << 16) | seq as u64;
        } else if seq.wrapping_sub(self.last_seq) < 0x8000 {
            self.last_seq = seq;
        }
        ((self.roc as u64) << 16) | seq as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_refuses_repeats_and_old_packets() {
        let mut r = ReceiveState::default();
        for i in [100u64, 102, 101] {
            assert!(r.fresh(i));
            r.accept(i);
        }
        assert!(!r.fresh(101) && !r.fresh(100) && r.fresh(99));
        r.accept(300);
        assert!(!r.fresh(300 - WINDOW) && r.fresh(300 - WINDOW + 1) && r.fresh(301));
    }

    #[test]
    fn send_index_wraps_and_keeps_retransmissions_in_their_roll() {
        let mut s = SendState::default();
        assert_eq!(s.index(65_534), 65_534);
        assert_eq!(s.index(2), (1 << 16) | 2, "wrapped");
        assert_eq!(s.index(65_535), 65_535, "resent from before the wrap");
        assert_eq!(s.index(1), (1 << 16) | 1, "resent after the wrap");
        assert_eq!(s.index(3), (1 << 16) | 3);
    }

    #[test]
    fn rollover_is_estimated_across_the_wrap() {
        let mut r = ReceiveState::default();
        r.accept(65_530);
        assert_eq!(r.estimate(3), (1 << 16) | 3, "wrapped forward");
        r.accept((1 << 16) | 3);
        assert_eq!(r.estimate(65_534), 65_534, "a late packet from before the wrap");
        assert_eq!(r.estimate(10), (1 << 16) | 10);
    }
}

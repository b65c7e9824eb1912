//! Transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-
//! extensions-01) for what publishers send us: the arrival time of every packet by
//! its transport-wide sequence number, reported every tick. The browser's send-side
//! estimator (GCC) reads it; without it a publisher ramps up slowly and keeps its
//! upper simulcast layers off. The FCI is written by `rtcp-types`.

use rtcp_types::prelude::*;
use rtcp_types::{TransportFeedback, Twcc, TwccPacketStatus};

/// Arrivals kept between two feedbacks at most (a flood cannot grow it further).
const MAX_PENDING: usize = 4096;
/// A feedback never spans more sequence numbers than this: a jump further (a restart
/// or hostile numbers) starts a new run instead of reporting thousands as lost.
const MAX_SPAN: u64 = 2048;
/// FCI bytes per feedback packet; what does not fit goes in the next one.
const MAX_FCI: usize = 1100;

#[derive(Debug, Clone)]
pub struct TwccRecorder {
    /// One-byte extension id of `transport-wide-cc-extensions-01`.
    pub ext_id: u8,
    /// (extended sequence number, arrival in µs) since the last feedback.
    pending: Vec<(u64, u64)>,
    highest: Option<u64>,
    /// First sequence number the next feedback reports.
    next_base: Option<u64>,
    count: u8,
    pub media_ssrc: u32,
}

impl TwccRecorder {
    pub fn new(ext_id: u8) -> Self {
        TwccRecorder { ext_id, pending: Vec::new(), highest: None, next_base: None, count: 0, media_ssrc: 0 }
    }

    /// A packet carrying transport-wide sequence number `seq` arrived at `arrival_us`.
    pub fn on_packet(&mut self, seq: u16, arrival_us: u64, media_ssrc: u32) {
        let ext = match self.highest {
            None => (1u64 << 32) + seq as u64,
            Some(h) => h.wrapping_add(seq.wrapping_sub(h as u16) as i16 as i64 as u64),
        };
        if self.highest.is_none_or(|h| ext > h) {
            self.highest = Some(ext);
        }
        if self.pending.len() >= MAX_PENDING {
            self.pending.remove(0);
        }
        self.pending.push((ext, arrival_us));
        self.media_ssrc = media_ssrc;
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Write one feedback packet into `buf` (call again while `has_pending`).
    pub fn write_feedback(&mut self, buf: &mut [u8], sender_ssrc: u32) -> Option<usize> {
        self.pending.sort_unstable_by_key(|p| p.0);
        self.pending.dedup_by_key(|p| p.0);
        let max = self.pending.last()?.0;
        let mut base = self.next_base.unwrap_or(self.pending[0].0);
        if max.saturating_sub(base) >= MAX_SPAN || self.pending[0].0 + MAX_SPAN < base {
            base = self.pending.iter().find(|p| p.0 + MAX_SPAN > max).map_or(max, |p| p.0);
        }
        // Reported already (as lost) or from before a jump: too late to tell.
        self.pending.retain(|p| p.0 >= base);
        let &(_, first_arrival) = self.pending.first()?;
        let reference = first_arrival / 64_000;
        let mut prev = reference * 64_000;
        let mut statuses = Vec::with_capacity((max - base + 1) as usize);
        let mut it = self.pending.iter().peekable();
        for seq in base..=max {
            match it.peek() {
                Some(&&(s, at)) if s == seq => {
                    it.next();
                    let delta = (at as i64 - prev as i64) / 250;
                    statuses.push(TwccPacketStatus::Received { delta: delta.clamp(i16::MIN as i64, i16::MAX as i64) as i16 });
                    prev = at;
                }
                _ => statuses.push(TwccPacketStatus::NotReceived),
            }
        }
        let fci = Twcc::builder(base as u16, (reference & 0xff_ffff) as u32, self.count, &statuses, Some(MAX_FCI));
        let consumed = fci.packet_status_count() as u64;
        if consumed == 0 {
            return None;
        }
        let n = TransportFeedback::builder_owned(fci).sender_ssrc(sender_ssrc).media_ssrc(self.media_ssrc).write_into(buf).ok()?;
        self.count = self.count.wrapping_add(1);
        self.next_base = Some(base + consumed);
        self.pending.retain(|p| p.0 >= base + consumed);
        Some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtcp_types::{Compound, Packet};

    fn parse(buf: &[u8]) -> (u16, u8, Vec<(u16, TwccPacketStatus)>) {
        let mut out = None;
        for p in Compound::parse(buf).unwrap() {
            if let Ok(Packet::TransportFeedback(fb)) = p {
                let t = fb.parse_fci::<Twcc>().unwrap();
                let pk = t.packets().map(|r| r.unwrap()).collect();
                out = Some((t.base_sequence_number(), t.feedback_packet_count(), pk));
            }
        }
        out.expect("a TWCC packet")
    }

    #[test]
    fn reports_arrivals_losses_and_wraps() {
        let mut r = TwccRecorder::new(3);
        let mut buf = [0u8; 1500];
        // 65534, 65535, (0 lost), 1 — across the wrap; 1 ms apart.
        for (i, seq) in [65534u16, 65535, 1].iter().enumerate() {
            r.on_packet(*seq, 1_000_000 + i as u64 * 1000, 7);
        }
        let n = r.write_feedback(&mut buf, 9).unwrap();
        let (base, count, pk) = parse(&buf[..n]);
        assert_eq!((base, count), (65534, 0));
        assert_eq!(pk.len(), 4);
        assert_eq!(pk[2], (0, TwccPacketStatus::NotReceived));
        assert_eq!(pk[1].1, TwccPacketStatus::Received { delta: 4 }, "1 ms = 4 × 250 µs");
        assert!(!r.has_pending());
        // The next feedback starts where this one ended; a late arrival of 0 is dropped.
        r.on_packet(0, 1_010_000, 7);
        r.on_packet(2, 1_020_000, 7);
        let n = r.write_feedback(&mut buf, 9).unwrap();
        let (base, count, pk) = parse(&buf[..n]);
        assert_eq!((base, count, pk.len()), (2, 1, 1));
    }

    #[test]
    fn large_runs_split_and_jumps_restart() {
        let mut r = TwccRecorder::new(3);
        let mut buf = [0u8; 1500];
        for i in 0..2000u16 {
            // Varying gaps: large deltas cost two bytes, so not all fit in one packet.
            r.on_packet(i, 1_000_000 + i as u64 * 70_000, 7);
        }
        let mut total = 0;
        let mut packets = 0;
        while r.has_pending() {
            let n = r.write_feedback(&mut buf, 9).unwrap();
            total += parse(&buf[..n]).2.len();
            packets += 1;
            assert!(packets < 100);
        }
        assert_eq!(total, 2000);
        assert!(packets > 1);
        // A jump of 30000: reported from the jump on, not 30000 losses.
        r.on_packet(2000, 500_000_000, 7);
        r.on_packet(32000, 500_001_000, 7);
        let n = r.write_feedback(&mut buf, 9).unwrap();
        assert_eq!(parse(&buf[..n]).2.len(), 1);
    }

    #[test]
    fn a_flood_stays_bounded() {
        let mut r = TwccRecorder::new(3);
        for i in 0..100_000u32 {
            r.on_packet((i * 7919) as u16, i as u64, 1);
        }
        assert!(r.pending.len() <= MAX_PENDING);
        let mut buf = [0u8; 1500];
        let mut rounds = 0;
        while r.has_pending() && rounds < 10_000 {
            r.write_feedback(&mut buf, 1);
            rounds += 1;
        }
    }
}

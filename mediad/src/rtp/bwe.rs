//! What one subscriber can take: a bandwidth estimate from the feedback its browser
//! sends about what we forward. The loss part follows the loss-based controller of
//! GCC (draft-ietf-rmcat-gcc §6): above 10 % loss the rate falls by half the loss,
//! below 2 % it grows 8 % per report. REMB (when the receiver was asked for it) and a
//! cap from the controller (`max_bitrate`) bound it from above.
//!
//! One lossy report alone is taken for a burst (a keyframe that overflowed a socket
//! buffer, a descheduled receiver) and changes nothing; the second in a row is a
//! path that cannot take the rate.
//!
//! A forwarding SFU sends layers, not a rate it can tune, so growing the estimate is
//! its only probe: after congestion, growth waits (8 s, doubling while congestion
//! repeats within 30 s, up to 64 s) so a subscriber behind a narrow link is not
//! bounced between layers every few seconds.

use std::time::{Duration, Instant};

/// Where an estimate starts: enough for a 720p layer, so a fresh subscriber may take
/// the top layer once it is measured, and falls back on the first lossy report.
pub const START_BPS: u64 = 2_500_000;
pub const MIN_BPS: u64 = 50_000;
pub const MAX_BPS: u64 = 50_000_000;
const CONGESTED: f64 = 0.10;
const CLEAR: f64 = 0.02;
const FIRST_HOLD: Duration = Duration::from_secs(8);
const MAX_HOLD: Duration = Duration::from_secs(64);
const REPEAT_WINDOW: Duration = Duration::from_secs(30);
/// REMB older than this no longer bounds the estimate (the browser stopped sending it).
const REMB_FRESH: Duration = Duration::from_secs(5);
/// A lossy report counts as sustained loss when the one before it, this recent, was
/// lossy too (browsers report about once a second).
const BURST_WINDOW: Duration = Duration::from_secs(3);
/// Reports closer together than this count as one for growth.
const MIN_GROWTH_INTERVAL: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
pub struct Estimate {
    loss_based: u64,
    remb: Option<(u64, Instant)>,
    cap: Option<u64>,
    /// REMB counts only when the receiver was asked for it (see `LegCreate::remb`).
    use_remb: bool,
    hold: Duration,
    hold_until: Option<Instant>,
    last_congestion: Option<Instant>,
    last_growth: Option<Instant>,
    /// When the last report above the congestion threshold came.
    last_lossy: Option<Instant>,
    /// Times the loss part fell, for stats.
    pub congestion_events: u64,
}

impl Default for Estimate {
    fn default() -> Self {
        Estimate::new(None)
    }
}

impl Estimate {
    pub fn new(cap: Option<u64>) -> Self {
        Estimate {
            loss_based: START_BPS,
            remb: None,
            cap,
            use_remb: false,
            hold: FIRST_HOLD,
            hold_until: None,
            last_congestion: None,
            last_growth: None,
            last_lossy: None,
            congestion_events: 0,
        }
    }

    pub fn with_remb(mut self, use_remb: bool) -> Self {
        self.use_remb = use_remb;
        self
    }

    pub fn set_cap(&mut self, cap: Option<u64>) {
        self.cap = cap;
    }

    /// A receiver report about what we send: `fraction_lost` as the 8-bit RR field,
    /// `sending_bps` what we sent this subscriber over the last second.
    pub fn on_report(&mut self, fraction_lost: u8, sending_bps: u64, now: Instant) {
        let loss = fraction_lost as f64 / 256.0;
        let sustained = loss > CONGESTED && self.last_lossy.is_some_and(|t| now.saturating_duration_since(t) < BURST_WINDOW);
        self.last_lossy = (loss > CONGESTED).then_some(now);
        if sustained {
            // What got through is the rate to go below, not the estimate we had.
            let base = self.loss_based.min(sending_bps.max(MIN_BPS));
            self.loss_based = ((base as f64 * (1.0 - 0.5 * loss)) as u64).max(MIN_BPS);
            let repeated = self.last_congestion.is_some_and(|t| now.saturating_duration_since(t) < REPEAT_WINDOW);
            self.hold = if repeated { (self.hold * 2).min(MAX_HOLD) } else { FIRST_HOLD };
            self.hold_until = Some(now + self.hold);
            self.last_congestion = Some(now);
            self.congestion_events += 1;
        } else if loss > CONGESTED {
            // A first lossy report: no growth either until the next one tells.
        } else if loss < CLEAR {
            let held = self.hold_until.is_some_and(|t| now < t);
            let too_soon = self.last_growth.is_some_and(|t| now.saturating_duration_since(t) < MIN_GROWTH_INTERVAL);
            if !held && !too_soon {
                self.loss_based = ((self.loss_based as f64 * 1.08) as u64 + 1000).min(MAX_BPS);
                self.last_growth = Some(now);
            }
        }
    }

    /// REMB (draft-alvestrand-rmcat-remb) from the subscriber's browser.
    pub fn on_remb(&mut self, bps: u64, now: Instant) {
        if !self.use_remb {
            return;
        }
        self.remb = Some((bps.max(MIN_BPS), now));
    }

    pub fn bps(&self, now: Instant) -> u64 {
        let remb = self.remb.filter(|(_, at)| now.saturating_duration_since(*at) < REMB_FRESH).map_or(u64::MAX, |(b, _)| b);
        self.loss_based.min(remb).min(self.cap.unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_lowers_to_below_what_got_through_and_holds_growth() {
        let t0 = Instant::now();
        let mut e = Estimate::new(None);
        // 40 % loss while sending 1 Mbit/s, twice: 1 M * (1 - 0.2) = 800 k.
        e.on_report(102, 1_000_000, t0 - Duration::from_secs(1));
        assert_eq!(e.bps(t0), START_BPS, "one lossy report is a burst");
        e.on_report(102, 1_000_000, t0);
        let after = e.bps(t0);
        assert!((795_000..805_000).contains(&after), "{after}");
        // Clean reports during the hold do not grow it.
        for s in 1..8 {
            e.on_report(0, 200_000, t0 + Duration::from_secs(s));
        }
        let held = e.bps(t0 + Duration::from_secs(7));
        assert_eq!(held, after);
        e.on_report(0, 200_000, t0 + Duration::from_secs(9));
        assert!(e.bps(t0 + Duration::from_secs(9)) > held);
    }

    #[test]
    fn repeated_congestion_doubles_the_hold() {
        let t0 = Instant::now();
        let mut e = Estimate::new(None);
        e.on_report(128, 1_000_000, t0 - Duration::from_secs(1));
        e.on_report(128, 1_000_000, t0);
        e.on_report(128, 1_000_000, t0 + Duration::from_secs(9));
        e.on_report(128, 1_000_000, t0 + Duration::from_secs(10));
        let low = e.bps(t0 + Duration::from_secs(10));
        e.on_report(0, 100_000, t0 + Duration::from_secs(20));
        assert_eq!(e.bps(t0 + Duration::from_secs(20)), low, "16 s hold after a repeat");
        e.on_report(0, 100_000, t0 + Duration::from_secs(27));
        assert!(e.bps(t0 + Duration::from_secs(27)) > low);
        assert_eq!(e.congestion_events, 2);
    }

    #[test]
    fn isolated_bursts_do_not_lower_it() {
        let t0 = Instant::now();
        let mut e = Estimate::new(None);
        for s in 0..20 {
            let lossy = s % 5 == 0;
            e.on_report(if lossy { 200 } else { 0 }, 1_000_000, t0 + Duration::from_secs(s));
        }
        assert!(e.bps(t0 + Duration::from_secs(20)) > START_BPS);
        assert_eq!(e.congestion_events, 0);
    }

    #[test]
    fn remb_and_cap_bound_it_and_stale_remb_does_not() {
        let t0 = Instant::now();
        let mut unasked = Estimate::new(None);
        unasked.on_remb(300_000, t0);
        assert_eq!(unasked.bps(t0), START_BPS, "REMB nobody negotiated is ignored");
        let mut e = Estimate::new(Some(1_200_000)).with_remb(true);
        assert_eq!(e.bps(t0), 1_200_000);
        e.on_remb(300_000, t0);
        assert_eq!(e.bps(t0 + Duration::from_secs(1)), 300_000);
        assert_eq!(e.bps(t0 + Duration::from_secs(6)), 1_200_000);
        e.on_remb(0, t0);
        assert_eq!(e.bps(t0), MIN_BPS, "a zero REMB is floored");
    }

    #[test]
    fn floor_and_ceiling_hold_under_extreme_reports() {
        let t0 = Instant::now();
        let mut e = Estimate::new(None);
        for s in 0..100 {
            e.on_report(255, 0, t0 + Duration::from_secs(s));
        }
        assert_eq!(e.bps(t0 + Duration::from_secs(100)), MIN_BPS);
        let mut e = Estimate::new(None);
        for s in 0..1000 {
            e.on_report(0, 0, t0 + Duration::from_secs(s));
        }
        assert_eq!(e.bps(t0 + Duration::from_secs(1000)), MAX_BPS);
    }
}

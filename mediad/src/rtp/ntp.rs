//! NTP timestamps for RTCP sender reports and round-trip computation.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// Maps the monotonic clock the engine runs on to wall-clock NTP time once, so every
/// report uses one consistent timeline even if the wall clock is stepped.
#[derive(Debug, Clone, Copy)]
pub struct NtpClock {
    base_instant: Instant,
    base_ntp: u64,
}

impl NtpClock {
    pub fn new() -> Self {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        NtpClock { base_instant: Instant::now(), base_ntp: duration_to_ntp(now + Duration::from_secs(NTP_UNIX_OFFSET)) }
    }

    /// 64-bit NTP timestamp (32.32 fixed point seconds) at `at`.
    pub fn ntp(&self, at: Instant) -> u64 {
        let d = at.saturating_duration_since(self.base_instant);
        self.base_ntp.wrapping_add(duration_to_ntp(d))
    }
}

impl Default for NtpClock {
    fn default() -> Self {
        Self::new()
    }
}

pub fn duration_to_ntp(d: Duration) -> u64 {
    let frac = ((d.subsec_nanos() as u64) << 32) / 1_000_000_000;
    (d.as_secs() << 32) | frac
}

/// The middle 32 bits (16.16 seconds), as carried in LSR/DLSR fields.
pub fn mid32(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// A 16.16 fixed-point duration in microseconds.
pub fn mid32_to_us(v: u32) -> u64 {
    (v as u64 * 1_000_000) >> 16
}

pub fn duration_to_mid32(d: Duration) -> u32 {
    mid32(duration_to_ntp(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_point_conversions() {
        assert_eq!(duration_to_ntp(Duration::from_millis(1500)), (1u64 << 32) | (1u64 << 31));
        assert_eq!(duration_to_mid32(Duration::from_millis(500)), 0x8000);
        assert_eq!(mid32_to_us(0x8000), 500_000);
        let c = NtpClock::new();
        let t = Instant::now();
        let a = c.ntp(t);
        let b = c.ntp(t + Duration::from_secs(2));
        assert_eq!(b - a, 2u64 << 32);
    }
}

//! Live counters. Each counter has exactly one writer (the core that owns the leg or
//! the worker), so updates are plain relaxed load+store, no locked instruction on the
//! packet path; the control thread and /metrics read them at any time.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

#[inline(always)]
pub fn add(c: &AtomicU64, v: u64) {
    c.store(c.load(Relaxed).wrapping_add(v), Relaxed);
}

#[inline(always)]
pub fn set(c: &AtomicU64, v: u64) {
    c.store(v, Relaxed);
}

pub fn get(c: &AtomicU64) -> u64 {
    c.load(Relaxed)
}

#[derive(Debug, Default)]
pub struct LegCounters {
    pub rx_packets: AtomicU64,
    pub rx_bytes: AtomicU64,
    pub tx_packets: AtomicU64,
    pub tx_bytes: AtomicU64,
    pub rtcp_rx: AtomicU64,
    pub rtcp_tx: AtomicU64,
    pub malformed: AtomicU64,
    pub tx_dropped: AtomicU64,
    pub lost: AtomicI64,
    pub expected: AtomicU64,
    pub jitter_us: AtomicU64,
    /// u64::MAX until the first measurement.
    pub rtt_us: AtomicU64,
    /// Remote-reported fraction lost, the 8-bit RR value; 256 = none yet.
    pub remote_fraction_lost: AtomicU64,
    /// 0 before the first packet, else SSRC + 1.
    pub ssrc_plus1: AtomicU64,
    pub feedback_relayed: AtomicU64,
    /// Packets resent to this leg from the core's cache on its NACKs.
    pub retransmitted: AtomicU64,
    /// Smoothed loudness of what the leg sends (127 − RFC 6464 level in -dBov; 0 is
    /// silence or no level extension), for the active-speaker choice.
    pub loudness: AtomicU64,
    /// Bit rates over the last second, refreshed by the owning core's tick.
    pub rx_bps: AtomicU64,
    pub tx_bps: AtomicU64,
    /// Monotonic microseconds (engine epoch) of the last media packet; 0 = none.
    pub last_rx_us: AtomicU64,
    /// WebRTC legs only (`webrtc` is 1): state codes as `control::ice_state_name`,
    /// `dtls_state_name`. SRTP profile (WebRTC and SDES legs): 0 none, 1 AES-CM,
    /// 2 AES-GCM.
    pub webrtc: AtomicU64,
    pub ice_state: AtomicU64,
    pub dtls_state: AtomicU64,
    pub srtp_profile: AtomicU64,
    pub srtp_failures: AtomicU64,
    pub ice_refused: AtomicU64,
    /// The nominated remote; written on the rare nomination, never per packet.
    pub selected: std::sync::Mutex<Option<std::net::SocketAddr>>,
    /// The audio MCU's figures, written once a second by the mixing core.
    pub audio: std::sync::Mutex<Option<control::AudioStats>>,
    /// Receivers of simulcast: the estimate (0 = none) and layer choices, per tick.
    pub estimate_bps: AtomicU64,
    pub simulcast: std::sync::Mutex<Vec<control::SimulcastStats>>,
}

impl LegCounters {
    pub fn new() -> Self {
        let c = LegCounters::default();
        c.rtt_us.store(u64::MAX, Relaxed);
        c.remote_fraction_lost.store(256, Relaxed);
        c
    }

    /// Fill the counter part of a stats reply; `now_us` is on the engine epoch.
    pub fn fill(&self, s: &mut control::LegStats, now_us: u64) {
        s.rx_packets = get(&self.rx_packets);
        s.rx_bytes = get(&self.rx_bytes);
        s.tx_packets = get(&self.tx_packets);
        s.tx_bytes = get(&self.tx_bytes);
        s.rtcp_rx = get(&self.rtcp_rx);
        s.rtcp_tx = get(&self.rtcp_tx);
        s.malformed = get(&self.malformed);
        s.tx_dropped = get(&self.tx_dropped);
        s.lost = self.lost.load(Relaxed);
        s.expected = get(&self.expected);
        s.jitter_us = get(&self.jitter_us);
        s.audio = self.audio.lock().ok().and_then(|a| a.clone());
        s.rtt_us = match get(&self.rtt_us) {
            u64::MAX => None,
            v => Some(v),
        };
        s.remote_fraction_lost = match get(&self.remote_fraction_lost) {
            256 => None,
            v => Some(v as f64 / 256.0),
        };
        s.ssrc = match get(&self.ssrc_plus1) {
            0 => None,
            v => Some((v - 1) as u32),
        };
        s.feedback_relayed = get(&self.feedback_relayed);
        s.retransmitted = get(&self.retransmitted);
        s.rx_bps = get(&self.rx_bps);
        s.tx_bps = get(&self.tx_bps);
        s.idle_s = match get(&self.last_rx_us) {
            0 => None,
            t => Some(now_us.saturating_sub(t) as f64 / 1e6),
        };
        s.estimate_bps = Some(get(&self.estimate_bps)).filter(|&v| v > 0);
        s.simulcast = self.simulcast.lock().map(|v| v.clone()).unwrap_or_default();
        if get(&self.webrtc) == 1 {
            s.webrtc = Some(control::WebrtcStats {
                ice: control::ice_state_name(get(&self.ice_state)).into(),
                dtls: control::dtls_state_name(get(&self.dtls_state)).into(),
                srtp_profile: match get(&self.srtp_profile) {
                    1 => Some("SRTP_AES128_CM_SHA1_80".into()),
                    2 => Some("SRTP_AEAD_AES_128_GCM".into()),
                    _ => None,
                },
                selected: *self.selected.lock().unwrap(),
                srtp_failures: get(&self.srtp_failures),
                ice_refused: get(&self.ice_refused),
            });
            s.remote = s.webrtc.as_ref().and_then(|w| w.selected).or(s.remote);
        } else if get(&self.srtp_profile) != 0 {
            // A plain leg keyed by SDES.
            let suite = if get(&self.srtp_profile) == 2 { control::SdesSuite::AeadAes128Gcm } else { control::SdesSuite::AesCm128HmacSha1_80 };
            s.sdes = Some(control::SdesStats { suite: suite.name().into(), srtp_failures: get(&self.srtp_failures) });
        }
    }
}

#[derive(Debug, Default)]
pub struct WorkerCounters {
    pub legs: AtomicU64,
    pub loops: AtomicU64,
    pub rx_packets: AtomicU64,
    pub tx_packets: AtomicU64,
    pub rx_batches: AtomicU64,
    pub tx_syscalls: AtomicU64,
    pub gso_sends: AtomicU64,
    pub malformed: AtomicU64,
    pub handoff_out: AtomicU64,
    pub handoff_in: AtomicU64,
    pub handoff_dropped: AtomicU64,
    pub tx_dropped: AtomicU64,
    pub slow_turns: AtomicU64,
    pub max_turn_us: AtomicU64,
    pub max_tick_us: AtomicU64,
    pub mix_ticks: AtomicU64,
    pub mix_late_ticks: AtomicU64,
    pub mix_max_us: AtomicU64,
    /// Copy of the core's TURN counters, refreshed every tick.
    pub turn: std::sync::Mutex<control::TurnCounters>,
}

impl WorkerCounters {
    pub fn snapshot(&self, core: usize) -> control::WorkerStats {
        control::WorkerStats {
            core,
            legs: get(&self.legs),
            loops: get(&self.loops),
            rx_packets: get(&self.rx_packets),
            tx_packets: get(&self.tx_packets),
            rx_batches: get(&self.rx_batches),
            tx_syscalls: get(&self.tx_syscalls),
            gso_sends: get(&self.gso_sends),
            malformed: get(&self.malformed),
            handoff_out: get(&self.handoff_out),
            handoff_in: get(&self.handoff_in),
            handoff_dropped: get(&self.handoff_dropped),
            tx_dropped: get(&self.tx_dropped),
            slow_turns: get(&self.slow_turns),
            max_turn_us: get(&self.max_turn_us),
            max_tick_us: get(&self.max_tick_us),
            mix_ticks: get(&self.mix_ticks),
            mix_late_ticks: get(&self.mix_late_ticks),
            mix_max_us: get(&self.mix_max_us),
            turn: self.turn.lock().map(|t| t.clone()).unwrap_or_default(),
        }
    }
}

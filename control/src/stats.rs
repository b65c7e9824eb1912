//! Counters and figures the stats ops answer with (`stats.leg`, `stats.room`,
//! `stats.daemon`, `turn.allocations`, `turn.users`).

use crate::messages::LegId;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct LegStats {
    pub leg: LegId,
    pub core: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<SocketAddr>,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub rtcp_rx: u64,
    pub rtcp_tx: u64,
    /// Packets that failed to parse, or arrived with an unknown first byte.
    pub malformed: u64,
    /// Packets we could not send (no remote known yet, socket buffer full).
    pub tx_dropped: u64,
    /// Cumulative packets lost on the way to us, per RFC 3550 A.3.
    pub lost: i64,
    pub expected: u64,
    /// Interarrival jitter of what we receive, in microseconds.
    pub jitter_us: u64,
    /// Round-trip time from the remote's RTCP reports about our SRs, in microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_us: Option<u64>,
    /// Fraction lost that the remote reported about what we send (0..=1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_fraction_lost: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssrc: Option<u32>,
    /// Feedback (PLI/FIR/NACK) from this leg relayed to sources.
    pub feedback_relayed: u64,
    /// Packets resent to this leg from mediad's own cache on its NACKs.
    #[serde(default)]
    pub retransmitted: u64,
    /// Seconds since the last media packet arrived (null before the first one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_s: Option<f64>,
    /// ICE/DTLS/SRTP state of a WebRTC leg.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webrtc: Option<crate::WebrtcStats>,
    /// Bits per second received from and sent to the leg, over the last second.
    #[serde(default)]
    pub rx_bps: u64,
    #[serde(default)]
    pub tx_bps: u64,
    /// Codecs of the streams the leg sends us (when the controller named them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codecs: Vec<String>,
    /// What mediad estimates it may forward to this leg (bit/s), for receivers of
    /// simulcast tracks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate_bps: Option<u64>,
    /// The layer this leg receives of each simulcast track forwarded to it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub simulcast: Vec<crate::SimulcastStats>,
    /// The audio MCU's view of the leg (legs created with `audio`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<crate::AudioStats>,
    /// SDES-SRTP of a plain leg: the suite, and packets that failed authentication
    /// or replay checks (dropped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdes: Option<SdesStats>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct SdesStats {
    pub suite: String,
    pub srtp_failures: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct RoomStats {
    pub room: String,
    pub legs: Vec<LegStats>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct WorkerStats {
    pub core: usize,
    pub legs: u64,
    pub loops: u64,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_batches: u64,
    pub tx_syscalls: u64,
    pub gso_sends: u64,
    pub malformed: u64,
    pub handoff_out: u64,
    pub handoff_in: u64,
    pub handoff_dropped: u64,
    pub tx_dropped: u64,
    /// Loop turns (wake-up to next wait) longer than 1 ms, and the longest turn and tick:
    /// what a packet arriving during a turn waits at most.
    #[serde(default)]
    pub slow_turns: u64,
    #[serde(default)]
    pub max_turn_us: u64,
    #[serde(default)]
    pub max_tick_us: u64,
    /// Audio MCU: 20 ms mix ticks run, ticks that finished after their deadline (the
    /// next tick's start), and the longest mix tick.
    #[serde(default)]
    pub mix_ticks: u64,
    #[serde(default)]
    pub mix_late_ticks: u64,
    #[serde(default)]
    pub mix_max_us: u64,
    #[serde(default)]
    pub turn: TurnCounters,
}

/// One TURN allocation as operators see it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct AllocationInfo {
    pub core: usize,
    pub user: String,
    pub client: String,
    pub relay: String,
    pub age_s: f64,
    pub expires_in_s: f64,
    pub permissions: usize,
    pub channels: usize,
    pub to_peer_packets: u64,
    pub to_peer_bytes: u64,
    pub from_peer_packets: u64,
    pub from_peer_bytes: u64,
    pub dropped: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct TurnUserStats {
    pub user: String,
    pub allocations: usize,
    pub to_peer_bytes: u64,
    pub from_peer_bytes: u64,
    pub packets: u64,
}

/// A core's STUN/TURN counters (all zero when TURN is off).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct TurnCounters {
    pub allocations: u64,
    pub allocations_total: u64,
    pub bindings: u64,
    pub unauthenticated: u64,
    pub bad_credentials: u64,
    pub stale_nonces: u64,
    pub quota_refusals: u64,
    pub forbidden_peers: u64,
    pub malformed: u64,
    pub relayed_to_peer: u64,
    pub relayed_from_peer: u64,
    pub dropped_no_permission: u64,
    pub dropped_bandwidth: u64,
    /// Unauthenticated requests dropped by the per-address rate limit.
    #[serde(default)]
    pub rate_limited: u64,
    /// Multiplexed relay mode: peer datagrams matching several allocations by IP.
    #[serde(default)]
    pub dropped_ambiguous_peer: u64,
    /// Multiplexed relay mode: a peer address taken over by another allocation.
    #[serde(default)]
    pub mux_rebinds: u64,
    /// TCP/TLS connections to the server open on this core.
    #[serde(default)]
    pub stream_connections: u64,
    /// Connections closed on accept: the per-core connection limit was reached.
    #[serde(default)]
    pub stream_refused: u64,
    #[serde(default)]
    pub tls_failures: u64,
    /// RFC 6062 data connections moved to the core holding their peer connection.
    #[serde(default)]
    pub stream_moves: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct DaemonStats {
    pub version: String,
    pub io: String,
    pub uptime_s: f64,
    pub legs: usize,
    pub rooms: usize,
    pub workers: Vec<WorkerStats>,
}

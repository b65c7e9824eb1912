//! Control-protocol types of WebRTC legs and of legs that carry several streams
//! (BUNDLE: audio and video on one 5-tuple).

use crate::messages::Media;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// One stream the remote sends on a leg. A plain SIP leg has one; a WebRTC publisher
/// has one per m-line it sends. Packets are matched to a stream by SSRC once known,
/// else by payload type.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StreamSpec {
    pub media: Media,
    pub clock_rate: u32,
    /// Payload types of this stream (from its m-line); empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub payload_types: Vec<u8>,
    /// Id of the RFC 6464 audio-level header extension the remote sends (one-byte
    /// form): its levels feed `room.active_speaker`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_level_ext: Option<u8>,
    /// Codec name for stats (`opus`, `VP8`, `H264`, ...), as negotiated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec: Option<String>,
    /// Simulcast: the RIDs of the encodings, lowest quality first (`a=rid`,
    /// `a=simulcast:send`). Each gets its own receive state; subscribers see one
    /// stream whose layer mediad chooses per subscriber.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rids: Vec<String>,
    /// Id of the `sdes:rtp-stream-id` header extension that names a packet's RID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rid_ext: Option<u8>,
}

/// One simulcast track as a receiving leg gets it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct SimulcastStats {
    /// The SSRC the receiver sees for the track.
    pub ssrc: u32,
    /// Layer forwarded now (0 = lowest); none before the first keyframe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<u8>,
    /// Layer chosen for it (a switch waits for that layer's keyframe).
    pub target: u8,
    pub layers: u8,
    /// Measured rate of each layer as it arrives (bit/s).
    pub layer_bps: Vec<u64>,
    /// When even the leanest layer does not fit: the highest VP8 temporal layer still
    /// forwarded (0 = base frames only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_temporal: Option<u8>,
    pub switches: u64,
}

/// What the browser's SDP says about its end of the transport. When mediad offers
/// first, `leg.create` carries an empty one and `leg.update` the browser's answer;
/// media flows only once the DTLS certificate matched a fingerprint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct WebrtcRemote {
    /// `a=ice-ufrag` of the remote (checks carry `ours:theirs`).
    #[serde(default)]
    pub ice_ufrag: String,
    /// `a=ice-pwd` of the remote (kept for consent checks we may send later).
    #[serde(default)]
    pub ice_pwd: String,
    /// `a=fingerprint` value: `sha-256 AB:CD:...`; the DTLS peer certificate must match.
    #[serde(default)]
    pub fingerprint: String,
}

/// What our SDP must say: mediad is ICE-lite, DTLS passive (`a=setup:passive`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WebrtcLocal {
    pub ice_ufrag: String,
    pub ice_pwd: String,
    /// `sha-256 AB:CD:...` of the node's DTLS certificate.
    pub fingerprint: String,
    /// Host candidates: the leg's port on the bind and advertised addresses.
    pub candidates: Vec<SocketAddr>,
}

/// Transport state of a WebRTC leg, for stats.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct WebrtcStats {
    /// `new`, `checking`, `connected`, `disconnected`.
    pub ice: String,
    /// `new`, `connecting`, `connected`, `failed`.
    pub dtls: String,
    /// Negotiated SRTP profile once connected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub srtp_profile: Option<String>,
    /// The remote address of the nominated pair (where media goes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected: Option<SocketAddr>,
    /// Packets that failed SRTP/SRTCP authentication or replay checks.
    pub srtp_failures: u64,
    /// STUN that was not a valid ICE check (foreign or bad credentials).
    pub ice_refused: u64,
}

pub fn ice_state_name(code: u64) -> &'static str {
    match code {
        1 => "checking",
        2 => "connected",
        3 => "disconnected",
        _ => "new",
    }
}

pub fn dtls_state_name(code: u64) -> &'static str {
    match code {
        1 => "connecting",
        2 => "connected",
        3 => "failed",
        _ => "new",
    }
}

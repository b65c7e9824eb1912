//! Events the daemon pushes to subscribed control connections.

use crate::messages::LegId;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;


/// Pushed to subscribed connections: `{"event":"leg.remote_learned",...}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "event")]
pub enum Event {
    /// A leg without a configured remote latched onto the first sender.
    #[serde(rename = "leg.remote_learned")]
    RemoteLearned { leg: LegId, remote: SocketAddr },
    /// The RTP source behind a leg changed SSRC; receivers keep seeing one stream.
    #[serde(rename = "leg.ssrc_changed")]
    SsrcChanged { leg: LegId, old: Option<u32>, new: u32 },
    /// No media for the configured timeout.
    #[serde(rename = "leg.inactive")]
    Inactive { leg: LegId, idle_s: f64 },
    /// Media resumed after `leg.inactive`.
    #[serde(rename = "leg.active")]
    Active { leg: LegId },
    /// The remote sent RTCP BYE.
    #[serde(rename = "leg.bye")]
    Bye { leg: LegId, ssrc: u32 },
    #[serde(rename = "room.created")]
    RoomCreated { room: String },
    #[serde(rename = "room.deleted")]
    RoomDeleted { room: String },
    #[serde(rename = "leg.created")]
    LegCreated { leg: LegId, core: usize },
    #[serde(rename = "leg.deleted")]
    LegDeleted { leg: LegId },
    /// The loudest leg of a room changed (RFC 6464 audio levels, smoothed, with
    /// hysteresis); `leg` is the publishing leg.
    #[serde(rename = "room.active_speaker")]
    ActiveSpeaker { room: String, leg: LegId },
    /// A WebRTC leg finished ICE and DTLS: SRTP flows from now on.
    #[serde(rename = "leg.connected")]
    Connected { leg: LegId, remote: SocketAddr, srtp_profile: String },
    /// A WebRTC leg lost its transport: consent expired (RFC 7675) or DTLS failed
    /// (bad fingerprint, handshake error).
    #[serde(rename = "leg.disconnected")]
    Disconnected { leg: LegId, reason: String },
    /// A key press from a leg (RFC 4733 event or in-band tone), at its end.
    #[serde(rename = "leg.dtmf")]
    Dtmf { leg: LegId, digit: String, duration_ms: u32, source: crate::DtmfSource },
    /// The speakers a mixing room mixes changed (loudest first, with levels).
    #[serde(rename = "room.speakers")]
    Speakers { room: String, speakers: Vec<crate::SpeakerLevel> },
    /// A prompt finished (not sent for looping prompts, nor for stopped ones).
    #[serde(rename = "prompt.done")]
    PromptDone { id: u64 },
}

impl Event {
    pub fn name(&self) -> &'static str {
        match self {
            Event::RemoteLearned { .. } => "leg.remote_learned",
            Event::SsrcChanged { .. } => "leg.ssrc_changed",
            Event::Inactive { .. } => "leg.inactive",
            Event::Active { .. } => "leg.active",
            Event::Bye { .. } => "leg.bye",
            Event::RoomCreated { .. } => "room.created",
            Event::RoomDeleted { .. } => "room.deleted",
            Event::LegCreated { .. } => "leg.created",
            Event::LegDeleted { .. } => "leg.deleted",
            Event::Connected { .. } => "leg.connected",
            Event::ActiveSpeaker { .. } => "room.active_speaker",
            Event::Disconnected { .. } => "leg.disconnected",
            Event::Dtmf { .. } => "leg.dtmf",
            Event::Speakers { .. } => "room.speakers",
            Event::PromptDone { .. } => "prompt.done",
        }
    }
}

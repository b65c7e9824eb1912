//! Audio MCU parts of the protocol: how a leg takes part in a room's mix, prompts,
//! DTMF, and their stats and events.

use crate::messages::LegId;
use serde::{Deserialize, Serialize};

fn default_speakers() -> usize {
    4
}
fn default_ptime() -> u32 {
    20
}
fn default_true() -> bool {
    true
}
fn default_dtmf_ms() -> u32 {
    100
}

/// `room.create` `"mix"`: the room mixes audio on its home core.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MixSettings {
    /// How many of the loudest participants are mixed (1-36, default 4).
    #[serde(default = "default_speakers")]
    pub speakers: usize,
}

impl Default for MixSettings {
    fn default() -> Self {
        MixSettings { speakers: default_speakers() }
    }
}

/// A codec by SDP encoding name (`opus`, `pcmu`, `pcma`, `g722`, `g729`) and the
/// payload type the SDP gave it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AudioPayload {
    pub pt: u8,
    pub codec: String,
}

/// What a leg hears from mediad's mix.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AudioSend {
    pub pt: u8,
    pub codec: String,
    /// Packet duration in ms: 20, 40 or 60.
    #[serde(default = "default_ptime")]
    pub ptime: u32,
}

/// `leg.create` `"audio"`: the leg is a participant of the audio MCU. In a mixing room
/// its audio is mixed; elsewhere it can still get prompts and DTMF is read from it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct LegAudio {
    /// Codecs the leg may send, by payload type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub receive: Vec<AudioPayload>,
    /// Take the mix in this codec. Absent: the leg gets no mix (a WebRTC subscriber
    /// that keeps SFU audio, a publisher that only sends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<AudioSend>,
    /// RFC 4733 telephone-event payload type, both directions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telephone_event: Option<u8>,
    /// RFC 6464 audio level header extension id the leg writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level_ext: Option<u8>,
    /// Look for DTMF tones in G.711 audio (default true).
    #[serde(default = "default_true")]
    pub inband_dtmf: bool,
    /// Gain applied to the leg's voice in the mix, in dB (−60..=+20).
    #[serde(default)]
    pub gain_db: f32,
}

/// Where the digits came from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DtmfSource {
    Rfc4733,
    Inband,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SpeakerLevel {
    pub leg: LegId,
    /// Smoothed level in dBov (0 loudest, −127 silence).
    pub level_dbov: f32,
}

/// `leg.dtmf`: send RFC 4733 digits to a leg that takes the mix.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DtmfSend {
    pub leg: LegId,
    pub digits: String,
    #[serde(default = "default_dtmf_ms")]
    pub duration_ms: u32,
}

/// `prompt.play`: a WAV (16-bit PCM) or Ogg Opus file to one leg or to a room.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PromptPlay {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leg: Option<LegId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    pub file: String,
    #[serde(default, rename = "loop")]
    pub looping: bool,
}

/// The audio MCU's view of a leg (in `stats.leg`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct AudioStats {
    /// Jitter buffer: what it holds now, what it aims at, measured jitter.
    pub jitter_buffer_ms: u32,
    pub jitter_target_ms: u32,
    pub jitter_ms: f32,
    /// Packets that came after their play time, twice, or never (concealed).
    pub late: u64,
    pub duplicate: u64,
    pub concealed: u64,
    pub decode_errors: u64,
    /// Smoothed level in dBov and whether the leg is mixed as a speaker now.
    pub level_dbov: f32,
    pub speaking: bool,
}

//! Video MCU parts of the protocol: a room that composes video, how a leg feeds it
//! (its camera or its shared screen) and what composite it takes, and the ops that
//! change layouts, modes, the podium and pinned tiles live.

use crate::messages::LegId;
use serde::{Deserialize, Serialize};

fn default_layout() -> String {
    "auto".into()
}
fn default_shown() -> usize {
    4
}
fn default_true() -> bool {
    true
}
fn default_bitrate() -> u32 {
    1_500_000
}

/// How a room's video MCU fills tiles (the products' conference modes).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum VideoModeName {
    /// Everyone in join order, up to the layout's tiles (36 with 6x6).
    #[default]
    All,
    /// The `shown` loudest, by the audio MCU's speaker order.
    Auto,
    /// Only those on the podium (moderator, or DTMF 1 to ask and 2 to leave).
    Managed,
    /// `presenter` in the priority tile, everyone else after.
    Lesson,
}

/// A conference mode with its parameters.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct VideoMode {
    #[serde(default)]
    pub mode: VideoModeName,
    /// Auto-selector: how many are shown (1-36, default 4).
    #[serde(default = "default_shown")]
    pub shown: usize,
    /// Lesson: the presenter's leg.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presenter: Option<LegId>,
}

/// `room.create` `"video"`: the room composes video on one of mediad's video threads.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct VideoMixSettings {
    /// The common layout: a preset (`2x2`, `1+5`, ...) or a group (`auto`, `speaker`)
    /// that picks a preset by the number of pictures shown.
    #[serde(default = "default_layout")]
    pub layout: String,
    /// Separate layouts for SIP/H.323 legs and for WebRTC legs (default: the common one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sip_layout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webrtc_layout: Option<String>,
    #[serde(default, flatten)]
    pub mode: VideoMode,
}

impl Default for VideoMixSettings {
    fn default() -> Self {
        VideoMixSettings { layout: default_layout(), sip_layout: None, webrtc_layout: None, mode: VideoMode { shown: default_shown(), ..Default::default() } }
    }
}

/// Who a composite is for: each class has its frame-rate cap (mediad's `[video]`
/// config) and SIP and WebRTC legs their own layout scope.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "snake_case")]
pub enum OutputClass {
    /// SIP/H.323 room systems and phones.
    #[default]
    Sip,
    Webrtc,
    Rtsp,
    Recording,
}

/// A video codec by SDP encoding name (`H264`, `VP8`, `AV1`) and its payload type.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct VideoPayload {
    pub pt: u8,
    pub codec: String,
}

/// The composite a leg takes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct VideoSend {
    pub pt: u8,
    /// `H264` (packetization-mode 1) or `VP8`.
    pub codec: String,
    /// Canvas size (width a multiple of 8, height even; default 1280x720).
    #[serde(default = "default_width")]
    pub width: usize,
    #[serde(default = "default_height")]
    pub height: usize,
    /// Encoder target, bit/s (default 1.5 Mbit/s).
    #[serde(default = "default_bitrate")]
    pub bitrate: u32,
    /// Frames per second asked for; the class's cap applies on top.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fps: Option<u32>,
    #[serde(default)]
    pub class: OutputClass,
    /// An individual layout (preset or group); absent: the room's layout for the class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<String>,
    /// Leave the leg's own picture out ("exclude self", default true).
    #[serde(default = "default_true")]
    pub exclude_self: bool,
    /// Largest RTP payload (default 1200: fits any path MTU with SRTP and TURN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_payload: Option<usize>,
}

fn default_width() -> usize {
    1280
}
fn default_height() -> usize {
    720
}

/// `leg.create` `"video"`: the leg takes part in its room's video MCU.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct LegVideo {
    /// Codecs the leg sends, by payload type: its picture is decoded into the mix.
    /// Empty: the leg sends no picture (a viewer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub receive: Vec<VideoPayload>,
    /// What it sends is a shared screen: it fills the layout's content tile.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub content: bool,
    /// Take the composite; `LegInfo.video_ssrc` is its SSRC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<VideoSend>,
    /// The name drawn on its tile (default: the leg's label).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The leg that carries the same participant's audio (a SIP call has one leg per
    /// m-line): its speech levels place this picture and its DTMF 1/2 asks for the
    /// podium and leaves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_leg: Option<LegId>,
    /// The leg that carries this participant's picture when it is another leg (a
    /// browser publishes on one connection and receives on a second): "exclude self"
    /// leaves that picture out of this leg's composite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_picture: Option<LegId>,
    /// Keep forwarding the room's SFU video to this leg besides the composite (a
    /// browser's MCU view next to its SFU tracks). Default: the composite replaces it,
    /// as a phone that takes one picture needs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sfu_video: bool,
}

/// `video.layout`: change a room's layout live (next frame). With `leg`, that leg's
/// individual layout; else the room's layout for `class` (absent: the common one).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct VideoLayoutSet {
    pub room: String,
    pub layout: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leg: Option<LegId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<OutputClass>,
}

/// `video.pin`: show `source` in tile `tile` of `leg`'s composite whatever the mode
/// (`source` absent: unpin the tile).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct VideoPin {
    pub leg: LegId,
    pub tile: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<LegId>,
}

/// `stats.video`: one room's video MCU.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct VideoRoomStats {
    pub room: String,
    /// `cpu`, `vulkan gpu: <name>` or `vulkan cpu: <name>` (lavapipe).
    pub compositor: String,
    /// The video thread the room runs on.
    pub thread: usize,
    pub inputs: usize,
    pub outputs: usize,
    pub decoded: u64,
    pub decode_errors: u64,
    pub composed: u64,
    pub encoded: u64,
    pub packets: u64,
    /// Participants' video packets the room took in (only while some leg takes a
    /// composite: the cores send none before).
    #[serde(default)]
    pub received: u64,
    /// Packets the room's thread could not take (its queue was full).
    pub dropped_in: u64,
    /// Packets with a payload type the leg did not declare (dropped).
    pub unknown_payload: u64,
    /// Frame times that ended after the next was due.
    pub late_ticks: u64,
    /// Longest frame time (compose + encode of every output), µs.
    pub max_tick_us: u64,
    /// Legs shown now, in the podium's order (managed mode).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub podium: Vec<LegId>,
}

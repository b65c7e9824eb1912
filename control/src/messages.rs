//! Request, reply and event types of the control protocol.

use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};

/// Leg identifier. The low 8 bits name the core that owns the leg, so any thread can
/// route a command for a leg without a lookup.
pub type LegId = u64;

pub fn leg_core(leg: LegId) -> usize {
    (leg & 0xff) as usize
}

/// A request line: `{"id":7,"op":"leg.create",...}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Request {
    pub id: u64,
    #[serde(flatten)]
    pub op: Op,
}

/// Every operation the daemon understands; the `op` field selects the variant.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op")]
pub enum Op {
    /// Protocol handshake: the client states the version it speaks.
    #[serde(rename = "hello")]
    Hello {
        version: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client: Option<String>,
    },
    #[serde(rename = "leg.create")]
    LegCreate(LegCreate),
    #[serde(rename = "leg.update")]
    LegUpdate(LegUpdate),
    #[serde(rename = "leg.delete")]
    LegDelete { leg: LegId },
    #[serde(rename = "leg.list")]
    LegList,
    #[serde(rename = "room.create")]
    RoomCreate {
        /// Name chosen by the caller (a conference id); generated when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        /// Mix the room's audio (audio MCU) on one home core.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mix: Option<crate::MixSettings>,
        /// The mixing room's home core (default: the least-loaded).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        core: Option<usize>,
        /// Compose the room's video (video MCU) on one of the video threads.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        video: Option<crate::VideoMixSettings>,
    },
    #[serde(rename = "room.delete")]
    RoomDelete {
        room: String,
        /// Only if no leg is in it (rooms shared by several signalling front ends
        /// go when the last one leaves); the reply says `"deleted": false` otherwise.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        if_empty: bool,
    },
    #[serde(rename = "room.list")]
    RoomList,
    #[serde(rename = "room.attach")]
    RoomAttach { room: String, leg: LegId },
    #[serde(rename = "room.detach")]
    RoomDetach { leg: LegId },
    #[serde(rename = "stats.leg")]
    StatsLeg { leg: LegId },
    #[serde(rename = "stats.room")]
    StatsRoom { room: String },
    #[serde(rename = "stats.daemon")]
    StatsDaemon,
    /// Start receiving events on this connection. `events` filters by name prefix
    /// (`"leg."` gets every leg event); empty or absent means all.
    #[serde(rename = "events.subscribe")]
    EventsSubscribe {
        #[serde(default)]
        events: Vec<String>,
    },
    #[serde(rename = "events.unsubscribe")]
    EventsUnsubscribe,
    /// Every live TURN allocation with its counters.
    #[serde(rename = "turn.allocations")]
    TurnAllocations,
    /// TURN usage per user (allocations and traffic of the live ones).
    #[serde(rename = "turn.users")]
    TurnUsers,
    /// Send RFC 4733 digits to a leg that takes the mix.
    #[serde(rename = "leg.dtmf")]
    LegDtmf(crate::DtmfSend),
    /// Play a prompt to a leg or a room; the reply carries its `id`.
    #[serde(rename = "prompt.play")]
    PromptPlay(crate::PromptPlay),
    #[serde(rename = "prompt.stop")]
    PromptStop { id: u64 },
    #[serde(rename = "video.layout")]
    VideoLayout(crate::VideoLayoutSet),
    /// The room's conference mode.
    #[serde(rename = "video.mode")]
    VideoMode {
        room: String,
        #[serde(flatten)]
        mode: crate::VideoMode,
    },
    /// Put a leg on the podium or take it off (managed mode; DTMF 1 and 2 do it too).
    #[serde(rename = "video.podium")]
    VideoPodium { leg: LegId, on: bool },
    #[serde(rename = "video.pin")]
    VideoPin(crate::VideoPin),
    /// The next frame of the composite `leg` takes is a key frame (a SIP phone asked
    /// by INFO, RFC 5168, rather than by RTCP).
    #[serde(rename = "video.keyframe")]
    VideoKeyframe { leg: LegId },
    #[serde(rename = "stats.video")]
    StatsVideo { room: String },
}

impl Op {
    pub fn name(&self) -> &'static str {
        match self {
            Op::Hello { .. } => "hello",
            Op::LegCreate(_) => "leg.create",
            Op::LegUpdate(_) => "leg.update",
            Op::LegDelete { .. } => "leg.delete",
            Op::LegList => "leg.list",
            Op::RoomCreate { .. } => "room.create",
            Op::RoomDelete { .. } => "room.delete",
            Op::RoomList => "room.list",
            Op::RoomAttach { .. } => "room.attach",
            Op::RoomDetach { .. } => "room.detach",
            Op::StatsLeg { .. } => "stats.leg",
            Op::StatsRoom { .. } => "stats.room",
            Op::StatsDaemon => "stats.daemon",
            Op::EventsSubscribe { .. } => "events.subscribe",
            Op::EventsUnsubscribe => "events.unsubscribe",
            Op::TurnAllocations => "turn.allocations",
            Op::TurnUsers => "turn.users",
            Op::LegDtmf(_) => "leg.dtmf",
            Op::PromptPlay(_) => "prompt.play",
            Op::PromptStop { .. } => "prompt.stop",
            Op::VideoLayout(_) => "video.layout",
            Op::VideoMode { .. } => "video.mode",
            Op::VideoPodium { .. } => "video.podium",
            Op::VideoPin(_) => "video.pin",
            Op::VideoKeyframe { .. } => "video.keyframe",
            Op::StatsVideo { .. } => "stats.video",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "lowercase")]
pub enum Media {
    #[default]
    Audio,
    Video,
}

/// Which configured port range a leg takes its ports from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "lowercase")]
pub enum PortPool {
    /// SIP/H.323-style plain RTP (default 50000-51999).
    #[default]
    Rtp,
    /// WebRTC legs (default 53000-55000).
    Webrtc,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    #[default]
    Ipv4,
    Ipv6,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct LegCreate {
    #[serde(default)]
    pub media: Media,
    #[serde(default)]
    pub pool: PortPool,
    #[serde(default)]
    pub family: Family,
    /// RTP and RTCP on one port (RFC 5761). Default false: an even/odd port pair.
    #[serde(default)]
    pub rtcp_mux: bool,
    /// RTP clock rate of what this leg sends us (for jitter and RTCP timestamps).
    /// Defaults: 48000 for audio, 90000 for video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_rate: Option<u32>,
    /// Where to send RTP. When absent the leg learns it from the first packet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<SocketAddr>,
    /// Where to send RTCP when not muxed; defaults to remote port + 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_rtcp: Option<SocketAddr>,
    /// Pin the leg to one core (worker index). Default: least-loaded core.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub core: Option<usize>,
    /// Attach to this room right away.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// Free-form label echoed in stats and events (a call id, a participant name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Streams the remote sends on this leg (BUNDLE carries several). Absent: one
    /// stream of `media` at `clock_rate`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<crate::StreamSpec>,
    /// A WebRTC leg: ICE-lite, DTLS-SRTP, RTCP muxed, from the WebRTC pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webrtc: Option<crate::WebrtcRemote>,
    /// The remote only sends (a publisher): the room's media is not forwarded to it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sendonly: bool,
    /// Do not forward this leg's media to us (a participant's own publisher leg).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_source: Option<LegId>,
    /// Id of the transport-wide-cc header extension the remote sends: mediad answers
    /// with TWCC feedback (the browser's send-side bandwidth estimation needs it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub twcc_ext: Option<u8>,
    /// Most bits per second to forward to this leg (a receiver's `b=TIAS`, an
    /// operator's cap); simulcast layers are chosen within it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bitrate: Option<u64>,
    /// Take REMB from this receiver into its estimate (set when its SDP negotiated
    /// `goog-remb`). Otherwise REMB is ignored: browsers send it unasked, from a delay
    /// estimate on RTP timestamps that simulcast layer switches upset.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub remb: bool,
    /// The leg takes part in the audio MCU (mix, prompts, DTMF).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<crate::LegAudio>,
    /// SDES-SRTP keys of a plain leg (not with `webrtc`, which keys itself by DTLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdes: Option<crate::Sdes>,
    /// The leg takes part in its room's video MCU (its picture in, the composite out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<Box<crate::LegVideo>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct LegUpdate {
    pub leg: LegId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<SocketAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_rtcp: Option<SocketAddr>,
    /// Stop forwarding this leg's media into its room (it still receives).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub muted: Option<bool>,
    /// The remote's ICE/DTLS parameters, when mediad offered first (the browser's
    /// answer arrives after `leg.create`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webrtc: Option<crate::WebrtcRemote>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// New cap on what is forwarded to the leg (bit/s); 0 removes the cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bitrate: Option<u64>,
    /// Gain of the leg's voice in the mix, dB (−60..=+20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gain_db: Option<f32>,
    /// New codecs for an audio MCU participant (the answer chose another codec than
    /// the leg was created with). It cannot start or stop taking the mix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<crate::LegAudio>,
    /// New SDES-SRTP keys (the answer to our offer chose a suite, a re-INVITE rekeyed);
    /// replay state starts afresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdes: Option<crate::Sdes>,
}

/// The reply line: `{"id":7,"ok":{...}}` or `{"id":7,"error":{...}}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Response {
    /// Null only when the request could not be parsed far enough to read its id.
    pub id: Option<u64>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok(serde_json::Value),
    Error(ErrorBody),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

/// Every error a client can get; stable strings on the wire.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, not an object, a missing or ill-typed field, or an unknown op.
    BadRequest,
    /// `hello` asked for a protocol version this daemon does not speak.
    VersionMismatch,
    NoSuchLeg,
    NoSuchRoom,
    RoomExists,
    /// The leg's room must be left before it joins another one.
    AlreadyAttached,
    /// Every port of the requested pool on the chosen core is taken.
    PortsExhausted,
    /// The configured maximum number of legs or rooms is reached.
    QuotaExceeded,
    /// The request names something the daemon was not configured for (an IPv6
    /// leg without an IPv6 bind address, a core index out of range).
    Unsupported,
    /// The daemon is shutting down or a worker did not answer in time.
    Unavailable,
    Internal,
}

impl ErrorCode {
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::VersionMismatch => "version_mismatch",
            ErrorCode::NoSuchLeg => "no_such_leg",
            ErrorCode::NoSuchRoom => "no_such_room",
            ErrorCode::RoomExists => "room_exists",
            ErrorCode::AlreadyAttached => "already_attached",
            ErrorCode::PortsExhausted => "ports_exhausted",
            ErrorCode::QuotaExceeded => "quota_exceeded",
            ErrorCode::Unsupported => "unsupported",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody { code, message: message.into() }
    }
}

impl std::fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

// ---- replies -------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HelloOk {
    pub version: u32,
    pub daemon: String,
    pub workers: usize,
    pub io: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LegInfo {
    pub leg: LegId,
    pub core: usize,
    pub media: Media,
    pub pool: PortPool,
    pub rtcp_mux: bool,
    /// The address the leg's sockets are bound to.
    pub local_ip: IpAddr,
    pub rtp_port: u16,
    pub rtcp_port: u16,
    /// The address to write into SDP (the public address behind NAT).
    pub advertised_ip: IpAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<SocketAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default)]
    pub muted: bool,
    /// The SSRC under which each of this leg's streams reaches the room's other legs
    /// (index = stream), for their SDP.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub out_ssrcs: Vec<u32>,
    /// ICE and DTLS parameters for our SDP (WebRTC legs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webrtc: Option<crate::WebrtcLocal>,
    /// SSRC of the mix mediad sends to the leg (legs with `audio.send`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mix_ssrc: Option<u32>,
    /// SSRC of the composite mediad sends to the leg (legs with `video.send`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_ssrc: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RoomInfo {
    pub room: String,
    pub legs: Vec<LegId>,
    /// Set for a mixing room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mix: Option<crate::MixSettings>,
    /// A mixing room's home core.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_core: Option<usize>,
    /// Set for a room that composes video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<crate::VideoMixSettings>,
}

/// Parse one request line. On failure returns the id when it could be read, so the
/// error reply can still be matched by the client.
pub fn parse_request(line: &str) -> Result<Request, (Option<u64>, ErrorBody)> {
    let value: serde_json::Value = serde_json::from_str(line)
        .map_err(|e| (None, ErrorBody::new(ErrorCode::BadRequest, format!("not JSON: {e}"))))?;
    let obj = value
        .as_object()
        .ok_or_else(|| (None, ErrorBody::new(ErrorCode::BadRequest, "a request is a JSON object")))?;
    let id = match obj.get("id") {
        Some(v) => Some(v.as_u64().ok_or_else(|| {
            (None, ErrorBody::new(ErrorCode::BadRequest, "`id` must be an unsigned integer"))
        })?),
        None => None,
    };
    let Some(id) = id else {
        return Err((None, ErrorBody::new(ErrorCode::BadRequest, "missing `id`")));
    };
    match obj.get("op") {
        Some(serde_json::Value::String(_)) => {}
        Some(_) => return Err((Some(id), ErrorBody::new(ErrorCode::BadRequest, "`op` must be a string"))),
        None => return Err((Some(id), ErrorBody::new(ErrorCode::BadRequest, "missing `op`"))),
    }
    serde_json::from_value::<Request>(value)
        .map_err(|e| (Some(id), ErrorBody::new(ErrorCode::BadRequest, e.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Event;

    #[test]
    fn request_roundtrip_keeps_shape() {
        let req = Request {
            id: 7,
            op: Op::LegCreate(LegCreate { media: Media::Video, rtcp_mux: true, ..Default::default() }),
        };
        let line = serde_json::to_string(&req).unwrap();
        assert!(line.contains(r#""op":"leg.create""#), "{line}");
        assert!(line.contains(r#""media":"video""#), "{line}");
        assert_eq!(parse_request(&line).unwrap(), req);
    }

    #[test]
    fn errors_keep_id_when_readable() {
        let (id, e) = parse_request(r#"{"id":3,"op":"leg.explode"}"#).unwrap_err();
        assert_eq!(id, Some(3));
        assert_eq!(e.code, ErrorCode::BadRequest);
        let (id, e) = parse_request(r#"{"id":4,"op":"leg.delete"}"#).unwrap_err();
        assert_eq!(id, Some(4));
        assert!(e.message.contains("leg"), "{}", e.message);
        let (id, _) = parse_request("{not json").unwrap_err();
        assert_eq!(id, None);
        let (id, _) = parse_request(r#"[1,2]"#).unwrap_err();
        assert_eq!(id, None);
        let (id, e) = parse_request(r#"{"id":-1,"op":"hello"}"#).unwrap_err();
        assert_eq!((id, e.code), (None, ErrorCode::BadRequest));
    }

    #[test]
    fn response_wire_shape() {
        let r = Response { id: Some(1), outcome: Outcome::Error(ErrorBody::new(ErrorCode::PortsExhausted, "x")) };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"id":1,"error":{"code":"ports_exhausted","message":"x"}}"#
        );
        let r = Response { id: Some(2), outcome: Outcome::Ok(serde_json::json!({"a":1})) };
        assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"id":2,"ok":{"a":1}}"#);
    }

    #[test]
    fn event_wire_shape() {
        let e = Event::RemoteLearned { leg: 258, remote: "127.0.0.1:4000".parse().unwrap() };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"event":"leg.remote_learned","leg":258,"remote":"127.0.0.1:4000"}"#
        );
    }
}

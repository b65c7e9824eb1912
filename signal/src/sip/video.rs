//! Video on SIP calls: a phone's H.264 (packetization-mode 1) or VP8 m-line is
//! answered with mediad's composite of the conference (exclude-self, the room's SIP
//! layout), sized by what the phone's H.264 level allows, and its own picture goes
//! into the composition. SRTP video (RTP/SAVP) is refused with port 0: SDES keys are
//! negotiated for the audio leg only.

use control::{LegCreate, LegId, LegVideo, OutputClass, PortPool, VideoPayload, VideoSend};
use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoChoice {
    /// Index of the video m-line in the offer.
    pub index: usize,
    pub pt: u8,
    /// `H264` or `VP8`.
    pub codec: &'static str,
    pub addr: IpAddr,
    pub port: u16,
    /// H.264 level_idc the phone decodes (VP8: 31).
    pub level: u8,
    /// b=TIAS or b=AS of the m-line, bit/s.
    pub max_bitrate: Option<u32>,
    /// The feedback of ours (`FEEDBACK`) the offer lists for this payload type (or
    /// `*`): the answer names only these (RFC 4585 §4.2).
    pub feedback: Vec<&'static str>,
}

/// Feedback mediad answers about a composite: NACK from the serving core's cache,
/// PLI/FIR with a key frame.
const FEEDBACK: [&str; 3] = ["nack", "nack pli", "ccm fir"];

impl VideoChoice {
    /// The composite's size: the largest 16:9 picture the level allows (RFC 6184:
    /// no profile-level-id means level 1.0).
    pub fn size(&self) -> (usize, usize) {
        match self.level {
            31.. => (1280, 720),
            22.. => (640, 360),
            12.. => (352, 288),
            _ => (176, 144),
        }
    }

    pub fn bitrate(&self) -> u32 {
        let want = match self.size().0 {
            1280 => 1_500_000,
            640 => 800_000,
            352 => 384_000,
            _ => 128_000,
        };
        self.max_bitrate.map_or(want, |m| m.clamp(64_000, want))
    }
}

/// The first video m-line we can serve (RTP/AVP, port not 0, H.264 mode 1 or VP8 in
/// the offerer's order).
pub fn parse(s: &sdp_types::Session, session_addr: Option<IpAddr>) -> Option<VideoChoice> {
    let (index, m) = s.medias.iter().enumerate().find(|(_, m)| m.media == "video" && m.port != 0 && m.proto.starts_with("RTP/AVP"))?;
    let addr = match m.connections.first() {
        Some(c) => c.connection_address.split('/').next()?.parse().ok()?,
        None => session_addr?,
    };
    let values = |name: &str, pt: u8| -> Vec<String> {
        let prefix = format!("{pt} ");
        m.attributes.iter().filter(|a| a.attribute == name).filter_map(|a| a.value.as_deref()?.strip_prefix(prefix.as_str()).map(str::to_string)).collect()
    };
    let pts = m.fmt.split_whitespace().filter_map(|p| p.parse::<u8>().ok()).filter(|&p| p < 128);
    let (pt, codec, level) = pts.into_iter().find_map(|pt| {
        let name = values("rtpmap", pt).first()?.split('/').next()?.to_ascii_uppercase();
        let fmtp = values("fmtp", pt).join(";").to_ascii_lowercase();
        let param = |k: &str| fmtp.split(';').find_map(|p| p.trim().strip_prefix(k)?.strip_prefix('=').map(str::to_string));
        match name.as_str() {
            "H264" if param("packetization-mode").as_deref() == Some("1") => {
                let level = param("profile-level-id").and_then(|p| u8::from_str_radix(p.get(4..6)?, 16).ok()).unwrap_or(10);
                Some((pt, "H264", level))
            }
            "VP8" => Some((pt, "VP8", 31)),
            _ => None,
        }
    })?;
    let bandwidth = |kind: &str| m.bandwidths.iter().find(|b| b.bwtype.eq_ignore_ascii_case(kind)).map(|b| b.bandwidth);
    let max_bitrate = bandwidth("TIAS").or(bandwidth("AS").map(|k| k * 1000)).map(|b| b.min(u32::MAX as u64) as u32);
    let offered: Vec<String> = values("rtcp-fb", pt).into_iter().chain(m.attributes.iter().filter(|a| a.attribute == "rtcp-fb").filter_map(|a| a.value.as_deref()?.strip_prefix("* ").map(str::to_string))).collect();
    let feedback = FEEDBACK.into_iter().filter(|f| offered.iter().any(|o| o.split_whitespace().eq(f.split_whitespace()))).collect();
    Some(VideoChoice { index, pt, codec, addr, port: m.port, level, max_bitrate, feedback })
}

/// Our answer's video m-line: the composite from `port`, in the phone's codec, with
/// the feedback mediad answers that the phone offered.
pub fn answer_mline(s: &mut String, v: &VideoChoice, port: u16, direction: &str) {
    let pt = v.pt;
    let _ = write!(s, "m=video {port} RTP/AVP {pt}\r\n");
    if v.codec == "H264" {
        // Constrained baseline (openh264), the phone's level at most 3.1.
        let _ = write!(s, "a=rtpmap:{pt} H264/90000\r\na=fmtp:{pt} profile-level-id=42e0{:02x};packetization-mode=1\r\n", v.level.min(31));
    } else {
        let _ = write!(s, "a=rtpmap:{pt} VP8/90000\r\n");
    }
    for fb in &v.feedback {
        let _ = write!(s, "a=rtcp-fb:{pt} {fb}\r\n");
    }
    let _ = write!(s, "a={direction}\r\n");
}

/// The mediad leg of the call's video: its picture into the conference's video MCU,
/// the composite back (SIP class: the room's SIP layout, the SIP frame-rate cap).
pub fn leg_spec(v: &VideoChoice, room: Option<&str>, label: String, name: String, audio_leg: LegId) -> LegCreate {
    let (width, height) = v.size();
    let remote = SocketAddr::new(v.addr, v.port);
    LegCreate {
        media: control::Media::Video,
        pool: PortPool::Rtp,
        clock_rate: Some(90_000),
        remote: Some(remote).filter(|r| !r.ip().is_unspecified()),
        room: room.map(str::to_string),
        label: Some(label),
        video: Some(Box::new(LegVideo {
            receive: vec![VideoPayload { pt: v.pt, codec: v.codec.into() }],
            send: Some(VideoSend { pt: v.pt, codec: v.codec.into(), width, height, bitrate: v.bitrate(), fps: None, class: OutputClass::Sip, layout: None, exclude_self: true, max_payload: None }),
            name: Some(name),
            audio_leg: Some(audio_leg),
            ..Default::default()
        })),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(sdp: &str) -> Option<VideoChoice> {
        let s = sdp_types::Session::parse(sdp.as_bytes()).unwrap();
        parse(&s, Some("10.0.0.1".parse().unwrap()))
    }

    const HEAD: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

    #[test]
    fn h264_mode_1_or_vp8_in_the_offerers_order_sized_by_level() {
        let v = parse_str(&format!("{HEAD}m=video 4002 RTP/AVP 97 96 100\r\nb=AS:512\r\na=rtpmap:97 H264/90000\r\na=fmtp:97 profile-level-id=42801e;packetization-mode=0\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 profile-level-id=42e01f; packetization-mode=1\r\na=rtpmap:100 VP8/90000\r\n")).unwrap();
        assert_eq!((v.index, v.pt, v.codec, v.port, v.level, v.size(), v.bitrate()), (1, 96, "H264", 4002, 31, (1280, 720), 512_000), "mode 0 skipped");
        let v = parse_str(&format!("{HEAD}m=video 4002 RTP/AVP 100 96\r\na=rtpmap:100 VP8/90000\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\n")).unwrap();
        assert_eq!((v.pt, v.codec), (100, "VP8"));
        let v = parse_str(&format!("{HEAD}m=video 4002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\n")).unwrap();
        assert_eq!((v.level, v.size()), (10, (176, 144)), "no profile-level-id: level 1.0");
    }

    #[test]
    fn what_cannot_be_served_is_none() {
        for m in [
            "m=video 0 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n",
            "m=video 4002 RTP/SAVP 96\r\na=rtpmap:96 VP8/90000\r\n",
            "m=video 4002 RTP/AVP 34\r\n",
            "m=video 4002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n",
            "m=video 4002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 profile-level-id=zz\r\n",
        ] {
            assert_eq!(parse_str(&format!("{HEAD}{m}")), None, "{m}");
        }
    }

    #[test]
    fn the_answer_line_names_our_port_codec_and_feedback() {
        let v = VideoChoice { index: 1, pt: 96, codec: "H264", addr: "10.0.0.1".parse().unwrap(), port: 4002, level: 40, max_bitrate: None, feedback: vec!["nack pli", "ccm fir"] };
        let mut s = String::new();
        answer_mline(&mut s, &v, 50010, "sendrecv");
        assert_eq!(s, "m=video 50010 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 profile-level-id=42e01f;packetization-mode=1\r\na=rtcp-fb:96 nack pli\r\na=rtcp-fb:96 ccm fir\r\na=sendrecv\r\n");
    }

    #[test]
    fn the_answer_names_only_feedback_the_phone_offered() {
        let fb = |lines: &str| parse_str(&format!("{HEAD}m=video 4002 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n{lines}")).unwrap().feedback;
        assert_eq!(fb(""), Vec::<&str>::new());
        assert_eq!(fb("a=rtcp-fb:96 ccm fir\r\na=rtcp-fb:96 goog-remb\r\na=rtcp-fb:97 nack\r\n"), ["ccm fir"]);
        assert_eq!(fb("a=rtcp-fb:* nack\r\na=rtcp-fb:96 nack  pli\r\n"), ["nack", "nack pli"]);
    }
}

//! SDP offer/answer for SIP audio (RFC 3264): read a phone's offer (parsed with
//! `sdp-types`, as the WebRTC edge does), choose one codec the audio MCU speaks, and
//! answer with mediad's RTP port. A video m-line mediad can compose for is answered
//! by `video`; other m-lines are refused with port 0, as the RFC allows.

use std::fmt::Write;
use std::net::IpAddr;

/// A codec of the audio MCU as SDP names it: (mediad name, SDP encoding, clock,
/// static payload type).
const CODECS: &[(&str, &str, u32, Option<u8>)] = &[
    ("opus", "opus", 48_000, None),
    ("g722", "G722", 8_000, Some(9)),
    ("pcmu", "PCMU", 8_000, Some(0)),
    ("pcma", "PCMA", 8_000, Some(8)),
    ("g729", "G729", 8_000, Some(18)),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioChoice {
    pub pt: u8,
    /// mediad's codec name (`pcmu`, `opus`, ...).
    pub codec: &'static str,
    /// SDP encoding name and clock, for our `a=rtpmap`.
    pub encoding: &'static str,
    pub clock: u32,
    pub telephone_event: Option<u8>,
    pub ptime: u32,
}

/// What a phone's offer asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// Where its RTP goes (c= of the audio m-line or the session).
    pub addr: IpAddr,
    pub port: u16,
    pub audio: AudioChoice,
    /// `sendrecv`, `sendonly` (hold), `recvonly`, `inactive`.
    pub direction: String,
    /// Every m-line as (media, proto, fmt) in order, to answer each.
    pub mlines: Vec<(String, String, String)>,
    /// Index of the audio m-line used.
    pub audio_index: usize,
    /// The audio m-line is RTP/SAVP(F): SRTP or nothing.
    pub savp: bool,
    /// Its first `a=crypto` line mediad can use (RFC 4568).
    pub crypto: Option<super::sdes::Crypto>,
    /// A video m-line mediad's composite can answer.
    pub video: Option<super::video::VideoChoice>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdpError {
    Parse(String),
    NoAudio,
    /// 488: nothing we can mix.
    NoCodec,
}

impl std::fmt::Display for SdpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SdpError::Parse(e) => write!(f, "SDP does not parse: {e}"),
            SdpError::NoAudio => write!(f, "no audio m-line"),
            SdpError::NoCodec => write!(f, "no codec in common (Opus, G.722, PCMU, PCMA, G.729)"),
        }
    }
}

fn attr<'a>(attrs: &'a [sdp_types::Attribute], name: &str) -> Option<&'a str> {
    attrs.iter().find(|a| a.attribute == name).map(|a| a.value.as_deref().unwrap_or(""))
}

pub fn parse_offer(sdp: &[u8]) -> Result<Offer, SdpError> {
    let s = sdp_types::Session::parse(sdp).map_err(|e| SdpError::Parse(e.to_string()))?;
    let mlines = s.medias.iter().map(|m| (m.media.clone(), m.proto.clone(), m.fmt.clone())).collect();
    let (audio_index, m) = s.medias.iter().enumerate().find(|(_, m)| m.media == "audio" && m.port != 0 && (m.proto.starts_with("RTP/AVP") || m.proto.starts_with("RTP/SAVP"))).ok_or(SdpError::NoAudio)?;
    let conn = m.connections.first().or(s.connection.as_ref()).ok_or(SdpError::Parse("no c= line".into()))?;
    let addr: IpAddr = conn.connection_address.split('/').next().unwrap_or("").parse().map_err(|_| SdpError::Parse("c= is not an IP address".into()))?;
    let rtpmap = |pt: u8| -> Option<(String, u32)> {
        let prefix = format!("{pt} ");
        m.attributes.iter().filter(|a| a.attribute == "rtpmap").filter_map(|a| a.value.as_deref()?.strip_prefix(prefix.as_str())).find_map(|v| {
            let mut p = v.split('/');
            Some((p.next()?.to_string(), p.next()?.parse().ok()?))
        })
    };
    let pts: Vec<u8> = m.fmt.split_whitespace().filter_map(|p| p.parse().ok()).filter(|&p| p < 128).collect();
    let telephone_event = pts.iter().copied().find(|&pt| rtpmap(pt).is_some_and(|(n, c)| n.eq_ignore_ascii_case("telephone-event") && c == 8000));
    // The offerer's order decides (RFC 3264 §6.1: the answer should keep it).
    let chosen = pts.iter().find_map(|&pt| {
        let (name, clock) = match rtpmap(pt) {
            Some(x) => x,
            None => {
                let (_, enc, clock, _) = CODECS.iter().find(|c| c.3 == Some(pt))?;
                (enc.to_string(), *clock)
            }
        };
        CODECS.iter().find(|c| c.1.eq_ignore_ascii_case(&name) && c.2 == clock).map(|c| (pt, *c))
    });
    let (pt, (codec, encoding, clock, _)) = chosen.ok_or(SdpError::NoCodec)?;
    let ptime = attr(&m.attributes, "ptime").and_then(|p| p.trim().parse::<u32>().ok()).filter(|p| [20, 40, 60].contains(p)).unwrap_or(20);
    let direction = ["sendrecv", "sendonly", "recvonly", "inactive"]
        .into_iter()
        .find(|d| attr(&m.attributes, d).is_some() || attr(&s.attributes, d).is_some())
        .unwrap_or("sendrecv")
        .to_string();
    // A held call (RFC 3264 §8.4) may also say c=0.0.0.0.
    let direction = if addr.is_unspecified() && direction == "sendrecv" { "sendonly".to_string() } else { direction };
    let crypto = super::sdes::Crypto::choose(m.attributes.iter().filter(|a| a.attribute == "crypto").filter_map(|a| a.value.as_deref()));
    let session_addr = s.connection.as_ref().and_then(|c| c.connection_address.split('/').next()?.parse().ok());
    let video = super::video::parse(&s, session_addr);
    Ok(Offer {
        addr,
        port: m.port,
        audio: AudioChoice { pt, codec, encoding, clock, telephone_event, ptime },
        direction,
        mlines,
        audio_index,
        savp: m.proto.starts_with("RTP/SAVP"),
        crypto,
        video,
    })
}

/// Our side of the session: where mediad's leg listens.
pub struct Local<'a> {
    pub session_id: u64,
    pub version: u64,
    pub addr: IpAddr,
    pub port: u16,
    pub user: &'a str,
    /// Our `a=crypto` line, when the media is (or may be) SRTP.
    pub crypto: Option<&'a super::sdes::Crypto>,
    /// Our offers say RTP/SAVP (SRTP required) rather than RTP/AVP.
    pub savp: bool,
    /// The port of the call's video leg (answers the offer's video m-line).
    pub video_port: Option<u16>,
}

/// The answer to `offer`: the chosen codec (and telephone-event) on the audio m-line,
/// the direction mirrored, every other m-line refused.
pub fn answer(offer: &Offer, local: &Local) -> String {
    let ip = |a: IpAddr| if a.is_ipv4() { format!("IP4 {a}") } else { format!("IP6 {a}") };
    let mut s = String::with_capacity(400);
    let _ = write!(s, "v=0\r\no={} {} {} IN {}\r\ns=mediad\r\nc=IN {}\r\nt=0 0\r\n", local.user, local.session_id, local.version, ip(local.addr), ip(local.addr));
    let dir = match offer.direction.as_str() {
        "sendonly" => "recvonly",
        "recvonly" => "sendonly",
        "inactive" => "inactive",
        _ => "sendrecv",
    };
    for (i, (media, proto, fmt)) in offer.mlines.iter().enumerate() {
        if let (Some(v), Some(port)) = (offer.video.as_ref().filter(|v| v.index == i), local.video_port) {
            super::video::answer_mline(&mut s, v, port, dir);
            continue;
        }
        if i != offer.audio_index {
            let _ = write!(s, "m={media} 0 {proto} {fmt}\r\n");
            continue;
        }
        let a = &offer.audio;
        let mut fmts = a.pt.to_string();
        if let Some(te) = a.telephone_event {
            let _ = write!(fmts, " {te}");
        }
        let _ = write!(s, "m=audio {} {proto} {fmts}\r\n", local.port);
        let channels = if a.codec == "opus" { "/2" } else { "" };
        let _ = write!(s, "a=rtpmap:{} {}/{}{channels}\r\n", a.pt, a.encoding, a.clock);
        if a.codec == "g729" {
            let _ = write!(s, "a=fmtp:{} annexb=no\r\n", a.pt);
        }
        if let Some(te) = a.telephone_event {
            let _ = write!(s, "a=rtpmap:{te} telephone-event/8000\r\na=fmtp:{te} 0-16\r\n");
        }
        let _ = write!(s, "a=ptime:{}\r\n", a.ptime);
        if let Some(c) = local.crypto {
            let _ = write!(s, "a=crypto:{}\r\n", c.attribute());
        }
        let _ = write!(s, "a={dir}\r\n");
    }
    s
}

/// Payload type of Opus in our offers (dynamic; the others are static).
const OPUS_PT: u8 = 111;
/// telephone-event in our offers.
pub const TE_PT: u8 = 101;

/// mediad codec names we can offer, in the order given, those unknown dropped.
pub fn known(codecs: &[String]) -> Vec<&'static str> {
    codecs.iter().filter_map(|c| CODECS.iter().find(|k| k.0.eq_ignore_ascii_case(c)).map(|k| k.0)).collect()
}

/// The payload type our offers give `codec`.
pub fn offer_pt(codec: &str) -> u8 {
    CODECS.iter().find(|c| c.0 == codec).and_then(|c| c.3).unwrap_or(OPUS_PT)
}

/// Our offer (calls out, and the 200 OK to an INVITE without SDP): `codecs` in our
/// order of preference with telephone-event, sendrecv.
pub fn offer(local: &Local, codecs: &[&str]) -> String {
    let ip = |a: IpAddr| if a.is_ipv4() { format!("IP4 {a}") } else { format!("IP6 {a}") };
    let mut s = String::with_capacity(500);
    let _ = write!(s, "v=0\r\no={} {} {} IN {}\r\ns=mediad\r\nc=IN {}\r\nt=0 0\r\n", local.user, local.session_id, local.version, ip(local.addr), ip(local.addr));
    let pts: Vec<String> = codecs.iter().map(|c| offer_pt(c).to_string()).collect();
    let profile = if local.savp { "RTP/SAVP" } else { "RTP/AVP" };
    let _ = write!(s, "m=audio {} {profile} {} {TE_PT}\r\n", local.port, pts.join(" "));
    for c in codecs {
        let Some((_, enc, clock, _)) = CODECS.iter().find(|k| k.0 == *c) else { continue };
        let channels = if *c == "opus" { "/2" } else { "" };
        let _ = write!(s, "a=rtpmap:{} {enc}/{clock}{channels}\r\n", offer_pt(c));
        if *c == "g729" {
            let _ = write!(s, "a=fmtp:18 annexb=no\r\n");
        }
    }
    let _ = write!(s, "a=rtpmap:{TE_PT} telephone-event/8000\r\na=fmtp:{TE_PT} 0-16\r\na=ptime:20\r\na=sendrecv\r\n");
    if let Some(c) = local.crypto {
        let _ = write!(s, "a=crypto:{}\r\n", c.attribute());
    }
    s
}

/// Every codec the audio MCU speaks, best first (late offers, calls without a
/// trunk's allow-list).
pub const ALL: &[&str] = &["opus", "g722", "pcma", "pcmu", "g729"];

#[cfg(test)]
mod tests {
    use super::*;

    const SIPP_OFFER: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 6000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-11,16\r\n\
m=video 6002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n";

    #[test]
    fn answers_the_first_offered_codec_and_refuses_video() {
        let o = parse_offer(SIPP_OFFER.as_bytes()).unwrap();
        assert_eq!((o.port, o.audio.pt, o.audio.codec, o.audio.telephone_event), (6000, 8, "pcma", Some(101)));
        assert_eq!(o.direction, "sendrecv");
        let a = answer(&o, &Local { session_id: 7, version: 1, addr: "127.0.0.1".parse().unwrap(), port: 50002, user: "mediad", crypto: None, savp: false, video_port: None });
        assert!(a.contains("m=audio 50002 RTP/AVP 8 101\r\n") && a.contains("a=rtpmap:8 PCMA/8000\r\n"), "{a}");
        assert!(a.contains("m=video 0 RTP/AVP 96\r\n") && a.contains("a=sendrecv"), "{a}");
        sdp_types::Session::parse(a.as_bytes()).expect("our answer parses");
    }

    #[test]
    fn static_types_hold_and_refusals() {
        let held = SIPP_OFFER.replace("m=audio 6000 RTP/AVP 8 0 101", "m=audio 6000 RTP/AVP 18 0").replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0");
        let o = parse_offer(held.as_bytes()).unwrap();
        assert_eq!((o.audio.codec, o.audio.pt, o.direction.as_str()), ("g729", 18, "sendonly"));
        let a = answer(&o, &Local { session_id: 1, version: 2, addr: "::1".parse().unwrap(), port: 50000, user: "m", crypto: None, savp: false, video_port: None });
        assert!(a.contains("a=recvonly") && a.contains("c=IN IP6 ::1") && a.contains("annexb=no"), "{a}");
        let none = SIPP_OFFER.replace("RTP/AVP 8 0 101", "RTP/AVP 3 97").replace("a=rtpmap:8 PCMA/8000", "a=rtpmap:97 iLBC/8000");
        assert_eq!(parse_offer(none.as_bytes()), Err(SdpError::NoCodec));
        assert!(parse_offer(b"v=0\r\n").is_err());
        assert!(parse_offer(b"garbage").is_err());
    }

    #[test]
    fn our_offer_parses_and_its_answer_picks_from_it() {
        let local = Local { session_id: 3, version: 1, addr: "127.0.0.1".parse().unwrap(), port: 50010, user: "mediad", crypto: None, savp: false, video_port: None };
        let o = offer(&local, &known(&["G722".into(), "pcmu".into(), "speex".into(), "opus".into()]));
        assert!(o.contains("m=audio 50010 RTP/AVP 9 0 111 101\r\n") && o.contains("a=rtpmap:111 opus/48000/2\r\n"), "{o}");
        let parsed = parse_offer(o.as_bytes()).unwrap();
        assert_eq!((parsed.audio.codec, parsed.audio.telephone_event), ("g722", Some(101)));
    }
}

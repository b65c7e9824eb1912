//! SDP for the WebRTC edge, sans-IO: parse a browser's offer or answer (with the
//! `sdp-types` parser) into what mediad needs, and write our answers and offers.
//!
//! mediad is ICE-lite and DTLS-passive, with BUNDLE and rtcp-mux on one port. A
//! publisher's offer is answered recvonly with one codec per m-line (the browser's
//! first supported one, so `setCodecPreferences` decides); a subscriber gets our offer
//! with one sendonly m-line per forwarded track, carrying the publisher's payload type
//! and the SSRC mediad forwards under.

use std::fmt::Write;
use std::net::SocketAddr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdpError {
    Parse(String),
    Missing(&'static str),
}

impl std::fmt::Display for SdpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SdpError::Parse(e) => write!(f, "SDP does not parse: {e}"),
            SdpError::Missing(what) => write!(f, "SDP lacks {what}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Audio,
    Video,
    Other,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Audio => "audio",
            Kind::Video => "video",
            Kind::Other => "application",
        }
    }
}

/// One payload type of an m-line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codec {
    pub pt: u8,
    /// Encoding name as written (`VP8`, `H264`, `opus`, `AV1`).
    pub name: String,
    pub clock: u32,
    pub channels: Option<u8>,
    pub fmtp: Option<String>,
    pub rtcp_fb: Vec<String>,
}

impl Codec {
    fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    /// H.264 we forward: packetization-mode 1 (what browsers send; mode 0 is for
    /// single-NAL legacy gear).
    fn h264_mode1(&self) -> bool {
        self.fmtp.as_deref().is_some_and(|f| f.split(';').any(|p| p.trim() == "packetization-mode=1"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MLine {
    pub kind: Kind,
    pub mid: String,
    pub port: u16,
    pub proto: String,
    pub fmt: String,
    /// `sendrecv`, `sendonly`, `recvonly`, `inactive`.
    pub direction: String,
    pub codecs: Vec<Codec>,
    pub ssrcs: Vec<u32>,
    /// `a=extmap` ids with their URIs.
    pub extmaps: Vec<(u8, String)>,
    /// Simulcast (RFC 8853): the RIDs the browser sends, in its `a=simulcast:send`
    /// order (paused `~` ones left out); empty without simulcast.
    pub send_rids: Vec<String>,
}

/// RFC 6464 audio levels: what the active-speaker choice reads.
pub const AUDIO_LEVEL_URI: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
/// RFC 8843 MID and RFC 8852 RID: how a browser names a simulcast layer's new SSRC.
pub const MID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";
pub const RID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id";
/// Transport-wide sequence numbers, which mediad answers with TWCC feedback.
pub const TWCC_URI: &str = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";

impl MLine {
    /// The id the remote gave header extension `uri`, if it offered it (one-byte ids).
    pub fn extmap_id(&self, uri: &str) -> Option<u8> {
        self.extmaps.iter().find(|(id, u)| u == uri && (1..=14).contains(id)).map(|(id, _)| *id)
    }
}

/// What a browser's SDP says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    pub ice_ufrag: String,
    pub ice_pwd: String,
    /// `sha-256 AB:CD:..`
    pub fingerprint: String,
    pub setup: String,
    pub media: Vec<MLine>,
}

fn attr<'a>(attrs: &'a [sdp_types::Attribute], name: &str) -> Option<&'a str> {
    attrs.iter().find(|a| a.attribute == name).map(|a| a.value.as_deref().unwrap_or(""))
}

pub fn parse(sdp: &str) -> Result<Description, SdpError> {
    let s = sdp_types::Session::parse(sdp.as_bytes()).map_err(|e| SdpError::Parse(e.to_string()))?;
    // ICE and DTLS attributes may sit at session level or in each m-line (browsers
    // repeat them per m-line; BUNDLE makes the first one's count).
    let pick = |name: &str| -> Option<String> {
        attr(&s.attributes, name).or_else(|| s.medias.iter().find_map(|m| attr(&m.attributes, name))).map(str::to_string)
    };
    let ice_ufrag = pick("ice-ufrag").ok_or(SdpError::Missing("a=ice-ufrag"))?;
    let ice_pwd = pick("ice-pwd").ok_or(SdpError::Missing("a=ice-pwd"))?;
    let fingerprint = pick("fingerprint").ok_or(SdpError::Missing("a=fingerprint"))?;
    let setup = pick("setup").unwrap_or_else(|| "actpass".into());
    let mut media = Vec::new();
    for (i, m) in s.medias.iter().enumerate() {
        let kind = match m.media.as_str() {
            "audio" => Kind::Audio,
            "video" => Kind::Video,
            _ => Kind::Other,
        };
        let direction = ["sendrecv", "sendonly", "recvonly", "inactive"]
            .into_iter()
            .find(|d| attr(&m.attributes, d).is_some())
            .unwrap_or("sendrecv")
            .to_string();
        let mut codecs: Vec<Codec> = Vec::new();
        for pt in m.fmt.split_whitespace().filter_map(|p| p.parse::<u8>().ok()) {
            let prefix = format!("{pt} ");
            let with_pt = |name: &'static str| -> Vec<String> {
                m.attributes
                    .iter()
                    .filter(|a| a.attribute == name)
                    .filter_map(|a| a.value.as_deref())
                    .filter_map(|v| v.strip_prefix(prefix.as_str()).map(str::to_string))
                    .collect()
            };
            let Some(map) = with_pt("rtpmap").into_iter().next() else { continue };
            let mut parts = map.split('/');
            let name = parts.next().unwrap_or("").to_string();
            let clock = parts.next().and_then(|c| c.parse().ok()).unwrap_or(90000);
            let channels = parts.next().and_then(|c| c.parse().ok());
            codecs.push(Codec { pt, name, clock, channels, fmtp: with_pt("fmtp").into_iter().next(), rtcp_fb: with_pt("rtcp-fb") });
        }
        let mut ssrcs: Vec<u32> = Vec::new();
        for a in m.attributes.iter().filter(|a| a.attribute == "ssrc") {
            if let Some(ssrc) = a.value.as_deref().and_then(|v| v.split(' ').next()).and_then(|v| v.parse().ok()) {
                if !ssrcs.contains(&ssrc) {
                    ssrcs.push(ssrc);
                }
            }
        }
        let extmaps = m
            .attributes
            .iter()
            .filter(|a| a.attribute == "extmap")
            .filter_map(|a| {
                let mut parts = a.value.as_deref()?.split_whitespace();
                let id = parts.next()?.split('/').next()?.parse().ok()?;
                Some((id, parts.next()?.to_string()))
            })
            .collect();
        let send_rids = send_rids(&m.attributes);
        media.push(MLine {
            kind,
            mid: attr(&m.attributes, "mid").map(str::to_string).unwrap_or_else(|| i.to_string()),
            port: m.port,
            proto: m.proto.clone(),
            fmt: m.fmt.clone(),
            direction,
            codecs,
            ssrcs,
            extmaps,
            send_rids,
        });
    }
    Ok(Description { ice_ufrag, ice_pwd, fingerprint, setup, media })
}

/// `a=simulcast:send q;h;f` with each RID declared `a=rid:<id> send`. Alternatives
/// (`h,h2`) take their first; paused (`~h`) and undeclared ones are left out. At most
/// three are kept (what mediad forwards).
fn send_rids(attrs: &[sdp_types::Attribute]) -> Vec<String> {
    let declared: Vec<&str> = attrs
        .iter()
        .filter(|a| a.attribute == "rid")
        .filter_map(|a| a.value.as_deref())
        .filter_map(|v| {
            let mut p = v.split_whitespace();
            let id = p.next()?;
            (p.next()? == "send").then_some(id)
        })
        .collect();
    let Some(list) = attr(attrs, "simulcast").and_then(|v| v.trim().strip_prefix("send ")) else { return vec![] };
    let list = list.split_whitespace().next().unwrap_or("");
    let mut rids: Vec<String> = Vec::new();
    for r in list.split(';').filter_map(|alt| alt.split(',').next()) {
        let plain = !r.is_empty() && r.len() <= 16 && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if plain && declared.contains(&r) && !rids.iter().any(|x| x == r) && rids.len() < 3 {
            rids.push(r.to_string());
        }
    }
    rids
}

/// The codec we take from an m-line: Opus for audio; for video the browser's first
/// of the codecs we forward (its order is its preference).
pub fn choose_codec(m: &MLine) -> Option<&Codec> {
    match m.kind {
        Kind::Audio => m.codecs.iter().find(|c| c.is("opus")),
        Kind::Video => m.codecs.iter().find(|c| c.is("VP8") || c.is("AV1") || c.is("VP9") || (c.is("H264") && c.h264_mode1())),
        Kind::Other => None,
    }
}

/// Our transport parameters (from mediad's `leg.create`).
pub struct Local<'a> {
    pub ice_ufrag: &'a str,
    pub ice_pwd: &'a str,
    /// `sha-256 AB:CD:..`
    pub fingerprint: &'a str,
    pub candidates: &'a [SocketAddr],
    /// `passive` in answers, `actpass` in offers.
    pub setup: &'a str,
}

/// One m-line we write.
pub struct Section<'a> {
    pub kind: Kind,
    pub mid: &'a str,
    /// None: rejected (port 0, outside the BUNDLE).
    pub codec: Option<&'a Codec>,
    pub direction: &'a str,
    /// For what we send: our SSRC with its msid (stream id, track id) and cname.
    pub send: Option<(u32, &'a str, &'a str)>,
    /// The rejected m-line's own proto and fmt (echoed as the RFC requires).
    pub rejected_as: Option<(&'a str, &'a str)>,
    /// Header extensions we accept on this m-line (id, URI).
    pub extmaps: Vec<(u8, &'a str)>,
    /// Simulcast RIDs we receive (answers to a simulcast offer).
    pub recv_rids: &'a [String],
    /// Feedback beyond NACK/PLI/FIR that we give for this m-line (`transport-cc`).
    pub extra_feedback: &'a [&'a str],
}

/// Feedback we honour (NACK relayed to the publisher, PLI/FIR rate-limited).
const FEEDBACK: &[&str] = &["nack", "nack pli", "ccm fir"];

pub fn write(session_id: u64, version: u64, local: &Local<'_>, sections: &[Section<'_>]) -> String {
    let mut o = String::new();
    let bundle: Vec<&str> = sections.iter().filter(|s| s.codec.is_some()).map(|s| s.mid).collect();
    let _ = write!(o, "v=0\r\no=- {session_id} {version} IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n");
    if !bundle.is_empty() {
        let _ = write!(o, "a=group:BUNDLE {}\r\n", bundle.join(" "));
    }
    o.push_str("a=ice-lite\r\na=msid-semantic: WMS *\r\n");
    for s in sections {
        let Some(c) = s.codec else {
            let (proto, fmt) = s.rejected_as.unwrap_or(("UDP/TLS/RTP/SAVPF", "0"));
            let _ = write!(o, "m={} 0 {proto} {fmt}\r\nc=IN IP4 0.0.0.0\r\na=mid:{}\r\na=inactive\r\n", s.kind.as_str(), s.mid);
            continue;
        };
        let _ = write!(o, "m={} 9 UDP/TLS/RTP/SAVPF {}\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n", s.kind.as_str(), c.pt);
        let _ = write!(o, "a=ice-ufrag:{}\r\na=ice-pwd:{}\r\na=ice-options:trickle\r\n", local.ice_ufrag, local.ice_pwd);
        let _ = write!(o, "a=fingerprint:{}\r\na=setup:{}\r\na=mid:{}\r\n", local.fingerprint, local.setup, s.mid);
        let _ = write!(o, "a={}\r\na=rtcp-mux\r\n", s.direction);
        for (id, uri) in &s.extmaps {
            let _ = write!(o, "a=extmap:{id} {uri}\r\n");
        }
        if s.kind == Kind::Video {
            o.push_str("a=rtcp-rsize\r\n");
        }
        match c.channels {
            Some(ch) => {
                let _ = write!(o, "a=rtpmap:{} {}/{}/{ch}\r\n", c.pt, c.name, c.clock);
            }
            None => {
                let _ = write!(o, "a=rtpmap:{} {}/{}\r\n", c.pt, c.name, c.clock);
            }
        }
        if s.kind == Kind::Video {
            for fb in FEEDBACK.iter().filter(|f| c.rtcp_fb.iter().any(|x| x == *f)) {
                let _ = write!(o, "a=rtcp-fb:{} {fb}\r\n", c.pt);
            }
        }
        for fb in s.extra_feedback.iter().filter(|f| c.rtcp_fb.iter().any(|x| x == *f)) {
            let _ = write!(o, "a=rtcp-fb:{} {fb}\r\n", c.pt);
        }
        if let Some(f) = &c.fmtp {
            let _ = write!(o, "a=fmtp:{} {f}\r\n", c.pt);
        }
        if !s.recv_rids.is_empty() {
            for rid in s.recv_rids {
                let _ = write!(o, "a=rid:{rid} recv\r\n");
            }
            let _ = write!(o, "a=simulcast:recv {}\r\n", s.recv_rids.join(";"));
        }
        if let Some((ssrc, stream, track)) = s.send {
            let _ = write!(o, "a=msid:{stream} {track}\r\na=ssrc:{ssrc} cname:{stream}\r\na=ssrc:{ssrc} msid:{stream} {track}\r\n");
        }
        for (i, cand) in local.candidates.iter().enumerate() {
            let family_pref = if cand.is_ipv4() { 65535 } else { 65534 };
            let prio = (126u32 << 24) | (family_pref << 8) | 255;
            let _ = write!(o, "a=candidate:{} 1 udp {prio} {} {} typ host\r\n", i + 1, cand.ip(), cand.port());
        }
        o.push_str("a=end-of-candidates\r\n");
    }
    o
}

#[cfg(test)]
#[path = "sdp_tests.rs"]
pub(crate) mod tests;

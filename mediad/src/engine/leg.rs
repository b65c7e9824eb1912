//! A leg: one remote media endpoint with its socket(s), addresses, the state of the
//! stream it sends us and of the streams we send it.

use super::counters::LegCounters;
use crate::io::RawAddr;
use crate::rtp::receive_stats::ReceiveStats;
use crate::rtp::bwe::Estimate;
use crate::rtp::keyframe::VideoCodec;
use crate::rtp::rewrite::Rewriter;
use crate::rtp::simulcast::{LayerSelector, LayerTag};
use crate::rtp::twcc::TwccRecorder;
use control::{LegId, Media};
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Instant;

/// What we have sent on this leg per outgoing stream, for its sender reports.
#[derive(Debug, Clone, Copy)]
pub struct TxStream {
    pub ssrc: u32,
    pub packets: u32,
    pub octets: u32,
    pub last_ts: u32,
    pub last_at: Instant,
    pub clock_rate: u32,
}

/// One stream the remote sends us on this leg, and our outgoing stream for it (the
/// SSRC the room's other legs see).
#[derive(Debug, Clone)]
pub struct SourceStream {
    pub clock_rate: u32,
    /// Payload types that belong to this stream (empty: any).
    pub payload_types: Vec<u8>,
    pub rx: ReceiveStats,
    pub rewriter: Rewriter,
    /// RFC 6464 extension id, and the loudness seen since the last tick.
    pub audio_level_id: Option<u8>,
    pub loudness_sum: u32,
    pub loudness_n: u32,
    /// Smoothed over ticks.
    pub loudness: f32,
    /// Simulcast: this stream is one layer of a track, known by its RID.
    pub layer: Option<Layer>,
    pub codec: VideoCodec,
    /// Keyframe requests to this stream are rate-limited (every receiver asks at once
    /// after a loss; one request is enough).
    pub last_keyframe_request: Option<Instant>,
}

/// One encoding of a simulcast track.
#[derive(Debug, Clone)]
pub struct Layer {
    pub rid: Vec<u8>,
    /// Id of the RID header extension.
    pub rid_ext: u8,
    /// Tag every packet of this layer carries to the receivers.
    pub tag: LayerTag,
}

impl SourceStream {
    pub fn new(out_ssrc: u32, clock_rate: u32, payload_types: Vec<u8>, audio_level_id: Option<u8>) -> Self {
        SourceStream {
            clock_rate,
            payload_types,
            rx: ReceiveStats::default(),
            rewriter: Rewriter::new(out_ssrc, clock_rate),
            audio_level_id,
            loudness_sum: 0,
            loudness_n: 0,
            loudness: 0.0,
            layer: None,
            codec: VideoCodec::Other,
            last_keyframe_request: None,
        }
    }

    /// Fold the tick's levels into the smoothed loudness (about a 300 ms memory at
    /// the 100 ms tick: speech onsets show within a tick or two, pauses between words
    /// do not drop a speaker).
    pub fn tick_loudness(&mut self) -> f32 {
        let now = if self.loudness_n > 0 { self.loudness_sum as f32 / self.loudness_n as f32 } else { 0.0 };
        self.loudness = 0.6 * self.loudness + 0.4 * now;
        self.loudness_sum = 0;
        self.loudness_n = 0;
        self.loudness
    }
}

pub struct Leg {
    pub id: LegId,
    pub media: Media,
    pub rtp: UdpSocket,
    pub rtcp: Option<UdpSocket>,
    pub rtp_token: u32,
    pub rtcp_token: Option<u32>,
    pub rtp_port: u16,
    pub pool: control::PortPool,
    pub family: control::Family,
    pub remote: Option<SocketAddr>,
    pub remote_raw: RawAddr,
    pub remote_rtcp: Option<SocketAddr>,
    pub remote_rtcp_raw: RawAddr,
    /// The RTCP destination came from config or was latched, not derived from RTP.
    pub rtcp_remote_explicit: bool,
    pub room: Option<u32>,
    pub muted: bool,
    /// What the remote sends us (one stream for plain legs; a BUNDLE has several).
    pub streams: Vec<SourceStream>,
    /// The remote only sends: the room's media is not forwarded to it.
    pub sendonly: bool,
    /// Media from this leg is not forwarded to us (our own publisher).
    pub skip_source: Option<LegId>,
    /// ICE, DTLS and SRTP of a WebRTC leg.
    pub webrtc: Option<Box<super::webrtc::WebrtcTransport>>,
    /// SDES-SRTP keys of a plain leg.
    pub sdes: Option<Box<crate::srtp::SrtpPair>>,
    pub tx_streams: Vec<TxStream>,
    pub last_tx_stream: usize,
    pub counters: Arc<LegCounters>,
    /// SSRC we use for reports about what we receive from this leg.
    pub local_ssrc: u32,
    pub next_rtcp: Instant,
    pub last_rx: Option<Instant>,
    /// Byte counters at the start of the current bit-rate window.
    pub rate_window: (Instant, u64, u64),
    pub inactive_reported: bool,
    pub fir_seq: u8,
    /// Receivers: the layer choice for each simulcast track forwarded to this leg,
    /// and the estimate it is made from.
    pub layer_selectors: Vec<LayerSelector>,
    pub bwe: Estimate,
    /// Publishers that send transport-wide sequence numbers get TWCC feedback.
    pub twcc: Option<TwccRecorder>,
    /// Where the audio MCU mixes this leg's audio (set by the registry).
    pub mix_at: Option<super::mix::MixAt>,
    /// The leg hears the mix: SFU audio is not forwarded to it.
    pub takes_mix: bool,
    /// Where its video goes to be composed: a video thread and the room there (set by
    /// the registry while the leg is in a room that composes video).
    pub video_at: Option<crate::compute::VideoAt>,
    /// The SSRC of the composite it takes: key-frame requests about this SSRC go to
    /// its room's video thread.
    pub video_ssrc: Option<u32>,
    /// SFU video is not forwarded to it: it takes a composite instead (a phone), not
    /// besides its SFU tracks (a browser's MCU view).
    pub no_sfu_video: bool,
}

impl Leg {
    /// The keys media to and from this leg go through: DTLS-SRTP of a WebRTC leg once
    /// its handshake is done, or SDES of a plain leg.
    pub fn srtp_mut(&mut self) -> Option<&mut crate::srtp::SrtpPair> {
        match self.webrtc.as_mut() {
            Some(w) => w.srtp.as_mut(),
            None => self.sdes.as_deref_mut(),
        }
    }

    /// Key (or rekey) a plain leg with SDES; replay windows start afresh.
    pub fn set_sdes(&mut self, k: &control::Sdes) -> Result<(), String> {
        if self.webrtc.is_some() {
            return Err("sdes: a WebRTC leg is keyed by DTLS".into());
        }
        self.install_sdes(Box::new(crate::srtp::SrtpPair::from_sdes(k)?), k.suite);
        Ok(())
    }

    pub fn install_sdes(&mut self, keys: Box<crate::srtp::SrtpPair>, suite: control::SdesSuite) {
        self.sdes = Some(keys);
        let profile = if suite == control::SdesSuite::AeadAes128Gcm { 2 } else { 1 };
        super::counters::set(&self.counters.srtp_profile, profile);
    }

    /// Media to this leg is SRTP (or dropped until a WebRTC handshake is done).
    pub fn is_secure(&self) -> bool {
        self.webrtc.is_some() || self.sdes.is_some()
    }

    /// The stream a packet with `ssrc` and payload type `pt` belongs to: the one
    /// already carrying that SSRC, else the first free one whose payload types match.
    /// A new SSRC of a simulcast track is placed by the RID in its header extension
    /// (browsers send it until our reports acknowledge the SSRC); without one it is
    /// not forwarded, since its layer is unknown.
    #[inline]
    pub fn stream_for(&self, ssrc: u32, pt: u8, packet: &[u8]) -> Option<usize> {
        if self.streams.len() == 1 {
            return Some(0);
        }
        if let Some(i) = self.streams.iter().position(|s| s.rx.ssrc == Some(ssrc)) {
            return Some(i);
        }
        let layered = |s: &SourceStream| {
            let l = s.layer.as_ref()?;
            let rid = crate::rtp::extensions::one_byte(packet, l.rid_ext)?;
            Some(rid == l.rid.as_slice())
        };
        self.streams.iter().position(|s| s.payload_types.contains(&pt) && layered(s).unwrap_or(s.layer.is_none()))
    }

    /// Whether `ssrc` is one of the SSRCs the remote sends us.
    pub fn is_remote_ssrc(&self, ssrc: u32) -> bool {
        self.streams.iter().any(|s| s.rx.ssrc == Some(ssrc))
    }

    pub fn rtcp_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.rtcp.as_ref().unwrap_or(&self.rtp).as_raw_fd()
    }

    pub fn set_remote(&mut self, remote: SocketAddr) {
        self.remote = Some(remote);
        self.remote_raw = RawAddr::from_std(remote);
        if !self.rtcp_remote_explicit {
            let rtcp = if self.rtcp.is_some() { SocketAddr::new(remote.ip(), remote.port().wrapping_add(1)) } else { remote };
            self.remote_rtcp = Some(rtcp);
            self.remote_rtcp_raw = RawAddr::from_std(rtcp);
        }
    }

    pub fn set_remote_rtcp(&mut self, remote: SocketAddr) {
        self.remote_rtcp = Some(remote);
        self.remote_rtcp_raw = RawAddr::from_std(remote);
        self.rtcp_remote_explicit = true;
    }

    /// Account one packet sent to this leg in the stream `ssrc`.
    #[inline]
    pub fn note_sent(&mut self, ssrc: u32, ts: u32, len: usize, now: Instant, clock_rate: u32) {
        let i = self.last_tx_stream;
        let idx = if i < self.tx_streams.len() && self.tx_streams[i].ssrc == ssrc {
            i
        } else if let Some(p) = self.tx_streams.iter().position(|s| s.ssrc == ssrc) {
            p
        } else {
            self.tx_streams.push(TxStream { ssrc, packets: 0, octets: 0, last_ts: ts, last_at: now, clock_rate });
            self.tx_streams.len() - 1
        };
        self.last_tx_stream = idx;
        let s = &mut self.tx_streams[idx];
        s.packets = s.packets.wrapping_add(1);
        s.octets = s.octets.wrapping_add(len.saturating_sub(12) as u32);
        s.last_ts = ts;
        s.last_at = now;
    }
}

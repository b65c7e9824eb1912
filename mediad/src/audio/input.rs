//! One participant's incoming audio: RTP in, through the jitter buffer and the
//! decoder, out as 20 ms frames at 48 kHz; DTMF (RFC 4733 and in-band) on the way.
//!
//! A frame whose packet carries an RFC 6464 level and exactly 20 ms of audio is not
//! decoded until the mixer knows it will mix it: with hundreds of participants and
//! only N speakers, most frames are never decoded.

use super::codec::{Codec, Decoder};
use super::dtmf::{Digit, EventReceiver, ToneDetector};
use super::jitter::{JitterBuffer, Packet, Pop, Pushed};
use super::resample::{Resampler, FRAME, MIX_RATE};
use rtp_types::RtpPacket;

/// Level of a frame without audio (RFC 6464's floor).
pub const SILENT_DBOV: f32 = -127.0;

/// Where digits came from: the control protocol's own type.
pub use control::DtmfSource;

#[derive(Default, Debug, Clone, Copy)]
pub struct InputCounters {
    pub malformed: u64,
    pub decode_errors: u64,
    pub concealed: u64,
    pub unknown_pt: u64,
}

pub struct Input {
    payloads: Vec<(u8, Codec)>,
    codec: Option<Codec>,
    decoder: Option<Decoder>,
    resampler: Option<Resampler>,
    jb: JitterBuffer,
    native: Vec<i16>,
    pcm: Vec<f32>,
    /// A 20 ms packet popped but not decoded yet, with its RFC 6464 level.
    pending: Option<Packet>,
    last_samples: usize,
    te_pt: Option<u8>,
    events: EventReceiver,
    tones: Option<ToneDetector>,
    level_ext: Option<u8>,
    ssrc: Option<u32>,
    pub counters: InputCounters,
}

impl Input {
    /// `payloads`: payload type → codec the leg sends; `te_pt`: its telephone-event
    /// type; `inband`: look for DTMF tones in G.711 audio.
    pub fn new(payloads: Vec<(u8, Codec)>, te_pt: Option<u8>, level_ext: Option<u8>, inband: bool) -> Self {
        let clock = payloads.first().map_or(8000, |(_, c)| c.clock_rate());
        let g711 = payloads.iter().any(|(_, c)| matches!(c, Codec::Pcmu | Codec::Pcma));
        Input {
            payloads,
            codec: None,
            decoder: None,
            resampler: None,
            jb: JitterBuffer::new(clock),
            native: Vec::with_capacity(2 * FRAME),
            pcm: Vec::with_capacity(4 * FRAME),
            pending: None,
            last_samples: 0,
            te_pt,
            events: EventReceiver::new(clock),
            tones: (inband && g711).then(ToneDetector::default),
            level_ext,
            ssrc: None,
            counters: InputCounters::default(),
        }
    }

    pub fn jitter(&self) -> &JitterBuffer {
        &self.jb
    }

    /// One RTP packet from the participant. `arrival_us` is any monotonic clock.
    pub fn push(&mut self, data: &[u8], arrival_us: u64, digits: &mut Vec<(Digit, DtmfSource)>) {
        let Ok(rtp) = RtpPacket::parse(data) else {
            self.counters.malformed += 1;
            return;
        };
        let pt = rtp.payload_type();
        if Some(pt) == self.te_pt {
            let mut found = Vec::new();
            if self.events.on_payload(rtp.timestamp(), rtp.payload(), &mut found).is_err() {
                self.counters.malformed += 1;
            }
            digits.extend(found.into_iter().map(|d| (d, DtmfSource::Rfc4733)));
            return;
        }
        let Some(&(_, codec)) = self.payloads.iter().find(|(p, _)| *p == pt) else {
            self.counters.unknown_pt += 1;
            return;
        };
        if self.codec != Some(codec) {
            // First packet, or the sender switched codecs (a re-INVITE): new decoder chain.
            self.codec = Some(codec);
            self.decoder = Some(Decoder::new(codec));
            self.resampler = Some(Resampler::new(codec.sample_rate(), MIX_RATE));
            self.native.clear();
            self.pcm.clear();
            self.jb = JitterBuffer::new(codec.clock_rate());
        }
        if rtp.payload().is_empty() {
            self.counters.malformed += 1;
            return;
        }
        if self.ssrc != Some(rtp.ssrc()) {
            // A new source (a restarted sender, a transferred call): its numbering
            // has nothing to do with the old one's.
            self.ssrc = Some(rtp.ssrc());
            self.jb.reset();
            self.pcm.clear();
        }
        let level = self.level_ext.and_then(|id| crate::rtp::extensions::one_byte(data, id)).and_then(|l| l.first()).map(|l| l & 0x7f);
        let mut payload = self.jb.payload_buf();
        payload.extend_from_slice(rtp.payload());
        let arrival = arrival_us * codec.clock_rate() as u64 / 1_000_000;
        let pushed = self.jb.push(Packet { seq: rtp.sequence_number(), ts: rtp.timestamp(), payload, level }, arrival);
        if pushed == Pushed::Restarted {
            self.pcm.clear();
        }
    }

    /// Get the next 20 ms ready and say how loud it is (dBov); None when there is
    /// nothing to play. Frames with a level from the sender stay undecoded for now.
    pub fn prepare(&mut self, digits: &mut Vec<(Digit, DtmfSource)>) -> Option<f32> {
        if let Some(p) = &self.pending {
            return p.level.map(|l| -(l as f32));
        }
        let codec = self.codec?;
        if self.pcm.is_empty() && self.native.is_empty() {
            if let Some(level) = self.pop_lazily(codec) {
                return Some(level);
            }
        }
        while self.pcm.len() < FRAME {
            if !self.pop_and_decode(codec, digits) {
                break;
            }
        }
        if self.pcm.is_empty() {
            return None;
        }
        Some(dbov(&self.pcm[..self.pcm.len().min(FRAME)]))
    }

    /// Pop the next packet without decoding it when its level is known and it holds
    /// exactly one frame.
    fn pop_lazily(&mut self, codec: Codec) -> Option<f32> {
        let p = self.jb.peek()?;
        let level = p.level?;
        if codec.samples_in(&p.payload)? * (MIX_RATE / codec.sample_rate()) as usize != FRAME {
            return None;
        }
        match self.jb.pop() {
            Pop::Packet(p) => {
                self.pending = Some(p);
                Some(-(level as f32))
            }
            _ => None,
        }
    }

    /// Decode one more packet (or conceal one lost) into the 48 kHz queue.
    fn pop_and_decode(&mut self, codec: Codec, digits: &mut Vec<(Digit, DtmfSource)>) -> bool {
        let Some(dec) = self.decoder.as_mut() else { return false };
        let start = self.native.len();
        match self.jb.pop() {
            Pop::Packet(p) => {
                if dec.decode(&p.payload, &mut self.native).is_err() {
                    self.counters.decode_errors += 1;
                    let n = self.last_samples.max(codec.sample_rate() as usize / 50);
                    dec.conceal(n, None, &mut self.native);
                } else {
                    self.last_samples = self.native.len() - start;
                }
                self.jb.recycle(p.payload);
            }
            Pop::Lost => {
                self.counters.concealed += 1;
                let n = self.last_samples.max(codec.sample_rate() as usize / 50);
                let next = self.jb.peek().map(|p| p.payload.as_slice());
                dec.conceal(n, next, &mut self.native);
            }
            Pop::Empty => return false,
        }
        self.after_decode(start, digits);
        true
    }

    fn after_decode(&mut self, start: usize, digits: &mut Vec<(Digit, DtmfSource)>) {
        if let Some(t) = self.tones.as_mut() {
            let mut found = Vec::new();
            t.feed(&self.native[start..], &mut found);
            digits.extend(found.into_iter().map(|d| (d, DtmfSource::Inband)));
        }
        let Some(rs) = self.resampler.as_mut() else { return };
        let chunk = rs.input_frame();
        let whole = self.native.len() / chunk * chunk;
        for c in self.native[..whole].chunks_exact(chunk) {
            rs.process(c, &mut self.pcm);
        }
        self.native.drain(..whole);
    }

    /// For a room that relays instead of mixing: the codec of what arrives, when the
    /// next packet (if any) is one 20 ms frame of it, no tone detector needs the audio
    /// and no decoded audio is left over from mixing.
    pub fn relayable(&self) -> Option<Codec> {
        let codec = self.codec?;
        if self.tones.is_some() || self.pending.is_some() || !self.pcm.is_empty() || !self.native.is_empty() {
            return None;
        }
        match self.jb.peek() {
            Some(p) if codec.samples_in(&p.payload) != Some(codec.sample_rate() as usize / 50) => None,
            _ => Some(codec),
        }
    }

    /// Hand the next packet's payload as it came, with its RTP timestamp, to `send`
    /// (a relaying room); false when nothing is ready (a gap is skipped and counted).
    pub fn take_raw(&mut self, send: impl FnOnce(&[u8], u32)) -> bool {
        loop {
            match self.jb.pop() {
                Pop::Packet(p) => {
                    send(&p.payload, p.ts);
                    self.jb.recycle(p.payload);
                    return true;
                }
                Pop::Lost => self.counters.concealed += 1,
                Pop::Empty => return false,
            }
        }
    }

    /// This tick's frame into `out` (zero-padded on underrun). `decode` false drops a
    /// frame kept undecoded (the mixer does not need it).
    pub fn take(&mut self, decode: bool, out: &mut [f32; FRAME], digits: &mut Vec<(Digit, DtmfSource)>) {
        if let Some(p) = self.pending.take() {
            if decode {
                if let (Some(dec), Some(codec)) = (self.decoder.as_mut(), self.codec) {
                    let start = self.native.len();
                    if dec.decode(&p.payload, &mut self.native).is_err() {
                        self.counters.decode_errors += 1;
                        dec.conceal(codec.sample_rate() as usize / 50, None, &mut self.native);
                    }
                    self.after_decode(start, digits);
                }
            }
            self.jb.recycle(p.payload);
            if !decode {
                out.fill(0.0);
                return;
            }
        }
        let n = self.pcm.len().min(FRAME);
        out[..n].copy_from_slice(&self.pcm[..n]);
        out[n..].fill(0.0);
        self.pcm.drain(..n);
    }
}

/// Level of a frame in dBov (0 = a full-scale sine, RFC 6464), floored at −127.
pub fn dbov(frame: &[f32]) -> f32 {
    if frame.is_empty() {
        return SILENT_DBOV;
    }
    let power = frame.iter().map(|x| x * x).sum::<f32>() / frame.len() as f32;
    // A full-scale sine has power 1/2.
    (10.0 * (power * 2.0).max(1e-13).log10()).clamp(SILENT_DBOV, 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::codec::Encoder;

    fn rtp(seq: u16, pt: u8, payload: &[u8], level: Option<u8>) -> Vec<u8> {
        let mut b = rtp_types::RtpPacketBuilder::new().payload_type(pt).sequence_number(seq).timestamp(seq as u32 * 960).ssrc(7);
        let ext;
        if let Some(l) = level {
            ext = [0x10, l, 0, 0];
            b = b.extension(0xBEDE, &ext[..]);
        }
        b.payload(payload).write_vec().unwrap()
    }

    #[test]
    fn levels_from_the_header_skip_decoding_and_pcm_levels_are_measured() {
        let mut enc = Encoder::new(Codec::Opus);
        let tone: Vec<i16> = (0..960).map(|i| ((i as f32 * 0.1).sin() * 16000.0) as i16).collect();
        let mut payload = [0u8; 400];
        let n = enc.encode(&tone, &mut payload);
        let mut digits = Vec::new();
        let mut with_ext = Input::new(vec![(111, Codec::Opus)], None, Some(1), false);
        let mut without = Input::new(vec![(111, Codec::Opus)], None, None, false);
        for s in 0..3 {
            with_ext.push(&rtp(s, 111, &payload[..n], Some(30)), s as u64 * 20_000, &mut digits);
            without.push(&rtp(s, 111, &payload[..n], None), s as u64 * 20_000, &mut digits);
        }
        assert_eq!(with_ext.prepare(&mut digits), Some(-30.0));
        assert!(with_ext.pending.is_some(), "not decoded yet");
        let mut frame = [0f32; FRAME];
        with_ext.take(false, &mut frame, &mut digits);
        assert!(frame.iter().all(|&x| x == 0.0));
        let level = without.prepare(&mut digits).unwrap();
        assert!(level > -15.0 && level < 0.0, "{level}");
    }

    #[test]
    fn garbage_and_unknown_payload_types_are_counted() {
        let mut i = Input::new(vec![(0, Codec::Pcmu)], Some(101), None, true);
        let mut digits = Vec::new();
        i.push(&[0x80, 0x00], 0, &mut digits);
        i.push(&rtp(1, 96, &[1, 2, 3], None), 0, &mut digits);
        i.push(&rtp(2, 101, &[1], None), 0, &mut digits);
        assert_eq!((i.counters.malformed, i.counters.unknown_pt), (2, 1));
        assert_eq!(i.prepare(&mut digits), None);
    }

    #[test]
    fn dbov_of_known_signals() {
        let sine: Vec<f32> = (0..960).map(|i| (i as f32 * 0.05).sin()).collect();
        assert!(dbov(&sine).abs() < 0.2);
        let quiet: Vec<f32> = sine.iter().map(|x| x * 0.01).collect();
        assert!((dbov(&quiet) + 40.0).abs() < 0.3);
        assert_eq!(dbov(&[0.0; 960]), SILENT_DBOV);
    }
}

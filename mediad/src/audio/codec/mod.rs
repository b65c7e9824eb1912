//! Audio codecs through their reference libraries: libopus (Opus), spandsp (G.722,
//! G.711 concealment), bcg729 (G.729); G.711 itself is a table (g711.rs).
//!
//! Decoders give PCM at the codec's own rate (mono); `Decoder::conceal` fills a lost
//! frame (Opus PLC or in-band FEC, spandsp PLC for G.711/G.722, G.729's erasure).

mod ffi;
pub mod g711;
mod native;

use native::{G722Decoder, G722Encoder, G729Decoder, G729Encoder, Plc};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    Opus,
    Pcmu,
    Pcma,
    G722,
    G729,
}

impl Codec {
    /// By SDP encoding name (case-insensitive).
    pub fn from_name(name: &str) -> Option<Codec> {
        Some(match name.to_ascii_lowercase().as_str() {
            "opus" => Codec::Opus,
            "pcmu" => Codec::Pcmu,
            "pcma" => Codec::Pcma,
            "g722" => Codec::G722,
            "g729" => Codec::G729,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Codec::Opus => "opus",
            Codec::Pcmu => "pcmu",
            Codec::Pcma => "pcma",
            Codec::G722 => "g722",
            Codec::G729 => "g729",
        }
    }
    /// Rate of the PCM the codec consumes and produces.
    pub fn sample_rate(self) -> u32 {
        match self {
            Codec::Opus => 48_000,
            Codec::G722 => 16_000,
            _ => 8_000,
        }
    }
    /// RTP clock rate (G.722's is 8000 for historical reasons, RFC 3551 4.5.2).
    pub fn clock_rate(self) -> u32 {
        match self {
            Codec::Opus => 48_000,
            _ => 8_000,
        }
    }
    /// Static payload type (RFC 3551), if the codec has one.
    pub fn static_pt(self) -> Option<u8> {
        match self {
            Codec::Pcmu => Some(0),
            Codec::Pcma => Some(8),
            Codec::G722 => Some(9),
            Codec::G729 => Some(18),
            Codec::Opus => None,
        }
    }
    /// Samples (at `sample_rate`) a payload holds, without decoding it; None when the
    /// payload cannot be a frame of this codec.
    pub fn samples_in(self, payload: &[u8]) -> Option<usize> {
        match self {
            Codec::Opus => opus_samples(payload),
            Codec::Pcmu | Codec::Pcma => Some(payload.len()),
            Codec::G722 => Some(payload.len() * 2),
            // 10-byte speech frames, optionally followed by one 2-byte SID frame.
            Codec::G729 => Some((payload.len() / 10 + usize::from(payload.len() % 10 == 2)) * 80),
        }
    }
}

/// Duration of an Opus packet in 48 kHz samples from its TOC (RFC 6716 3.1), bounded
/// to 120 ms as the RFC requires.
fn opus_samples(p: &[u8]) -> Option<usize> {
    let toc = *p.first()?;
    let config = toc >> 3;
    let per_frame = match config {
        0..=11 => [480, 960, 1920, 2880][(config & 3) as usize],
        12..=15 => [480, 960][(config & 1) as usize],
        _ => [120, 240, 480, 960][(config & 3) as usize],
    };
    let frames = match toc & 3 {
        0 => 1,
        1 | 2 => 2,
        _ => (*p.get(1)? & 0x3f) as usize,
    };
    let n = per_frame * frames;
    (frames > 0 && n <= 5760).then_some(n)
}

pub enum Decoder {
    Opus(Box<opus::Decoder>),
    Pcmu(Plc),
    Pcma(Plc),
    G722(G722Decoder, Plc),
    G729(G729Decoder),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeError;

impl Decoder {
    pub fn new(codec: Codec) -> Decoder {
        match codec {
            Codec::Opus => Decoder::Opus(Box::new(opus::Decoder::new(48_000, opus::Channels::Mono).expect("opus decoder"))),
            Codec::Pcmu => Decoder::Pcmu(Plc::new()),
            Codec::Pcma => Decoder::Pcma(Plc::new()),
            Codec::G722 => Decoder::G722(G722Decoder::new(), Plc::new()),
            Codec::G729 => Decoder::G729(G729Decoder::new()),
        }
    }

    /// Decode one payload, appending PCM to `out`. Returns the samples written.
    pub fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<usize, DecodeError> {
        let start = out.len();
        match self {
            Decoder::Opus(d) => {
                let n = opus_samples(payload).ok_or(DecodeError)?;
                out.resize(start + n, 0);
                let got = d.decode(payload, &mut out[start..], false).map_err(|_| {
                    out.truncate(start);
                    DecodeError
                })?;
                out.truncate(start + got);
            }
            Decoder::Pcmu(plc) => {
                out.extend(payload.iter().map(|&b| g711::ulaw_decode(b)));
                plc.good(&mut out[start..]);
            }
            Decoder::Pcma(plc) => {
                out.extend(payload.iter().map(|&b| g711::alaw_decode(b)));
                plc.good(&mut out[start..]);
            }
            Decoder::G722(d, plc) => {
                out.resize(start + payload.len() * 2, 0);
                let got = d.decode(payload, &mut out[start..]);
                out.truncate(start + got);
                plc.good(&mut out[start..]);
            }
            Decoder::G729(d) => {
                let mut frame = [0i16; 80];
                let mut rest = payload;
                while !rest.is_empty() {
                    let take = if rest.len() >= 10 { 10 } else if rest.len() == 2 { 2 } else { return Err(DecodeError) };
                    d.decode_frame(Some(&rest[..take]), &mut frame);
                    out.extend_from_slice(&frame);
                    rest = &rest[take..];
                }
            }
        }
        Ok(out.len() - start)
    }

    /// Fill `samples` of lost audio. `next` is the packet after the loss when it is
    /// already here: Opus recovers the lost frame from its in-band FEC.
    pub fn conceal(&mut self, samples: usize, next: Option<&[u8]>, out: &mut Vec<i16>) {
        let start = out.len();
        out.resize(start + samples, 0);
        match self {
            Decoder::Opus(d) => {
                let got = match next {
                    Some(p) => d.decode(p, &mut out[start..], true),
                    None => d.decode(&[], &mut out[start..], false),
                };
                if got.is_err() {
                    out[start..].fill(0);
                }
            }
            Decoder::Pcmu(plc) | Decoder::Pcma(plc) | Decoder::G722(_, plc) => plc.conceal(&mut out[start..]),
            Decoder::G729(d) => {
                let mut frame = [0i16; 80];
                for chunk in out[start..].chunks_mut(80) {
                    d.decode_frame(None, &mut frame);
                    chunk.copy_from_slice(&frame[..chunk.len()]);
                }
            }
        }
    }
}

pub enum Encoder {
    Opus(Box<opus::Encoder>),
    Pcmu,
    Pcma,
    G722(G722Encoder),
    /// bcg729 plus the samples of an unfinished 10 ms frame.
    G729(G729Encoder),
}

/// Opus settings for the mix. The mix is encoded once per speaker per room per tick,
/// so the encoder is the MCU's main cost. Measured here on Debian's libopus 1.3.1
/// (examples/opusbench.rs, 20 ms mono at 48 kHz): SILK/hybrid (`Voip`) costs 60-140 µs
/// per frame whatever the complexity, CELT-only (`LowDelay`) 18 µs at complexity 0
/// and 69 µs at 10. A mix of several voices is closer to music than to one voice, and
/// CELT carries it well at 32 kbit/s; what is lost is SILK's in-band FEC (receivers
/// conceal loss with CELT's PLC).
const OPUS_COMPLEXITY: i32 = 0;
const OPUS_BITRATE: i32 = 32_000;

impl Encoder {
    pub fn new(codec: Codec) -> Encoder {
        match codec {
            Codec::Opus => {
                let mut e = opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::LowDelay).expect("opus encoder");
                let _ = e.set_complexity(OPUS_COMPLEXITY);
                let _ = e.set_bitrate(opus::Bitrate::Bits(OPUS_BITRATE));
                Encoder::Opus(Box::new(e))
            }
            Codec::Pcmu => Encoder::Pcmu,
            Codec::Pcma => Encoder::Pcma,
            Codec::G722 => Encoder::G722(G722Encoder::new()),
            Codec::G729 => Encoder::G729(G729Encoder::new()),
        }
    }

    /// Encode PCM at the codec's rate (a whole packet's worth: 20 ms or a multiple;
    /// G.729 takes multiples of 10 ms) into `out`. Returns the payload length.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> usize {
        match self {
            Encoder::Opus(e) => e.encode(pcm, out).unwrap_or(0),
            Encoder::Pcmu | Encoder::Pcma => {
                let ulaw = matches!(self, Encoder::Pcmu);
                let n = pcm.len().min(out.len());
                for (o, &s) in out[..n].iter_mut().zip(pcm) {
                    *o = if ulaw { g711::ulaw_encode(s) } else { g711::alaw_encode(s) };
                }
                n
            }
            Encoder::G722(e) => e.encode(pcm, out),
            Encoder::G729(e) => {
                let mut written = 0;
                for frame in pcm.chunks_exact(80) {
                    if written + 10 > out.len() {
                        break;
                    }
                    let frame: &[i16; 80] = frame.try_into().expect("80 samples");
                    let dst: &mut [u8; 10] = (&mut out[written..written + 10]).try_into().expect("10 bytes");
                    written += e.encode_frame(frame, dst);
                }
                written
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, hz: f32, n: usize) -> Vec<i16> {
        (0..n).map(|i| ((i as f32 * hz * std::f32::consts::TAU / rate as f32).sin() * 8000.0) as i16).collect()
    }

    /// Correlation of a decoded signal with the tone it was made of, after a delay
    /// search (codecs delay their output).
    fn best_correlation(a: &[i16], b: &[i16]) -> f32 {
        (0..200)
            .map(|lag| {
                let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
                for i in 400..a.len().min(b.len() - lag) {
                    let (x, y) = (a[i] as f64, b[i + lag] as f64);
                    ab += x * y;
                    aa += x * x;
                    bb += y * y;
                }
                (ab / (aa.sqrt() * bb.sqrt() + 1e-9)) as f32
            })
            .fold(f32::MIN, f32::max)
    }

    #[test]
    fn every_codec_round_trips_a_tone() {
        for codec in [Codec::Opus, Codec::Pcmu, Codec::Pcma, Codec::G722, Codec::G729] {
            let rate = codec.sample_rate();
            let frame = rate as usize / 50;
            let input = tone(rate, 440.0, frame * 25);
            let (mut enc, mut dec) = (Encoder::new(codec), Decoder::new(codec));
            let mut output = Vec::new();
            for chunk in input.chunks(frame) {
                let mut payload = [0u8; 1500];
                let n = enc.encode(chunk, &mut payload);
                assert!(n > 0, "{codec:?} encoded nothing");
                assert_eq!(codec.samples_in(&payload[..n]), Some(frame), "{codec:?}");
                dec.decode(&payload[..n], &mut output).unwrap();
            }
            assert_eq!(output.len(), input.len(), "{codec:?}");
            let c = best_correlation(&input, &output);
            assert!(c > 0.9, "{codec:?}: correlation {c}");
        }
    }

    #[test]
    fn concealment_fills_exactly_what_was_lost() {
        for codec in [Codec::Opus, Codec::Pcmu, Codec::G722, Codec::G729] {
            let mut dec = Decoder::new(codec);
            let mut out = Vec::new();
            dec.conceal(codec.sample_rate() as usize / 50, None, &mut out);
            assert_eq!(out.len(), codec.sample_rate() as usize / 50);
        }
    }

    #[test]
    fn hostile_payloads_are_errors_not_crashes() {
        let mut d = Decoder::new(Codec::Opus);
        let mut out = Vec::new();
        for p in [&[][..], &[0xff], &[0x03, 0xff, 0xff], &[0x0b, 0x00]] {
            let _ = d.decode(p, &mut out);
        }
        let mut g = Decoder::new(Codec::G729);
        assert!(g.decode(&[1, 2, 3], &mut out).is_err());
        assert_eq!(opus_samples(&[0xfb, 0x3f]), None, "63 frames of 20 ms exceed 120 ms");
    }
}

//! What a participant hears: the encoder chain (48 kHz → codec rate → payload, a
//! packet every `ptime`) and the RTP numbering of its mix stream, plus RFC 4733 events
//! generated toward it.

use super::codec::{Codec, Encoder};
use super::dtmf::EventSender;
use super::resample::{Resampler, FRAME, MIX_RATE};
use std::collections::VecDeque;

/// Largest payload an encode may produce (60 ms of G.711 is 480 bytes).
pub const MAX_PAYLOAD: usize = 1200;

/// One encoder with its resampler and the samples of an unfinished packet.
pub struct Encoding {
    pub codec: Codec,
    /// 20 ms frames per packet (ptime / 20).
    pub frames: usize,
    encoder: Encoder,
    down: Resampler,
    wide: Vec<f32>,
    acc: Vec<i16>,
    pub payload: Vec<u8>,
    /// Frames accumulated toward the next packet.
    pub filled: usize,
}

impl Encoding {
    pub fn new(codec: Codec, frames: usize) -> Self {
        Encoding {
            codec,
            frames,
            encoder: Encoder::new(codec),
            down: Resampler::new(MIX_RATE, codec.sample_rate()),
            wide: Vec::with_capacity(FRAME),
            acc: Vec::with_capacity(frames * codec.sample_rate() as usize / 50),
            payload: vec![0; MAX_PAYLOAD],
            filled: 0,
        }
    }

    /// Add one 20 ms frame; returns the payload length when a packet is complete.
    pub fn push(&mut self, frame: &[f32; FRAME]) -> Option<usize> {
        self.wide.clear();
        self.down.process_f32(frame, &mut self.wide);
        self.acc.extend(self.wide.iter().map(|&x| soft_clip(x)));
        self.filled += 1;
        if self.filled < self.frames {
            return None;
        }
        self.filled = 0;
        let n = self.encoder.encode(&self.acc, &mut self.payload);
        self.acc.clear();
        (n > 0).then_some(n)
    }
}

/// f32 full scale to i16 with a soft knee above −2 dBFS instead of wrapping or a hard
/// clip: loud sums stay loud but do not crackle.
#[inline]
pub fn soft_clip(x: f32) -> i16 {
    const KNEE: f32 = 0.8;
    let a = x.abs();
    let y = if a <= KNEE { a } else { KNEE + (1.0 - KNEE) * ((a - KNEE) / (1.0 - KNEE)).tanh() };
    (y.copysign(x) * 32767.0) as i16
}

/// The RTP side of a participant's mix stream.
pub struct Output {
    pub codec: Codec,
    pub pt: u8,
    pub frames: usize,
    pub ssrc: u32,
    pub seq: u16,
    pub ts: u32,
    pub te_pt: Option<u8>,
    /// The next packet starts a talk spurt (marker bit).
    pub marker: bool,
    /// Its own encoder, while it must hear something of its own (mix-minus as a
    /// speaker, or a prompt); otherwise it shares the room's encode.
    pub own: Option<Encoding>,
    pub dtmf: VecDeque<EventSender>,
    /// RTP timestamp of the event being sent.
    dtmf_ts: u32,
    /// The source timestamp of the last packet relayed (two-party rooms).
    relay_src: Option<u32>,
}

impl Output {
    pub fn new(codec: Codec, pt: u8, ptime_ms: u32, ssrc: u32, te_pt: Option<u8>) -> Self {
        Output {
            codec,
            pt,
            frames: (ptime_ms / 20).max(1) as usize,
            ssrc,
            seq: (ssrc >> 16) as u16,
            ts: ssrc.rotate_left(7),
            te_pt,
            marker: true,
            own: None,
            dtmf: VecDeque::new(),
            dtmf_ts: 0,
            relay_src: None,
        }
    }

    /// Key of the shared encode this output can use.
    pub fn key(&self) -> (Codec, usize) {
        (self.codec, self.frames)
    }

    /// Write an RTP packet with `payload` into `out`; advances seq and ts.
    pub fn write_audio(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        self.relay_src = None;
        let ts = self.ts;
        self.ts = self.ts.wrapping_add((self.codec.clock_rate() / 50) * self.frames as u32);
        let marker = std::mem::take(&mut self.marker);
        self.write(self.pt, marker, ts, payload, out);
    }

    /// Relay a packet that came with RTP timestamp `src_ts`: our clock moves as the
    /// source's did (a gap or a pause shows as one), within reason.
    pub fn write_relayed(&mut self, payload: &[u8], src_ts: u32, out: &mut Vec<u8>) {
        let frame = self.codec.clock_rate() / 50;
        if let Some(prev) = self.relay_src {
            let step = src_ts.wrapping_sub(prev);
            // A jump (a new source, a wrap of nonsense) counts as one frame.
            let step = if step > 0 && step <= 50 * frame { step } else { frame };
            self.ts = self.ts.wrapping_add(step).wrapping_sub(frame);
        }
        self.relay_src = Some(src_ts);
        let ts = self.ts;
        self.ts = self.ts.wrapping_add(frame);
        let marker = std::mem::take(&mut self.marker);
        self.write(self.pt, marker, ts, payload, out);
    }

    /// This tick's RFC 4733 packet, if an event is being sent (it replaces the audio
    /// of that tick; the audio clock keeps running).
    pub fn write_dtmf(&mut self, out: &mut Vec<u8>) -> bool {
        let Some(pt) = self.te_pt else {
            self.dtmf.clear();
            return false;
        };
        let Some(ev) = self.dtmf.front_mut() else { return false };
        let first = std::mem::take(&mut ev.first);
        let Some(payload) = ev.next_payload() else {
            self.dtmf.pop_front();
            return self.write_dtmf(out);
        };
        if first {
            self.dtmf_ts = self.ts;
        }
        let ts = self.dtmf_ts;
        self.ts = self.ts.wrapping_add(self.codec.clock_rate() / 50);
        self.write(pt, first, ts, &payload, out);
        true
    }

    fn write(&mut self, pt: u8, marker: bool, ts: u32, payload: &[u8], out: &mut Vec<u8>) {
        out.push(0x80);
        out.push(pt | if marker { 0x80 } else { 0 });
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&ts.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.extend_from_slice(payload);
        self.seq = self.seq.wrapping_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_clip_is_monotonic_and_never_wraps() {
        let mut last = i16::MIN;
        for i in -400..=400 {
            let y = soft_clip(i as f32 / 100.0);
            assert!(y >= last, "monotonic at {i}");
            last = y;
        }
        assert_eq!(soft_clip(0.5), 16383);
        assert!(soft_clip(4.0) > 32000 && soft_clip(-4.0) < -32000);
    }

    #[test]
    fn ptime_40_makes_a_packet_every_other_frame() {
        let mut e = Encoding::new(Codec::Pcma, 2);
        let frame = [0.1f32; FRAME];
        assert_eq!(e.push(&frame), None);
        assert_eq!(e.push(&frame), Some(320));
    }

    #[test]
    fn rtp_numbering_and_events() {
        let mut o = Output::new(Codec::Pcmu, 0, 20, 0x1234_5678, Some(101));
        let mut buf = Vec::new();
        o.write_audio(&[0xff; 160], &mut buf);
        let p = rtp_types::RtpPacket::parse(&buf).unwrap();
        assert!(p.marker_bit());
        assert_eq!((p.payload_type(), p.ssrc(), p.payload().len()), (0, 0x1234_5678, 160));
        let (seq0, ts0) = (p.sequence_number(), p.timestamp());
        o.dtmf.push_back(EventSender::new('5', 60, 8000).unwrap());
        let mut events = 0;
        loop {
            buf.clear();
            if !o.write_dtmf(&mut buf) {
                break;
            }
            let p = rtp_types::RtpPacket::parse(&buf).unwrap();
            assert_eq!((p.payload_type(), p.timestamp()), (101, ts0 + 160));
            assert_eq!(p.sequence_number(), seq0.wrapping_add(1 + events));
            events += 1;
        }
        assert_eq!(events, 3 + 2);
    }
}

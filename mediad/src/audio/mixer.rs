//! A room's audio mix, run by its home core's 20 ms media tick.
//!
//! Each tick: every participant's input yields a frame and a level; the N loudest
//! audible, unmuted participants are mixed (levels smoothed, current speakers favoured
//! by a margin so the choice does not flap); each speaker hears the mix minus itself
//! from its own encoder; everyone else shares one encode per (codec, ptime). Prompts
//! play to the room (into the mix) or to one participant (its own encode). A room
//! where nobody sends and nothing plays produces nothing.
//!
//! An *isolated* mixer (a core's lobby) mixes nobody with anybody: its participants
//! hear only their own prompts, and their DTMF is still read (PIN entry).

use super::codec::Codec;
use super::dtmf::{Digit, EventSender};
use super::input::{DtmfSource, Input, SILENT_DBOV};
use super::output::{Encoding, Output};
use super::prompt::Player;
use super::resample::FRAME;
use control::LegId;
use std::collections::HashMap;
use std::sync::Arc;

/// Smoothed level above which a participant counts as speaking (dBov).
pub const SPEAKING_DBOV: f32 = -50.0;
/// Bonus a current speaker keeps over challengers (dB).
const HYSTERESIS_DB: f32 = 6.0;
pub const DEFAULT_SPEAKERS: usize = 4;
pub const MAX_SPEAKERS: usize = 36;

pub struct ParticipantSpec {
    pub leg: LegId,
    /// What the leg sends (payload type → codec); empty: it sends nothing to mix.
    pub receive: Vec<(u8, Codec)>,
    /// What it hears: codec, payload type, ptime (ms); None: it does not take the mix.
    pub send: Option<(Codec, u8, u32)>,
    pub te_pt: Option<u8>,
    pub level_ext: Option<u8>,
    pub inband_dtmf: bool,
    pub ssrc: u32,
    pub gain: f32,
    pub muted: bool,
}

struct Participant {
    leg: LegId,
    input: Option<Input>,
    output: Option<Output>,
    gain: f32,
    muted: bool,
    smoothed: f32,
    level: Option<f32>,
    frame: Box<[f32; FRAME]>,
    speaker: bool,
    shared: Option<usize>,
    prompt: Option<Player>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MixEvent {
    Dtmf { leg: LegId, digit: char, duration_ms: u32, source: DtmfSource },
    PromptDone { id: u64 },
    /// The mixed speakers changed: (leg, smoothed level in dBov), loudest first.
    Speakers(Vec<(LegId, f32)>),
}

/// Packets a tick produced: (leg, range in `bytes`).
#[derive(Default)]
pub struct Outbound {
    pub bytes: Vec<u8>,
    pub packets: Vec<(LegId, usize, usize)>,
}

impl Outbound {
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.packets.clear();
    }
}

/// Per-participant figures for stats.
#[derive(Debug, Default, Clone, Copy)]
pub struct ParticipantStats {
    pub jitter: super::jitter::JitterStats,
    pub input: super::input::InputCounters,
    pub level_dbov: f32,
    pub speaking: bool,
}

pub struct Mixer {
    pub isolated: bool,
    pub speakers_max: usize,
    participants: Vec<Participant>,
    index: HashMap<LegId, usize>,
    /// Shared encodes: (encoding, used this tick, payload length it produced).
    shared: Vec<(Encoding, bool, Option<usize>)>,
    room_prompt: Option<Player>,
    announced: Vec<LegId>,
    total: Box<[f32; FRAME]>,
    scratch: Box<[f32; FRAME]>,
    digits: Vec<(Digit, DtmfSource)>,
    chosen: Vec<usize>,
    /// A relayed payload on its way (two-party rooms).
    scratch_bytes: Vec<u8>,
    /// Packets relayed on arrival, for the engine to send.
    relayed: Outbound,
    /// A packet arrived since the last tick.
    heard: bool,
    /// Ticks since the last packet; after `QUIET_TICKS` the room is idle.
    quiet: u32,
    /// A prompt or DTMF is queued (set by play/send_dtmf, cleared by a tick that
    /// finds none).
    attention: bool,
}

/// Ticks without a packet after which a room with nothing to play is idle: long
/// enough to play out the deepest jitter buffer.
const QUIET_TICKS: u32 = 15;

impl Mixer {
    pub fn new(speakers_max: usize, isolated: bool) -> Self {
        Mixer {
            isolated,
            speakers_max: speakers_max.clamp(1, MAX_SPEAKERS),
            participants: Vec::new(),
            index: HashMap::new(),
            shared: Vec::new(),
            room_prompt: None,
            announced: Vec::new(),
            total: Box::new([0.0; FRAME]),
            scratch: Box::new([0.0; FRAME]),
            digits: Vec::new(),
            chosen: Vec::new(),
            scratch_bytes: Vec::with_capacity(1500),
            relayed: Outbound::default(),
            heard: false,
            quiet: QUIET_TICKS,
            attention: false,
        }
    }

    /// Nothing arrived lately and nothing is queued: the tick has nothing to do, and
    /// a core whose mixers are all idle runs no media tick at all.
    pub fn idle(&self) -> bool {
        !self.heard && self.quiet >= QUIET_TICKS && !self.attention
    }

    pub fn len(&self) -> usize {
        self.participants.len()
    }

    pub fn is_empty(&self) -> bool {
        self.participants.is_empty()
    }

    pub fn contains(&self, leg: LegId) -> bool {
        self.index.contains_key(&leg)
    }

    pub fn join(&mut self, s: ParticipantSpec) {
        self.leave(s.leg);
        let input = (!s.receive.is_empty()).then(|| Input::new(s.receive, s.te_pt, s.level_ext, s.inband_dtmf));
        let output = s.send.map(|(codec, pt, ptime)| Output::new(codec, pt, ptime, s.ssrc, s.te_pt));
        self.index.insert(s.leg, self.participants.len());
        self.participants.push(Participant {
            leg: s.leg,
            input,
            output,
            gain: s.gain,
            muted: s.muted,
            smoothed: SILENT_DBOV,
            level: None,
            frame: Box::new([0.0; FRAME]),
            speaker: false,
            shared: None,
            prompt: None,
        });
    }

    /// Remove a participant (a prompt playing to it stops).
    pub fn leave(&mut self, leg: LegId) {
        let Some(i) = self.index.remove(&leg) else { return };
        self.participants.swap_remove(i);
        if let Some(moved) = self.participants.get(i) {
            self.index.insert(moved.leg, i);
        }
    }

    fn get_mut(&mut self, leg: LegId) -> Option<&mut Participant> {
        self.index.get(&leg).map(|&i| &mut self.participants[i])
    }

    pub fn set_gain(&mut self, leg: LegId, gain: f32) -> bool {
        self.get_mut(leg).map(|p| p.gain = gain).is_some()
    }

    pub fn set_muted(&mut self, leg: LegId, muted: bool) -> bool {
        self.get_mut(leg).map(|p| p.muted = muted).is_some()
    }

    /// An RTP packet from participant `leg`.
    pub fn push(&mut self, leg: LegId, data: &[u8], arrival_us: u64, events: &mut Vec<MixEvent>) {
        let Some(&i) = self.index.get(&leg) else { return };
        let Some(input) = self.participants[i].input.as_mut() else { return };
        self.heard = true;
        input.push(data, arrival_us, &mut self.digits);
        for (d, source) in self.digits.drain(..) {
            events.push(MixEvent::Dtmf { leg, digit: d.digit, duration_ms: d.duration_ms, source });
        }
        // A relaying room passes the packet on now, not at the next tick: no tick
        // skipped under load can lose it, and it gains no jitter-buffer delay (the
        // listener's own buffer absorbs the jitter, as behind any relay).
        if self.relayable() {
            let mut out = std::mem::take(&mut self.relayed);
            self.relay_tick(&mut out);
            self.relayed = out;
        }
    }

    /// Packets relayed on arrival since the caller last took them.
    pub fn take_relayed(&mut self) -> Option<Outbound> {
        (!self.relayed.packets.is_empty()).then(|| std::mem::take(&mut self.relayed))
    }

    /// Give back the (emptied) buffer `take_relayed` lent.
    pub fn return_relayed(&mut self, mut out: Outbound) {
        out.clear();
        self.relayed = out;
    }

    /// Play to one participant (`leg`, which must take the mix) or the whole room;
    /// replaces what played there.
    pub fn play(&mut self, player: Player, leg: Option<LegId>) -> Result<(), &'static str> {
        self.attention = true;
        match leg {
            None => self.room_prompt = Some(player),
            Some(l) => {
                let p = self.get_mut(l).ok_or("not in the mix")?;
                if p.output.is_none() {
                    return Err("the leg takes no audio from mediad");
                }
                p.prompt = Some(player);
            }
        }
        Ok(())
    }

    pub fn stop(&mut self, id: u64) -> bool {
        if self.room_prompt.as_ref().is_some_and(|p| p.id == id) {
            self.room_prompt = None;
            return true;
        }
        for p in &mut self.participants {
            if p.prompt.as_ref().is_some_and(|pl| pl.id == id) {
                p.prompt = None;
                return true;
            }
        }
        false
    }

    /// Queue RFC 4733 digits toward a participant.
    pub fn send_dtmf(&mut self, leg: LegId, digits: &str, duration_ms: u32) -> Result<(), &'static str> {
        let p = self.get_mut(leg).ok_or("not in the mix")?;
        let out = p.output.as_mut().ok_or("the leg takes no audio from mediad")?;
        if out.te_pt.is_none() {
            return Err("the leg has no telephone-event payload type");
        }
        let clock = out.codec.clock_rate();
        let senders: Option<Vec<_>> = digits.chars().map(|d| EventSender::new(d, duration_ms, clock)).collect();
        out.dtmf.extend(senders.ok_or("digits are 0-9, *, #, A-D")?);
        self.attention = true;
        Ok(())
    }

    pub fn stats(&self, leg: LegId) -> Option<ParticipantStats> {
        let p = &self.participants[*self.index.get(&leg)?];
        Some(ParticipantStats {
            jitter: p.input.as_ref().map(|i| i.jitter().stats()).unwrap_or_default(),
            input: p.input.as_ref().map(|i| i.counters).unwrap_or_default(),
            level_dbov: p.smoothed,
            speaking: p.speaker,
        })
    }

    pub fn legs(&self) -> impl Iterator<Item = LegId> + '_ {
        self.participants.iter().map(|p| p.leg)
    }

    /// One 20 ms tick.
    pub fn tick(&mut self, out: &mut Outbound, events: &mut Vec<MixEvent>) {
        if self.idle() {
            return;
        }
        self.run_tick(out, events);
        self.quiet = if self.heard { 0 } else { self.quiet.saturating_add(1) };
        self.heard = false;
    }

    fn run_tick(&mut self, out: &mut Outbound, events: &mut Vec<MixEvent>) {
        if self.relayable() {
            return self.relay_tick(out);
        }
        let mut any_audio = false;
        for p in &mut self.participants {
            p.level = p.input.as_mut().and_then(|i| i.prepare(&mut self.digits));
            let level = p.level.unwrap_or(SILENT_DBOV);
            // Fast attack, slow release: a word's first syllable counts at once,
            // a pause between words does not drop the speaker.
            let a = if level > p.smoothed { 0.6 } else { 0.1 };
            p.smoothed += a * (level - p.smoothed);
            any_audio |= p.level.is_some();
            for (d, source) in self.digits.drain(..) {
                events.push(MixEvent::Dtmf { leg: p.leg, digit: d.digit, duration_ms: d.duration_ms, source });
            }
        }
        self.choose_speakers(events);
        let prompts = self.room_prompt.is_some() || self.participants.iter().any(|p| p.prompt.is_some());
        let dtmf = self.participants.iter().any(|p| p.output.as_ref().is_some_and(|o| !o.dtmf.is_empty()));
        self.attention = prompts || dtmf;
        // Take (and decode only the mixed) frames, and sum the speakers. A room where
        // nobody takes the mix (browsers keeping SFU audio) decodes nothing.
        let listened = self.participants.iter().any(|p| p.output.is_some());
        self.total.fill(0.0);
        for p in &mut self.participants {
            let Some(input) = p.input.as_mut() else { continue };
            input.take(p.speaker && listened, &mut p.frame, &mut self.digits);
            if p.speaker {
                for (t, &x) in self.total.iter_mut().zip(p.frame.iter()) {
                    *t += x * p.gain;
                }
            }
        }
        self.digits.clear();
        if let Some(pl) = self.room_prompt.as_mut() {
            if !pl.mix_into(&mut self.total) {
                events.push(MixEvent::PromptDone { id: pl.id });
                self.room_prompt = None;
            }
        }
        if !any_audio && !prompts && !dtmf {
            for p in &mut self.participants {
                if let Some(o) = p.output.as_mut() {
                    o.marker = true;
                }
            }
            return;
        }
        self.encode(out, events);
    }

    /// A room of two that need not be mixed: each hears only the other, in the codec
    /// the other sends, at 20 ms, at unit gain, with no prompt, no DTMF to send, no
    /// tones to look for. Then each packet is passed on as it arrives (renumbered in
    /// the listener's stream, its timestamp steps kept) instead of decoded, resampled,
    /// mixed and encoded again:
    /// `perf sip-calls` found that work to bound held two-party calls (~500 per core).
    /// Anything else, even for one tick, goes back to mixing; the streams stay
    /// continuous either way (one `Output` numbers both).
    fn relayable(&self) -> bool {
        let [a, b] = &self.participants[..] else { return false };
        if self.isolated || self.room_prompt.is_some() {
            return false;
        }
        let plain = |p: &Participant| !p.muted && p.gain == 1.0 && p.prompt.is_none() && p.output.as_ref().is_some_and(|o| o.frames == 1 && o.dtmf.is_empty());
        let feeds = |from: &Participant, to: &Participant| match (from.input.as_ref().and_then(Input::relayable), to.output.as_ref()) {
            (Some(codec), Some(o)) => codec == o.codec,
            _ => false,
        };
        plain(a) && plain(b) && feeds(a, b) && feeds(b, a)
    }

    /// Pass on whatever each of the two has queued (on arrival, and at the tick for
    /// anything that came while the room was mixing).
    fn relay_tick(&mut self, out: &mut Outbound) {
        for from in [0, 1] {
            let (a, b) = self.participants.split_at_mut(1);
            let (src, dst) = if from == 0 { (&mut a[0], &mut b[0]) } else { (&mut b[0], &mut a[0]) };
            let (Some(input), Some(o)) = (src.input.as_mut(), dst.output.as_mut()) else { continue };
            loop {
                self.scratch_bytes.clear();
                let Some(ts) = input.take_raw(&mut self.scratch_bytes) else { break };
                let start = out.bytes.len();
                o.write_relayed(&self.scratch_bytes, ts, &mut out.bytes);
                out.packets.push((dst.leg, start, out.bytes.len() - start));
            }
            // Not mixed: no level measured, nobody is a speaker.
            src.level = None;
            src.speaker = false;
        }
    }

    fn choose_speakers(&mut self, events: &mut Vec<MixEvent>) {
        self.chosen.clear();
        if self.isolated {
            return;
        }
        let n = self.speakers_max;
        for (i, p) in self.participants.iter().enumerate() {
            if p.muted || p.level.is_none() || p.smoothed < SPEAKING_DBOV {
                continue;
            }
            let score = p.smoothed + if p.speaker { HYSTERESIS_DB } else { 0.0 };
            // Keep the n best in `chosen`, best first (n is small: insertion).
            let pos = self.chosen.iter().position(|&j| {
                let q = &self.participants[j];
                score > q.smoothed + if q.speaker { HYSTERESIS_DB } else { 0.0 }
            });
            match pos {
                Some(k) => {
                    self.chosen.insert(k, i);
                    self.chosen.truncate(n);
                }
                None if self.chosen.len() < n => self.chosen.push(i),
                None => {}
            }
        }
        for p in &mut self.participants {
            p.speaker = false;
        }
        for &i in &self.chosen {
            self.participants[i].speaker = true;
        }
        let same = self.chosen.len() == self.announced.len()
            && self.chosen.iter().zip(&self.announced).all(|(&i, &leg)| self.participants[i].leg == leg);
        if !same {
            self.announced.clear();
            self.announced.extend(self.chosen.iter().map(|&i| self.participants[i].leg));
            events.push(MixEvent::Speakers(self.chosen.iter().map(|&i| (self.participants[i].leg, self.participants[i].smoothed)).collect()));
        }
    }

    fn encode(&mut self, out: &mut Outbound, events: &mut Vec<MixEvent>) {
        for s in &mut self.shared {
            s.1 = false;
            s.2 = None;
        }
        // Who needs an encoder of its own, who shares one.
        for p in &mut self.participants {
            p.shared = None;
            let Some(o) = p.output.as_mut() else { continue };
            let own = (p.speaker && !self.isolated) || p.prompt.is_some();
            if own {
                if o.own.is_none() {
                    o.own = Some(Encoding::new(o.codec, o.frames));
                }
                continue;
            }
            o.own = None;
            if self.isolated {
                o.marker = true;
                continue;
            }
            let key = o.key();
            let idx = match self.shared.iter().position(|(e, _, _)| (e.codec, e.frames) == key) {
                Some(i) => i,
                None => {
                    self.shared.push((Encoding::new(key.0, key.1), false, None));
                    self.shared.len() - 1
                }
            };
            self.shared[idx].1 = true;
            p.shared = Some(idx);
        }
        // One encode per shared key in use this tick. Keys are few (codec × ptime),
        // so an encoding nobody uses now is kept, idle, rather than rebuilt later.
        for s in self.shared.iter_mut().filter(|s| s.1) {
            s.2 = s.0.push(&self.total);
        }
        for p in &mut self.participants {
            let Some(o) = p.output.as_mut() else { continue };
            let start = out.bytes.len();
            if o.write_dtmf(&mut out.bytes) {
                out.packets.push((p.leg, start, out.bytes.len() - start));
                continue;
            }
            let payload_len = if let Some(enc) = o.own.as_mut() {
                let frame = &mut *self.scratch;
                if self.isolated {
                    frame.fill(0.0);
                } else {
                    frame.copy_from_slice(&*self.total);
                    if p.speaker {
                        for (f, &x) in frame.iter_mut().zip(p.frame.iter()) {
                            *f -= x * p.gain;
                        }
                    }
                }
                if let Some(pl) = p.prompt.as_mut() {
                    if !pl.mix_into(frame) {
                        events.push(MixEvent::PromptDone { id: pl.id });
                        p.prompt = None;
                    }
                }
                enc.push(frame).map(|n| (n, true))
            } else {
                p.shared.and_then(|i| self.shared[i].2.map(|n| (n, false)))
            };
            let Some((n, own)) = payload_len else { continue };
            if own {
                let enc = o.own.take().expect("own encoder");
                o.write_audio(&enc.payload[..n], &mut out.bytes);
                o.own = Some(enc);
            } else {
                o.write_audio(&self.shared[p.shared.expect("shared")].0.payload[..n], &mut out.bytes);
            }
            out.packets.push((p.leg, start, out.bytes.len() - start));
        }
    }
}

/// Prompt samples shared by every player of one file.
pub type PromptAudio = Arc<Vec<f32>>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::codec::{Decoder, Encoder};

    /// Power of `hz` in `x` (Goertzel), relative to the signal's total power.
    pub fn tone_share(x: &[i16], rate: u32, hz: f32) -> f32 {
        let k = 2.0 * (std::f32::consts::TAU * hz / rate as f32).cos();
        let (mut s1, mut s2) = (0f32, 0f32);
        for &v in x {
            let s0 = v as f32 + k * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        let p = s1 * s1 + s2 * s2 - k * s1 * s2;
        let total: f32 = x.iter().map(|&v| (v as f32).powi(2)).sum();
        p * 2.0 / x.len() as f32 / total.max(1.0)
    }

    struct Phone {
        leg: LegId,
        codec: Codec,
        pt: u8,
        hz: f32,
        enc: Encoder,
        dec: Decoder,
        seq: u16,
        heard: Vec<i16>,
    }

    #[test]
    fn four_codecs_each_hear_the_other_three_and_not_themselves() {
        let mut mixer = Mixer::new(4, false);
        let setup = [(Codec::Opus, 111, 440.0), (Codec::Pcmu, 0, 660.0), (Codec::Pcma, 8, 880.0), (Codec::G722, 9, 1100.0)];
        let mut phones: Vec<Phone> = setup
            .iter()
            .enumerate()
            .map(|(i, &(codec, pt, hz))| Phone { leg: 256 + i as u64, codec, pt, hz, enc: Encoder::new(codec), dec: Decoder::new(codec), seq: 0, heard: vec![] })
            .collect();
        // A fifth participant that sends silence: never mixed, hears all four.
        phones.push(Phone { leg: 999, codec: Codec::Pcmu, pt: 0, hz: 0.0, enc: Encoder::new(Codec::Pcmu), dec: Decoder::new(Codec::Pcmu), seq: 0, heard: vec![] });
        for p in &phones {
            mixer.join(ParticipantSpec {
                leg: p.leg,
                receive: vec![(p.pt, p.codec)],
                send: Some((p.codec, p.pt, 20)),
                te_pt: None,
                level_ext: None,
                inband_dtmf: false,
                ssrc: p.leg as u32,
                gain: 1.0,
                muted: false,
            });
        }
        let mut out = Outbound::default();
        let mut events = Vec::new();
        for t in 0..100usize {
            for p in &mut phones {
                let rate = p.codec.sample_rate();
                let n = rate as usize / 50;
                let pcm: Vec<i16> = (0..n).map(|i| (((t * n + i) as f32 * p.hz * std::f32::consts::TAU / rate as f32).sin() * 6000.0) as i16).collect();
                let mut payload = [0u8; 1500];
                let len = p.enc.encode(&pcm, &mut payload);
                let packet = rtp_types::RtpPacketBuilder::new()
                    .payload_type(p.pt)
                    .sequence_number(p.seq)
                    .timestamp(p.seq as u32 * p.codec.clock_rate() / 50)
                    .ssrc(1)
                    .payload(&payload[..len])
                    .write_vec()
                    .unwrap();
                p.seq += 1;
                mixer.push(p.leg, &packet, t as u64 * 20_000, &mut events);
            }
            out.clear();
            mixer.tick(&mut out, &mut events);
            for &(leg, start, len) in &out.packets {
                let p = phones.iter_mut().find(|p| p.leg == leg).unwrap();
                let rtp = rtp_types::RtpPacket::parse(&out.bytes[start..start + len]).unwrap();
                assert_eq!(rtp.payload_type(), p.pt);
                p.dec.decode(rtp.payload(), &mut p.heard).unwrap();
            }
        }
        let speakers = events.iter().rev().find_map(|e| if let MixEvent::Speakers(s) = e { Some(s.clone()) } else { None }).unwrap();
        assert_eq!(speakers.len(), 4);
        assert!(speakers.iter().all(|(l, _)| *l != 999), "the silent leg is not a speaker");
        for p in &phones {
            let rate = p.codec.sample_rate();
            let tail = &p.heard[p.heard.len() / 2..];
            for &(_, _, hz) in &setup {
                let share = tone_share(tail, rate, hz);
                if hz == p.hz {
                    assert!(share < 0.02, "leg {} hears itself ({hz} Hz: {share})", p.leg);
                } else if hz < rate as f32 / 2.0 - 200.0 {
                    assert!(share > 0.1, "leg {} ({:?}) misses {hz} Hz: {share}", p.leg, p.codec);
                }
            }
        }
    }

    fn g711(seq: u16, byte: u8) -> Vec<u8> {
        rtp_types::RtpPacketBuilder::new().payload_type(0).sequence_number(seq).timestamp(seq as u32 * 160).ssrc(9).payload(&[byte; 160][..]).write_vec().unwrap()
    }

    fn pcmu_spec(leg: LegId) -> ParticipantSpec {
        ParticipantSpec { leg, receive: vec![(0, Codec::Pcmu)], send: Some((Codec::Pcmu, 0, 20)), te_pt: None, level_ext: None, inband_dtmf: false, ssrc: leg as u32, gain: 1.0, muted: false }
    }

    /// Payloads each leg got in one tick after both pushed one packet.
    fn relay_round(mixer: &mut Mixer, seq: u16, bytes: &[(LegId, u8)]) -> Vec<(LegId, u16, Vec<u8>)> {
        let (mut out, mut events) = (Outbound::default(), Vec::new());
        let mut got = Vec::new();
        let mut read = |out: &Outbound| {
            for &(leg, s, n) in &out.packets {
                let r = rtp_types::RtpPacket::parse(&out.bytes[s..s + n]).unwrap();
                got.push((leg, r.sequence_number(), r.payload().to_vec(), r.timestamp()));
            }
        };
        for &(leg, b) in bytes {
            mixer.push(leg, &g711(seq, b), seq as u64 * 20_000, &mut events);
            // A relaying room sends on arrival.
            if let Some(r) = mixer.take_relayed() {
                read(&r);
                mixer.return_relayed(r);
            }
        }
        mixer.tick(&mut out, &mut events);
        read(&out);
        got.into_iter().map(|(leg, seq, p, _)| (leg, seq, p)).collect()
    }

    #[test]
    fn two_party_rooms_relay_payloads_and_mix_again_when_a_third_joins() {
        let mut mixer = Mixer::new(4, false);
        mixer.join(pcmu_spec(1));
        mixer.join(pcmu_spec(2));
        let mut last_seq = std::collections::HashMap::new();
        let got: Vec<_> = (0..10).flat_map(|seq| relay_round(&mut mixer, seq, &[(1, 0x11), (2, 0x22)])).collect();
        for (leg, other) in [(1, 0x22), (2, 0x11)] {
            let heard: Vec<_> = got.iter().filter(|g| g.0 == leg).collect();
            assert!(heard.len() >= 6, "leg {leg} hears the other: {got:?}");
            // Each hears the other's bytes exactly: no decode, no encode.
            assert!(heard.iter().all(|g| g.2 == vec![other; 160]), "{got:?}");
        }
        for (leg, s, _) in got {
            if let Some(prev) = last_seq.insert(leg, s) {
                assert_eq!(s, prev + 1, "one continuous stream per listener");
            }
        }
        // A third participant: mixing again (the payloads are encodes of the mix), and
        // each listener's stream goes on without a gap.
        mixer.join(pcmu_spec(3));
        for seq in 10..20 {
            let got = relay_round(&mut mixer, seq, &[(1, 0x11), (2, 0x22), (3, 0x33)]);
            for (leg, s, payload) in got {
                if seq > 14 {
                    assert!(payload != vec![0x22; 160] && payload != vec![0x11; 160], "mixed, not relayed");
                }
                if let Some(prev) = last_seq.insert(leg, s) {
                    assert_eq!(s, prev.wrapping_add(1), "leg {leg}");
                }
            }
        }
        // Two again, one of them muted: mixed (the muted one is heard by nobody).
        mixer.leave(3);
        mixer.set_muted(2, true);
        let got = (20..30).flat_map(|seq| relay_round(&mut mixer, seq, &[(1, 0x11), (2, 0x22)])).collect::<Vec<_>>();
        assert!(got.iter().all(|(leg, _, p)| *leg != 1 || p != &vec![0x22; 160]), "a muted leg is not relayed");
    }

    #[test]
    fn relayed_streams_keep_the_sources_timestamp_steps() {
        let mut mixer = Mixer::new(4, false);
        mixer.join(pcmu_spec(1));
        mixer.join(pcmu_spec(2));
        let mut events = Vec::new();
        let mut heard = Vec::new();
        // Leg 2 talks; frame 6 never arrives (lost on the way in).
        for seq in (0u16..12).filter(|&s| s != 6) {
            mixer.push(1, &g711(seq, 0x11), seq as u64 * 20_000, &mut events);
            mixer.push(2, &g711(seq, 0x22), seq as u64 * 20_000, &mut events);
            if let Some(r) = mixer.take_relayed() {
                for &(_, s, n) in r.packets.iter().filter(|p| p.0 == 1) {
                    let p = rtp_types::RtpPacket::parse(&r.bytes[s..s + n]).unwrap();
                    heard.push((p.sequence_number(), p.timestamp()));
                }
                mixer.return_relayed(r);
            }
            let mut out = Outbound::default();
            mixer.tick(&mut out, &mut events);
            for &(_, s, n) in out.packets.iter().filter(|p| p.0 == 1) {
                let p = rtp_types::RtpPacket::parse(&out.bytes[s..s + n]).unwrap();
                heard.push((p.sequence_number(), p.timestamp()));
            }
        }
        assert!(heard.len() >= 6, "{heard:?}");
        let steps: Vec<(u16, u32)> = heard.windows(2).map(|w| (w[1].0.wrapping_sub(w[0].0), w[1].1.wrapping_sub(w[0].1))).collect();
        // Sequence numbers run on without a hole (nothing is lost after us); the
        // timestamps step 160 per frame and 320 across the frame that never came.
        assert!(steps.iter().all(|&(ds, _)| ds == 1), "{heard:?}");
        assert!(steps.iter().all(|&(_, dt)| dt == 160 || dt == 320), "{heard:?}");
        assert_eq!(steps.iter().filter(|&&(_, dt)| dt == 320).count(), 1, "{heard:?}");
    }

    #[test]
    fn isolated_mixer_plays_prompts_only_and_reports_their_end() {
        let mut mixer = Mixer::new(4, true);
        for leg in [1, 2] {
            mixer.join(ParticipantSpec { leg, receive: vec![(0, Codec::Pcmu)], send: Some((Codec::Pcmu, 0, 20)), te_pt: Some(101), level_ext: None, inband_dtmf: true, ssrc: 5, gain: 1.0, muted: false });
        }
        mixer.play(Player::new(7, Arc::new(vec![0.3; 3 * FRAME]), false), Some(1)).unwrap();
        let (mut out, mut events) = (Outbound::default(), Vec::new());
        for _ in 0..5 {
            mixer.tick(&mut out, &mut events);
        }
        assert!(out.packets.iter().all(|&(leg, _, _)| leg == 1), "only the prompted leg gets packets");
        assert_eq!(out.packets.len(), 3);
        assert_eq!(events, vec![MixEvent::PromptDone { id: 7 }]);
        assert!(mixer.send_dtmf(2, "12#", 80).is_ok());
        assert!(mixer.send_dtmf(2, "x", 80).is_err());
        out.clear();
        mixer.tick(&mut out, &mut events);
        assert_eq!(out.packets.len(), 1);
        let rtp = rtp_types::RtpPacket::parse(&out.bytes).unwrap();
        assert_eq!((rtp.payload_type(), rtp.payload()[0]), (101, 1));
    }
}

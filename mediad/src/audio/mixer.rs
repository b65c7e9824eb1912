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
            let leg = dst.leg;
            while input.take_raw(|payload, ts| {
                let start = out.bytes.len();
                o.write_relayed(payload, ts, &mut out.bytes);
                out.packets.push((leg, start, out.bytes.len() - start));
            }) {}
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
#[path = "mixer_tests.rs"]
mod tests;

//! The engine side of the audio MCU: mixers of the rooms whose home is this core, the
//! core's lobby (participants outside a mixing room: prompts and DTMF only), the
//! 20 ms media tick, and moving audio between a leg's core and its mixer's core.

use super::buffers::Buf;
use super::counters::{add, get, set, LegCounters};
use super::mesh::Handoff;
use super::Engine;
use crate::audio::mixer::{MixEvent, Mixer, Outbound, ParticipantSpec};
use crate::audio::prompt::Player;
use control::{leg_core, ErrorBody, ErrorCode, Event, LegId};
use std::collections::HashMap;
use std::sync::Arc;

/// Where a leg's audio is mixed: a core and a room there (None: that core's lobby).
pub type MixAt = (usize, Option<u32>);

/// Control of mixers, from the registry to the core that runs them.
pub enum MixCommand {
    /// Create the mixer of a room whose home is this core.
    Room { room: u32, name: String, speakers: usize },
    DropRoom { room: u32 },
    Join { room: Option<u32>, spec: ParticipantSpec, counters: Arc<LegCounters> },
    Leave { room: Option<u32>, leg: LegId },
    /// On the leg's own core: where its audio packets go from now on.
    Route { leg: LegId, to: Option<MixAt> },
    Gain { room: Option<u32>, leg: LegId, gain: f32 },
    Mute { room: Option<u32>, leg: LegId, muted: bool },
    Play { room: Option<u32>, leg: Option<LegId>, player: Player },
    Stop { room: Option<u32>, id: u64 },
    Dtmf { room: Option<u32>, leg: LegId, digits: String, duration_ms: u32 },
}

struct RoomMix {
    name: String,
    mixer: Mixer,
}

pub struct MixState {
    rooms: HashMap<u32, RoomMix>,
    lobby: Mixer,
    counters: HashMap<LegId, Arc<LegCounters>>,
    out: Outbound,
    events: Vec<MixEvent>,
    ticks: u64,
    /// Some mixer here is not idle: the core runs the 20 ms tick.
    busy: bool,
}

impl Default for MixState {
    fn default() -> Self {
        MixState {
            rooms: HashMap::new(),
            lobby: Mixer::new(1, true),
            counters: HashMap::new(),
            out: Outbound::default(),
            events: Vec::new(),
            ticks: 0,
            busy: false,
        }
    }
}

/// Stats are copied to the legs' counters this often (ticks).
const STATS_EVERY: u64 = 50;

fn not_here(what: &str) -> ErrorBody {
    ErrorBody::new(ErrorCode::NoSuchLeg, format!("{what} is not in that mix"))
}

impl MixState {
    fn mixer(&mut self, room: Option<u32>) -> Result<&mut Mixer, ErrorBody> {
        match room {
            None => Ok(&mut self.lobby),
            Some(r) => self.rooms.get_mut(&r).map(|m| &mut m.mixer).ok_or_else(|| ErrorBody::new(ErrorCode::NoSuchRoom, "the room does not mix on this core")),
        }
    }

    /// Whether the core must run the 20 ms tick: idle rooms cost no tick at all.
    pub fn active(&self) -> bool {
        self.busy
    }
}

impl Engine {
    pub fn mix_command(&mut self, cmd: MixCommand) -> Result<(), ErrorBody> {
        let m = &mut self.mix;
        // Whatever changed, look again at the next tick.
        m.busy = true;
        match cmd {
            MixCommand::Room { room, name, speakers } => {
                m.rooms.entry(room).or_insert_with(|| RoomMix { name, mixer: Mixer::new(speakers, false) });
            }
            MixCommand::DropRoom { room } => {
                if let Some(r) = m.rooms.remove(&room) {
                    for leg in r.mixer.legs() {
                        m.counters.remove(&leg);
                    }
                }
            }
            MixCommand::Join { room, spec, counters } => {
                m.counters.insert(spec.leg, counters);
                m.mixer(room)?.join(spec);
            }
            MixCommand::Leave { room, leg } => {
                let mixer = m.mixer(room)?;
                mixer.leave(leg);
                if let Some(c) = m.counters.remove(&leg) {
                    *c.audio.lock().unwrap() = None;
                }
            }
            MixCommand::Route { leg, to } => {
                let slot = self.leg_slot(leg).ok_or_else(|| super::no_leg(leg))?;
                self.leg_mut(slot).expect("indexed").mix_at = to;
            }
            MixCommand::Gain { room, leg, gain } => {
                if !m.mixer(room)?.set_gain(leg, gain) {
                    return Err(not_here("the leg"));
                }
            }
            MixCommand::Mute { room, leg, muted } => {
                if !m.mixer(room)?.set_muted(leg, muted) {
                    return Err(not_here("the leg"));
                }
            }
            MixCommand::Play { room, leg, player } => {
                // A replaced prompt just stops (no `prompt.done`); the registry forgets it.
                m.mixer(room)?.play(player, leg).map_err(|e| ErrorBody::new(ErrorCode::BadRequest, format!("the leg: {e}")))?;
            }
            MixCommand::Stop { room, id } => {
                if !m.mixer(room)?.stop(id) {
                    return Err(ErrorBody::new(ErrorCode::BadRequest, format!("prompt {id} is not playing")));
                }
            }
            MixCommand::Dtmf { room, leg, digits, duration_ms } => {
                m.mixer(room)?.send_dtmf(leg, &digits, duration_ms).map_err(|e| ErrorBody::new(ErrorCode::BadRequest, e))?;
            }
        }
        Ok(())
    }

    /// Audio from leg `src` (a raw RTP packet as received) for its mixer.
    pub(super) fn mix_input(&mut self, (core, room): MixAt, src: LegId, data: &[u8]) {
        if core == self.core {
            return self.mix_push(room, src, data);
        }
        let buf = self.copy_to_buf(data);
        self.push_handoff(core, Handoff::MixIn { room, leg: src, buf });
    }

    pub(super) fn mix_push(&mut self, room: Option<u32>, src: LegId, data: &[u8]) {
        let now_us = self.now_us();
        let m = &mut self.mix;
        let mut events = std::mem::take(&mut m.events);
        // A room gone meanwhile (a hand-off in flight): nothing to do.
        let Ok(mixer) = m.mixer(room) else {
            m.events = events;
            return;
        };
        mixer.push(src, data, now_us, &mut events);
        let relayed = mixer.take_relayed();
        m.events = events;
        m.busy = true;
        if !m.events.is_empty() {
            self.mix_events();
        }
        if let Some(out) = relayed {
            for &(leg, start, len) in &out.packets {
                self.send_to_leg(leg, &out.bytes[start..start + len]);
            }
            if let Ok(mixer) = self.mix.mixer(room) {
                mixer.return_relayed(out);
            }
        }
    }

    /// A pooled buffer holding a copy of `data` (a datagram: it fits).
    pub(super) fn copy_to_buf(&mut self, data: &[u8]) -> Box<Buf> {
        let mut buf = self.take_buf();
        buf.len = data.len() as u16;
        buf.data[..data.len()].copy_from_slice(data);
        buf
    }

    /// Queue a hand-off for `core`; a full ring drops it (counted) and recycles its buffer.
    pub(super) fn push_handoff(&mut self, core: usize, h: Handoff) {
        match self.mesh.push(self.core, core, h) {
            Ok(()) => {
                add(&self.counters.handoff_out, 1);
                self.wake_mask |= 1 << core;
            }
            Err(Handoff::MixIn { buf, .. }) | Err(Handoff::ToLeg { buf, .. }) | Err(Handoff::Media { buf, .. }) => {
                add(&self.counters.handoff_dropped, 1);
                self.recycle(buf);
            }
            Err(_) => add(&self.counters.handoff_dropped, 1),
        }
    }

    /// A packet the mixer made for `leg`: sent here, or handed to the leg's core.
    pub(super) fn send_to_leg(&mut self, leg: LegId, data: &[u8]) {
        let core = leg_core(leg);
        if core != self.core {
            let buf = self.copy_to_buf(data);
            return self.push_handoff(core, Handoff::ToLeg { leg, buf });
        }
        let Some(slot) = self.leg_slot(leg) else { return };
        self.resend(slot, data, None);
    }

    pub(super) fn deliver_from_peer(&mut self, leg: LegId, buf: Box<Buf>) {
        if let Some(slot) = self.leg_slot(leg) {
            self.resend(slot, buf.bytes(), None);
        }
        self.recycle(buf);
    }

    /// The 20 ms media tick: every mixer of this core, lobby included.
    pub fn mix_tick(&mut self) {
        let started = std::time::Instant::now();
        let m = &mut self.mix;
        m.ticks += 1;
        m.out.clear();
        m.lobby.tick(&mut m.out, &mut m.events);
        let mut speakers: Vec<(String, Vec<(LegId, f32)>)> = Vec::new();
        let mut busy = !m.lobby.idle();
        for r in m.rooms.values_mut() {
            if r.mixer.is_empty() || r.mixer.idle() {
                continue;
            }
            busy = true;
            let before = m.events.len();
            r.mixer.tick(&mut m.out, &mut m.events);
            // Speaker changes name the room: take them out here (rare, so the scan
            // allocates nothing on an ordinary tick).
            let mut i = before;
            while i < m.events.len() {
                if let MixEvent::Speakers(list) = &mut m.events[i] {
                    speakers.push((r.name.clone(), std::mem::take(list)));
                    m.events.remove(i);
                } else {
                    i += 1;
                }
            }
        }
        m.busy = busy;
        if m.ticks.is_multiple_of(STATS_EVERY) {
            publish_stats(m);
        }
        let out = std::mem::take(&mut self.mix.out);
        for &(leg, start, len) in &out.packets {
            self.send_to_leg(leg, &out.bytes[start..start + len]);
        }
        self.mix.out = out;
        for (room, list) in speakers {
            let speakers = list.into_iter().map(|(leg, level_dbov)| control::SpeakerLevel { leg, level_dbov }).collect();
            self.emit(Event::Speakers { room, speakers });
        }
        self.mix_events();
        let took = started.elapsed().as_micros() as u64;
        add(&self.counters.mix_ticks, 1);
        if took > get(&self.counters.mix_max_us) {
            set(&self.counters.mix_max_us, took);
        }
    }

    fn mix_events(&mut self) {
        let events = std::mem::take(&mut self.mix.events);
        for e in events {
            let ev = match e {
                MixEvent::Dtmf { leg, digit, duration_ms, source } => Event::Dtmf { leg, digit: digit.to_string(), duration_ms, source },
                MixEvent::PromptDone { id } => Event::PromptDone { id },
                MixEvent::Speakers(_) => continue,
            };
            self.emit(ev);
        }
    }

    pub fn mix_active(&self) -> bool {
        self.mix.active()
    }
}

fn publish_stats(m: &MixState) {
    let mixers = std::iter::once(&m.lobby).chain(m.rooms.values().map(|r| &r.mixer));
    for mixer in mixers {
        for leg in mixer.legs() {
            let (Some(s), Some(c)) = (mixer.stats(leg), m.counters.get(&leg)) else { continue };
            let stats = control::AudioStats {
                jitter_buffer_ms: s.jitter.depth_ms,
                jitter_target_ms: s.jitter.target_ms,
                jitter_ms: s.jitter.jitter_ms,
                late: s.jitter.late,
                duplicate: s.jitter.duplicate,
                concealed: s.input.concealed,
                decode_errors: s.input.decode_errors,
                level_dbov: s.level_dbov,
                speaking: s.speaking,
            };
            if let Ok(mut a) = c.audio.lock() {
                *a = Some(stats);
            }
        }
    }
}

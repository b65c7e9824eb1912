//! The registry's part of the audio MCU: which mixer each participant is in (its
//! core's lobby, or its mixing room's home core), and the ops that reach a mixer
//! (prompts, DTMF, gain and mute).

use super::{no_room, Daemon, State};
use crate::audio::codec::Codec;
use crate::audio::mixer::{ParticipantSpec, MAX_SPEAKERS};
use crate::audio::prompt::{self, Player};
use crate::engine::counters::LegCounters;
use crate::engine::mix::{MixAt, MixCommand};
use crate::worker::Command;
use control::*;
use serde_json::{json, Value};
use std::sync::Arc;

type OpResult = Result<Value, ErrorBody>;

fn bad(msg: impl Into<String>) -> ErrorBody {
    ErrorBody::new(ErrorCode::BadRequest, msg)
}

/// The SSRC of the mix toward `leg`: from the leg's id like its stream SSRCs, in a
/// stream slot feedback routing never matches.
pub fn mix_ssrc(leg: LegId) -> u32 {
    crate::rtp::rewrite::ssrc_for_stream(leg, crate::rtp::rewrite::MAX_STREAMS - 1)
}

/// Check a leg's `audio` and turn it into the mixer's participant spec.
pub fn participant(leg: LegId, a: &LegAudio, muted: bool) -> Result<ParticipantSpec, ErrorBody> {
    let codec = |name: &str| Codec::from_name(name).ok_or_else(|| bad(format!("audio codec `{name}` is not one of opus, pcmu, pcma, g722, g729")));
    let mut receive = Vec::new();
    for p in &a.receive {
        if p.pt > 127 {
            return Err(bad("payload types are 0-127"));
        }
        receive.push((p.pt, codec(&p.codec)?));
    }
    let send = match &a.send {
        Some(s) => {
            if ![20, 40, 60].contains(&s.ptime) {
                return Err(bad("audio.send.ptime must be 20, 40 or 60"));
            }
            if s.pt > 127 {
                return Err(bad("payload types are 0-127"));
            }
            Some((codec(&s.codec)?, s.pt, s.ptime))
        }
        None => None,
    };
    if a.telephone_event.is_some_and(|t| t > 127) || a.level_ext.is_some_and(|e| !(1..=14).contains(&e)) {
        return Err(bad("telephone_event is a payload type 0-127, level_ext an extension id 1-14"));
    }
    if !(-60.0..=20.0).contains(&a.gain_db) {
        return Err(bad("gain_db must be within -60..=20"));
    }
    Ok(ParticipantSpec {
        leg,
        receive,
        send,
        te_pt: a.telephone_event,
        level_ext: a.level_ext,
        inband_dtmf: a.inband_dtmf,
        ssrc: mix_ssrc(leg),
        gain: gain(a.gain_db),
        muted,
    })
}

fn gain(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}

impl Daemon {
    pub(super) fn mix(&self, core: usize, cmd: MixCommand) -> Result<(), ErrorBody> {
        self.ask(core, |reply| Command::Mix { cmd, reply })
    }

    /// Create a mixing room's mixer on its home core.
    pub(super) fn mix_room(&self, num: u32, name: &str, settings: &MixSettings, home: usize) -> Result<(), ErrorBody> {
        if !(1..=MAX_SPEAKERS).contains(&settings.speakers) {
            return Err(bad(format!("mix.speakers must be 1-{MAX_SPEAKERS}")));
        }
        self.mix(home, MixCommand::Room { room: num, name: name.to_string(), speakers: settings.speakers })
    }

    /// Put a participant into the mixer at `to` (leaving the one it was in), and tell
    /// its core where its audio goes.
    pub(super) fn mix_move(&self, st: &mut State, leg: LegId, to: Option<MixAt>) -> Result<(), ErrorBody> {
        let Some(rec) = st.legs.get(&leg) else { return Ok(()) };
        let Some(audio) = rec.audio.clone() else { return Ok(()) };
        let (from, muted, counters) = (rec.mix_at, rec.info.muted, rec.counters.clone());
        if from == to {
            return Ok(());
        }
        if let Some((core, room)) = from {
            let _ = self.mix(core, MixCommand::Leave { room, leg });
            // A prompt playing to the leg stopped with it.
            st.prompts.retain(|_, (_, to)| *to != Some(leg));
        }
        if let Some((core, room)) = to {
            let spec = participant(leg, &audio, muted)?;
            self.mix(core, MixCommand::Join { room, spec, counters: counters as Arc<LegCounters> })?;
        }
        self.mix(leg_core(leg), MixCommand::Route { leg, to })?;
        st.legs.get_mut(&leg).expect("checked").mix_at = to;
        Ok(())
    }

    /// Where a participant in `room` (or in no room) is mixed.
    pub(super) fn mix_place(&self, st: &State, leg: LegId, room: Option<&str>) -> MixAt {
        match room.and_then(|r| st.rooms.get(r)).and_then(|r| r.mix.as_ref().map(|_| (r.home, Some(r.num)))) {
            Some(at) => at,
            None => (leg_core(leg), None),
        }
    }

    pub(super) fn mix_update(&self, st: &State, leg: LegId, muted: Option<bool>, gain_db: Option<f32>) -> Result<(), ErrorBody> {
        if let Some(g) = gain_db {
            if !(-60.0..=20.0).contains(&g) {
                return Err(bad("gain_db must be within -60..=20"));
            }
        }
        let Some((core, room)) = st.legs.get(&leg).and_then(|r| r.mix_at) else {
            return if gain_db.is_some() { Err(bad("the leg has no `audio`: it is not mixed")) } else { Ok(()) };
        };
        if let Some(m) = muted {
            self.mix(core, MixCommand::Mute { room, leg, muted: m })?;
        }
        if let Some(g) = gain_db {
            self.mix(core, MixCommand::Gain { room, leg, gain: gain(g) })?;
        }
        Ok(())
    }

    pub(super) fn leg_dtmf(&self, st: &State, d: &DtmfSend) -> OpResult {
        let rec = st.legs.get(&d.leg).ok_or_else(|| crate::engine::no_leg(d.leg))?;
        let (core, room) = rec.mix_at.ok_or_else(|| bad("the leg has no `audio`"))?;
        if d.digits.is_empty() || d.digits.len() > 64 {
            return Err(bad("1-64 digits"));
        }
        if !(40..=5000).contains(&d.duration_ms) {
            return Err(bad("duration_ms must be 40-5000"));
        }
        self.mix(core, MixCommand::Dtmf { room, leg: d.leg, digits: d.digits.clone(), duration_ms: d.duration_ms })?;
        Ok(json!({ "leg": d.leg, "digits": d.digits }))
    }

    pub(super) fn prompt_play(&self, st: &mut State, p: &PromptPlay) -> OpResult {
        let at = match (&p.leg, &p.room) {
            (Some(leg), None) => st.legs.get(leg).ok_or_else(|| crate::engine::no_leg(*leg))?.mix_at.ok_or_else(|| bad("the leg has no `audio`"))?,
            (None, Some(room)) => {
                let r = st.rooms.get(room).ok_or_else(|| no_room(room))?;
                if r.mix.is_none() {
                    return Err(bad(format!("room `{room}` does not mix audio")));
                }
                (r.home, Some(r.num))
            }
            _ => return Err(bad("name either `leg` or `room`")),
        };
        // Loaded here, on the control thread: a core never reads a file.
        let samples = prompt::load(std::path::Path::new(&p.file)).map_err(|e| bad(e.to_string()))?;
        st.next_prompt += 1;
        let id = st.next_prompt;
        let seconds = samples.len() as f64 / 48_000.0;
        self.mix(at.0, MixCommand::Play { room: at.1, leg: p.leg, player: Player::new(id, samples, p.looping) })?;
        // A new prompt on the same leg or room replaced the old one in the mixer.
        st.prompts.retain(|_, target| *target != (at, p.leg));
        st.prompts.insert(id, (at, p.leg));
        Ok(json!({ "id": id, "seconds": seconds }))
    }

    pub(super) fn prompt_stop(&self, st: &mut State, id: u64) -> OpResult {
        let ((core, room), _) = st.prompts.remove(&id).ok_or_else(|| bad(format!("prompt {id} is not playing")))?;
        self.mix(core, MixCommand::Stop { room, id })?;
        Ok(json!({ "id": id }))
    }
}

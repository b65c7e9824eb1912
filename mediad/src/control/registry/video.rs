//! The registry's part of the video MCU: which video thread composes each room, the
//! legs that take part (their video routed there by their core), and the ops that
//! change layouts, modes, the podium and pins. DTMF 1/2 from a leg in a managed room
//! puts it on the podium or takes it off; the audio MCU's speaker order drives the
//! auto-selector.

use super::{no_room, Daemon, State};
use crate::compute::VideoCtl;
use crate::worker::Command;
use control::*;
use serde_json::{json, Value};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

type OpResult = Result<Value, ErrorBody>;

fn bad(msg: impl Into<String>) -> ErrorBody {
    ErrorBody::new(ErrorCode::BadRequest, msg)
}

impl Daemon {
    /// Start composing a new room on the least-loaded video thread.
    pub(super) fn video_room(&self, num: u32, name: &str, settings: &VideoMixSettings, composing: Arc<AtomicBool>) -> Result<usize, ErrorBody> {
        let thread = self.video.least_loaded().ok_or_else(|| ErrorBody::new(ErrorCode::Unsupported, "no video MCU: [video] threads = 0"))?;
        self.video.control(thread, VideoCtl::Room { room: num, name: name.to_string(), settings: settings.clone(), composing })?;
        Ok(thread)
    }

    /// Where a room's video is composed: (thread, room number), when it is.
    fn video_place(st: &State, room: &str) -> Option<(usize, u32)> {
        st.rooms.get(room).and_then(|r| r.video.as_ref().map(|_| (r.video_thread, r.num)))
    }

    /// A leg joins a room that composes video (before the SFU join: a refusal leaves
    /// nothing changed).
    pub(super) fn video_join(&self, st: &State, leg: LegId, room: &str) -> Result<(), ErrorBody> {
        let rec = st.legs.get(&leg).ok_or_else(|| crate::engine::no_leg(leg))?;
        let (Some((thread, num)), Some(v)) = (Self::video_place(st, room), rec.video.clone()) else { return Ok(()) };
        let composing = st.rooms.get(room).map(|r| r.video_composing.clone()).unwrap_or_default();
        self.video.control(thread, VideoCtl::Join { room: num, leg, label: rec.info.label.clone(), video: v })?;
        let at = crate::compute::VideoAt { thread, room: num, composing };
        if let Err(e) = self.ask(leg_core(leg), |reply| Command::VideoRoute { leg, at: Some(at), reply }) {
            let _ = self.video.control(thread, VideoCtl::Leave { room: num, leg });
            return Err(e);
        }
        Ok(())
    }

    pub(super) fn video_leave(&self, st: &State, leg: LegId, room: &str) {
        let Some((thread, num)) = Self::video_place(st, room) else { return };
        if st.legs.get(&leg).is_some_and(|r| r.video.is_some()) {
            let _ = self.ask(leg_core(leg), |reply| Command::VideoRoute { leg, at: None, reply });
            let _ = self.video.control(thread, VideoCtl::Leave { room: num, leg });
        }
    }

    fn video_room_of(&self, st: &State, room: &str) -> Result<(usize, u32), ErrorBody> {
        st.rooms.get(room).ok_or_else(|| no_room(room))?;
        Self::video_place(st, room).ok_or_else(|| bad(format!("room `{room}` composes no video")))
    }

    /// The room (thread, number) of a leg that takes part in a room's video.
    fn video_leg(&self, st: &State, leg: LegId) -> Result<(usize, u32), ErrorBody> {
        let rec = st.legs.get(&leg).ok_or_else(|| crate::engine::no_leg(leg))?;
        let room = rec.info.room.as_deref().ok_or_else(|| bad(format!("leg {leg} is in no room")))?;
        self.video_room_of(st, room)
    }

    pub(super) fn video_op(&self, st: &mut State, op: &Op) -> OpResult {
        match op {
            Op::VideoLayout(l) => {
                let (thread, num) = self.video_room_of(st, &l.room)?;
                self.video.control(thread, VideoCtl::Layout { room: num, leg: l.leg, class: l.class, layout: l.layout.clone() })?;
                Ok(json!({ "room": l.room, "layout": l.layout }))
            }
            Op::VideoMode { room, mode } => {
                let (thread, num) = self.video_room_of(st, room)?;
                self.video.control(thread, VideoCtl::Mode { room: num, mode: mode.clone() })?;
                if let Some(v) = st.rooms.get_mut(room).and_then(|r| r.video.as_mut()) {
                    v.mode = mode.clone();
                }
                Ok(json!({ "room": room, "mode": mode.mode }))
            }
            Op::VideoPodium { leg, on } => {
                let (thread, num) = self.video_leg(st, *leg)?;
                self.video.control(thread, VideoCtl::Podium { room: num, leg: *leg, on: *on })?;
                Ok(json!({ "leg": leg, "on": on }))
            }
            Op::VideoPin(p) => {
                let (thread, num) = self.video_leg(st, p.leg)?;
                self.video.control(thread, VideoCtl::Pin { room: num, leg: p.leg, tile: p.tile, source: p.source })?;
                Ok(json!({ "leg": p.leg, "tile": p.tile }))
            }
            Op::VideoKeyframe { leg } => {
                let (thread, num) = self.video_leg(st, *leg)?;
                if st.legs.get(leg).and_then(|r| r.video.as_ref()).is_none_or(|v| v.send.is_none()) {
                    return Err(bad(format!("leg {leg} takes no composite")));
                }
                self.video.push_keyframe_request(thread, num, *leg);
                Ok(json!({ "leg": leg }))
            }
            Op::StatsVideo { room } => {
                let (thread, num) = self.video_room_of(st, room)?;
                serde_json::to_value(self.video.stats(thread, num)?).map_err(|e| ErrorBody::new(ErrorCode::Internal, e.to_string()))
            }
            _ => Err(ErrorBody::new(ErrorCode::Internal, "not a video op")),
        }
    }

    /// Events that drive the video MCU: DTMF 1/2 in a managed room, the audio MCU's
    /// speaker order.
    /// Queued without waiting for the thread, and without the registry's lock held.
    pub(super) fn video_event(&self, e: &Event) {
        let target = {
            let st = self.state.lock().unwrap();
            match e {
                Event::Dtmf { leg, digit, .. } if digit == "1" || digit == "2" => {
                    let Some(room) = st.legs.get(leg).and_then(|r| r.info.room.as_deref()) else { return };
                    let managed = st.rooms.get(room).and_then(|r| r.video.as_ref()).is_some_and(|v| v.mode.mode == VideoModeName::Managed);
                    // A leg that is no video participant (an audio-only phone) is refused
                    // by the room: nothing to show.
                    Self::video_place(&st, room).filter(|_| managed).map(|(thread, num)| (thread, VideoCtl::Podium { room: num, leg: *leg, on: digit == "1" }))
                }
                Event::Speakers { room, speakers } => Self::video_place(&st, room).map(|(thread, num)| (thread, VideoCtl::Speakers { room: num, legs: speakers.iter().map(|s| s.leg).collect() })),
                _ => None,
            }
        };
        if let Some((thread, ctl)) = target {
            self.video.tell(thread, ctl);
        }
    }
}

//! The PIN lobby: a caller who dialled a PIN-protected conference without the PIN is
//! answered with a leg in no room (mediad still plays prompts to it and reads its
//! DTMF), asked for the PIN, and attached to the conference once it is right. Three
//! wrong tries: a goodbye prompt, then BYE.

use super::endpoint::{CallEvent, Endpoint};
use super::pin::{PinEntry, Step};
use crate::webrtc::conference::MediaOps;
use std::time::{Duration, Instant};

/// The goodbye prompt's end normally ends the call; this bounds the wait for it.
const GOODBYE_LIMIT: Duration = Duration::from_secs(10);

pub(super) struct Lobby {
    pin: String,
    /// Created when the call is confirmed (the first prompt starts then).
    entry: Option<PinEntry>,
    /// The prompt playing now (a key press interrupts it).
    prompt: Option<u64>,
    /// After the last wrong try: when the call ends at the latest.
    leaving: Option<Instant>,
}

impl Lobby {
    pub(super) fn new(pin: &str) -> Self {
        Lobby { pin: pin.to_string(), entry: None, prompt: None, leaving: None }
    }

    pub(super) fn next_due(&self) -> Option<Instant> {
        self.leaving.or_else(|| self.entry.as_ref().map(PinEntry::next_due))
    }
}

impl Endpoint {
    /// The call is confirmed: ask for the PIN (once).
    pub(super) fn lobby_start(&mut self, call_id: &str, now: Instant, media: &mut dyn MediaOps) {
        let Some(lobby) = self.calls.get_mut(call_id).and_then(|c| c.lobby.as_mut()) else { return };
        if lobby.entry.is_some() {
            return;
        }
        lobby.entry = Some(PinEntry::new(&lobby.pin, now));
        self.events.push(CallEvent::PinRequested { call: call_id.to_string() });
        self.prompt(call_id, "enter-pin", media);
    }

    /// A key press from the caller (RFC 4733, in-band or SIP INFO).
    pub(super) fn digit(&mut self, call_id: &str, d: char, now: Instant, media: &mut dyn MediaOps) {
        let Some(call) = self.calls.get_mut(call_id) else { return };
        let Some(lobby) = call.lobby.as_mut() else {
            return self.events.push(CallEvent::Dtmf { call: call_id.to_string(), digit: d });
        };
        let Some(entry) = lobby.entry.as_mut().filter(|_| lobby.leaving.is_none()) else { return };
        let step = entry.digit(d, now);
        self.pin_step(call_id, step, now, media);
    }

    fn pin_step(&mut self, call_id: &str, step: Step, now: Instant, media: &mut dyn MediaOps) {
        let Some(call) = self.calls.get_mut(call_id) else { return };
        let (leg, conference, video) = (call.leg, call.conference.clone(), call.video);
        let Some(lobby) = call.lobby.as_mut() else { return };
        let barge_in = !matches!(step, Step::Collecting { first: false });
        if let Some(id) = lobby.prompt.take().filter(|_| barge_in) {
            media.stop_prompt(id);
        }
        match step {
            Step::Collecting { .. } => {}
            Step::Accepted => {
                call.lobby = None;
                let joined = media.attach(&conference, leg).and_then(|_| video.map_or(Ok(()), |(v, _)| media.attach(&conference, v)));
                if let Err(e) = joined {
                    tracing::warn!("SIP call {call_id}: joining {conference}: {e}");
                    return self.hangup(call_id, now, media, "conference unavailable");
                }
                self.events.push(CallEvent::Joined { call: call_id.to_string(), conference });
                // Not tracked: it plays over the conference and needs no follow-up.
                let _ = self.prompt(call_id, "welcome", media);
            }
            Step::Wrong { left } => {
                self.events.push(CallEvent::PinRejected { call: call_id.to_string(), tries_left: left });
                self.prompt(call_id, "wrong-pin", media);
            }
            Step::Failed => {
                self.events.push(CallEvent::PinRejected { call: call_id.to_string(), tries_left: 0 });
                let played = self.prompt(call_id, "pin-failed", media);
                let lobby = self.calls.get_mut(call_id).and_then(|c| c.lobby.as_mut()).expect("still waiting");
                lobby.leaving = Some(if played { now + GOODBYE_LIMIT } else { now });
            }
        }
    }

    /// Play `name`.wav from the prompts folder to the call's leg; in the lobby it
    /// becomes the prompt a key press interrupts. False when it could not play.
    fn prompt(&mut self, call_id: &str, name: &str, media: &mut dyn MediaOps) -> bool {
        let Some(call) = self.calls.get_mut(call_id) else { return false };
        let file = self.cfg.prompts.join(format!("{name}.wav"));
        match media.play_prompt(call.leg, &file.to_string_lossy()) {
            Ok(id) => {
                if let Some(l) = call.lobby.as_mut() {
                    l.prompt = Some(id);
                }
                true
            }
            Err(e) => {
                tracing::warn!("SIP call {call_id}: prompt {}: {e}", file.display());
                false
            }
        }
    }

    /// A prompt ended: after the goodbye, the call ends.
    pub(super) fn prompt_done(&mut self, id: u64, now: Instant, media: &mut dyn MediaOps) {
        let found = self.calls.iter_mut().find(|(_, c)| c.lobby.as_ref().is_some_and(|l| l.prompt == Some(id)));
        let Some((call_id, call)) = found else { return };
        let lobby = call.lobby.as_mut().expect("matched");
        lobby.prompt = None;
        if lobby.leaving.is_some() {
            let call_id = call_id.clone();
            self.hangup(&call_id, now, media, "wrong PIN");
        }
    }

    pub(super) fn lobby_tick(&mut self, now: Instant, media: &mut dyn MediaOps) {
        let mut leave = Vec::new();
        let mut steps = Vec::new();
        for (id, call) in self.calls.iter_mut() {
            let Some(lobby) = call.lobby.as_mut() else { continue };
            match (lobby.leaving, lobby.entry.as_mut()) {
                (Some(at), _) if now >= at => leave.push(id.clone()),
                (None, Some(entry)) => {
                    if let Some(step) = entry.tick(now) {
                        steps.push((id.clone(), step));
                    }
                }
                _ => {}
            }
        }
        for id in leave {
            self.hangup(&id, now, media, "wrong PIN");
        }
        for (id, step) in steps {
            self.pin_step(&id, step, now, media);
        }
    }
}

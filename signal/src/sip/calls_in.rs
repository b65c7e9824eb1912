//! Calls into conferences: the server side of INVITE dialogs (RFC 3261 §13-15),
//! re-INVITE hold/resume (RFC 3264 §8.4), CANCEL, BYE either way, INFO DTMF
//! (`application/dtmf-relay`).

use super::endpoint::{CallEvent, Endpoint, ALLOW};
use super::lobby::Lobby;
use super::message::{param, Message};
use super::sdp::{self, Offer};
use super::transaction::{Retransmit, T2};
use super::uri::{destination, Destination, NameAddr, Uri};
use crate::webrtc::conference::MediaOps;
use control::{AudioPayload, AudioSend, LegAudio, LegCreate, LegId, LegUpdate, PortPool};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

#[derive(Debug, PartialEq, Eq)]
pub(super) enum State {
    /// 180 sent; 200 OK due at the instant.
    Ringing(Instant),
    /// 200 OK sent, waiting for the ACK.
    Answered,
    Confirmed,
}

pub(super) struct Call {
    pub(super) state: State,
    pub(super) peer: SocketAddr,
    pub(super) leg: LegId,
    pub(super) conference: String,
    /// The INVITE (for the 200 OK and CANCEL's 487) and its branch.
    pub(super) invite: Message,
    pub(super) local_tag: String,
    /// Their From (our To in requests we send).
    pub(super) remote_uri: String,
    pub(super) offer: Option<Offer>,
    pub(super) sdp_version: u64,
    pub(super) session_id: u64,
    pub(super) local_media: (IpAddr, u16),
    /// 2xx retransmitted until the ACK (RFC 3261 §13.3.1.4).
    pub(super) ok: Option<Retransmit>,
    pub(super) held: bool,
    /// Waiting outside the conference for the PIN.
    pub(super) lobby: Option<Lobby>,
    /// Our CSeq for requests we send in the dialog (RFC 3261 §12.2.1.1).
    pub(super) cseq: u32,
}

impl Call {
    pub(super) fn answer_due(&self, now: Instant) -> bool {
        matches!(self.state, State::Ringing(at) if now >= at)
    }

    pub(super) fn next_due(&self) -> Option<Instant> {
        let own = match self.state {
            State::Ringing(at) => Some(at),
            _ => self.ok.as_ref().map(Retransmit::due),
        };
        own.into_iter().chain(self.lobby.as_ref().and_then(Lobby::next_due)).min()
    }
}

impl Endpoint {
    pub(super) fn invite(&mut self, msg: Message, from: SocketAddr, now: Instant, media: &mut dyn MediaOps) {
        let call_id = msg.call_id().to_string();
        if let Some(call) = self.calls.get(&call_id) {
            let same_tx = call.invite.branch() == msg.branch();
            if same_tx {
                // A retransmitted INVITE: the 100/180 again (the 200 has its own timer).
                self.counters.retransmissions += 1;
                if let State::Ringing(_) = call.state {
                    let tag = call.local_tag.clone();
                    let r = self.reply(&msg, from, 180, Some(&tag));
                    self.send(from, &r);
                }
                return;
            }
            return self.reinvite(msg, from, now, media);
        }
        if msg.header("To").and_then(|t| param(t, "tag")).is_some() {
            // An in-dialog INVITE for a dialog we do not have.
            return self.respond(&msg, from, 481, None, now);
        }
        let trying = self.reply(&msg, from, 100, None);
        self.send(from, &trying);
        let Some(uri) = msg.uri().and_then(Uri::parse) else {
            self.counters.rejected += 1;
            return self.respond(&msg, from, 400, None, now);
        };
        let (cid, pin) = match destination(&uri) {
            Destination::Conference { cid, pin } => (cid, pin),
            Destination::Default => match &self.cfg.default_conference {
                Some(c) => (c.clone(), None),
                None => return self.respond(&msg, from, 404, None, now),
            },
        };
        // A PIN-protected conference: a PIN in the dial string must be right; without
        // one the caller is answered outside the conference and asked for it.
        let lobby_pin = match (self.cfg.pins.get(&cid), pin) {
            (None, _) => None,
            (Some(want), Some(got)) if want.len() == got.len() && openssl::memcmp::eq(want.as_bytes(), got.as_bytes()) => None,
            (Some(_), Some(_)) => {
                self.counters.rejected += 1;
                return self.respond(&msg, from, 403, None, now);
            }
            (Some(want), None) => Some(want.clone()),
        };
        let offer = if msg.body.is_empty() {
            None
        } else {
            match sdp::parse_offer(&msg.body) {
                Ok(o) => Some(o),
                Err(e) => {
                    let tag = self.token();
                    let mut r = self.reply(&msg, from, 488, Some(&tag));
                    r.push("Warning", super::endpoint::warning(304, &e.to_string()));
                    self.counters.rejected += 1;
                    return self.complete(&msg, from, &r, now);
                }
            }
        };
        if let Err(e) = media.ensure_room(&cid) {
            tracing::warn!("SIP call {call_id}: room {cid}: {e}");
            return self.respond(&msg, from, 503, None, now);
        }
        let caller = msg.header("From").and_then(NameAddr::parse).map(|n| n.uri.user).unwrap_or_default();
        let room = if lobby_pin.is_some() { None } else { Some(cid.as_str()) };
        let spec = leg_spec(offer.as_ref(), room, &caller, &call_id);
        let info = match media.create_leg(spec) {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!("SIP call {call_id}: leg: {e}");
                return self.respond(&msg, from, 503, None, now);
            }
        };
        let local_tag = self.token();
        let to = msg.uri().unwrap_or("").to_string();
        self.events.push(CallEvent::Trying { call: call_id.clone(), direction: "in".into(), from: caller, to, conference: cid.clone() });
        let ringing = self.reply(&msg, from, 180, Some(&local_tag));
        self.send(from, &ringing);
        self.events.push(CallEvent::Ringing { call: call_id.clone() });
        let remote_uri = msg.header("From").unwrap_or("").to_string();
        let session_id = self.session_id();
        let call = Call {
            state: State::Ringing(now + self.cfg.answer_delay),
            peer: from,
            leg: info.leg,
            conference: cid,
            invite: msg,
            local_tag,
            remote_uri,
            offer,
            sdp_version: 1,
            session_id,
            local_media: (info.advertised_ip, info.rtp_port),
            ok: None,
            held: false,
            lobby: lobby_pin.map(|p| Lobby::new(&p)),
            cseq: 0,
        };
        self.legs.insert(info.leg, call_id.clone());
        self.calls.insert(call_id.clone(), call);
        if self.cfg.answer_delay.is_zero() {
            self.answer(&call_id, now);
        }
    }

    /// Send the 200 OK (with the answer, or our offer for a late-offer INVITE).
    pub(super) fn answer(&mut self, call_id: &str, now: Instant) {
        let Some(call) = self.calls.get_mut(call_id) else { return };
        let body = local_sdp(call);
        let (invite, tag, peer) = (call.invite.clone(), call.local_tag.clone(), call.peer);
        let mut r = self.reply(&invite, peer, 200, Some(&tag));
        r.push("Contact", format!("<sip:mediad@{}>", self.cfg.local)).push("Allow", ALLOW).push("Content-Type", "application/sdp");
        r.body = body.into_bytes();
        let bytes = r.to_bytes();
        self.out.push((peer, bytes.clone()));
        let call = self.calls.get_mut(call_id).expect("present");
        call.state = State::Answered;
        call.ok = Some(Retransmit::new(peer, bytes, now, T2));
        let codec = call.offer.as_ref().map(|o| o.audio.codec.to_string()).unwrap_or_else(|| "pending".into());
        self.events.push(CallEvent::Answered { call: call_id.to_string(), leg: call.leg, codec });
    }

    pub(super) fn ack(&mut self, msg: &Message, from: SocketAddr, now: Instant, media: &mut dyn MediaOps) {
        let id = msg.call_id().to_string();
        let Some(call) = self.calls.get_mut(&id) else { return };
        if call.state != State::Answered || msg.cseq().map(|c| c.0) != call.invite.cseq().map(|c| c.0) {
            return;
        }
        call.state = State::Confirmed;
        call.ok = None;
        call.peer = from;
        // Late offer: the ACK carries the answer to our offer.
        if call.offer.is_none() {
            match sdp::parse_offer(&msg.body) {
                Ok(o) => {
                    let upd = LegUpdate { leg: call.leg, remote: Some(SocketAddr::new(o.addr, o.port)), ..Default::default() };
                    let _ = media.update_leg(upd);
                    self.events.push(CallEvent::Codec { call: id.clone(), codec: o.audio.codec.to_string() });
                    call.offer = Some(o);
                }
                Err(_) => return self.hangup(&id, now, media, "no SDP answer in the ACK"),
            }
        }
        // Media flows both ways from now on: time to ask for the PIN.
        self.lobby_start(&id, now, media);
    }

    fn reinvite(&mut self, msg: Message, from: SocketAddr, now: Instant, media: &mut dyn MediaOps) {
        let call_id = msg.call_id().to_string();
        let trying = self.reply(&msg, from, 100, None);
        self.send(from, &trying);
        let offer = match (msg.body.is_empty(), sdp::parse_offer(&msg.body)) {
            (true, _) => None,
            (false, Ok(o)) => Some(o),
            (false, Err(_)) => return self.respond(&msg, from, 488, None, now),
        };
        let call = self.calls.get_mut(&call_id).expect("checked by the caller");
        if let Some(o) = &offer {
            let held = o.direction != "sendrecv";
            // Hold: mediad stops mixing the leg (it hears nothing anyway).
            let upd = LegUpdate { leg: call.leg, remote: Some(SocketAddr::new(o.addr, o.port)).filter(|a| !a.ip().is_unspecified()), muted: Some(held), ..Default::default() };
            let _ = media.update_leg(upd);
            if held != call.held {
                call.held = held;
                self.events.push(CallEvent::Held { call: call_id.clone(), held });
            }
            call.offer = Some(o.clone());
        }
        call.sdp_version += 1;
        call.invite = msg.clone();
        let body = local_sdp(call);
        let tag = call.local_tag.clone();
        let mut r = self.reply(&msg, from, 200, Some(&tag));
        r.push("Contact", format!("<sip:mediad@{}>", self.cfg.local)).push("Content-Type", "application/sdp");
        r.body = body.into_bytes();
        let bytes = r.to_bytes();
        self.out.push((from, bytes.clone()));
        let call = self.calls.get_mut(&call_id).expect("present");
        call.state = State::Answered;
        call.ok = Some(Retransmit::new(from, bytes, now, T2));
    }

    pub(super) fn bye(&mut self, msg: &Message, from: SocketAddr, now: Instant, media: &mut dyn MediaOps) {
        let Some(call) = self.calls.remove(msg.call_id()) else {
            return self.respond(msg, from, 481, None, now);
        };
        self.respond(msg, from, 200, None, now);
        self.finish(msg.call_id(), call, "remote BYE", media);
    }

    pub(super) fn cancel(&mut self, msg: &Message, from: SocketAddr, now: Instant, media: &mut dyn MediaOps) {
        let call_id = msg.call_id().to_string();
        let ringing = self.calls.get(&call_id).filter(|c| c.invite.branch() == msg.branch() && matches!(c.state, State::Ringing(_)));
        let Some(call) = ringing else {
            return self.respond(msg, from, 481, None, now);
        };
        let (invite, tag) = (call.invite.clone(), call.local_tag.clone());
        let call = self.calls.remove(&call_id).expect("present");
        self.respond(msg, from, 200, None, now);
        self.respond(&invite, from, 487, Some(&tag), now);
        self.finish(&call_id, call, "cancelled", media);
    }

    /// RFC 2976 INFO with `application/dtmf-relay` (`Signal=5`).
    pub(super) fn info(&mut self, msg: &Message, from: SocketAddr, now: Instant, media: &mut dyn MediaOps) {
        if !self.calls.contains_key(msg.call_id()) {
            return self.respond(msg, from, 481, None, now);
        }
        self.respond(msg, from, 200, None, now);
        let is_relay = msg.header("Content-Type").is_some_and(|t| t.trim().eq_ignore_ascii_case("application/dtmf-relay"));
        if is_relay {
            let body = String::from_utf8_lossy(&msg.body);
            let digit = body.lines().find_map(|l| {
                let (k, v) = l.split_once('=')?;
                k.trim().eq_ignore_ascii_case("signal").then(|| v.trim().chars().next()).flatten()
            });
            if let Some(d) = digit.filter(|d| d.is_ascii_digit() || "*#ABCD".contains(*d)) {
                self.digit(msg.call_id(), d, now, media);
            }
        }
    }

    /// End a call from our side: BYE when answered, else just drop the leg.
    pub fn hangup(&mut self, call_id: &str, now: Instant, media: &mut dyn MediaOps, cause: &str) {
        let Some(call) = self.calls.remove(call_id) else { return };
        if call.state == State::Confirmed || call.state == State::Answered {
            let branch = format!("z9hG4bK{}", self.token());
            let target = call.invite.header("Contact").and_then(NameAddr::parse).map(|n| n.uri.to_string()).unwrap_or_else(|| format!("sip:{}", call.peer));
            let mut bye = Message::request("BYE", &target);
            bye.push("Via", format!("SIP/2.0/UDP {};branch={branch};rport", self.cfg.local))
                .push("Max-Forwards", "70")
                .push("From", format!("{};tag={}", call.invite.header("To").unwrap_or(""), call.local_tag))
                .push("To", call.remote_uri.clone())
                .push("Call-ID", call_id)
                .push("CSeq", format!("{} BYE", call.cseq + 1));
            let bytes = bye.to_bytes();
            self.out.push((call.peer, bytes.clone()));
            self.requests.insert(branch, Retransmit::new(call.peer, bytes, now, T2));
        }
        self.finish(call_id, call, cause, media);
    }
}

/// The mediad leg of a call: plain RTP from the SIP pool, in the conference's mix
/// (or in no room while it waits for a PIN), in the offered codec (a late offer gets
/// PCMU until the ACK's answer).
fn leg_spec(offer: Option<&Offer>, room: Option<&str>, caller: &str, call_id: &str) -> LegCreate {
    let (pt, codec, clock, te, ptime) = match offer {
        Some(o) => (o.audio.pt, o.audio.codec, o.audio.clock, o.audio.telephone_event, o.audio.ptime),
        None => (0, "pcmu", 8000, Some(101), 20),
    };
    LegCreate {
        pool: PortPool::Rtp,
        clock_rate: Some(if codec == "opus" { 48_000 } else { clock }),
        remote: offer.filter(|o| !o.addr.is_unspecified()).map(|o| SocketAddr::new(o.addr, o.port)),
        room: room.map(str::to_string),
        label: Some(format!("sip:{caller} {call_id}")),
        audio: Some(LegAudio {
            receive: vec![AudioPayload { pt, codec: codec.into() }],
            send: Some(AudioSend { pt, codec: codec.into(), ptime }),
            telephone_event: te,
            inband_dtmf: matches!(codec, "pcmu" | "pcma"),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Our SDP: the answer to the call's offer, or an offer of every codec (late offer).
fn local_sdp(call: &Call) -> String {
    let local = sdp::Local { session_id: call.session_id, version: call.sdp_version, addr: call.local_media.0, port: call.local_media.1, user: "mediad" };
    match &call.offer {
        Some(o) => sdp::answer(o, &local),
        None => sdp::offer_late(&local),
    }
}

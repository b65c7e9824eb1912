//! Calls into conferences: the server side of INVITE dialogs (RFC 3261 §13-15),
//! re-INVITE hold/resume (RFC 3264 §8.4), CANCEL, BYE either way, INFO DTMF
//! (`application/dtmf-relay`) and key-frame requests (`application/media_control+xml`).

use super::endpoint::{CallEvent, Endpoint, ALLOW};
use super::lobby::Lobby;
use super::message::{param, Message};
use super::sdes::{self, Crypto};
use super::sdp::{self, Offer};
use super::session_timer;
use super::transaction::{Retransmit, LINGER, T2};
use super::uri::{destination, Destination, NameAddr, Uri};
use crate::webrtc::conference::MediaOps;
use control::{AudioPayload, AudioSend, LegAudio, LegCreate, LegId, LegUpdate, PortPool};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

#[derive(Debug, PartialEq, Eq)]
pub(super) enum State {
    /// A call out: INVITE sent, no final answer yet.
    Calling,
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
    /// Our side as From/To names it in our requests (without the tag).
    pub(super) local_uri: String,
    /// Their side with their tag (our To in requests we send).
    pub(super) remote_uri: String,
    /// Where our in-dialog requests are addressed (their Contact).
    pub(super) remote_target: String,
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
    /// A call out: our INVITE's client transaction.
    pub(super) out: Option<super::calls_out::Outgoing>,
    /// `UDP` or `TCP`: the Via of our requests and our Contact say it.
    pub(super) transport: &'static str,
    /// RFC 4028 session timer, and the branch of our refreshing UPDATE in flight.
    pub(super) timer: Option<super::session_timer::SessionTimer>,
    pub(super) refreshing: Option<String>,
    /// Our reliable 180 (RFC 3262), resent until PRACKed or answered.
    pub(super) reliable: Option<Reliable>,
    /// Our SDES key (RFC 4568) while the media is SRTP, or while our offer proposes it.
    pub(super) srtp: Option<Crypto>,
    /// The dialog's route set (RFC 3261 §12.1): the proxies that Record-Routed, in the
    /// order our requests pass them; each becomes a Route header of those requests.
    pub(super) route: Vec<String>,
    /// The call's video leg and its port, when the offer's video is answered.
    pub(super) video: Option<(LegId, u16)>,
}

/// Every Record-Route entry of `msg`, top first (header lines may hold several).
pub(super) fn record_route(msg: &Message) -> Vec<String> {
    msg.header_lines("Record-Route").into_iter().flat_map(super::message::split_list).map(str::to_string).collect()
}

pub(super) struct Reliable {
    pub(super) rseq: u32,
    pub(super) retrans: Option<Retransmit>,
}

/// Extensions we implement (`Supported`, and what a `Require` may name).
pub(super) const SUPPORTED: &[&str] = &["100rel", "timer"];

impl Call {
    pub(super) fn answer_due(&self, now: Instant) -> bool {
        matches!(self.state, State::Ringing(at) if now >= at)
    }

    pub(super) fn next_due(&self) -> Option<Instant> {
        let own = match (&self.state, &self.out) {
            (State::Ringing(at), _) => Some(*at),
            (State::Calling, Some(o)) if o.waits_for.is_none() => Some(o.retrans.as_ref().map_or(o.deadline, |r| r.due().min(o.deadline))),
            (State::Confirmed, _) if self.refreshing.is_none() => self.timer.as_ref().map(|t| t.due()),
            _ => self.ok.as_ref().map(Retransmit::due),
        };
        let own = own.into_iter().chain(self.reliable.as_ref().and_then(|r| r.retrans.as_ref()).map(Retransmit::due)).min();
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
                if let (State::Ringing(_), None) = (&call.state, &call.reliable) {
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
        // Extensions the phone insists on (RFC 3261 §8.2.2.3): 100rel and timer we do.
        let required: Vec<String> = msg.header_values("Require").iter().map(|r| r.trim().to_ascii_lowercase()).collect();
        let unknown: Vec<&str> = required.iter().map(String::as_str).filter(|r| !SUPPORTED.contains(r)).collect();
        if !unknown.is_empty() {
            self.counters.rejected += 1;
            let mut r = self.reply(&msg, from, 420, None);
            r.push("Unsupported", unknown.join(", "));
            return self.complete(&msg, from, &r, now);
        }
        let reliable = required.iter().any(|r| r == "100rel");
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
        let Ok(timer) = session_timer::negotiate(&msg, now) else {
            return self.too_brief(&msg, from, now);
        };
        let offer = if msg.body.is_empty() {
            None
        } else {
            match sdp::parse_offer(&msg.body) {
                Ok(o) => Some(o),
                Err(e) => return self.not_acceptable(&msg, from, 304, &e.to_string(), now),
            }
        };
        // SDES: the offer's key and ours (the same suite and tag), or a refusal.
        let srtp = match offer.as_ref().map(|o| sdes::decide(self.cfg.srtp, o.savp, o.crypto.as_ref())).transpose() {
            Ok(remote) => remote.flatten().map(|r| (Crypto::ours(r.tag, r.suite), r)),
            Err(e) => return self.not_acceptable(&msg, from, 399, &e.to_string(), now),
        };
        let composes_video = match media.ensure_room(&cid) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!("SIP call {call_id}: room {cid}: {e}");
                return self.respond(&msg, from, 503, None, now);
            }
        };
        let caller = msg.header("From").and_then(NameAddr::parse).map(|n| n.uri.user).unwrap_or_default();
        let room = if lobby_pin.is_some() { None } else { Some(cid.as_str()) };
        let remote = offer.as_ref().map(|o| SocketAddr::new(o.addr, o.port));
        let mut spec = leg_spec(offer.as_ref().map(|o| &o.audio), sdp::ALL, remote, room, format!("sip:{caller} {call_id}"));
        spec.sdes = srtp.as_ref().map(|(ours, remote)| ours.with_remote(remote));
        // A late offer: ours proposes SRTP as the policy says; the ACK's answer decides.
        let srtp = match (&offer, srtp) {
            (None, _) => sdes::our_offer(self.cfg.srtp),
            (Some(_), s) => s.map(|(ours, _)| ours),
        };
        let info = match media.create_leg(spec) {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!("SIP call {call_id}: leg: {e}");
                return self.respond(&msg, from, 503, None, now);
            }
        };
        // Video: a second leg, its picture into the conference's composition and the
        // composite back. Without it (or where the conference composes no video) the
        // video m-line is refused (port 0).
        let video = offer.as_ref().and_then(|o| o.video.as_ref()).filter(|_| composes_video).and_then(|v| {
            let spec = super::video::leg_spec(v, room, format!("sip:{caller} {call_id} video"), caller.clone(), info.leg);
            match media.create_leg(spec) {
                Ok(l) => Some((l.leg, l.rtp_port)),
                Err(e) => {
                    tracing::warn!("SIP call {call_id}: video leg: {e}");
                    None
                }
            }
        });
        let local_tag = self.token();
        let to = msg.uri().unwrap_or("").to_string();
        self.events.push(CallEvent::Trying { call: call_id.clone(), direction: "in".into(), from: caller, to, conference: cid.clone() });
        let mut ringing = self.reply(&msg, from, 180, Some(&local_tag));
        // RFC 3262: a phone that requires 100rel gets its 180 until it PRACKs it (or
        // our 200 makes it moot: the 180 carries no SDP).
        let reliable = reliable.then(|| {
            let rseq = (self.session_id() & 0x7fff_ffff) as u32 | 1;
            ringing.push("Require", "100rel").push("RSeq", rseq.to_string());
            let bytes = ringing.to_bytes();
            Reliable { rseq, retrans: Some(Retransmit::new(from, bytes, now, LINGER)) }
        });
        self.send(from, &ringing);
        self.events.push(CallEvent::Ringing { call: call_id.clone() });
        let remote_uri = msg.header("From").unwrap_or("").to_string();
        let local_uri = msg.header("To").unwrap_or("").to_string();
        let remote_target = msg.header("Contact").and_then(NameAddr::parse).map(|n| n.uri.to_string()).unwrap_or_else(|| format!("sip:{from}"));
        let session_id = self.session_id();
        let transport = super::endpoint::via_transport(&msg);
        let route = record_route(&msg);
        let call = Call {
            state: State::Ringing(now + self.cfg.answer_delay),
            peer: from,
            leg: info.leg,
            conference: cid,
            invite: msg,
            local_tag,
            local_uri,
            remote_uri,
            remote_target,
            offer,
            sdp_version: 1,
            session_id,
            local_media: (info.advertised_ip, info.rtp_port),
            ok: None,
            held: false,
            lobby: lobby_pin.map(|p| Lobby::new(&p)),
            cseq: 0,
            out: None,
            timer,
            refreshing: None,
            reliable,
            srtp,
            route,
            transport,
            video,
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
        let body = local_sdp(call, self.cfg.srtp);
        let (invite, tag, peer) = (call.invite.clone(), call.local_tag.clone(), call.peer);
        let mut r = self.reply(&invite, peer, 200, Some(&tag));
        r.push("Contact", self.contact(self.calls[call_id].transport)).push("Allow", ALLOW).push("Supported", SUPPORTED.join(", ")).push("Content-Type", "application/sdp");
        for (n, v) in self.calls[call_id].timer.iter().flat_map(|t| t.headers()) {
            r.push(n, v);
        }
        r.body = body.into_bytes();
        let bytes = r.to_bytes();
        self.out.push((peer, bytes.clone()));
        let call = self.calls.get_mut(call_id).expect("present");
        call.state = State::Answered;
        if let Some(r) = call.reliable.as_mut() {
            r.retrans = None;
        }
        if let Some(t) = call.timer.as_mut() {
            t.refreshed = now;
        }
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
                    let upd = match answer_update(call, &o, self.cfg.srtp) {
                        Ok(u) => u,
                        Err(e) => return self.hangup(&id, now, media, &format!("the ACK's answer: {e}")),
                    };
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
            (false, Err(e)) => return self.not_acceptable(&msg, from, 304, &e.to_string(), now),
        };
        // A re-INVITE refreshes the session (and may change its timer).
        let Ok(timer) = session_timer::negotiate(&msg, now) else {
            return self.too_brief(&msg, from, now);
        };
        let call = self.calls.get_mut(&call_id).expect("checked by the caller");
        // SDES again (RFC 4568 §7.1.4): a new key of theirs rekeys the leg; dropping
        // SRTP mid-call is refused.
        let rekey = match offer.as_ref().map(|o| sdes::decide(self.cfg.srtp, o.savp, o.crypto.as_ref())).transpose() {
            Err(e) => return self.not_acceptable(&msg, from, 399, &e.to_string(), now),
            Ok(Some(None)) if call.srtp.is_some() => return self.not_acceptable(&msg, from, 399, "SRTP cannot be dropped mid-call", now),
            Ok(Some(Some(remote))) if call.offer.as_ref().and_then(|p| p.crypto.as_ref()) != Some(&remote) => {
                let ours = match call.srtp.take() {
                    Some(c) if c.suite == remote.suite => Crypto { tag: remote.tag, ..c },
                    _ => Crypto::ours(remote.tag, remote.suite),
                };
                let keys = ours.with_remote(&remote);
                call.srtp = Some(ours);
                Some(keys)
            }
            Ok(_) => None,
        };
        call.timer = timer;
        if let Some(o) = &offer {
            let held = o.direction != "sendrecv";
            // A new codec (or payload type) re-joins the leg to the mix with it.
            let recoded = call.offer.as_ref().map(|p| (p.audio.pt, p.audio.codec)) != Some((o.audio.pt, o.audio.codec));
            // Hold: mediad stops mixing the leg (it hears nothing anyway).
            let upd = LegUpdate {
                leg: call.leg,
                remote: Some(SocketAddr::new(o.addr, o.port)).filter(|a| !a.ip().is_unspecified()),
                muted: Some(held),
                audio: recoded.then(|| chosen_audio(&o.audio)),
                sdes: rekey,
                ..Default::default()
            };
            let _ = media.update_leg(upd);
            if recoded {
                self.events.push(CallEvent::Codec { call: call_id.clone(), codec: o.audio.codec.to_string() });
            }
            if held != call.held {
                call.held = held;
                self.events.push(CallEvent::Held { call: call_id.clone(), held });
            }
            call.offer = Some(o.clone());
        }
        call.sdp_version += 1;
        call.invite = msg.clone();
        let body = local_sdp(call, self.cfg.srtp);
        let tag = call.local_tag.clone();
        let timer_headers: Vec<_> = call.timer.iter().flat_map(|t| t.headers()).collect();
        let transport = call.transport;
        let mut r = self.reply(&msg, from, 200, Some(&tag));
        r.push("Contact", self.contact(transport)).push("Supported", "timer").push("Content-Type", "application/sdp");
        for (n, v) in timer_headers {
            r.push(n, v);
        }
        r.body = body.into_bytes();
        let bytes = r.to_bytes();
        self.out.push((from, bytes.clone()));
        let call = self.calls.get_mut(&call_id).expect("present");
        call.state = State::Answered;
        call.ok = Some(Retransmit::new(from, bytes, now, T2));
    }

    /// PRACK (RFC 3262 §7.2): acknowledges our reliable 180 by its RSeq.
    pub(super) fn prack(&mut self, msg: &Message, from: SocketAddr, now: Instant) {
        let rack: Vec<String> = msg.header("RAck").unwrap_or("").split_whitespace().map(str::to_string).collect();
        let matches = self.calls.get(msg.call_id()).and_then(|c| c.reliable.as_ref().map(|r| (r, c))).is_some_and(|(r, c)| {
            rack.len() == 3 && rack[0] == r.rseq.to_string() && Some(rack[1].as_str()) == c.invite.cseq().map(|x| x.0.to_string()).as_deref() && rack[2].eq_ignore_ascii_case("INVITE")
        });
        if !matches {
            return self.respond(msg, from, 481, None, now);
        }
        if let Some(r) = self.calls.get_mut(msg.call_id()).and_then(|c| c.reliable.as_mut()) {
            r.retrans = None;
        }
        self.respond(msg, from, 200, None, now);
    }

    /// 488 with a Warning (RFC 3261 §20.43) saying what in the offer we cannot take.
    fn not_acceptable(&mut self, msg: &Message, from: SocketAddr, warn: u16, why: &str, now: Instant) {
        self.counters.rejected += 1;
        let tag = self.token();
        let mut r = self.reply(msg, from, 488, Some(&tag));
        r.push("Warning", super::endpoint::warning(warn, why));
        self.complete(msg, from, &r, now);
    }

    /// 422: the asked session interval is below our Min-SE (RFC 4028 §8.1.1).
    fn too_brief(&mut self, msg: &Message, from: SocketAddr, now: Instant) {
        self.counters.rejected += 1;
        let mut r = self.reply(msg, from, 422, None);
        r.push("Min-SE", session_timer::MIN_SE.to_string());
        self.complete(msg, from, &r, now);
    }

    /// UPDATE in a dialog: a session refresh (RFC 4028 §9); no SDP is taken from it.
    pub(super) fn update(&mut self, msg: &Message, from: SocketAddr, now: Instant) {
        if !self.calls.contains_key(msg.call_id()) {
            return self.respond(msg, from, 481, None, now);
        }
        let Ok(timer) = session_timer::negotiate(msg, now) else {
            return self.too_brief(msg, from, now);
        };
        let call = self.calls.get_mut(msg.call_id()).expect("checked");
        call.timer = timer;
        let headers: Vec<_> = call.timer.iter().flat_map(|t| t.headers()).collect();
        let mut r = self.reply(msg, from, 200, None);
        r.push("Supported", "timer");
        for (n, v) in headers {
            r.push(n, v);
        }
        self.complete(msg, from, &r, now);
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

    /// RFC 2976 INFO with `application/dtmf-relay` (`Signal=5`), or RFC 5168
    /// `application/media_control+xml` with `picture_fast_update` (room systems that ask
    /// for a key frame this way rather than by RTCP): the call's composite gets one.
    pub(super) fn info(&mut self, msg: &Message, from: SocketAddr, now: Instant, media: &mut dyn MediaOps) {
        let Some(call) = self.calls.get(msg.call_id()) else {
            return self.respond(msg, from, 481, None, now);
        };
        let video = call.video.map(|(leg, _)| leg);
        self.respond(msg, from, 200, None, now);
        let content_type = msg.header("Content-Type").map(|t| t.trim().to_ascii_lowercase()).unwrap_or_default();
        if content_type == "application/media_control+xml" {
            if let Some(leg) = video.filter(|_| String::from_utf8_lossy(&msg.body).contains("picture_fast_update")) {
                media.request_keyframe(leg);
            }
        } else if content_type == "application/dtmf-relay" {
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

    /// End a call from our side: BYE when answered, CANCEL while a call out rings,
    /// else just drop the leg.
    pub fn hangup(&mut self, call_id: &str, now: Instant, media: &mut dyn MediaOps, cause: &str) {
        let Some(mut call) = self.calls.remove(call_id) else { return };
        match call.state {
            State::Confirmed | State::Answered => {
                call.cseq += 1;
                let bye = self.in_dialog("BYE", &call, call_id);
                let branch = bye.branch().unwrap_or("").to_string();
                let bytes = bye.to_bytes();
                self.out.push((call.peer, bytes.clone()));
                self.requests.insert(branch, Retransmit::new(call.peer, bytes, now, T2));
            }
            State::Calling => self.cancel_out(&call, now),
            State::Ringing(_) => {}
        }
        self.finish(call_id, call, cause, media);
    }

    /// A request inside the call's dialog (RFC 3261 §12.2.1.1), with our next CSeq.
    pub(super) fn in_dialog(&mut self, method: &str, call: &Call, call_id: &str) -> Message {
        let branch = format!("z9hG4bK{}", self.token());
        let mut m = Message::request(method, &call.remote_target);
        m.push("Via", format!("SIP/2.0/{} {};branch={branch};rport", call.transport, self.cfg.local))
            .push("Max-Forwards", "70")
            .push("From", format!("{};tag={}", call.local_uri, call.local_tag))
            .push("To", call.remote_uri.clone())
            .push("Call-ID", call_id)
            .push("CSeq", format!("{} {method}", call.cseq));
        for r in &call.route {
            m.push("Route", r.clone());
        }
        m
    }
}

/// The mediad leg of a call: plain RTP from the SIP pool, in the conference's mix
/// (or in no room while it waits for a PIN), in the codec chosen, or ready for any
/// of `offered` until the answer to our offer says which.
pub(super) fn leg_spec(chosen: Option<&sdp::AudioChoice>, offered: &[&str], remote: Option<SocketAddr>, room: Option<&str>, label: String) -> LegCreate {
    let (receive, send, te) = match chosen {
        Some(a) => (vec![AudioPayload { pt: a.pt, codec: a.codec.into() }], (a.pt, a.codec, a.ptime), a.telephone_event),
        None => {
            let rx = offered.iter().map(|c| AudioPayload { pt: sdp::offer_pt(c), codec: c.to_string() }).collect();
            let first = offered.first().copied().unwrap_or("pcmu");
            (rx, (sdp::offer_pt(first), first, 20), Some(sdp::TE_PT))
        }
    };
    LegCreate {
        pool: PortPool::Rtp,
        clock_rate: Some(if send.1 == "opus" { 48_000 } else { 8000 }),
        remote: remote.filter(|r| !r.ip().is_unspecified()),
        room: room.map(str::to_string),
        label: Some(label),
        audio: Some(LegAudio {
            // Tones in the audio are looked for only when the phone has no RFC 4733
            // events: the detector is the MCU's largest cost per G.711 participant
            // after resampling (`perf sip-calls`, perf record: 11 % of the core).
            inband_dtmf: te.is_none() && receive.iter().any(|p| matches!(p.codec.as_str(), "pcmu" | "pcma")),
            receive,
            send: Some(AudioSend { pt: send.0, codec: send.1.into(), ptime: send.2 }),
            telephone_event: te,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The leg update for an answer `a` to our offer: its address and codec, and the SDES
/// keys when it took our crypto (a plain answer drops `call.srtp`); Err when its
/// security does not fit `policy`.
pub(super) fn answer_update(call: &mut Call, a: &Offer, policy: sdes::Policy) -> Result<LegUpdate, sdes::Refusal> {
    let remote = sdes::accept_answer(policy, call.srtp.as_ref(), a.crypto.as_ref())?;
    let sdes = remote.as_ref().zip(call.srtp.as_ref()).map(|(r, ours)| ours.with_remote(r));
    if sdes.is_none() {
        call.srtp = None;
    }
    Ok(LegUpdate { leg: call.leg, remote: Some(SocketAddr::new(a.addr, a.port)), audio: Some(chosen_audio(&a.audio)), sdes, ..Default::default() })
}

/// The leg's audio once an answer chose `a` (a leg made ready for several codecs).
pub(super) fn chosen_audio(a: &sdp::AudioChoice) -> LegAudio {
    leg_spec(Some(a), &[], None, None, String::new()).audio.expect("audio")
}

/// Our SDP: the answer to the call's offer, or an offer of every codec (late offer).
fn local_sdp(call: &Call, policy: sdes::Policy) -> String {
    let local = sdp::Local {
        session_id: call.session_id,
        version: call.sdp_version,
        addr: call.local_media.0,
        port: call.local_media.1,
        user: "mediad",
        crypto: call.srtp.as_ref(),
        savp: call.offer.as_ref().map_or(policy == sdes::Policy::Required, |o| o.savp),
        video_port: call.video.map(|(_, port)| port),
    };
    match &call.offer {
        Some(o) => sdp::answer(o, &local),
        None => sdp::offer(&local, sdp::ALL),
    }
}

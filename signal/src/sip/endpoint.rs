//! The SIP endpoint, sans-IO: fed datagrams and time, it answers (through `out`),
//! keeps server transactions and dialogs, and drives mediad legs through
//! `MediaOps`. Calls in: INVITE (with an offer, or without: late offer answered in
//! the ACK), 100/180/200, ACK, BYE either way, CANCEL, re-INVITE (hold/resume, new
//! address or codec), INFO DTMF, OPTIONS. Each call is one plain-RTP leg in the
//! conference's mixing room.
//!
//! Responses go back to where the request came from (RFC 3581 `rport` behaviour for
//! every client: phones behind NAT are the rule), and so does our BYE (its request
//! URI is the phone's Contact). Record-Route is not handled yet: calls through a
//! proxy that insists on staying in the path are not supported.

use super::message::{param, Message, ParseError, StartLine};
use super::sdp::{self, Offer};
use super::transaction::{Retransmit, LINGER, T2};
use super::uri::{destination, Destination, NameAddr, Uri};
use crate::webrtc::conference::MediaOps;
use control::{AudioPayload, AudioSend, LegAudio, LegCreate, LegId, LegUpdate, PortPool};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

pub struct Config {
    /// Our address as written in Via and Contact.
    pub local: SocketAddr,
    /// Conference for calls to the bare host or to an unknown user part.
    pub default_conference: Option<String>,
    /// Conference id → PIN.
    pub pins: HashMap<String, String>,
    /// Time between 180 Ringing and 200 OK (0: answer at once).
    pub answer_delay: Duration,
}

/// What happened to a call, for the event stream and CDRs.
#[derive(Debug, Clone, PartialEq)]
pub enum CallEvent {
    Trying { call: String, from: String, conference: String },
    Ringing { call: String },
    Answered { call: String, leg: LegId, codec: String },
    Held { call: String, held: bool },
    Dtmf { call: String, digit: char },
    Ended { call: String, cause: String },
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counters {
    pub malformed: u64,
    pub rejected: u64,
    pub retransmissions: u64,
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    /// 180 sent; 200 OK due at the instant.
    Ringing(Instant),
    /// 200 OK sent, waiting for the ACK.
    Answered,
    Confirmed,
}

struct Call {
    state: State,
    peer: SocketAddr,
    leg: LegId,
    /// The INVITE (for the 200 OK and CANCEL's 487) and its branch.
    invite: Message,
    local_tag: String,
    /// Their From (our To in requests we send) and our To (their From).
    remote_uri: String,
    offer: Option<Offer>,
    sdp_version: u64,
    session_id: u64,
    local_media: (IpAddr, u16),
    /// 2xx retransmitted until the ACK (RFC 3261 §13.3.1.4).
    ok: Option<Retransmit>,
    held: bool,
}

pub struct Endpoint {
    cfg: Config,
    calls: HashMap<String, Call>,
    /// Final responses of completed transactions by branch + method, resent when the
    /// request is (non-INVITE, and INVITE failures until their ACK).
    completed: HashMap<String, (Instant, SocketAddr, Vec<u8>)>,
    /// Requests we sent (BYE), resent until answered.
    requests: HashMap<String, Retransmit>,
    pub out: Vec<(SocketAddr, Vec<u8>)>,
    pub events: Vec<CallEvent>,
    pub counters: Counters,
    next_id: u64,
}

const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE";

fn reason(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        481 => "Call/Transaction Does Not Exist",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

impl Endpoint {
    pub fn new(cfg: Config) -> Self {
        let mut seed = [0u8; 8];
        let _ = openssl::rand::rand_bytes(&mut seed);
        Endpoint {
            cfg,
            calls: HashMap::new(),
            completed: HashMap::new(),
            requests: HashMap::new(),
            out: vec![],
            events: vec![],
            counters: Counters::default(),
            next_id: u64::from_le_bytes(seed) >> 16,
        }
    }

    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    fn token(&mut self) -> String {
        self.next_id += 1;
        format!("{:x}", self.next_id)
    }

    fn send(&mut self, to: SocketAddr, m: &Message) {
        self.out.push((to, m.to_bytes()));
    }

    /// A response to `req`, with our Via bookkeeping (RFC 3581 `received`/`rport`).
    fn reply(&mut self, req: &Message, from: SocketAddr, code: u16, tag: Option<&str>) -> Message {
        let mut r = req.response(code, reason(code), tag);
        if let Some(via) = r.headers.iter_mut().find(|(n, _)| n == "Via") {
            let top_end = super::message::split_list(&via.1).first().map(|t| t.len()).unwrap_or(via.1.len());
            let (top, rest) = via.1.split_at(top_end.min(via.1.len()));
            let mut top = top.replace(";rport;", &format!(";rport={};", from.port()));
            if top.ends_with(";rport") {
                top = format!("{top}={}", from.port());
            }
            via.1 = format!("{top};received={}{rest}", from.ip());
        }
        r
    }

    fn respond(&mut self, req: &Message, from: SocketAddr, code: u16, tag: Option<&str>, now: Instant) {
        let r = self.reply(req, from, code, tag);
        self.complete(req, from, &r, now);
    }

    /// Send `r` answering `req`; a final answer is kept to repeat to retransmissions.
    fn complete(&mut self, req: &Message, from: SocketAddr, r: &Message, now: Instant) {
        let bytes = r.to_bytes();
        if r.code().is_some_and(|c| c >= 200) {
            if let (Some(b), Some((_, m))) = (req.branch(), req.cseq()) {
                self.completed.insert(format!("{b} {m}"), (now + LINGER, from, bytes.clone()));
            }
        }
        self.out.push((from, bytes));
    }

    /// One datagram from `from`.
    pub fn receive(&mut self, data: &[u8], from: SocketAddr, now: Instant, media: &mut dyn MediaOps) {
        if data.iter().all(|b| b.is_ascii_whitespace()) {
            return; // CRLF keep-alive
        }
        let msg = match Message::parse(data) {
            Ok(m) => m,
            Err(e) => {
                self.counters.malformed += 1;
                self.reject_malformed(data, from, &e);
                return;
            }
        };
        match &msg.start {
            StartLine::Request { .. } => self.request(msg, from, now, media),
            StartLine::Response { .. } => self.response(&msg),
        }
    }

    /// A request that does not parse gets 400 when enough of it is there to address
    /// a response (RFC 3261 §16.3 step 1 for proxies; UAs do the same); else dropped.
    fn reject_malformed(&mut self, data: &[u8], from: SocketAddr, e: &ParseError) {
        if matches!(e, ParseError::Missing(_) | ParseError::TooLarge | ParseError::Incomplete | ParseError::BadStartLine) {
            return;
        }
        // Retry without the body (its length may be the fault) and without the
        // checks: an answer needs Via, From, To, Call-ID and CSeq to be there.
        let Some(end) = super::message::header_end(data) else { return };
        let text = String::from_utf8_lossy(&data[..end]);
        let head: String = text
            .split("\r\n")
            .filter(|l| {
                let name = l.split(':').next().unwrap_or("").trim().to_ascii_lowercase();
                name != "content-length" && name != "l"
            })
            .collect::<Vec<_>>()
            .join("\r\n");
        let Ok(m) = Message::parse_unchecked(head.as_bytes()) else { return };
        let answerable = ["Via", "From", "To", "Call-ID", "CSeq"].iter().all(|h| m.header(h).is_some_and(|v| !v.is_empty()));
        if answerable && m.cseq().is_some() && m.method().is_some_and(|x| x != "ACK") {
            let mut r = m.response(400, "Bad Request", None);
            r.push("Warning", warning(399, &e.to_string()));
            self.send(from, &r);
        }
    }

    fn request(&mut self, msg: Message, from: SocketAddr, now: Instant, media: &mut dyn MediaOps) {
        let method = msg.method().unwrap_or("").to_string();
        // A retransmitted request whose transaction completed: the same answer again.
        if method != "ACK" {
            if let (Some(b), Some((_, m))) = (msg.branch(), msg.cseq()) {
                if let Some((_, to, bytes)) = self.completed.get(&format!("{b} {m}")) {
                    self.counters.retransmissions += 1;
                    self.out.push((*to, bytes.clone()));
                    return;
                }
            }
        }
        match method.as_str() {
            "INVITE" => self.invite(msg, from, now, media),
            "ACK" => self.ack(&msg, from, now, media),
            "BYE" => self.bye(&msg, from, now, media),
            "CANCEL" => self.cancel(&msg, from, now, media),
            "OPTIONS" => {
                let mut r = self.reply(&msg, from, 200, None);
                r.push("Allow", ALLOW).push("Accept", "application/sdp").push("Supported", "");
                self.send(from, &r);
            }
            "INFO" => self.info(&msg, from, now),
            "UPDATE" => self.respond(&msg, from, 200, None, now),
            _ => {
                let mut r = self.reply(&msg, from, 405, None);
                r.push("Allow", ALLOW);
                self.send(from, &r);
            }
        }
    }

    fn invite(&mut self, msg: Message, from: SocketAddr, now: Instant, media: &mut dyn MediaOps) {
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
        if let Some(want) = self.cfg.pins.get(&cid) {
            // PIN entry by DTMF is not built yet: a PIN must come in the dial string.
            if pin.as_deref() != Some(want.as_str()) {
                self.counters.rejected += 1;
                return self.respond(&msg, from, 403, None, now);
            }
        }
        let offer = if msg.body.is_empty() {
            None
        } else {
            match sdp::parse_offer(&msg.body) {
                Ok(o) => Some(o),
                Err(e) => {
                    let tag = self.token();
                    let mut r = self.reply(&msg, from, 488, Some(&tag));
                    r.push("Warning", warning(304, &e.to_string()));
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
        let spec = leg_spec(offer.as_ref(), &cid, &caller, &call_id);
        let info = match media.create_leg(spec) {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!("SIP call {call_id}: leg: {e}");
                return self.respond(&msg, from, 503, None, now);
            }
        };
        let local_tag = self.token();
        self.events.push(CallEvent::Trying { call: call_id.clone(), from: caller, conference: cid });
        let ringing = self.reply(&msg, from, 180, Some(&local_tag));
        self.send(from, &ringing);
        self.events.push(CallEvent::Ringing { call: call_id.clone() });
        let remote_uri = msg.header("From").unwrap_or("").to_string();
        let session_id = self.next_id;
        let call = Call {
            state: State::Ringing(now + self.cfg.answer_delay),
            peer: from,
            leg: info.leg,
            invite: msg,
            local_tag,
            remote_uri,
            offer,
            sdp_version: 1,
            session_id,
            local_media: (info.advertised_ip, info.rtp_port),
            ok: None,
            held: false,
        };
        self.calls.insert(call_id.clone(), call);
        if self.cfg.answer_delay.is_zero() {
            self.answer(&call_id, now);
        }
    }

    /// Send the 200 OK (with the answer, or our offer for a late-offer INVITE).
    fn answer(&mut self, call_id: &str, now: Instant) {
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

    fn ack(&mut self, msg: &Message, from: SocketAddr, now: Instant, media: &mut dyn MediaOps) {
        let Some(call) = self.calls.get_mut(msg.call_id()) else { return };
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
                    call.offer = Some(o);
                }
                Err(_) => {
                    let id = msg.call_id().to_string();
                    self.hangup(&id, now, media, "no SDP answer in the ACK");
                }
            }
        }
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

    fn bye(&mut self, msg: &Message, from: SocketAddr, now: Instant, media: &mut dyn MediaOps) {
        let Some(call) = self.calls.remove(msg.call_id()) else {
            return self.respond(msg, from, 481, None, now);
        };
        self.respond(msg, from, 200, None, now);
        media.delete_leg(call.leg);
        self.events.push(CallEvent::Ended { call: msg.call_id().to_string(), cause: "remote BYE".into() });
    }

    fn cancel(&mut self, msg: &Message, from: SocketAddr, now: Instant, media: &mut dyn MediaOps) {
        let call_id = msg.call_id().to_string();
        let ringing = self.calls.get(&call_id).filter(|c| c.invite.branch() == msg.branch() && matches!(c.state, State::Ringing(_)));
        let Some(call) = ringing else {
            return self.respond(msg, from, 481, None, now);
        };
        let (invite, tag, leg) = (call.invite.clone(), call.local_tag.clone(), call.leg);
        self.calls.remove(&call_id);
        self.respond(msg, from, 200, None, now);
        self.respond(&invite, from, 487, Some(&tag), now);
        media.delete_leg(leg);
        self.events.push(CallEvent::Ended { call: call_id, cause: "cancelled".into() });
    }

    /// RFC 2976 INFO with `application/dtmf-relay` (`Signal=5`).
    fn info(&mut self, msg: &Message, from: SocketAddr, now: Instant) {
        if !self.calls.contains_key(msg.call_id()) {
            return self.respond(msg, from, 481, None, now);
        }
        let is_relay = msg.header("Content-Type").is_some_and(|t| t.trim().eq_ignore_ascii_case("application/dtmf-relay"));
        if is_relay {
            let body = String::from_utf8_lossy(&msg.body);
            let digit = body.lines().find_map(|l| {
                let (k, v) = l.split_once('=')?;
                k.trim().eq_ignore_ascii_case("signal").then(|| v.trim().chars().next()).flatten()
            });
            if let Some(d) = digit.filter(|d| d.is_ascii_digit() || "*#ABCD".contains(*d)) {
                self.events.push(CallEvent::Dtmf { call: msg.call_id().to_string(), digit: d });
            }
        }
        self.respond(msg, from, 200, None, now);
    }

    fn response(&mut self, msg: &Message) {
        // Responses to our BYEs end their retransmission.
        if let Some(b) = msg.branch() {
            if msg.code().is_some_and(|c| c >= 200) {
                self.requests.remove(b);
            }
        }
    }

    /// End a call from our side: BYE when confirmed, else just drop the leg.
    pub fn hangup(&mut self, call_id: &str, now: Instant, media: &mut dyn MediaOps, cause: &str) {
        let Some(call) = self.calls.remove(call_id) else { return };
        media.delete_leg(call.leg);
        self.events.push(CallEvent::Ended { call: call_id.to_string(), cause: cause.to_string() });
        if call.state == State::Confirmed || call.state == State::Answered {
            let branch = format!("z9hG4bK{}", self.token());
            let target = call.invite.header("Contact").and_then(NameAddr::parse).map(|n| n.uri.to_string()).unwrap_or_else(|| format!("sip:{}", call.peer));
            let mut bye = Message::request("BYE", &target);
            bye.push("Via", format!("SIP/2.0/UDP {};branch={branch};rport", self.cfg.local))
                .push("Max-Forwards", "70")
                .push("From", format!("{};tag={}", call.invite.header("To").unwrap_or(""), call.local_tag))
                .push("To", call.remote_uri.clone())
                .push("Call-ID", call_id)
                // Our own CSeq space (RFC 3261 §12.2.1.1): the BYE is the first and only
                // request we send in a dialog.
                .push("CSeq", "1 BYE");
            let bytes = bye.to_bytes();
            self.out.push((call.peer, bytes.clone()));
            self.requests.insert(branch, Retransmit::new(call.peer, bytes, now, T2));
        }
    }

    /// Timers: answers due, 2xx and BYE retransmissions, expiry of completed
    /// transactions, calls whose ACK never came.
    pub fn tick(&mut self, now: Instant, media: &mut dyn MediaOps) {
        let due: Vec<String> = self.calls.iter().filter(|(_, c)| matches!(c.state, State::Ringing(at) if now >= at)).map(|(id, _)| id.clone()).collect();
        for id in due {
            self.answer(&id, now);
        }
        let mut lost = Vec::new();
        for (id, call) in self.calls.iter_mut() {
            if let Some(r) = call.ok.as_mut() {
                match r.poll(now) {
                    Some(true) => {
                        self.counters.retransmissions += 1;
                        self.out.push((r.to, r.bytes.clone()));
                    }
                    Some(false) => {}
                    None => lost.push(id.clone()),
                }
            }
        }
        for id in lost {
            self.hangup(&id, now, media, "no ACK");
        }
        let mut gone = Vec::new();
        for (b, r) in self.requests.iter_mut() {
            match r.poll(now) {
                Some(true) => self.out.push((r.to, r.bytes.clone())),
                Some(false) => {}
                None => gone.push(b.clone()),
            }
        }
        for b in gone {
            self.requests.remove(&b);
        }
        self.completed.retain(|_, (until, _, _)| *until > now);
    }

    /// When `tick` next has something to do.
    pub fn next_due(&self) -> Option<Instant> {
        let calls = self.calls.values().filter_map(|c| match c.state {
            State::Ringing(at) => Some(at),
            _ => c.ok.as_ref().map(Retransmit::due),
        });
        calls.chain(self.requests.values().map(Retransmit::due)).min()
    }
}

/// A Warning header value (RFC 3261 §20.43). Error texts may quote hostile input:
/// only printable ASCII without quotes or backslashes goes into the header.
fn warning(code: u16, text: &str) -> String {
    let clean: String = text.chars().map(|c| if (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ' { c } else { '?' }).take(200).collect();
    format!("{code} mediad \"{clean}\"")
}

/// The mediad leg of a call: plain RTP from the SIP pool, in the conference's mix,
/// in the offered codec (a late offer gets PCMU until the ACK's answer).
fn leg_spec(offer: Option<&Offer>, cid: &str, caller: &str, call_id: &str) -> LegCreate {
    let (pt, codec, clock, te, ptime) = match offer {
        Some(o) => (o.audio.pt, o.audio.codec, o.audio.clock, o.audio.telephone_event, o.audio.ptime),
        None => (0, "pcmu", 8000, Some(101), 20),
    };
    LegCreate {
        pool: PortPool::Rtp,
        clock_rate: Some(if codec == "opus" { 48_000 } else { clock }),
        remote: offer.filter(|o| !o.addr.is_unspecified()).map(|o| SocketAddr::new(o.addr, o.port)),
        room: Some(cid.to_string()),
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

#[cfg(test)]
#[path = "endpoint_tests.rs"]
mod tests;

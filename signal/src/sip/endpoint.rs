//! The SIP endpoint, sans-IO: fed datagrams, mediad events and time, it answers
//! (through `out`), keeps server transactions and dialogs, and drives mediad legs
//! through `MediaOps`. Calls in (`calls_in.rs`): INVITE (with an offer, or without:
//! late offer answered in the ACK), 100/180/200, ACK, BYE either way, CANCEL,
//! re-INVITE (hold/resume, new address or codec), INFO DTMF, OPTIONS. Each call is one
//! plain-RTP leg in the conference's mixing room; a caller to a PIN-protected
//! conference without the PIN waits outside it and types the PIN (`lobby.rs`).
//!
//! Responses go back to where the request came from (RFC 3581 `rport` behaviour for
//! every client: phones behind NAT are the rule), and so do our requests in a dialog
//! (their request URI is the phone's Contact). Record-Route is not handled yet: calls
//! through a proxy that insists on staying in the path are not supported.

use super::call_log::Qos;
use super::calls_in::Call;
use super::message::{param, Message, ParseError, StartLine};
use super::transaction::{Retransmit, LINGER};
use crate::webrtc::conference::MediaOps;
use control::LegId;
use serde::Serialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
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
    /// Registrar realm and its users (name → password); no users: REGISTER gets 403.
    pub realm: String,
    pub users: HashMap<String, String>,
    /// Digest algorithms challenged with, in order.
    pub digest: Vec<super::digest::Algorithm>,
    /// Trunks for calls out to numbers.
    pub trunks: Vec<super::trunks::Trunk>,
    /// Folder with the spoken prompts (`enter-pin.wav`, `wrong-pin.wav`, ...), as
    /// mediad reads them.
    pub prompts: PathBuf,
    /// SDES-SRTP on calls in and on calls out without a trunk.
    pub srtp: super::sdes::Policy,
}

/// What happened to a call: the event feed and the CDRs are made of these.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum CallEvent {
    Trying { call: String, direction: String, from: String, to: String, conference: String },
    Ringing { call: String },
    Answered { call: String, leg: LegId, codec: String },
    /// The codec changed (the late-offer answer in the ACK, a re-INVITE).
    Codec { call: String, codec: String },
    /// The caller waits outside the conference for the PIN.
    PinRequested { call: String },
    PinRejected { call: String, tries_left: u8 },
    /// Let into the conference after the PIN.
    Joined { call: String, conference: String },
    Held { call: String, held: bool },
    /// A key press outside PIN entry (PIN digits are secrets and not reported).
    Dtmf { call: String, digit: char },
    Ended { call: String, cause: String, qos: Option<Qos> },
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Counters {
    pub malformed: u64,
    /// Requests refused (403, 422, 488, ...).
    pub rejected: u64,
    /// Messages we sent again because no answer came in time (any of ours).
    pub retransmissions: u64,
}

pub struct Endpoint {
    pub(super) cfg: Config,
    pub(super) calls: HashMap<String, Call>,
    /// Which call a mediad leg belongs to (mediad events name legs).
    pub(super) legs: HashMap<LegId, String>,
    /// Final responses of completed transactions by branch + method, resent when the
    /// request is (non-INVITE, and INVITE failures until their ACK).
    completed: HashMap<String, (Instant, SocketAddr, Vec<u8>)>,
    /// Requests we sent (BYE, CANCEL), resent until answered.
    pub(super) requests: HashMap<String, Retransmit>,
    pub(super) registrar: Option<super::registrar::Registrar>,
    pub(super) trunks: Vec<super::trunks::Trunk>,
    pub(super) trunk_regs: HashMap<String, super::trunk_register::TrunkReg>,
    /// INVITEs we cancelled, to ACK their final answers (until 64·T1).
    pub(super) cancelled: HashMap<String, (Message, SocketAddr, Instant)>,
    pub out: Vec<(SocketAddr, Vec<u8>)>,
    pub events: Vec<CallEvent>,
    pub counters: Counters,
    next_id: u64,
}

pub(super) const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, PRACK, REGISTER";

fn reason(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        420 => "Bad Extension",
        422 => "Session Interval Too Small",
        423 => "Interval Too Brief",
        481 => "Call/Transaction Does Not Exist",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        504 => "Server Time-out",
        503 => "Service Unavailable",
        _ => "",
    }
}

impl Endpoint {
    pub fn new(cfg: Config) -> Self {
        let mut seed = [0u8; 8];
        let _ = openssl::rand::rand_bytes(&mut seed);
        let registrar = (!cfg.users.is_empty()).then(|| super::registrar::Registrar::new(&cfg.realm, &cfg.digest, cfg.users.clone()));
        let trunks = cfg.trunks.clone();
        Endpoint {
            cfg,
            registrar,
            trunks,
            trunk_regs: HashMap::new(),
            cancelled: HashMap::new(),
            calls: HashMap::new(),
            legs: HashMap::new(),
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

    pub fn has_call(&self, call_id: &str) -> bool {
        self.calls.contains_key(call_id)
    }

    pub(super) fn token(&mut self) -> String {
        self.next_id += 1;
        format!("{:x}", self.next_id)
    }

    /// Our Contact for a call over `transport` (`UDP`, `TCP`).
    pub(super) fn contact(&self, transport: &str) -> String {
        match transport {
            "UDP" => format!("<sip:mediad@{}>", self.cfg.local),
            t => format!("<sip:mediad@{};transport={}>", self.cfg.local, t.to_ascii_lowercase()),
        }
    }

    /// A fresh `o=` session id.
    pub(super) fn session_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub(super) fn send(&mut self, to: SocketAddr, m: &Message) {
        self.out.push((to, m.to_bytes()));
    }

    /// A response to `req`, with our Via bookkeeping (RFC 3581 `received`/`rport`).
    pub(super) fn reply(&mut self, req: &Message, from: SocketAddr, code: u16, tag: Option<&str>) -> Message {
        // Every response but 100 carries a To tag (RFC 3261 §8.2.6.2); outside a dialog
        // one derived from the branch keeps retransmitted answers identical.
        let derived = (tag.is_none() && code > 100).then(|| tag_for(req));
        let mut r = req.response(code, reason(code), tag.or(derived.as_deref()));
        if let Some(via) = r.headers.iter_mut().find(|(n, _)| n == "Via") {
            let top_end = super::message::split_list(&via.1).first().map(|t| t.len()).unwrap_or(via.1.len());
            let (top, rest) = via.1.split_at(top_end.min(via.1.len()));
            let mut top = top.replace(";rport;", &format!(";rport={};", from.port()));
            if top.ends_with(";rport") {
                top = format!("{top}={}", from.port());
            }
            via.1 = format!("{top};received={}{rest}", from.ip());
        }
        // Proxies that asked to stay in the dialog's path find themselves in the
        // responses that set it up (RFC 3261 §12.1.1).
        if req.method() == Some("INVITE") && (101..300).contains(&code) && req.header("To").and_then(|t| param(t, "tag")).is_none() {
            for rr in req.header_lines("Record-Route") {
                r.push("Record-Route", rr);
            }
        }
        r
    }

    pub(super) fn respond(&mut self, req: &Message, from: SocketAddr, code: u16, tag: Option<&str>, now: Instant) {
        let r = self.reply(req, from, code, tag);
        self.complete(req, from, &r, now);
    }

    /// Send `r` answering `req`; a final answer is kept to repeat to retransmissions.
    pub(super) fn complete(&mut self, req: &Message, from: SocketAddr, r: &Message, now: Instant) {
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
            StartLine::Response { .. } => self.response(&msg, now, media),
        }
    }

    /// An event from mediad about one of our legs: key presses (RFC 4733 or in-band)
    /// and prompts that finished.
    pub fn media_event(&mut self, ev: &control::Event, now: Instant, media: &mut dyn MediaOps) {
        match ev {
            control::Event::Dtmf { leg, digit, .. } => {
                let (Some(call), Some(d)) = (self.legs.get(leg).cloned(), digit.chars().next()) else { return };
                self.digit(&call, d, now, media);
            }
            control::Event::PromptDone { id } => self.prompt_done(*id, now, media),
            _ => {}
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
                r.push("Allow", ALLOW).push("Accept", "application/sdp").push("Supported", super::calls_in::SUPPORTED.join(", "));
                self.send(from, &r);
            }
            "INFO" => self.info(&msg, from, now, media),
            "UPDATE" => self.update(&msg, from, now),
            "PRACK" => self.prack(&msg, from, now),
            "REGISTER" => self.register(&msg, from, now),
            _ => {
                let mut r = self.reply(&msg, from, 405, None);
                r.push("Allow", ALLOW);
                self.send(from, &r);
            }
        }
    }

    fn response(&mut self, msg: &Message, now: Instant, media: &mut dyn MediaOps) {
        match msg.cseq().map(|c| c.1).as_deref() {
            Some("INVITE") => self.invite_response(msg, now, media),
            Some("REGISTER") => self.register_response(msg, now, media),
            Some("UPDATE") => self.refresh_response(msg, now, media),
            // Final answers to our BYEs and CANCELs end their retransmission.
            _ => {
                if let Some(b) = msg.branch().filter(|_| msg.code().is_some_and(|c| c >= 200)) {
                    self.requests.remove(b);
                }
            }
        }
    }

    /// Devices registered here (name, contact, source address, seconds left).
    pub fn registered(&self, now: Instant) -> Vec<(String, String, SocketAddr, u64)> {
        let Some(r) = &self.registrar else { return vec![] };
        r.registered(now).into_iter().map(|(u, b)| (u, b.contact.to_string(), b.addr, b.expires.saturating_duration_since(now).as_secs())).collect()
    }

    /// Close a call that is no longer in `calls`: its leg's last stats go into the
    /// event (and so the CDR), then the leg is deleted.
    pub(super) fn finish(&mut self, call_id: &str, call: Call, cause: &str, media: &mut dyn MediaOps) {
        self.legs.remove(&call.leg);
        let qos = media.leg_stats(call.leg).map(|s| Qos::from_stats(&s));
        media.delete_leg(call.leg);
        if let Some((video, _)) = call.video {
            media.delete_leg(video);
        }
        // The conference's room goes with its last participant (browsers included).
        media.delete_room(&call.conference);
        self.events.push(CallEvent::Ended { call: call_id.to_string(), cause: cause.to_string(), qos });
    }

    /// Timers: answers due, 2xx and BYE retransmissions, PIN entry timeouts, expiry
    /// of completed transactions, calls whose ACK never came.
    pub fn tick(&mut self, now: Instant, media: &mut dyn MediaOps) {
        let due: Vec<String> = self.calls.iter().filter(|(_, c)| c.answer_due(now)).map(|(id, _)| id.clone()).collect();
        for id in due {
            self.answer(&id, now);
        }
        let mut lost = Vec::new();
        let mut unacked = Vec::new();
        for (id, call) in self.calls.iter_mut() {
            if let Some(r) = call.reliable.as_mut().and_then(|r| r.retrans.as_mut()) {
                match r.resend(now, &mut self.out) {
                    Some(sent) => self.counters.retransmissions += sent as u64,
                    None => unacked.push(id.clone()),
                }
            }
            if let Some(r) = call.ok.as_mut() {
                match r.resend(now, &mut self.out) {
                    Some(sent) => self.counters.retransmissions += sent as u64,
                    None => lost.push(id.clone()),
                }
            }
        }
        for id in lost {
            self.hangup(&id, now, media, "no ACK");
        }
        // A reliable 180 never PRACKed while still ringing: 504 (RFC 3262 §3).
        for id in unacked {
            if let Some(call) = self.calls.remove(&id) {
                let (invite, tag, peer) = (call.invite.clone(), call.local_tag.clone(), call.peer);
                self.respond(&invite, peer, 504, Some(&tag), now);
                self.finish(&id, call, "no PRACK", media);
            }
        }
        self.lobby_tick(now, media);
        self.calls_out_tick(now, media);
        self.session_timers_tick(now, media);
        self.trunks_tick(now, media);
        if let Some(r) = self.registrar.as_mut() {
            r.expire(now);
        }
        let mut gone = Vec::new();
        for (b, r) in self.requests.iter_mut() {
            match r.resend(now, &mut self.out) {
                Some(sent) => self.counters.retransmissions += sent as u64,
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
        let calls = self.calls.values().filter_map(Call::next_due);
        calls.chain(self.requests.values().map(Retransmit::due)).chain(self.trunks_next_due()).min()
    }
}

/// The transport a request came over, from its top Via (`SIP/2.0/TCP host`).
pub(super) fn via_transport(msg: &Message) -> &'static str {
    let via = msg.header("Via").unwrap_or("");
    let proto = via.split_whitespace().next().unwrap_or("").rsplit('/').next().unwrap_or("");
    match proto.to_ascii_uppercase().as_str() {
        "TCP" => "TCP",
        "TLS" => "TLS",
        _ => "UDP",
    }
}

/// A To tag for an answer outside any dialog (stable per request).
pub(super) fn tag_for(msg: &Message) -> String {
    let h = openssl::hash::hash(openssl::hash::MessageDigest::sha256(), msg.branch().unwrap_or(msg.call_id()).as_bytes()).expect("hash");
    h[..6].iter().map(|b| format!("{b:02x}")).collect()
}

/// A Warning header value (RFC 3261 §20.43). Error texts may quote hostile input:
/// only printable ASCII without quotes or backslashes goes into the header.
pub(super) fn warning(code: u16, text: &str) -> String {
    let clean: String = text.chars().map(|c| if (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ' { c } else { '?' }).take(200).collect();
    format!("{code} mediad \"{clean}\"")
}

#[cfg(test)]
#[path = "endpoint_tests.rs"]
mod tests;

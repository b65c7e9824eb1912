//! Calls out of conferences (the client side of INVITE, RFC 3261 §13.2/§17.1.1):
//! `dial` puts a SIP URI, a registered device or a number through a trunk into a
//! conference. 401/407 are answered once with Digest credentials, provisional
//! answers stop the INVITE's retransmission, the 2xx is ACKed (again for each
//! retransmitted 2xx), failures are ACKed and end the call, a call unanswered for
//! `RING_LIMIT` is CANCELled. Trunk registrations (permanent or before each call)
//! live in `trunk_register.rs`.

use super::calls_in::{answer_update, leg_spec, Call, State};
use super::endpoint::{CallEvent, Endpoint, ALLOW};
use super::message::Message;
use super::sdes;
use super::sdp;
use super::transaction::{Retransmit, LINGER, T2};
use super::trunks::RegisterMode;
use super::uri::{NameAddr, Uri};
use crate::webrtc::conference::MediaOps;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// A call out that rings this long without an answer is cancelled.
pub const RING_LIMIT: Duration = Duration::from_secs(60);

/// What the API asks for.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Dial {
    /// A SIP URI with an IP address (`sip:1000@192.0.2.5:5060`), the name of a device
    /// registered here, or a number for a trunk.
    pub to: String,
    pub conference: String,
    /// The trunk for numbers (default: the default trunk).
    #[serde(default)]
    pub trunk: Option<String>,
}

/// The client transaction of our INVITE.
pub(super) struct Outgoing {
    /// The INVITE as last sent (for CANCEL, ACK of failures, the retry with credentials).
    pub(super) request: Message,
    pub(super) to_addr: SocketAddr,
    /// Until a provisional or final answer (Timer A; Timer B gives up).
    pub(super) retrans: Option<Retransmit>,
    /// Ring limit (after a provisional) or Timer B.
    pub(super) deadline: Instant,
    pub(super) credentials: Option<(String, String)>,
    pub(super) auth_tried: bool,
    pub(super) ringing: bool,
    /// Our ACK of the 2xx, resent for each retransmitted 2xx.
    pub(super) ack: Option<Vec<u8>>,
    /// Held back until the trunk's registration (before-call mode) succeeds.
    pub(super) waits_for: Option<String>,
    pub(super) codecs: Vec<&'static str>,
    /// SDES policy of this call (the trunk's, or calls-in's without a trunk).
    pub(super) srtp: super::sdes::Policy,
}

impl Endpoint {
    /// Start a call out; its Call-ID, or why it cannot be placed.
    pub fn dial(&mut self, d: &Dial, now: Instant, media: &mut dyn MediaOps) -> Result<String, String> {
        if d.conference.is_empty() || d.conference.len() > 128 {
            return Err("conference ids are 1-128 characters".into());
        }
        let (request_uri, to_addr, trunk) = self.route(d, now)?;
        let (credentials, codecs, caller, register, policy) = match trunk.and_then(|i| self.trunks.get(i)) {
            Some(t) => (t.credentials.clone(), t.codecs.clone(), t.caller_id.clone(), (t.register == RegisterMode::BeforeCall).then(|| t.name.clone()), t.srtp),
            None => (None, sdp::ALL.to_vec(), None, None, self.cfg.srtp),
        };
        media.ensure_room(&d.conference)?;
        let call_id = format!("{}@{}", self.token(), self.cfg.local.ip());
        let spec = leg_spec(None, &codecs, None, Some(&d.conference), format!("{request_uri} {call_id}"));
        let info = media.create_leg(spec)?;
        let caller = caller.unwrap_or_else(|| d.conference.clone());
        let local_uri = format!("<sip:{caller}@{}>", self.cfg.local);
        let local_tag = self.token();
        let session_id = self.session_id();
        let mut call = Call {
            state: State::Calling,
            peer: to_addr,
            leg: info.leg,
            conference: d.conference.clone(),
            invite: Message::request("INVITE", &request_uri),
            local_tag,
            local_uri,
            remote_uri: format!("<{request_uri}>"),
            remote_target: request_uri.clone(),
            offer: None,
            sdp_version: 1,
            session_id,
            local_media: (info.advertised_ip, info.rtp_port),
            ok: None,
            held: false,
            lobby: None,
            cseq: 1,
            out: None,
            timer: None,
            refreshing: None,
            reliable: None,
            transport: "UDP",
            srtp: sdes::our_offer(policy),
            route: Vec::new(),
            video: None,
        };
        let local = sdp::Local {
            video_port: None,
            session_id,
            version: 1,
            addr: info.advertised_ip,
            port: info.rtp_port,
            user: "mediad",
            crypto: call.srtp.as_ref(),
            savp: policy == sdes::Policy::Required,
        };
        let mut invite = self.in_dialog("INVITE", &call, &call_id);
        invite.push("Contact", self.contact("UDP")).push("Allow", ALLOW).push("Content-Type", "application/sdp");
        invite.body = sdp::offer(&local, &codecs).into_bytes();
        call.invite = invite.clone();
        self.legs.insert(info.leg, call_id.clone());
        self.events.push(CallEvent::Trying { call: call_id.clone(), direction: "out".into(), from: caller, to: request_uri, conference: d.conference.clone() });
        let waits_for = register.filter(|name| !self.trunk_registered(name, now));
        call.out = Some(Outgoing {
            request: invite,
            to_addr,
            retrans: None,
            deadline: now + LINGER,
            credentials,
            auth_tried: false,
            ringing: false,
            ack: None,
            waits_for: waits_for.clone(),
            codecs,
            srtp: policy,
        });
        self.calls.insert(call_id.clone(), call);
        match waits_for {
            Some(trunk) => self.register_trunk(&trunk, now),
            None => self.send_invite(&call_id, now),
        }
        Ok(call_id)
    }

    /// Request-URI, next hop and trunk (index) for a dial target.
    fn route(&self, d: &Dial, now: Instant) -> Result<(String, SocketAddr, Option<usize>), String> {
        if let Some(uri) = Uri::parse(&d.to) {
            if let Ok(ip) = uri.host.trim_matches(|c| c == '[' || c == ']').parse::<IpAddr>() {
                return Ok((uri.to_string(), SocketAddr::new(ip, uri.port.unwrap_or(5060)), None));
            }
            if d.trunk.is_none() {
                return Err(format!("`{}`: host names are not resolved; give an IP address or a trunk", d.to));
            }
        }
        if let Some(b) = self.registrar.as_ref().and_then(|r| r.lookup(&d.to, now)) {
            return Ok((b.contact.to_string(), b.addr, None));
        }
        let trunk = match &d.trunk {
            Some(name) => self.trunks.iter().position(|t| &t.name == name).ok_or_else(|| format!("no trunk `{name}`"))?,
            None => self.trunks.iter().position(|t| t.default).ok_or_else(|| format!("`{}` is not registered here and there is no default trunk", d.to))?,
        };
        let t = &self.trunks[trunk];
        let user = Uri::parse(&d.to).map(|u| u.user).unwrap_or_else(|| d.to.clone());
        if user.is_empty() || !user.chars().all(|c| c.is_ascii_alphanumeric() || "+*#-_.".contains(c)) {
            return Err(format!("`{}` is not a number or user name", d.to));
        }
        Ok((format!("sip:{}@{}", t.rewrite(&user), t.host), t.next_hop, Some(trunk)))
    }

    /// Send (or, after a trunk registration, finally send) the call's INVITE.
    pub(super) fn send_invite(&mut self, call_id: &str, now: Instant) {
        let Some(out) = self.calls.get_mut(call_id).and_then(|c| c.out.as_mut()) else { return };
        out.waits_for = None;
        let bytes = out.request.to_bytes();
        out.retrans = Some(Retransmit::new(out.to_addr, bytes.clone(), now, LINGER));
        out.deadline = now + LINGER;
        self.out.push((out.to_addr, bytes));
    }

    /// A response to our INVITE.
    pub(super) fn invite_response(&mut self, msg: &Message, now: Instant, media: &mut dyn MediaOps) {
        let call_id = msg.call_id().to_string();
        let code = msg.code().unwrap_or(0);
        let Some(call) = self.calls.get_mut(&call_id) else {
            // A final answer to an INVITE we cancelled or gave up: ACK it all the same.
            if code >= 300 {
                if let Some((req, to, _)) = self.cancelled.get(&call_id) {
                    let ack = failure_ack(req, msg);
                    self.out.push((*to, ack.to_bytes()));
                }
            }
            return;
        };
        let Some(out) = call.out.as_mut() else { return };
        if msg.cseq().map(|c| c.0) != Some(call.cseq) {
            return; // an answer to the INVITE before our retry with credentials
        }
        match code {
            100..=199 => {
                out.retrans = None;
                if code > 100 && !out.ringing {
                    out.ringing = true;
                    out.deadline = now + RING_LIMIT;
                    self.events.push(CallEvent::Ringing { call: call_id });
                }
            }
            200..=299 => {
                if call.state != State::Calling {
                    // A retransmitted 2xx: our ACK again.
                    if let Some(ack) = out.ack.clone() {
                        self.out.push((call.peer, ack));
                    }
                    return;
                }
                call.remote_uri = msg.header("To").unwrap_or("").to_string();
                if let Some(c) = msg.header("Contact").and_then(NameAddr::parse) {
                    call.remote_target = c.uri.to_string();
                }
                call.state = State::Confirmed;
                out.retrans = None;
                // The route set, our side first (RFC 3261 §12.1.2); a loose router at
                // its head is where the dialog's requests go from now on.
                call.route = super::calls_in::record_route(msg).into_iter().rev().collect();
                if let Some(hop) = call.route.first().and_then(|r| loose_hop(r)) {
                    call.peer = hop;
                }
                let ack = self.in_dialog_ack(&call_id);
                let Some(call) = self.calls.get_mut(&call_id) else { return };
                let peer = call.peer;
                self.out.push((peer, ack.clone()));
                call.out.as_mut().expect("outgoing").ack = Some(ack);
                let answer = sdp::parse_offer(&msg.body).ok().filter(|a| call.out.as_ref().is_some_and(|o| o.codecs.contains(&a.audio.codec)));
                let Some(a) = answer else {
                    return self.hangup(&call_id, now, media, "no usable SDP in the answer");
                };
                let policy = call.out.as_ref().map_or(sdes::Policy::Off, |o| o.srtp);
                let upd = match answer_update(call, &a, policy) {
                    Ok(u) => u,
                    Err(e) => return self.hangup(&call_id, now, media, &format!("the answer: {e}")),
                };
                if let Err(e) = media.update_leg(upd) {
                    tracing::warn!("SIP call {call_id}: leg update: {e}");
                }
                let (leg, codec) = (call.leg, a.audio.codec.to_string());
                call.offer = Some(a);
                self.events.push(CallEvent::Answered { call: call_id, leg, codec });
            }
            401 | 407 if !out.auth_tried && out.credentials.is_some() => {
                let ack = failure_ack(&out.request, msg);
                self.out.push((out.to_addr, ack.to_bytes()));
                let (user, password) = out.credentials.clone().expect("checked");
                let (challenge, answer_header) = if code == 401 { ("WWW-Authenticate", "Authorization") } else { ("Proxy-Authenticate", "Proxy-Authorization") };
                let challenges = msg.header_lines(challenge);
                let uri = out.request.uri().unwrap_or("").to_string();
                let cnonce = format!("{:x}", now.elapsed().as_nanos() ^ 0x5deece66d);
                let Some(auth) = super::digest::answer(&challenges, &user, &password, "INVITE", &uri, &cnonce) else {
                    return self.fail_out(&call_id, "no usable authentication challenge", media);
                };
                call.cseq += 1;
                out.auth_tried = true;
                let mut retry = out.request.clone();
                let branch = format!("z9hG4bK{}", self.token());
                let call = self.calls.get_mut(&call_id).expect("present");
                let out = call.out.as_mut().expect("outgoing");
                for (name, value) in retry.headers.iter_mut() {
                    match name.as_str() {
                        "Via" => *value = format!("SIP/2.0/UDP {};branch={branch};rport", self.cfg.local),
                        "CSeq" => *value = format!("{} INVITE", call.cseq),
                        _ => {}
                    }
                }
                retry.push(answer_header, auth);
                out.request = retry;
                self.send_invite(&call_id, now);
            }
            _ => {
                let ack = failure_ack(&out.request, msg);
                self.out.push((out.to_addr, ack.to_bytes()));
                let reason = match &msg.start {
                    super::message::StartLine::Response { reason, .. } => reason.clone(),
                    _ => String::new(),
                };
                self.fail_out(&call_id, &format!("{code} {reason}"), media);
            }
        }
    }

    /// The ACK of our 2xx: a new transaction in the dialog with the INVITE's CSeq.
    fn in_dialog_ack(&mut self, call_id: &str) -> Vec<u8> {
        let call = self.calls.remove(call_id).expect("present");
        let ack = self.in_dialog("ACK", &call, call_id);
        self.calls.insert(call_id.to_string(), call);
        ack.to_bytes()
    }

    /// End a call out that never connected.
    pub(super) fn fail_out(&mut self, call_id: &str, cause: &str, media: &mut dyn MediaOps) {
        if let Some(call) = self.calls.remove(call_id) {
            self.finish(call_id, call, cause, media);
        }
    }

    /// CANCEL our INVITE (RFC 3261 §9.1): same branch, Request-URI and CSeq number.
    pub(super) fn cancel_out(&mut self, call: &Call, now: Instant) {
        let Some(out) = call.out.as_ref() else { return };
        if out.waits_for.is_some() {
            return; // never sent
        }
        let req = &out.request;
        let mut cancel = Message::request("CANCEL", req.uri().unwrap_or(""));
        for h in ["Via", "From", "To", "Call-ID"] {
            cancel.push(h, req.header(h).unwrap_or(""));
        }
        cancel.push("CSeq", format!("{} CANCEL", call.cseq)).push("Max-Forwards", "70");
        let bytes = cancel.to_bytes();
        self.out.push((out.to_addr, bytes.clone()));
        self.requests.insert(cancel.branch().unwrap_or("").to_string(), Retransmit::new(out.to_addr, bytes, now, T2));
        self.cancelled.insert(req.call_id().to_string(), (req.clone(), out.to_addr, now + LINGER));
    }

    /// Calls out: INVITE retransmission, Timer B, the ring limit.
    pub(super) fn calls_out_tick(&mut self, now: Instant, media: &mut dyn MediaOps) {
        let mut expired = Vec::new();
        for (id, call) in self.calls.iter_mut() {
            let Some(out) = call.out.as_mut().filter(|_| call.state == State::Calling) else { continue };
            if out.waits_for.is_some() {
                continue;
            }
            if let Some(r) = out.retrans.as_mut() {
                if r.resend(now, &mut self.out) == Some(true) {
                    self.counters.retransmissions += 1;
                }
            }
            if now >= out.deadline {
                expired.push((id.clone(), out.ringing));
            }
        }
        for (id, ringing) in expired {
            self.hangup(&id, now, media, if ringing { "no answer" } else { "no response (timeout)" });
        }
        self.cancelled.retain(|_, (_, _, until)| *until > now);
    }
}

/// The ACK of a non-2xx final answer (RFC 3261 §17.1.1.3): part of the INVITE's
/// transaction, so its branch, with the answer's To (and tag).
fn failure_ack(invite: &Message, resp: &Message) -> Message {
    let mut ack = Message::request("ACK", invite.uri().unwrap_or(""));
    ack.push("Via", invite.header("Via").unwrap_or(""))
        .push("Max-Forwards", "70")
        .push("From", invite.header("From").unwrap_or(""))
        .push("To", resp.header("To").unwrap_or(""))
        .push("Call-ID", invite.call_id())
        .push("CSeq", format!("{} ACK", invite.cseq().map_or(1, |c| c.0)));
    // Credentials of the INVITE belong to the ACK too (RFC 3261 §22.1).
    for h in ["Authorization", "Proxy-Authorization"] {
        if let Some(v) = invite.header(h) {
            ack.push(h, v);
        }
    }
    ack
}

/// The address of a loose-routing proxy's Route entry (`<sip:10.0.0.1:5060;lr>`);
/// none for a strict router or a host name.
fn loose_hop(route: &str) -> Option<SocketAddr> {
    let na = NameAddr::parse(route)?;
    let lr = na.uri.params.iter().any(|(k, _)| k.eq_ignore_ascii_case("lr"));
    let ip = na.uri.host.trim_matches(|c| c == '[' || c == ']').parse::<IpAddr>().ok()?;
    lr.then(|| SocketAddr::new(ip, na.uri.port.unwrap_or(5060)))
}

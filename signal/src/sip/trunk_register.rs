//! Our registrations at trunks (RFC 3261 §10.2 client side): `permanent` trunks
//! register at start-up and renew before the granted time runs out; `before-call`
//! trunks register when a call out needs them, and the call's INVITE waits for the
//! 200. 401/407 are answered once with Digest credentials; a failure fails the
//! waiting calls and is retried after the interval.

use super::endpoint::Endpoint;
use super::message::Message;
use super::transaction::{Retransmit, T2};
use super::trunks::RegisterMode;
use crate::webrtc::conference::MediaOps;
use std::time::{Duration, Instant};

#[derive(Default)]
pub(super) struct TrunkReg {
    call_id: String,
    cseq: u32,
    tag: String,
    registered_until: Option<Instant>,
    /// When to (re-)register next (permanent trunks).
    next_at: Option<Instant>,
    /// The REGISTER in flight: its branch and retransmission.
    pending: Option<(String, Retransmit)>,
    auth_tried: bool,
    /// Calls out whose INVITE waits for this registration.
    waiters: Vec<String>,
}

impl Endpoint {
    pub(super) fn trunk_registered(&self, name: &str, now: Instant) -> bool {
        self.trunk_regs.get(name).and_then(|r| r.registered_until).is_some_and(|u| u > now)
    }

    /// Register at trunk `name` now (unless a REGISTER is already on its way); calls
    /// out waiting for it are those whose `waits_for` names it.
    pub(super) fn register_trunk(&mut self, name: &str, now: Instant) {
        let waiting: Vec<String> = self.calls.iter().filter(|(_, c)| c.out.as_ref().and_then(|o| o.waits_for.as_deref()) == Some(name)).map(|(id, _)| id.clone()).collect();
        if !self.trunk_regs.contains_key(name) {
            let reg = TrunkReg { call_id: format!("reg-{}@{}", self.token(), self.cfg.local.ip()), tag: self.token(), ..Default::default() };
            self.trunk_regs.insert(name.to_string(), reg);
        }
        let reg = self.trunk_regs.get_mut(name).expect("inserted");
        for w in waiting {
            if !reg.waiters.contains(&w) {
                reg.waiters.push(w);
            }
        }
        if reg.pending.is_some() {
            return;
        }
        reg.auth_tried = false;
        self.send_register(name, None, now);
    }

    fn send_register(&mut self, name: &str, auth: Option<(&str, String)>, now: Instant) {
        let Some(t) = self.trunks.iter().find(|t| t.name == name).cloned() else { return };
        let branch = format!("z9hG4bK{}", self.token());
        let reg = self.trunk_regs.get_mut(name).expect("registration state");
        reg.cseq += 1;
        let user = t.credentials.as_ref().map(|c| c.0.clone()).unwrap_or_default();
        let aor = format!("<sip:{user}@{}>", t.host);
        let mut m = Message::request("REGISTER", &format!("sip:{}", t.host));
        m.push("Via", format!("SIP/2.0/UDP {};branch={branch};rport", self.cfg.local))
            .push("Max-Forwards", "70")
            .push("From", format!("{aor};tag={}", reg.tag))
            .push("To", aor)
            .push("Call-ID", reg.call_id.clone())
            .push("CSeq", format!("{} REGISTER", reg.cseq))
            .push("Contact", format!("<sip:{user}@{}>", self.cfg.local))
            .push("Expires", t.register_interval_s.to_string());
        if let Some((header, value)) = auth {
            m.push(header, value);
        }
        let bytes = m.to_bytes();
        reg.pending = Some((branch, Retransmit::new(t.next_hop, bytes.clone(), now, T2)));
        self.out.push((t.next_hop, bytes));
    }

    pub(super) fn register_response(&mut self, msg: &Message, now: Instant, media: &mut dyn MediaOps) {
        let Some(name) = self.trunk_regs.iter().find(|(_, r)| r.call_id == msg.call_id()).map(|(n, _)| n.clone()) else { return };
        let Some(trunk) = self.trunks.iter().find(|t| t.name == name).cloned() else { return };
        let reg = self.trunk_regs.get_mut(&name).expect("found");
        if reg.pending.as_ref().map(|p| p.0.as_str()) != msg.branch() {
            return; // an answer to an older REGISTER
        }
        let code = msg.code().unwrap_or(0);
        if code < 200 {
            return;
        }
        reg.pending = None;
        match code {
            200..=299 => {
                // The registrar may grant less than we asked for.
                let granted = msg.header("Contact").and_then(|c| super::message::param(c, "expires")).or(msg.header("Expires")).and_then(|e| e.trim().parse::<u64>().ok()).unwrap_or(trunk.register_interval_s);
                let granted = Duration::from_secs(granted.max(1));
                reg.registered_until = Some(now + granted);
                reg.next_at = (trunk.register == RegisterMode::Permanent).then(|| now + granted.mul_f32(0.8));
                tracing::info!("registered at trunk {name} for {granted:?}");
                for call in std::mem::take(&mut reg.waiters) {
                    self.send_invite(&call, now);
                }
            }
            401 | 407 if !reg.auth_tried && trunk.credentials.is_some() => {
                reg.auth_tried = true;
                let (user, password) = trunk.credentials.clone().expect("checked");
                let (challenge, header) = if code == 401 { ("WWW-Authenticate", "Authorization") } else { ("Proxy-Authenticate", "Proxy-Authorization") };
                let uri = format!("sip:{}", trunk.host);
                let cnonce = format!("{:x}", reg.cseq as u64 * 0x9e37_79b9 + now.elapsed().as_nanos() as u64);
                match super::digest::answer(&msg.header_lines(challenge), &user, &password, "REGISTER", &uri, &cnonce) {
                    Some(auth) => self.send_register(&name, Some((header, auth)), now),
                    None => self.registration_failed(&name, "no usable authentication challenge", now, media),
                }
            }
            _ => self.registration_failed(&name, &format!("REGISTER answered {code}"), now, media),
        }
    }

    fn registration_failed(&mut self, name: &str, why: &str, now: Instant, media: &mut dyn MediaOps) {
        tracing::warn!("registration at trunk {name} failed: {why}");
        let interval = self.trunks.iter().find(|t| t.name == name).map_or(60, |t| t.register_interval_s);
        let Some(reg) = self.trunk_regs.get_mut(name) else { return };
        reg.registered_until = None;
        reg.next_at = Some(now + Duration::from_secs(interval));
        for call in std::mem::take(&mut reg.waiters) {
            self.fail_out(&call, &format!("trunk {name} registration failed: {why}"), media);
        }
    }

    /// Permanent registrations due, REGISTER retransmissions and timeouts.
    pub(super) fn trunks_tick(&mut self, now: Instant, media: &mut dyn MediaOps) {
        let due: Vec<String> = self
            .trunks
            .iter()
            .filter(|t| t.register == RegisterMode::Permanent)
            .filter(|t| self.trunk_regs.get(&t.name).is_none_or(|r| r.pending.is_none() && r.next_at.is_some_and(|at| now >= at)))
            .map(|t| t.name.clone())
            .collect();
        for name in due {
            self.register_trunk(&name, now);
        }
        let mut lost = Vec::new();
        for (name, reg) in self.trunk_regs.iter_mut() {
            if let Some((_, r)) = reg.pending.as_mut() {
                match r.resend(now, &mut self.out) {
                    Some(sent) => self.counters.retransmissions += sent as u64,
                    None => lost.push(name.clone()),
                }
            }
        }
        for name in lost {
            if let Some(r) = self.trunk_regs.get_mut(&name) {
                r.pending = None;
            }
            self.registration_failed(&name, "no answer", now, media);
        }
    }

    pub(super) fn trunks_next_due(&self) -> Option<Instant> {
        self.trunk_regs.values().flat_map(|r| r.pending.as_ref().map(|p| p.1.due()).into_iter().chain(r.next_at)).min()
    }
}

//! ICE-lite (RFC 8445 §2.5, lite implementation) for one WebRTC leg, sans-IO.
//!
//! A lite agent gathers only host candidates, never sends checks and is always
//! controlled: the browser (full agent) checks our candidates, and we answer every
//! valid check from the 5-tuple it came from. A check carrying USE-CANDIDATE nominates
//! that 5-tuple; media then goes to the latest nominated address (the browser may move
//! it, e.g. after a network change). Consent (RFC 7675) is the browser's ongoing checks:
//! without a valid one for `CONSENT_TIMEOUT`, the leg is disconnected.
//!
//! Fed: STUN datagrams with their source and the time; returns the answer to send and
//! state changes. Short-term credentials: USERNAME `local-ufrag:remote-ufrag`,
//! MESSAGE-INTEGRITY keyed with the local password.

use crate::stun::message::{Builder, Class, Message};
use crate::stun::{attr, method, StunError};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// RFC 7675: consent expires 30 s after the last valid check.
pub const CONSENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Remote addresses that answered checks, kept per leg (bounded).
const MAX_VALID: usize = 8;
/// Comprehension-required attributes a check may carry.
const KNOWN: &[u16] = &[attr::USERNAME, attr::MESSAGE_INTEGRITY, attr::PRIORITY_ICE, attr::USE_CANDIDATE_ICE];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No valid check yet.
    New,
    /// Valid checks seen, none nominated.
    Checking,
    /// A pair is nominated and consent is fresh.
    Connected,
    /// Consent expired; media to the peer must stop (RFC 7675 §5.1).
    Disconnected,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    StateChanged(State),
    /// Media goes to this address from now on.
    Selected(SocketAddr),
}

/// Why a datagram was not accepted as a check (the caller counts it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not a STUN Binding request.
    NotACheck,
    /// No or foreign USERNAME, no MESSAGE-INTEGRITY (silence), or a wrong key (401).
    BadCredentials,
    /// An unknown comprehension-required attribute (420).
    UnknownAttribute,
    /// The peer also claims the controlled role (487).
    RoleConflict,
}

/// What to do with a datagram: send `reply` bytes of the output buffer back (0: none);
/// `refused` says why it was not a valid check, if it was not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub reply: usize,
    pub refused: Option<Refusal>,
}

fn refused(reply: usize, why: Refusal) -> Answer {
    Answer { reply, refused: Some(why) }
}

#[derive(Debug)]
pub struct IceLite {
    local_ufrag: String,
    local_pwd: String,
    remote_ufrag: Option<String>,
    state: State,
    selected: Option<SocketAddr>,
    /// Addresses with a valid check, and when the last one came.
    valid: Vec<(SocketAddr, Instant)>,
    last_consent: Option<Instant>,
}

impl IceLite {
    pub fn new(local_ufrag: impl Into<String>, local_pwd: impl Into<String>) -> Self {
        IceLite {
            local_ufrag: local_ufrag.into(),
            local_pwd: local_pwd.into(),
            remote_ufrag: None,
            state: State::New,
            selected: None,
            valid: Vec::new(),
            last_consent: None,
        }
    }

    /// The remote ufrag from the SDP (checks before it is known are accepted on the
    /// local part alone, as browsers may check before the answer arrives).
    pub fn set_remote_ufrag(&mut self, ufrag: impl Into<String>) {
        self.remote_ufrag = Some(ufrag.into());
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn selected(&self) -> Option<SocketAddr> {
        self.selected
    }

    pub fn local_ufrag(&self) -> &str {
        &self.local_ufrag
    }

    /// Whether `from` passed a check: media from elsewhere is not this peer's.
    pub fn is_valid_source(&self, from: SocketAddr) -> bool {
        self.valid.iter().any(|(a, _)| *a == from)
    }

    fn username_ok(&self, m: &Message<'_>) -> bool {
        let Some(u) = m.attr(attr::USERNAME) else { return false };
        let Ok(u) = std::str::from_utf8(u) else { return false };
        let Some((local, remote)) = u.split_once(':') else { return false };
        local == self.local_ufrag && self.remote_ufrag.as_deref().is_none_or(|r| r == remote)
    }

    fn set_state(&mut self, s: State, events: &mut Vec<Event>) {
        if self.state != s {
            self.state = s;
            events.push(Event::StateChanged(s));
        }
    }

    /// A STUN datagram from `from`: the answer goes into `out`, state changes to
    /// `events`.
    pub fn on_stun(&mut self, data: &[u8], from: SocketAddr, now: Instant, out: &mut [u8], events: &mut Vec<Event>) -> Answer {
        let Ok(m) = Message::parse(data) else { return refused(0, Refusal::NotACheck) };
        if (m.class, m.method) != (Class::Request, method::BINDING) {
            return refused(0, Refusal::NotACheck);
        }
        // No integrity or a foreign username: silence (an answer would only help a
        // scanner). Our username with a wrong key: 401 (RFC 8445 §7.3).
        if !m.has_integrity() || !self.username_ok(&m) {
            return refused(0, Refusal::BadCredentials);
        }
        let mut unknown = Vec::new();
        m.unknown_required(KNOWN, &mut unknown);
        if !unknown.is_empty() {
            return refused(self.answer(&m, from, Some((420, "Unknown Attribute")), out), Refusal::UnknownAttribute);
        }
        if !m.check_integrity(self.local_pwd.as_bytes()) {
            return refused(self.answer(&m, from, Some((401, "Unauthorized")), out), Refusal::BadCredentials);
        }
        if m.attr(attr::ICE_CONTROLLED).is_some() {
            // Both sides controlled: the full agent must switch (RFC 8445 §7.3.1.1).
            return refused(self.answer(&m, from, Some((487, "Role Conflict")), out), Refusal::RoleConflict);
        }
        match self.valid.iter_mut().find(|(a, _)| *a == from) {
            Some(v) => v.1 = now,
            None => {
                if self.valid.len() == MAX_VALID {
                    // Forget the stalest address (never the selected one).
                    let sel = self.selected;
                    if let Some(i) = self.valid.iter().enumerate().filter(|(_, v)| Some(v.0) != sel).min_by_key(|(_, v)| v.1).map(|(i, _)| i) {
                        self.valid.remove(i);
                    }
                }
                self.valid.push((from, now));
            }
        }
        if m.attr(attr::USE_CANDIDATE_ICE).is_some() && self.selected != Some(from) {
            self.selected = Some(from);
            events.push(Event::Selected(from));
        }
        if self.selected == Some(from) {
            self.last_consent = Some(now);
            self.set_state(State::Connected, events);
        } else if self.state == State::New {
            self.set_state(State::Checking, events);
        }
        Answer { reply: self.answer(&m, from, None, out), refused: None }
    }

    /// Build the answer; 0 if `out` is too small (nothing is sent then).
    fn answer(&self, m: &Message<'_>, from: SocketAddr, error: Option<(u16, &str)>, out: &mut [u8]) -> usize {
        self.build(m, from, error, out).unwrap_or(0)
    }

    fn build(&self, m: &Message<'_>, from: SocketAddr, error: Option<(u16, &str)>, out: &mut [u8]) -> Result<usize, StunError> {
        let class = if error.is_some() { Class::Error } else { Class::Success };
        let mut b = Builder::new(out, class, method::BINDING, m.txid)?;
        match error {
            Some((code, reason)) => {
                b.add_error(code, reason)?;
            }
            None => {
                b.add_xor_address(attr::XOR_MAPPED_ADDRESS, from)?;
            }
        }
        // A 401 is not signed: the request's key was wrong.
        if error.is_none_or(|(c, _)| c != 401) {
            b.add_integrity(self.local_pwd.as_bytes())?;
        }
        b.add_fingerprint()?;
        Ok(b.len())
    }

    /// Time passes: consent expires without checks on the selected pair.
    pub fn on_tick(&mut self, now: Instant, events: &mut Vec<Event>) {
        if let (State::Connected, Some(last)) = (self.state, self.last_consent) {
            if now.saturating_duration_since(last) >= CONSENT_TIMEOUT {
                self.set_state(State::Disconnected, events);
            }
        }
    }
}

/// The local ufrag a check is addressed to (for a port shared by many legs): the part of
/// USERNAME before the colon.
pub fn addressed_ufrag(data: &[u8]) -> Option<&[u8]> {
    let m = Message::parse(data).ok()?;
    let u = m.attr(attr::USERNAME)?;
    Some(&u[..u.iter().position(|&b| b == b':')?])
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: &str = "192.0.2.10:50000";

    struct Check<'a> {
        user: &'a str,
        pwd: &'a str,
        nominate: bool,
        controlled: bool,
    }

    fn check(c: Check<'_>) -> Vec<u8> {
        let mut buf = [0u8; 256];
        let mut b = Builder::new(&mut buf, Class::Request, method::BINDING, [7; 12]).unwrap();
        b.add(attr::USERNAME, c.user.as_bytes()).unwrap();
        b.add_u32(attr::PRIORITY_ICE, 1_845_501_695).unwrap();
        if c.nominate {
            b.add(attr::USE_CANDIDATE_ICE, &[]).unwrap();
        }
        if c.controlled {
            b.add(attr::ICE_CONTROLLED, &[1; 8]).unwrap();
        } else {
            b.add(attr::ICE_CONTROLLING, &[1; 8]).unwrap();
        }
        b.add_integrity(c.pwd.as_bytes()).unwrap();
        b.add_fingerprint().unwrap();
        let n = b.len();
        buf[..n].to_vec()
    }

    fn ok(user: &str, nominate: bool) -> Vec<u8> {
        check(Check { user, pwd: "localpassword0123456789", nominate, controlled: false })
    }

    fn agent() -> IceLite {
        let mut a = IceLite::new("lufr", "localpassword0123456789");
        a.set_remote_ufrag("rufr");
        a
    }

    #[test]
    fn checks_are_answered_signed_and_nominate_the_pair() {
        let (mut a, now, peer) = (agent(), Instant::now(), PEER.parse().unwrap());
        let (mut out, mut ev) = ([0u8; 256], vec![]);
        let ans = a.on_stun(&ok("lufr:rufr", false), peer, now, &mut out, &mut ev);
        assert_eq!(ans.refused, None);
        let r = Message::parse(&out[..ans.reply]).unwrap();
        assert_eq!((r.class, r.xor_address(attr::XOR_MAPPED_ADDRESS)), (Class::Success, Some(peer)));
        assert!(r.check_integrity(b"localpassword0123456789") && r.has_fingerprint);
        assert_eq!((a.state(), ev.as_slice()), (State::Checking, &[Event::StateChanged(State::Checking)][..]));
        assert!(a.is_valid_source(peer) && a.selected().is_none());
        ev.clear();
        a.on_stun(&ok("lufr:rufr", true), peer, now, &mut out, &mut ev);
        assert_eq!(ev, vec![Event::Selected(peer), Event::StateChanged(State::Connected)]);
        // The browser moves the nomination (e.g. to a better pair).
        let other: SocketAddr = "192.0.2.11:50002".parse().unwrap();
        ev.clear();
        a.on_stun(&ok("lufr:rufr", true), other, now, &mut out, &mut ev);
        assert_eq!((ev, a.selected()), (vec![Event::Selected(other)], Some(other)));
    }

    #[test]
    fn wrong_credentials_and_roles_are_refused() {
        let (mut a, now, peer) = (agent(), Instant::now(), PEER.parse().unwrap());
        let (mut out, mut ev) = ([0u8; 256], vec![]);
        // Someone else's ufrag, or the remote part wrong: silence.
        for user in ["other:rufr", "lufr:nope", "lufr"] {
            assert_eq!(a.on_stun(&ok(user, true), peer, now, &mut out, &mut ev), refused(0, Refusal::BadCredentials), "{user}");
        }
        // Our ufrag with a wrong password: an unsigned 401.
        let bad = check(Check { user: "lufr:rufr", pwd: "guess", nominate: true, controlled: false });
        let ans = a.on_stun(&bad, peer, now, &mut out, &mut ev);
        assert_eq!(ans.refused, Some(Refusal::BadCredentials));
        let r = Message::parse(&out[..ans.reply]).unwrap();
        assert_eq!((r.class, r.attr(attr::ERROR_CODE).and_then(attr::decode_error), r.has_integrity()), (Class::Error, Some(401), false));
        // A peer that also claims the controlled role: 487, nothing nominated.
        let both = check(Check { user: "lufr:rufr", pwd: "localpassword0123456789", nominate: true, controlled: true });
        let ans = a.on_stun(&both, peer, now, &mut out, &mut ev);
        assert_eq!(ans.refused, Some(Refusal::RoleConflict));
        let r = Message::parse(&out[..ans.reply]).unwrap();
        assert_eq!(r.attr(attr::ERROR_CODE).and_then(attr::decode_error), Some(487));
        assert!(ev.is_empty() && a.selected().is_none() && !a.is_valid_source(peer));
        // An attribute we must understand and do not: 420, signed.
        let mut buf = [0u8; 256];
        let mut m = Builder::new(&mut buf, Class::Request, method::BINDING, [8; 12]).unwrap();
        m.add(attr::USERNAME, b"lufr:rufr").unwrap();
        m.add(0x0030, &[0; 4]).unwrap();
        m.add_integrity(b"localpassword0123456789").unwrap();
        let n = m.len();
        let ans = a.on_stun(&buf[..n], peer, now, &mut out, &mut ev);
        assert_eq!(ans.refused, Some(Refusal::UnknownAttribute));
        assert_eq!(Message::parse(&out[..ans.reply]).unwrap().attr(attr::ERROR_CODE).and_then(attr::decode_error), Some(420));
        // Not a check at all.
        assert_eq!(a.on_stun(b"\x80\x00junk", peer, now, &mut out, &mut ev), refused(0, Refusal::NotACheck));
    }

    #[test]
    fn consent_expires_without_checks_and_returns_with_one() {
        let (mut a, t0, peer) = (agent(), Instant::now(), PEER.parse().unwrap());
        let (mut out, mut ev) = ([0u8; 256], vec![]);
        a.on_stun(&ok("lufr:rufr", true), peer, t0, &mut out, &mut ev);
        ev.clear();
        a.on_tick(t0 + Duration::from_secs(29), &mut ev);
        assert_eq!(a.state(), State::Connected);
        a.on_tick(t0 + CONSENT_TIMEOUT, &mut ev);
        assert_eq!(ev, vec![Event::StateChanged(State::Disconnected)]);
        ev.clear();
        a.on_stun(&ok("lufr:rufr", false), peer, t0 + Duration::from_secs(31), &mut out, &mut ev);
        assert_eq!(ev, vec![Event::StateChanged(State::Connected)]);
    }

    #[test]
    fn a_shared_port_finds_the_leg_by_ufrag() {
        assert_eq!(addressed_ufrag(&ok("lufr:rufr", false)), Some(&b"lufr"[..]));
        assert_eq!(addressed_ufrag(b"garbage"), None);
    }
}

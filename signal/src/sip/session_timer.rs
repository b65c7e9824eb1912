//! Session timers (RFC 4028): a call whose far end vanished without a BYE is ended.
//! The INVITE (and each re-INVITE or UPDATE) negotiates the interval; the refresher is
//! the phone when it supports timers (its re-INVITE or UPDATE restarts the clock), else
//! us, refreshing with UPDATE halfway when the phone allows UPDATE. A phone that
//! neither supports timers nor allows UPDATE gets no timer. When the phone should
//! refresh and did not, we send BYE shortly before the session expires.

use super::message::Message;
use std::time::{Duration, Instant};

/// Our Min-SE: shorter intervals are refused with 422 (RFC 4028 §5: at least 90).
pub const MIN_SE: u64 = 90;
/// Our interval when the phone asks for none (the products we replace use 1800 s).
pub const DEFAULT_SE: u64 = 1800;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTimer {
    pub interval: Duration,
    /// We refresh (UPDATE at half the interval); else the phone does.
    pub we_refresh: bool,
    /// The phone supports timers: our 2xx says `Require: timer`.
    pub peer_supports: bool,
    /// The last refresh (or the start).
    pub refreshed: Instant,
}

fn has_option(msg: &Message, header: &str, option: &str) -> bool {
    msg.header_values(header).iter().any(|v| v.trim().eq_ignore_ascii_case(option))
}

/// The asked interval is below our Min-SE: answer 422 with `Min-SE`.
#[derive(Debug, PartialEq, Eq)]
pub struct TooBrief;

/// What an INVITE or UPDATE asks for: Ok(None) when no timer runs.
pub fn negotiate(req: &Message, now: Instant) -> Result<Option<SessionTimer>, TooBrief> {
    let se = req.header("Session-Expires");
    let asked = se.and_then(|v| v.split(';').next()).and_then(|v| v.trim().parse::<u64>().ok());
    if asked.is_some_and(|s| s < MIN_SE) {
        return Err(TooBrief);
    }
    let peer_supports = has_option(req, "Supported", "timer") || has_option(req, "Require", "timer");
    let peer_refresher = se.and_then(|v| super::message::param(v, "refresher")).map(str::to_ascii_lowercase);
    let allows_update = has_option(req, "Allow", "UPDATE");
    // A Min-SE larger than ours raises the floor.
    let floor = req.header("Min-SE").and_then(|v| v.split(';').next()?.trim().parse::<u64>().ok()).unwrap_or(MIN_SE).max(MIN_SE);
    let interval = asked.unwrap_or(DEFAULT_SE).max(floor);
    let we_refresh = match (peer_supports, peer_refresher.as_deref()) {
        (true, Some("uas")) => true,
        (true, _) => false,
        (false, _) => true,
    };
    if we_refresh && !allows_update {
        // We could only refresh with re-INVITE offers; not done: no timer.
        return Ok(None);
    }
    Ok(Some(SessionTimer { interval: Duration::from_secs(interval), we_refresh, peer_supports, refreshed: now }))
}

impl SessionTimer {
    /// Headers for our 2xx (and `Supported` always).
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let refresher = if self.we_refresh { "uas" } else { "uac" };
        let mut h = vec![("Session-Expires", format!("{};refresher={refresher}", self.interval.as_secs()))];
        if self.peer_supports {
            h.push(("Require", "timer".into()));
        }
        h
    }

    /// When something is due: our refresh at half the interval, or our BYE shortly
    /// before expiry (RFC 4028 §10: min(32 s, interval/3) before).
    pub fn due(&self) -> Instant {
        if self.we_refresh {
            self.refreshed + self.interval / 2
        } else {
            self.refreshed + self.interval - (self.interval / 3).min(Duration::from_secs(32))
        }
    }
}

impl super::endpoint::Endpoint {
    /// Timers of confirmed calls: our UPDATE when we refresh, BYE when the phone did
    /// not, BYE when our refresh got no answer.
    pub(super) fn session_timers_tick(&mut self, now: Instant, media: &mut dyn crate::webrtc::conference::MediaOps) {
        let mut refresh = Vec::new();
        let mut expired = Vec::new();
        for (id, call) in self.calls.iter() {
            let Some(t) = call.timer.as_ref().filter(|_| call.state == super::calls_in::State::Confirmed) else { continue };
            if let Some(branch) = &call.refreshing {
                if !self.requests.contains_key(branch) {
                    expired.push((id.clone(), "session refresh unanswered"));
                }
            } else if now >= t.due() {
                if t.we_refresh {
                    refresh.push(id.clone());
                } else {
                    expired.push((id.clone(), "session timer expired"));
                }
            }
        }
        for (id, cause) in expired {
            self.hangup(&id, now, media, cause);
        }
        for id in refresh {
            let Some(mut call) = self.calls.remove(&id) else { continue };
            call.cseq += 1;
            let mut update = self.in_dialog("UPDATE", &call, &id);
            let secs = call.timer.as_ref().map_or(DEFAULT_SE, |t| t.interval.as_secs());
            update.push("Session-Expires", format!("{secs};refresher=uas")).push("Supported", "timer").push("Contact", self.contact(call.transport));
            let branch = update.branch().unwrap_or("").to_string();
            let bytes = update.to_bytes();
            self.out.push((call.peer, bytes.clone()));
            self.requests.insert(branch.clone(), super::transaction::Retransmit::new(call.peer, bytes, now, super::transaction::T2));
            call.refreshing = Some(branch);
            self.calls.insert(id, call);
        }
    }

    /// The answer to our refreshing UPDATE.
    pub(super) fn refresh_response(&mut self, msg: &Message, now: Instant, media: &mut dyn crate::webrtc::conference::MediaOps) {
        let code = msg.code().unwrap_or(0);
        if code < 200 {
            return;
        }
        if let Some(b) = msg.branch() {
            self.requests.remove(b);
        }
        let id = msg.call_id().to_string();
        let Some(call) = self.calls.get_mut(&id).filter(|c| c.refreshing.as_deref() == msg.branch()) else { return };
        call.refreshing = None;
        match (code, call.timer.as_mut()) {
            (200..=299, Some(t)) => t.refreshed = now,
            _ => self.hangup(&id, now, media, "session refresh refused"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite(extra: &str) -> Message {
        let raw = format!("INVITE sip:1@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:1@h>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n{extra}Content-Length: 0\r\n\r\n");
        Message::parse(raw.as_bytes()).unwrap()
    }

    #[test]
    fn refresher_interval_and_refusal() {
        let now = Instant::now();
        // A phone that supports timers refreshes; its interval is kept.
        let t = negotiate(&invite("Supported: 100rel, timer\r\nSession-Expires: 600;refresher=uac\r\n"), now).unwrap().unwrap();
        assert_eq!((t.interval.as_secs(), t.we_refresh, t.peer_supports), (600, false, true));
        assert_eq!(t.headers(), [("Session-Expires", "600;refresher=uac".to_string()), ("Require", "timer".to_string())]);
        assert_eq!(t.due(), now + Duration::from_secs(600 - 32), "BYE 32 s before expiry when it does not refresh");
        // Supported without an interval: ours (1800), the phone refreshes.
        let t = negotiate(&invite("k: timer\r\n"), now).unwrap().unwrap();
        assert_eq!((t.interval.as_secs(), t.we_refresh), (1800, false));
        // It asks us to refresh and allows UPDATE: UPDATE halfway.
        let t = negotiate(&invite("Supported: timer\r\nSession-Expires: 120;refresher=uas\r\nAllow: INVITE, ACK, BYE, UPDATE\r\n"), now).unwrap().unwrap();
        assert_eq!((t.we_refresh, t.due()), (true, now + Duration::from_secs(60)));
        // No timer support but UPDATE allowed: we refresh, no Require.
        let t = negotiate(&invite("Allow: INVITE, UPDATE\r\n"), now).unwrap().unwrap();
        assert_eq!((t.we_refresh, t.headers().len()), (true, 1));
        // Neither: no timer. Too short: 422. A higher Min-SE raises the interval.
        assert_eq!(negotiate(&invite(""), now), Ok(None));
        assert_eq!(negotiate(&invite("Session-Expires: 30\r\n"), now), Err(TooBrief));
        let t = negotiate(&invite("Supported: timer\r\nMin-SE: 300\r\nSession-Expires: 200\r\n"), now).unwrap().unwrap();
        assert_eq!(t.interval.as_secs(), 300);
    }
}

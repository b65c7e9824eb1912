//! The registrar (RFC 3261 §10) for room systems and phones: REGISTER challenged with
//! Digest (SHA-256 and MD5), one binding per user (the newest Contact wins), kept for
//! the granted time. A registered device is callable by its user name; requests to it
//! go to its Contact when that is the address the REGISTER came from, else to the
//! REGISTER's source (the device is behind NAT).

use super::digest::{Check, Verifier};
use super::endpoint::Endpoint;
use super::message::{param, Message};
use super::uri::{NameAddr, Uri};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Granted registration times (RFC 3261 §10.2.8: shorter asks get 423).
pub const MIN_EXPIRES: u64 = 60;
pub const MAX_EXPIRES: u64 = 3600;

#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub contact: Uri,
    /// Where the REGISTER came from: requests to the device go there.
    pub addr: SocketAddr,
    pub expires: Instant,
}

pub struct Registrar {
    verifier: Verifier,
    /// User name → password.
    users: HashMap<String, String>,
    bindings: HashMap<String, Binding>,
}

impl Registrar {
    pub fn new(realm: &str, algorithms: &[super::digest::Algorithm], users: HashMap<String, String>) -> Self {
        Registrar { verifier: Verifier::new(realm, algorithms), users, bindings: HashMap::new() }
    }

    pub fn lookup(&self, user: &str, now: Instant) -> Option<&Binding> {
        self.bindings.get(user).filter(|b| b.expires > now)
    }

    pub fn registered(&self, now: Instant) -> Vec<(String, Binding)> {
        let mut v: Vec<_> = self.bindings.iter().filter(|(_, b)| b.expires > now).map(|(u, b)| (u.clone(), b.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    pub fn expire(&mut self, now: Instant) {
        self.bindings.retain(|_, b| b.expires > now);
    }
}

/// Where requests to a registered device go: its Contact when that names the very
/// address the REGISTER came from (no NAT between us: the device may listen on
/// another port than it sent from), else the REGISTER's source (NAT: only that
/// mapping reaches it).
fn reach(contact: &Uri, from: SocketAddr) -> SocketAddr {
    match contact.host.trim_matches(|c| c == '[' || c == ']').parse::<std::net::IpAddr>() {
        Ok(ip) if ip == from.ip() => SocketAddr::new(ip, contact.port.unwrap_or(5060)),
        _ => from,
    }
}

impl Endpoint {
    pub(super) fn register(&mut self, msg: &Message, from: SocketAddr, now: Instant) {
        let Some(reg) = self.registrar.as_mut() else {
            return self.respond(msg, from, 403, None, now);
        };
        let checked = match msg.header("Authorization") {
            None => Check::Bad("no credentials"),
            Some(h) => reg.verifier.check(h, "REGISTER", |u| reg.users.get(u).cloned()),
        };
        let user = match checked {
            Check::Ok { user } => user,
            Check::Stale | Check::Bad("no credentials") => {
                let stale = checked == Check::Stale;
                let challenges = reg.verifier.challenges(stale);
                let mut r = self.reply(msg, from, 401, None);
                for c in challenges {
                    r.push("WWW-Authenticate", c);
                }
                return self.complete(msg, from, &r, now);
            }
            Check::Bad(why) => {
                self.counters.rejected += 1;
                tracing::info!("REGISTER from {from} refused: {why}");
                return self.respond(msg, from, 403, None, now);
            }
        };
        // Only one's own address of record (RFC 3261 §10.3 step 6).
        let aor = msg.header("To").and_then(NameAddr::parse).map(|n| n.uri.user);
        if aor.as_deref() != Some(user.as_str()) {
            self.counters.rejected += 1;
            return self.respond(msg, from, 403, None, now);
        }
        let header_expires = msg.header("Expires").and_then(|e| e.trim().parse::<u64>().ok());
        let contact = msg.header("Contact").map(str::trim);
        let reg = self.registrar.as_mut().expect("checked");
        match contact {
            // A query: the bindings as they are.
            None => {}
            Some("*") => {
                if header_expires != Some(0) {
                    return self.respond(msg, from, 400, None, now);
                }
                reg.bindings.remove(&user);
            }
            Some(c) => {
                let Some(na) = NameAddr::parse(c) else { return self.respond(msg, from, 400, None, now) };
                let asked = param(c, "expires").and_then(|e| e.parse::<u64>().ok()).or(header_expires).unwrap_or(MAX_EXPIRES);
                if asked == 0 {
                    reg.bindings.remove(&user);
                } else if asked < MIN_EXPIRES {
                    let mut r = self.reply(msg, from, 423, None);
                    r.push("Min-Expires", MIN_EXPIRES.to_string());
                    return self.complete(msg, from, &r, now);
                } else {
                    let granted = asked.min(MAX_EXPIRES);
                    let addr = reach(&na.uri, from);
                    reg.bindings.insert(user.clone(), Binding { contact: na.uri, addr, expires: now + Duration::from_secs(granted) });
                }
            }
        }
        let current = self.registrar.as_ref().expect("checked").lookup(&user, now).cloned();
        let mut r = self.reply(msg, from, 200, None);
        if let Some(b) = current {
            let left = b.expires.saturating_duration_since(now).as_secs();
            r.push("Contact", format!("<{}>;expires={left}", b.contact));
        }
        self.complete(msg, from, &r, now);
    }
}

//! TURN long-term credentials (RFC 8489 §9.2) the way coturn operators configure them:
//! static users (`user=name:password`) and the REST scheme (`use-auth-secret`,
//! `static-auth-secret`): username `"<expiry>:<name>"`, password
//! `base64(HMAC-SHA1(secret, username))`, several secrets accepted at once so they can
//! be rotated. Nonces are stateless: an expiry and a MAC over it and the client
//! address, so any core can verify them and a stale one is recognised (438).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha1::Sha1;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub realm: String,
    /// Static users: name → password.
    pub users: HashMap<String, String>,
    /// REST secrets, newest first; any of them validates a username.
    pub secrets: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No such user, or a REST username that no secret signs.
    UnknownUser,
    /// A REST username whose timestamp has passed.
    Expired,
    /// A REST username that does not start with a timestamp.
    Malformed,
}

fn now_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The long-term key: MD5(username ":" realm ":" password).
pub fn long_term_key(user: &str, realm: &str, password: &str) -> [u8; 16] {
    let mut h = Md5::new();
    h.update(user.as_bytes());
    h.update(b":");
    h.update(realm.as_bytes());
    h.update(b":");
    h.update(password.as_bytes());
    h.finalize().into()
}

/// The password coturn's REST scheme derives for a username.
pub fn rest_password(secret: &str, username: &str) -> String {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

impl Credentials {
    /// Candidate keys for a username: a static user gives one; a REST username gives one
    /// per configured secret (the message integrity decides which, if any, is right).
    pub fn keys(&self, username: &str, out: &mut Vec<[u8; 16]>) -> Result<(), AuthError> {
        out.clear();
        if let Some(pw) = self.users.get(username) {
            out.push(long_term_key(username, &self.realm, pw));
            return Ok(());
        }
        if self.secrets.is_empty() {
            return Err(AuthError::UnknownUser);
        }
        let ts = username.split(':').next().unwrap_or("");
        let expiry: u64 = ts.parse().map_err(|_| AuthError::Malformed)?;
        if expiry < now_s() {
            return Err(AuthError::Expired);
        }
        for s in &self.secrets {
            out.push(long_term_key(username, &self.realm, &rest_password(s, username)));
        }
        Ok(())
    }
}

/// Mints and checks nonces: `<expiry hex>` + 16 hex digits of HMAC(secret, expiry, client IP).
pub struct Nonces {
    secret: [u8; 32],
    lifetime_s: u64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum NonceCheck {
    Valid,
    Stale,
    Invalid,
}

impl Nonces {
    pub fn new(secret: [u8; 32], lifetime_s: u64) -> Self {
        Nonces { secret, lifetime_s }
    }

    fn mac(&self, expiry: u64, client: &SocketAddr) -> u64 {
        let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(&self.secret).expect("any key length");
        mac.update(&expiry.to_be_bytes());
        match client.ip() {
            std::net::IpAddr::V4(a) => mac.update(&a.octets()),
            std::net::IpAddr::V6(a) => mac.update(&a.octets()),
        }
        let b = mac.finalize().into_bytes();
        u64::from_be_bytes(b[..8].try_into().expect("20-byte MAC"))
    }

    pub fn mint(&self, client: &SocketAddr) -> String {
        let expiry = now_s() + self.lifetime_s;
        format!("{expiry:016x}{:016x}", self.mac(expiry, client))
    }

    pub fn check(&self, nonce: &[u8], client: &SocketAddr) -> NonceCheck {
        if nonce.len() != 32 {
            return NonceCheck::Invalid;
        }
        let Ok(text) = std::str::from_utf8(nonce) else { return NonceCheck::Invalid };
        let (Ok(expiry), Ok(mac)) = (u64::from_str_radix(&text[..16], 16), u64::from_str_radix(&text[16..], 16)) else {
            return NonceCheck::Invalid;
        };
        if mac != self.mac(expiry, client) {
            return NonceCheck::Invalid;
        }
        if expiry < now_s() { NonceCheck::Stale } else { NonceCheck::Valid }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_scheme_matches_coturn_and_rotates() {
        // The password is what coturn's turnutils computes for `-W secret`.
        let user = format!("{}:alice", now_s() + 3600);
        let c = Credentials { realm: "test.local".into(), users: HashMap::new(), secrets: vec!["new".into(), "old".into()] };
        let mut keys = vec![];
        c.keys(&user, &mut keys).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[1], long_term_key(&user, "test.local", &rest_password("old", &user)));
        assert_eq!(c.keys("12:alice", &mut keys), Err(AuthError::Expired));
        assert_eq!(c.keys("alice", &mut keys), Err(AuthError::Malformed));
        // A known HMAC-SHA1 value (RFC 2202 test case 2): key "Jefe".
        assert_eq!(rest_password("Jefe", "what do ya want for nothing?"), "7/zfauXrL6LSdBbV8YTfnCWafHk=");
    }

    #[test]
    fn static_users_and_long_term_key() {
        let mut users = HashMap::new();
        users.insert("alice".to_string(), "alicepass".to_string());
        let c = Credentials { realm: "test.local".into(), users, secrets: vec![] };
        let mut keys = vec![];
        c.keys("alice", &mut keys).unwrap();
        assert_eq!(keys, vec![long_term_key("alice", "test.local", "alicepass")]);
        assert_eq!(c.keys("bob", &mut keys), Err(AuthError::UnknownUser));
    }

    #[test]
    fn nonces_bind_to_client_and_expire() {
        let n = Nonces::new([3; 32], 600);
        let a: SocketAddr = "192.0.2.1:5000".parse().unwrap();
        let nonce = n.mint(&a);
        assert_eq!(n.check(nonce.as_bytes(), &a), NonceCheck::Valid);
        assert_eq!(n.check(nonce.as_bytes(), &"192.0.2.2:5000".parse().unwrap()), NonceCheck::Invalid);
        assert_eq!(n.check(b"short", &a), NonceCheck::Invalid);
        let old = Nonces::new([3; 32], 0);
        let expired = format!("{:016x}{:016x}", 1u64, old.mac(1, &a));
        assert_eq!(n.check(expired.as_bytes(), &a), NonceCheck::Stale);
    }
}

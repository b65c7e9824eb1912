//! ICE servers for the page: STUN/TURN URLs with coturn-style REST credentials
//! (`use-auth-secret`): username `"<expiry>:<name>"`, password
//! `base64(HMAC-SHA1(secret, username))`, which mediad's TURN server (or coturn) checks
//! with the same secret. Each participant gets credentials of its own that expire.

use openssl::{hash::MessageDigest, pkey::PKey, sign::Signer};
use serde_json::{json, Value};

#[derive(Debug, Clone, Default)]
pub struct IceServers {
    pub urls: Vec<String>,
    /// The TURN server's shared secret; without it URLs go out without credentials
    /// (STUN only).
    pub secret: Option<String>,
    /// Seconds the credentials stay valid.
    pub ttl_s: u64,
}

/// The REST password for `username`.
pub fn rest_password(secret: &str, username: &str) -> String {
    let key = PKey::hmac(secret.as_bytes()).expect("HMAC key");
    let mut s = Signer::new(MessageDigest::sha1(), &key).expect("HMAC-SHA1");
    s.update(username.as_bytes()).expect("HMAC update");
    openssl::base64::encode_block(&s.sign_to_vec().expect("HMAC"))
}

impl IceServers {
    /// `iceServers` for an RTCPeerConnection of participant `who`, at `now` (Unix s).
    pub fn for_participant(&self, who: &str, now: u64) -> Value {
        if self.urls.is_empty() {
            return json!([]);
        }
        match &self.secret {
            Some(secret) => {
                // The name part must not contain ':' (it separates the expiry).
                let name: String = who.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(32).collect();
                let username = format!("{}:{}", now + self.ttl_s.max(60), if name.is_empty() { "guest" } else { &name });
                json!([{"urls": self.urls, "username": username, "credential": rest_password(secret, &username)}])
            }
            None => json!([{"urls": self.urls}]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_what_mediad_turn_accepts() {
        let s = IceServers { urls: vec!["turn:127.0.0.1:3478?transport=udp".into()], secret: Some("s3cr3t".into()), ttl_s: 3600 };
        let v = s.for_participant("Ann: the boss", 1_000);
        let username = v[0]["username"].as_str().unwrap();
        assert_eq!(username, "4600:Anntheboss", "expiry, then the name without ':' or spaces (32 chars max)");
        // Checked by mediad's own TURN code, which coturn's clients pass against.
        assert_eq!(v[0]["credential"], mediad::turn::auth::rest_password("s3cr3t", username));
        assert_eq!(IceServers::default().for_participant("x", 0), json!([]));
        let stun = IceServers { urls: vec!["stun:127.0.0.1:3478".into()], ..Default::default() };
        assert_eq!(stun.for_participant("x", 0), json!([{"urls": ["stun:127.0.0.1:3478"]}]));
    }
}

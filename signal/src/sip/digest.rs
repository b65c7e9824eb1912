//! HTTP Digest for SIP (RFC 3261 §22, RFC 7616 for SHA-256, RFC 8760 for its use in
//! SIP): challenges and their checking for the registrar, answers to challenges for
//! calls out through trunks. Nonces are stateless: a timestamp and an HMAC of it
//! under a per-process key, so any nonce we issued is recognised (and its age known)
//! without remembering it. Hashes are openssl's.

use openssl::hash::{hash, MessageDigest};
use openssl::pkey::PKey;
use openssl::sign::Signer;
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// A nonce older than this is stale (the client retries with a fresh one).
const NONCE_LIFETIME_S: u64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Sha256,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "MD5" | "" => Some(Algorithm::Md5),
            "SHA-256" => Some(Algorithm::Sha256),
            _ => None,
        }
    }

    fn h(self, data: &str) -> String {
        let md = match self {
            Algorithm::Md5 => MessageDigest::md5(),
            Algorithm::Sha256 => MessageDigest::sha256(),
        };
        hex(&hash(md, data.as_bytes()).expect("digest"))
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `name=value` and `name="quoted, value"` pairs after the scheme, names lowercased.
pub fn params(header: &str) -> Option<HashMap<String, String>> {
    let rest = header.trim().strip_prefix("Digest").or_else(|| header.trim().strip_prefix("digest"))?;
    let mut out = HashMap::new();
    let mut s = rest.trim_start();
    while !s.is_empty() {
        let (name, after) = s.split_once('=')?;
        let name = name.trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, tail) = if let Some(q) = after.strip_prefix('"') {
            // Quoted string with backslash escapes.
            let mut v = String::new();
            let mut chars = q.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => v.push(chars.next()?.1),
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => v.push(c),
                }
            }
            (v, &q[end?..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        if name.is_empty() || out.insert(name, value).is_some() {
            return None; // a repeated parameter is an attack or a bug
        }
        s = tail.trim_start().strip_prefix(',').unwrap_or(tail).trim_start();
        if !tail.trim_start().is_empty() && !tail.trim_start().starts_with(',') {
            return None;
        }
    }
    Some(out)
}

/// The `response` value (RFC 7616 §3.4.1) for qop=auth, or the RFC 2069 form
/// without qop.
#[allow(clippy::too_many_arguments)]
pub fn response(alg: Algorithm, user: &str, realm: &str, password: &str, method: &str, uri: &str, nonce: &str, qop: Option<(&str, &str)>) -> String {
    let ha1 = alg.h(&format!("{user}:{realm}:{password}"));
    let ha2 = alg.h(&format!("{method}:{uri}"));
    match qop {
        Some((nc, cnonce)) => alg.h(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")),
        None => alg.h(&format!("{ha1}:{nonce}:{ha2}")),
    }
}

/// The server side: issues challenges and checks credentials.
pub struct Verifier {
    pub realm: String,
    key: PKey<openssl::pkey::Private>,
    /// Challenge order: clients that take the first challenge whatever its algorithm
    /// (sipp, some older room systems) need MD5 first.
    algorithms: Vec<Algorithm>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Check {
    Ok { user: String },
    /// Right credentials on an expired nonce: challenge again with `stale=true`.
    Stale,
    Bad(&'static str),
}

impl Verifier {
    /// A verifier challenging with `algorithms` in that order (RFC 8760 §2.4 wants
    /// SHA-256 before MD5).
    pub fn new(realm: &str, algorithms: &[Algorithm]) -> Self {
        let mut k = [0u8; 32];
        openssl::rand::rand_bytes(&mut k).expect("random key");
        Verifier { realm: realm.to_string(), key: PKey::hmac(&k).expect("hmac key"), algorithms: algorithms.to_vec() }
    }

    fn mac(&self, stamp: &str) -> String {
        let mut s = Signer::new(MessageDigest::sha256(), &self.key).expect("signer");
        s.update(stamp.as_bytes()).expect("update");
        hex(&s.sign_to_vec().expect("sign")[..16])
    }

    fn nonce(&self, now_s: u64) -> String {
        let stamp = format!("{now_s:x}");
        format!("{stamp}.{}", self.mac(&stamp))
    }

    /// `WWW-Authenticate`/`Proxy-Authenticate` values, one per algorithm in order.
    pub fn challenges(&self, stale: bool) -> Vec<String> {
        let nonce = self.nonce(unix_s());
        let stale = if stale { ", stale=true" } else { "" };
        self.algorithms
            .iter()
            .map(|a| format!("Digest realm=\"{}\", nonce=\"{nonce}\", algorithm={}, qop=\"auth\"{stale}", self.realm, a.name()))
            .collect()
    }

    /// Check an `Authorization` header for `method` against `password_of(user)`.
    pub fn check(&self, header: &str, method: &str, password_of: impl Fn(&str) -> Option<String>) -> Check {
        self.check_at(header, method, password_of, unix_s())
    }

    fn check_at(&self, header: &str, method: &str, password_of: impl Fn(&str) -> Option<String>, now_s: u64) -> Check {
        let Some(p) = params(header) else { return Check::Bad("unreadable Authorization") };
        let get = |k: &str| p.get(k).map(String::as_str);
        let (Some(user), Some(realm), Some(nonce), Some(uri), Some(given)) = (get("username"), get("realm"), get("nonce"), get("uri"), get("response")) else {
            return Check::Bad("Authorization lacks a parameter");
        };
        let Some(alg) = Algorithm::parse(get("algorithm").unwrap_or("")) else { return Check::Bad("unknown algorithm") };
        if realm != self.realm {
            return Check::Bad("another realm");
        }
        let Some((stamp, mac)) = nonce.split_once('.') else { return Check::Bad("not our nonce") };
        if !(mac.len() == 32 && openssl::memcmp::eq(mac.as_bytes(), self.mac(stamp).as_bytes())) {
            return Check::Bad("not our nonce");
        }
        let Some(password) = password_of(user) else { return Check::Bad("unknown user") };
        let qop = match get("qop") {
            Some(q) if q.eq_ignore_ascii_case("auth") => match (get("nc"), get("cnonce")) {
                (Some(nc), Some(c)) => Some((nc, c)),
                _ => return Check::Bad("qop without nc/cnonce"),
            },
            Some(_) => return Check::Bad("unsupported qop"),
            None => None,
        };
        let want = response(alg, user, realm, &password, method, uri, nonce, qop);
        if !(want.len() == given.len() && openssl::memcmp::eq(want.as_bytes(), given.to_ascii_lowercase().as_bytes())) {
            return Check::Bad("wrong password");
        }
        let issued = u64::from_str_radix(stamp, 16).unwrap_or(0);
        if now_s.saturating_sub(issued) > NONCE_LIFETIME_S {
            return Check::Stale;
        }
        Check::Ok { user: user.to_string() }
    }
}

fn unix_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The client side: an `Authorization`/`Proxy-Authorization` value answering the
/// first challenge we can (SHA-256 or MD5, qop auth or none). None when no
/// challenge is usable.
pub fn answer(challenges: &[&str], user: &str, password: &str, method: &str, uri: &str, cnonce: &str) -> Option<String> {
    challenges.iter().find_map(|c| {
        let p = params(c)?;
        let alg = Algorithm::parse(p.get("algorithm").map(String::as_str).unwrap_or(""))?;
        let (realm, nonce) = (p.get("realm")?, p.get("nonce")?);
        let auth = p.get("qop").is_some_and(|q| q.split(',').any(|x| x.trim().eq_ignore_ascii_case("auth")));
        let nc = "00000001";
        let resp = response(alg, user, realm, password, method, uri, nonce, auth.then_some((nc, cnonce)));
        let mut v = format!("Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{resp}\", algorithm={}", alg.name());
        if auth {
            v.push_str(&format!(", qop=auth, nc={nc}, cnonce=\"{cnonce}\""));
        }
        if let Some(o) = p.get("opaque") {
            v.push_str(&format!(", opaque=\"{o}\""));
        }
        Some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_7616_examples() {
        // RFC 7616 §3.9.1: Mufasa / Circle of Life, qop=auth.
        let nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
        let qop = Some(("00000001", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"));
        let md5 = response(Algorithm::Md5, "Mufasa", "http-auth@example.org", "Circle of Life", "GET", "/dir/index.html", nonce, qop);
        assert_eq!(md5, "8ca523f5e9506fed4657c9700eebdbec");
        let sha = response(Algorithm::Sha256, "Mufasa", "http-auth@example.org", "Circle of Life", "GET", "/dir/index.html", nonce, qop);
        assert_eq!(sha, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
    }

    #[test]
    fn challenge_answer_check_round_trip_and_refusals() {
        let v = Verifier::new("mediad", &[Algorithm::Sha256, Algorithm::Md5]);
        let users = |u: &str| (u == "room1").then(|| "s3cret".to_string());
        let ch = v.challenges(false);
        assert!(ch[0].contains("algorithm=SHA-256") && ch[1].contains("algorithm=MD5"));
        let refs: Vec<&str> = ch.iter().map(String::as_str).collect();
        let auth = answer(&refs, "room1", "s3cret", "REGISTER", "sip:127.0.0.1", "abc").unwrap();
        assert!(auth.contains("algorithm=SHA-256"));
        assert_eq!(v.check(&auth, "REGISTER", users), Check::Ok { user: "room1".into() });
        // MD5-only clients are served by the second challenge.
        let md5 = answer(&refs[1..], "room1", "s3cret", "REGISTER", "sip:127.0.0.1", "abc").unwrap();
        assert_eq!(v.check(&md5, "REGISTER", users), Check::Ok { user: "room1".into() });
        assert_eq!(v.check(&auth, "INVITE", users), Check::Bad("wrong password"), "bound to the method");
        let wrong = answer(&refs, "room1", "guess", "REGISTER", "sip:127.0.0.1", "abc").unwrap();
        assert_eq!(v.check(&wrong, "REGISTER", users), Check::Bad("wrong password"));
        let other = answer(&refs, "nobody", "x", "REGISTER", "sip:127.0.0.1", "abc").unwrap();
        assert_eq!(v.check(&other, "REGISTER", users), Check::Bad("unknown user"));
        // A nonce of another process (or forged) is refused; an old one of ours is stale.
        let forged = auth.replace(&params(&auth).unwrap()["nonce"], "5f00.00112233445566778899aabbccddeeff");
        assert_eq!(v.check(&forged, "REGISTER", users), Check::Bad("not our nonce"));
        let old = v.nonce(unix_s() - 400);
        let late = answer(&[&format!("Digest realm=\"mediad\", nonce=\"{old}\", qop=\"auth\"")], "room1", "s3cret", "REGISTER", "sip:x", "c").unwrap();
        assert_eq!(v.check(&late, "REGISTER", users), Check::Stale);
        // Hostile headers.
        for h in ["", "Basic abc", "Digest ", "Digest username=\"a", "Digest a=1, a=2", "Digest =x", "Digest username=\"room1\" realm=\"mediad\""] {
            assert!(matches!(v.check(h, "REGISTER", users), Check::Bad(_)), "{h}");
        }
    }

    #[test]
    fn quoted_params_with_commas_and_escapes() {
        let p = params(r#"Digest realm="a, \"b\"", nonce=xyz ,qop="auth,auth-int""#).unwrap();
        assert_eq!(p["realm"], r#"a, "b""#);
        assert_eq!(p["nonce"], "xyz");
        assert_eq!(p["qop"], "auth,auth-int");
    }
}

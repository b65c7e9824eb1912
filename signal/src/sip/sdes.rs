//! SDES-SRTP for SIP calls (RFC 4568): read `a=crypto` lines, choose one mediad can
//! use, make our key, and decide by policy whether a call's media is SRTP. mediad gets
//! the two keys in `leg.create`/`leg.update` `"sdes"` and protects in place.

use control::{Sdes, SdesSuite};

/// When SRTP is used: the trunk setting (calls out) and `--sip-srtp` (calls in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Plain RTP only: SRTP offers are refused (RTP/SAVP) or their keys ignored.
    Off,
    /// SRTP when the other side offers or accepts it ("best effort" on RTP/AVP too).
    #[default]
    Optional,
    /// Calls without SRTP are refused (488) or, calling out, hung up.
    Required,
}

impl Policy {
    pub fn parse(s: &str) -> Option<Policy> {
        match s {
            "off" => Some(Policy::Off),
            "optional" => Some(Policy::Optional),
            "required" => Some(Policy::Required),
            _ => None,
        }
    }
}

/// One usable `a=crypto` line: `<tag> <suite> inline:<key||salt base64>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Crypto {
    pub tag: u32,
    pub suite: SdesSuite,
    pub key: String,
}

impl std::fmt::Debug for Crypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Crypto({} {})", self.tag, self.suite.name()) // no key material in logs
    }
}

impl Crypto {
    /// A fresh key of ours for `suite`.
    pub fn ours(tag: u32, suite: SdesSuite) -> Crypto {
        let mut raw = vec![0u8; suite.key_len()];
        openssl::rand::rand_bytes(&mut raw).expect("the system RNG");
        let key = openssl::base64::encode_block(&raw);
        Crypto { tag, suite, key }
    }

    /// The `a=crypto:` attribute value.
    pub fn attribute(&self) -> String {
        format!("{} {} inline:{}", self.tag, self.suite.name(), self.key)
    }

    /// The first line mediad can use, in the offerer's order of preference. Lines with
    /// an MKI, several keys, session parameters or a key of the wrong size are passed
    /// over (RFC 4568 §5.1.3: the answerer picks one it supports).
    pub fn choose<'a>(values: impl Iterator<Item = &'a str>) -> Option<Crypto> {
        values.filter_map(Crypto::parse).next()
    }

    fn parse(v: &str) -> Option<Crypto> {
        let mut parts = v.split_whitespace();
        let tag = parts.next()?.parse::<u32>().ok().filter(|t| *t < 1_000_000_000)?;
        let suite = SdesSuite::from_name(parts.next()?)?;
        let key_params = parts.next()?;
        if parts.next().is_some() || key_params.contains(';') {
            return None;
        }
        let inline = key_params.strip_prefix("inline:")?;
        let mut fields = inline.split('|');
        let key = fields.next()?;
        // A lifetime is fine (we rekey long before 2^31 packets); an MKI is not.
        if fields.any(|f| f.contains(':')) {
            return None;
        }
        let raw = openssl::base64::decode_block(key).ok()?;
        (raw.len() == suite.key_len()).then(|| Crypto { tag, suite, key: key.to_string() })
    }

    /// mediad's keys: ours to send, theirs to receive.
    pub fn with_remote(&self, remote: &Crypto) -> Sdes {
        Sdes { suite: self.suite, send_key: self.key.clone(), recv_key: remote.key.clone() }
    }
}

/// Why an offer's security does not fit our policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// RTP/SAVP with no `a=crypto` line we can use (or SRTP is off here).
    NoUsableCrypto,
    /// Plain RTP offered where SRTP is required.
    SrtpRequired,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NoUsableCrypto => f.write_str("no usable SDES crypto suite (AES_CM_128_HMAC_SHA1_80, AEAD_AES_128_GCM)"),
            Refusal::SrtpRequired => f.write_str("SRTP is required here"),
        }
    }
}

/// The remote's crypto to use for an offer (`savp`: its profile is RTP/SAVP(F);
/// `crypto`: its first usable line), or why the offer is refused.
pub fn decide(policy: Policy, savp: bool, crypto: Option<&Crypto>) -> Result<Option<Crypto>, Refusal> {
    match (policy, savp, crypto) {
        (Policy::Off, true, _) => Err(Refusal::NoUsableCrypto),
        (Policy::Off, false, _) => Ok(None),
        (_, _, Some(c)) => Ok(Some(c.clone())),
        (_, true, None) => Err(Refusal::NoUsableCrypto),
        (Policy::Required, false, None) => Err(Refusal::SrtpRequired),
        (Policy::Optional, false, None) => Ok(None),
    }
}

/// The remote's crypto in an answer to our offer, which carried `ours` (none when
/// SRTP is off here).
pub fn accept_answer(policy: Policy, ours: Option<&Crypto>, answer: Option<&Crypto>) -> Result<Option<Crypto>, Refusal> {
    match (ours, answer) {
        (None, _) => Ok(None),
        (Some(o), Some(a)) if a.tag == o.tag && a.suite == o.suite => Ok(Some(a.clone())),
        (Some(_), Some(_)) => Err(Refusal::NoUsableCrypto),
        (Some(_), None) if policy == Policy::Required => Err(Refusal::SrtpRequired),
        (Some(_), None) => Ok(None),
    }
}

/// The suite and tag of our offers.
pub fn our_offer(policy: Policy) -> Option<Crypto> {
    (policy != Policy::Off).then(|| Crypto::ours(1, SdesSuite::AesCm128HmacSha1_80))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chooses_the_first_line_we_can_use() {
        let k80 = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";
        let gcm = Crypto::ours(2, SdesSuite::AeadAes128Gcm);
        let lines = [
            "1 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj".to_string(),
            format!("2 AES_CM_128_HMAC_SHA1_80 inline:{k80}|2^20|1:4"),
            format!("3 AES_CM_128_HMAC_SHA1_80 inline:{k80}|2^20 KDR=1"),
            "4 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=".to_string(),
            format!("5 {}", gcm.attribute().split_once(' ').unwrap().1),
            format!("6 AES_CM_128_HMAC_SHA1_80 inline:{k80}|2^20"),
        ];
        let c = Crypto::choose(lines.iter().map(String::as_str)).unwrap();
        assert_eq!((c.tag, c.suite, c.key.as_str()), (5, SdesSuite::AeadAes128Gcm, gcm.key.as_str()), "SHA1_32, MKI, session params, short key passed over");
        let c = Crypto::choose(lines[5..].iter().map(String::as_str)).unwrap();
        assert_eq!((c.tag, c.key.as_str()), (6, k80));
        assert_eq!(Crypto::choose(["x", "", "1", "1 AES_CM_128_HMAC_SHA1_80", "1 AES_CM_128_HMAC_SHA1_80 inline:!!!"].into_iter()), None);
    }

    #[test]
    fn our_keys_are_fresh_and_the_right_size() {
        let (a, b) = (Crypto::ours(1, SdesSuite::AesCm128HmacSha1_80), Crypto::ours(1, SdesSuite::AesCm128HmacSha1_80));
        assert_ne!(a.key, b.key);
        assert_eq!(Crypto::parse(&a.attribute()), Some(a.clone()));
        assert!(!format!("{a:?}").contains(&a.key), "keys stay out of logs");
    }

    #[test]
    fn policy_decides() {
        let c = Crypto::ours(1, SdesSuite::AesCm128HmacSha1_80);
        use Policy::*;
        assert_eq!(decide(Optional, true, Some(&c)), Ok(Some(c.clone())));
        assert_eq!(decide(Optional, false, Some(&c)), Ok(Some(c.clone())), "best-effort SRTP on RTP/AVP");
        assert_eq!(decide(Optional, false, None), Ok(None));
        assert_eq!(decide(Optional, true, None), Err(Refusal::NoUsableCrypto));
        assert_eq!(decide(Required, false, None), Err(Refusal::SrtpRequired));
        assert_eq!(decide(Off, true, Some(&c)), Err(Refusal::NoUsableCrypto));
        assert_eq!(decide(Off, false, Some(&c)), Ok(None));
        let ours = our_offer(Optional).unwrap();
        let theirs = Crypto::ours(1, SdesSuite::AesCm128HmacSha1_80);
        assert_eq!(accept_answer(Optional, Some(&ours), Some(&theirs)), Ok(Some(theirs.clone())));
        assert_eq!(accept_answer(Optional, Some(&ours), None), Ok(None), "plain answer to a best-effort offer");
        assert_eq!(accept_answer(Required, Some(&ours), None), Err(Refusal::SrtpRequired));
        assert_eq!(accept_answer(Required, Some(&ours), Some(&Crypto::ours(7, SdesSuite::AesCm128HmacSha1_80))), Err(Refusal::NoUsableCrypto));
        assert_eq!(accept_answer(Off, None, Some(&theirs)), Ok(None));
        assert!(our_offer(Off).is_none());
    }
}

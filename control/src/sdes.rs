//! SDES-SRTP keys (RFC 4568) of a plain RTP leg. The offer/answer happens in the
//! signalling service; mediad only needs the suite and one master key||salt per
//! direction, base64 as the SDP `a=crypto` line carries it (`inline:` value without
//! lifetime or MKI, which we do not support).

use serde::{Deserialize, Serialize};

/// The crypto suites mediad's SRTP speaks.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub enum SdesSuite {
    /// RFC 4568 §6.2.1; 16-byte key, 14-byte salt, 80-bit tag.
    #[serde(rename = "AES_CM_128_HMAC_SHA1_80")]
    AesCm128HmacSha1_80,
    /// RFC 7714 §14; 16-byte key, 12-byte salt.
    #[serde(rename = "AEAD_AES_128_GCM")]
    AeadAes128Gcm,
}

impl SdesSuite {
    pub const ALL: [SdesSuite; 2] = [SdesSuite::AesCm128HmacSha1_80, SdesSuite::AeadAes128Gcm];

    /// The name in SDP.
    pub fn name(self) -> &'static str {
        match self {
            SdesSuite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            SdesSuite::AeadAes128Gcm => "AEAD_AES_128_GCM",
        }
    }

    pub fn from_name(s: &str) -> Option<SdesSuite> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Bytes of master key plus salt.
    pub fn key_len(self) -> usize {
        match self {
            SdesSuite::AesCm128HmacSha1_80 => 30,
            SdesSuite::AeadAes128Gcm => 28,
        }
    }
}

/// `leg.create` / `leg.update` `"sdes"`: protect what we send with `send_key` and
/// accept only what `recv_key` authenticates (RTP and RTCP).
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Sdes {
    pub suite: SdesSuite,
    /// Base64 master key||salt we protect with (the key in our SDP).
    pub send_key: String,
    /// Base64 master key||salt of the remote (the key in its SDP).
    pub recv_key: String,
}

impl std::fmt::Debug for Sdes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Key material stays out of logs.
        write!(f, "Sdes({})", self.suite.name())
    }
}

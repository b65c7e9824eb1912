//! SRTP (RFC 3711) for WebRTC legs (keys from the DTLS exporter) and plain legs (keys
//! from SDES, RFC 4568, negotiated by the signalling service): protect and unprotect
//! **in place** in the packet buffer the engine already holds, so forwarding stays
//! zero-copy. SRTP and SRTCP with AES_CM_128_HMAC_SHA1_80 (`context`)
//! and AEAD_AES_128_GCM (`gcm`, RFC 7714).
//!
//! Written here rather than taken from webrtc-srtp (which works on this machine): that
//! crate returns every protected packet in a newly allocated buffer, and the packet path
//! must not allocate. The primitives are RustCrypto's (aes + ctr with AES-NI, hmac, sha1).

pub mod context;
pub mod gcm;
pub mod kdf;
pub mod replay;

pub use context::{SrtpContext, SrtpError};
pub use gcm::GcmContext;
pub use kdf::{MasterKey, SessionKeys};

/// Both directions of a leg's SRTP: ours protects what we send, the remote's
/// unprotects what it sends.
pub struct SrtpPair {
    pub outbound: SrtpSession,
    pub inbound: SrtpSession,
}

impl SrtpPair {
    /// Keys from SDES (base64 key||salt per direction, as the SDP carried them).
    pub fn from_sdes(s: &control::Sdes) -> Result<Self, String> {
        Ok(SrtpPair { outbound: SrtpSession::from_inline(s.suite, &s.send_key)?, inbound: SrtpSession::from_inline(s.suite, &s.recv_key)? })
    }
}

/// One direction's SRTP state for the profile DTLS negotiated (boxed: the key
/// schedules are large and a leg holds one per direction).
#[derive(Debug)]
pub enum SrtpSession {
    AesCm(Box<SrtpContext>),
    Gcm(Box<GcmContext>),
}

impl SrtpSession {
    /// A session from a master key and salt; the salt's length names the profile
    /// (12 bytes: AEAD_AES_128_GCM, 14: AES_CM_128_HMAC_SHA1_80). DTLS export and SDES
    /// both come here.
    pub fn from_key_salt(key: [u8; 16], salt: &[u8]) -> Result<Self, String> {
        match salt.len() {
            12 => Ok(SrtpSession::Gcm(Box::new(GcmContext::new(key, salt.try_into().expect("12 bytes"))))),
            14 => Ok(SrtpSession::AesCm(Box::new(SrtpContext::new(&MasterKey { key, salt: salt.try_into().expect("14 bytes") })))),
            n => Err(format!("no SRTP profile has a {n}-byte salt")),
        }
    }

    /// A session from one SDES `inline:` key (base64 of key||salt).
    pub fn from_inline(suite: control::SdesSuite, b64: &str) -> Result<Self, String> {
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::STANDARD.decode(b64.trim()).map_err(|_| format!("{} key is not base64", suite.name()))?;
        if raw.len() != suite.key_len() {
            return Err(format!("{} key||salt must be {} bytes, not {}", suite.name(), suite.key_len(), raw.len()));
        }
        Self::from_key_salt(raw[..16].try_into().expect("checked length"), &raw[16..])
    }

    /// Protect `buf[..len]` in place; `buf` needs room for the tag. Returns the new length.
    pub fn protect_rtp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        match self {
            SrtpSession::AesCm(c) => c.protect_rtp(buf, len),
            SrtpSession::Gcm(c) => c.protect_rtp(buf, len),
        }
    }

    /// Unprotect `buf` in place; returns the plain length.
    pub fn unprotect_rtp(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        match self {
            SrtpSession::AesCm(c) => c.unprotect_rtp(buf),
            SrtpSession::Gcm(c) => c.unprotect_rtp(buf),
        }
    }

    pub fn protect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        match self {
            SrtpSession::AesCm(c) => c.protect_rtcp(buf, len),
            SrtpSession::Gcm(c) => c.protect_rtcp(buf, len),
        }
    }

    pub fn unprotect_rtcp(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        match self {
            SrtpSession::AesCm(c) => c.unprotect_rtcp(buf),
            SrtpSession::Gcm(c) => c.unprotect_rtcp(buf),
        }
    }
}

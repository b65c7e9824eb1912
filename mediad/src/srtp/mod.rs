//! SRTP (RFC 3711) for WebRTC legs (issue 4 groundwork): keys from the DTLS exporter,
//! protect and unprotect **in place** in the packet buffer the engine already holds, so
//! forwarding stays zero-copy. SRTP and SRTCP with AES_CM_128_HMAC_SHA1_80 (`context`)
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

/// One direction's SRTP state for the profile DTLS negotiated (boxed: the key
/// schedules are large and a leg holds one per direction).
#[derive(Debug)]
pub enum SrtpSession {
    AesCm(Box<SrtpContext>),
    Gcm(Box<GcmContext>),
}

impl SrtpSession {
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

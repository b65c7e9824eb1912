//! SRTP (RFC 3711) for WebRTC legs (issue 4 groundwork): keys from the DTLS exporter,
//! protect and unprotect **in place** in the packet buffer the engine already holds, so
//! forwarding stays zero-copy. SRTP and SRTCP with AES_CM_128_HMAC_SHA1_80 so far;
//! AEAD-AES-GCM (RFC 7714) comes with the DTLS wiring (its key derivation is to be
//! checked against Chromium, the only peer here that negotiates it).
//!
//! Written here rather than taken from webrtc-srtp (which works on this machine): that
//! crate returns every protected packet in a newly allocated buffer, and the packet path
//! must not allocate. The primitives are RustCrypto's (aes + ctr with AES-NI, hmac, sha1).

pub mod context;
pub mod kdf;
pub mod replay;

pub use context::{SrtpContext, SrtpError};
pub use kdf::{MasterKey, SessionKeys};

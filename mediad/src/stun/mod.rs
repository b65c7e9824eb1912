//! STUN (RFC 8489) as a sans-IO codec: zero-copy parsing into a fixed attribute index,
//! building into a caller's buffer, MESSAGE-INTEGRITY (HMAC-SHA1) and FINGERPRINT
//! (CRC-32). Shared by the STUN/TURN server and, later, ICE.

pub mod attr;
pub mod binding;
pub mod message;

pub use message::{Builder, Class, Message, StunError};

pub const MAGIC_COOKIE: u32 = 0x2112_A442;
pub const HEADER_LEN: usize = 20;

/// Methods (RFC 8489 §18.2, RFC 8656 §17).
pub mod method {
    pub const BINDING: u16 = 0x001;
    pub const ALLOCATE: u16 = 0x003;
    pub const REFRESH: u16 = 0x004;
    pub const SEND: u16 = 0x006;
    pub const DATA: u16 = 0x007;
    pub const CREATE_PERMISSION: u16 = 0x008;
    pub const CHANNEL_BIND: u16 = 0x009;
    /// RFC 6062 (TCP relay).
    pub const CONNECT: u16 = 0x00a;
    pub const CONNECTION_BIND: u16 = 0x00b;
    pub const CONNECTION_ATTEMPT: u16 = 0x00c;
}

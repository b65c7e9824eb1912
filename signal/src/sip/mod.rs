//! SIP in signal (RFC 3261), sans-IO: messages, URIs and the dial plan, SDP for
//! audio, transaction timers and the endpoint that turns calls into mediad legs in
//! the conference's mixing room. The socket loop lives in `udp.rs`.

pub mod endpoint;
pub mod message;
pub mod sdp;
pub mod transaction;
pub mod udp;
pub mod uri;

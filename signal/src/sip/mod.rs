//! SIP in signal (RFC 3261), sans-IO: messages, URIs and the dial plan, SDP for
//! audio with SDES-SRTP keys, transaction timers, PIN entry, and the endpoint that turns calls into
//! mediad legs in the conference's mixing room; the call log keeps events and CDRs.
//! The socket and the threads live in `service.rs`.

pub mod api;
pub mod call_log;
mod calls_in;
pub mod calls_out;
mod trunk_register;
pub mod digest;
pub mod endpoint;
pub mod framing;
mod lobby;
pub mod message;
pub mod pin;
pub mod registrar;
pub mod sdp;
pub mod sdes;
pub mod session_timer;
pub mod service;
pub mod transaction;
pub mod trunks;
pub mod uri;
pub mod video;

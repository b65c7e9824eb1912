//! signal as a library: the pieces its binary wires together, exposed for the fuzz
//! targets and tests (SDP, conferences, the HTTP front, the link to mediad).

pub mod http;
pub mod mediad_link;
pub mod webrtc;
pub mod sip;
#[cfg(test)]
mod fake_media;

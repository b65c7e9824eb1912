//! ICE for WebRTC legs (issue 4): the lite agent mediad runs per leg, sans-IO.

pub mod lite;

pub use lite::{addressed_ufrag, Answer, Event, IceLite, Refusal, State};

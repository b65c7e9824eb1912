//! The mediad control protocol, version [`PROTOCOL_VERSION`].
//!
//! One module used by mediad (server side), signal and mediactl (client side), so the
//! two ends cannot drift. Transport: a Unix stream socket carrying newline-delimited
//! JSON. Every request carries a client-chosen `id`; the reply echoes it with either
//! `ok` or `error`. Events are pushed unsolicited to connections that subscribed.
//! docs/control-protocol.md shows every op with an example.

pub mod audio;
pub mod client;
pub mod events;
pub mod messages;
pub mod sdes;
pub mod signals;
pub mod stats;
pub mod video;
pub mod webrtc;

pub use audio::*;
pub use client::{Client, ClientError};
pub use events::*;
pub use messages::*;
pub use sdes::*;
pub use stats::*;
pub use video::*;
pub use webrtc::*;

/// Bumped on any incompatible change of a message shape. `hello` fails with
/// `version_mismatch` when a client asks for a version the daemon does not speak.
pub const PROTOCOL_VERSION: u32 = 1;

/// Default path of the control socket when nothing is configured.
pub const DEFAULT_SOCKET: &str = "/run/mediad/control.sock";

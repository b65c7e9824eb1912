//! The control plane of mediad: the registry that owns the truth about legs and
//! rooms (and turns ops into worker commands), the Unix socket server, events.

pub mod events;
pub mod registry;
pub mod server;
pub mod speakers;

pub use registry::Daemon;

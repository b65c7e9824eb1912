//! TURN (RFC 8656) server logic, sans-IO. The engine feeds it datagrams from TURN
//! listeners (clients) and relay sockets (peers) and performs the I/O it asks for
//! through [`TurnIo`]. One instance per core: a client's allocation lives on the core
//! whose listener socket (SO_REUSEPORT) received its Allocate.

pub mod allocation;
pub mod auth;
pub mod framing;
pub mod mux;
pub mod policy;
pub mod ratelimit;
pub mod server;
pub mod settings;
#[cfg(test)]
mod tests;

pub use server::{Quotas, TurnConfig, TurnServer, TurnStats};
pub use settings::TurnSettings;

use std::net::SocketAddr;

/// The I/O a TURN server asks of its runtime.
pub trait TurnIo {
    /// Send the concatenation of `parts` from socket `via` to `to`.
    fn send(&mut self, via: u32, to: SocketAddr, parts: &[&[u8]]);
    /// Open a relay socket of the requested family; returns its token and the address
    /// peers reach it at.
    fn open_relay(&mut self, ipv6: bool) -> Option<(u32, SocketAddr)>;
    fn close_relay(&mut self, token: u32);
}

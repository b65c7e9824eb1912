//! TURN (RFC 8656) server logic, sans-IO. The engine feeds it datagrams from TURN
//! listeners (clients) and relay sockets (peers) and performs the I/O it asks for
//! through [`TurnIo`]. One instance per core: a client's allocation lives on the core
//! whose listener socket (SO_REUSEPORT) received its Allocate.

pub mod allocation;
pub mod auth;
pub mod framing;
pub mod mux;
pub mod policy;
pub mod quotas;
pub mod ratelimit;
pub mod server;
pub mod settings;
#[cfg(test)]
mod tests;

pub use server::tcp_relay::core_of as connection_core;
pub use quotas::Quotas;
pub use server::{TurnConfig, TurnServer, TurnStats};
pub use settings::TurnSettings;

use std::net::SocketAddr;

/// Which relay port an Allocate asks for (RFC 8656 §7.1 EVEN-PORT, RESERVATION-TOKEN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayPort {
    Any,
    Even,
    /// An even port, with the next one held for a later Allocate (RTP/RTCP pairs).
    EvenReserveNext,
    /// The port held under this token.
    Reserved([u8; 8]),
}

/// A relay socket the runtime opened.
#[derive(Debug, Clone, Copy)]
pub struct Relay {
    pub token: u32,
    /// The address peers reach it at.
    pub addr: SocketAddr,
    /// For `EvenReserveNext`: the token of the held port.
    pub reservation: Option<[u8; 8]>,
}

/// The I/O a TURN server asks of its runtime.
pub trait TurnIo {
    /// Send the concatenation of `parts` from socket `via` to `to`.
    fn send(&mut self, via: u32, to: SocketAddr, parts: &[&[u8]]);
    /// Open a relay socket of the requested family and port kind (None: none free, or
    /// an unknown or expired reservation).
    fn open_relay(&mut self, ipv6: bool, port: RelayPort) -> Option<Relay>;
    fn close_relay(&mut self, token: u32);

    // RFC 6062 (TCP relays); a runtime without streams keeps the defaults.
    /// Whether `via` is a stream (TCP/TLS) connection rather than a UDP listener.
    fn is_stream(&self, _via: u32) -> bool {
        false
    }
    /// Listen for peers on a relay TCP port of the family.
    fn open_tcp_relay(&mut self, _ipv6: bool) -> Option<Relay> {
        None
    }
    /// Connect from relay listener `relay`'s address to `peer`; the outcome comes back
    /// through `TurnServer::on_peer_connected` with the returned connection token.
    fn connect_peer(&mut self, _relay: u32, _peer: SocketAddr) -> Option<u32> {
        None
    }
    /// Join data connection `data` and peer connection `peer`: from now on bytes flow
    /// between them untouched, and the runtime closes both when either closes.
    fn pipe(&mut self, _data: u32, _peer: u32) {}
    fn close_stream(&mut self, _token: u32) {}
}

//! The only place that touches sockets. Two backends behind one trait, chosen at
//! start (`--io epoll|uring`): mio/epoll with recvmmsg/sendmmsg, and io_uring with a
//! multishot receive into a provided-buffer ring. Both batch sends once per turn and
//! use UDP GSO for runs of same-size packets to one destination.

pub mod addr;
pub mod epoll;
pub mod gso;
pub mod socket;
pub mod uring;

use crate::engine::Engine;
use std::io;
use std::net::UdpSocket;
use std::os::fd::RawFd;
use std::time::Duration;

pub use addr::RawAddr;

/// One datagram waiting to go out. `data` points into a buffer kept alive by `hold`
/// until the backend reports the send complete.
#[derive(Clone, Copy)]
pub struct SendItem {
    pub fd: RawFd,
    pub dest: RawAddr,
    pub data: *const u8,
    pub len: u32,
    pub hold: crate::engine::buffers::HoldId,
}

pub trait Backend {
    /// Start receiving on `sock`; datagrams are reported with `token`.
    fn register(&mut self, sock: &UdpSocket, token: u32) -> io::Result<()>;
    /// Stop receiving and close the socket (possibly once in-flight work finished).
    fn deregister(&mut self, sock: UdpSocket, token: u32);
    /// Wait up to `timeout` for datagrams or a wake-up and feed every datagram to the
    /// engine, flushing its outbox after each batch.
    fn poll(&mut self, engine: &mut Engine, timeout: Option<Duration>) -> io::Result<()>;
    /// Send everything in the engine's outbox.
    fn flush(&mut self, engine: &mut Engine);
    /// Watch the engine's stream set (an epoll descriptor): when it is readable, call
    /// `engine.on_streams_ready()`.
    fn watch_streams(&mut self, fd: RawFd) -> io::Result<()>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum IoKind {
    Epoll,
    Uring,
}

impl IoKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            IoKind::Epoll => "epoll",
            IoKind::Uring => "uring",
        }
    }
}

//! Relay ports held for a later Allocate (RFC 8656 §7.1: EVEN-PORT with the R bit
//! answers with a RESERVATION-TOKEN; an Allocate carrying that token gets the port).
//! Node-wide, because the second Allocate comes from the client's next port and
//! SO_REUSEPORT may hand it to another core: the bound socket itself moves to the core
//! that claims it. Touched on those two Allocates and once a tick, never per packet.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a reserved port waits for its Allocate (RFC 8656 suggests ~30 s).
pub const RESERVATION_LIFETIME: Duration = Duration::from_secs(30);

struct Held {
    sock: UdpSocket,
    /// The address peers will reach it at (advertised address, reserved port).
    addr: SocketAddr,
    expires: Instant,
}

#[derive(Default)]
pub struct Reservations(Mutex<HashMap<[u8; 8], Held>>);

impl Reservations {
    /// Hold `sock` and return its token (random: a token is a capability).
    pub fn put(&self, sock: UdpSocket, addr: SocketAddr, now: Instant) -> [u8; 8] {
        let mut token = [0u8; 8];
        // SAFETY: getrandom fills the buffer it is given.
        let n = unsafe { libc::getrandom(token.as_mut_ptr() as *mut libc::c_void, 8, 0) };
        assert_eq!(n, 8, "getrandom failed");
        self.0.lock().unwrap().insert(token, Held { sock, addr, expires: now + RESERVATION_LIFETIME });
        token
    }

    /// Claim the port held under `token`, if it is still held.
    pub fn take(&self, token: &[u8; 8], now: Instant) -> Option<(UdpSocket, SocketAddr)> {
        let h = self.0.lock().unwrap().remove(token)?;
        (h.expires > now).then_some((h.sock, h.addr))
    }

    /// Sockets of reservations nobody claimed in time (their ports go back to the
    /// caller's slice).
    pub fn expired(&self, now: Instant) -> Vec<UdpSocket> {
        let Ok(mut m) = self.0.try_lock() else { return vec![] };
        let gone: Vec<[u8; 8]> = m.iter().filter(|(_, h)| h.expires <= now).map(|(t, _)| *t).collect();
        gone.iter().filter_map(|t| m.remove(t)).map(|h| h.sock).collect()
    }
}

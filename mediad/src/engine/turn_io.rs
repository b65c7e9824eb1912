//! The engine as the TURN server's runtime: listener sockets (one per core on the
//! shared TURN port, SO_REUSEPORT), relay sockets from the core's slice of the relay
//! range (one per allocation, or a few shared ones in multiplexed mode), and sends
//! through the same outbox as media. TURN payloads are copied once into a pooled
//! buffer (ChannelData framing differs between the two sides).

use super::counters::add;
use super::{buffers::HoldKind, Engine, SockSlot};
use crate::io::{socket, RawAddr, SendItem};
use crate::turn::{Relay, RelayPort, TurnIo};
use control::Family;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

impl Engine {
    /// Bind this core's TURN listener(s); the worker registers them with the backend.
    pub fn open_turn_listeners(&mut self) -> std::io::Result<()> {
        let cfg = self.cfg.clone();
        let Some(t) = cfg.turn.as_ref() else { return Ok(()) };
        for ip in t.listening_ips(&cfg) {
            if !t.no_udp {
                let sock = socket::bind_udp_shared(SocketAddr::new(ip, t.listening_port))?;
                let token = self.socks.insert(SockSlot::TurnListener) as u32;
                self.turn_socks.insert(token, sock);
                self.pending_register.push(token);
            }
            if !t.no_tcp {
                self.open_stream_listener(SocketAddr::new(ip, t.listening_port), false)?;
            }
            if !t.no_tls {
                self.open_stream_listener(SocketAddr::new(ip, t.tls_listening_port), true)?;
            }
        }
        if t.relay_mode == crate::turn::settings::RelayMode::Multiplexed {
            for ipv6 in [false, true] {
                let Some(ip) = t.relay_ip(&cfg, ipv6) else { continue };
                let family = if ipv6 { Family::Ipv6 } else { Family::Ipv4 };
                for _ in 0..t.mux_sockets {
                    let r = self.open_relay_port(ip, ipv6, RelayPort::Any).ok_or_else(|| {
                        std::io::Error::new(std::io::ErrorKind::AddrInUse, "no free port for a multiplexed relay socket")
                    })?;
                    self.mux_relays.entry(family).or_default().push((r.token, r.addr));
                }
            }
        }
        Ok(())
    }

    /// Bind a relay socket from this core's slice of the range (port mode).
    fn open_relay_port(&mut self, ip: std::net::IpAddr, ipv6: bool, want: RelayPort) -> Option<Relay> {
        let advertised = self.cfg.advertised(ipv6).unwrap_or(ip);
        let family = if ipv6 { Family::Ipv6 } else { Family::Ipv4 };
        let slice = self.relay_ports.get_mut(&family)?;
        let bind = |p: u16| socket::bind_udp(SocketAddr::new(ip, p), 0);
        let (sock, port, reservation) = match want {
            RelayPort::Any => slice.allocate(bind).map(|(p, s)| (s, p, None))?,
            RelayPort::Even => {
                let even = |p: u16| if p.is_multiple_of(2) { bind(p) } else { Err(std::io::ErrorKind::InvalidInput.into()) };
                slice.allocate(even).map(|(p, s)| (s, p, None))?
            }
            RelayPort::EvenReserveNext => {
                let (p, (s, next)) = slice.allocate_pair(|p| Ok::<_, std::io::Error>((bind(p)?, bind(p + 1)?)))?;
                let token = self.reservations.put(next, SocketAddr::new(advertised, p + 1), self.now);
                (s, p, Some(token))
            }
            RelayPort::Reserved(t) => {
                let (s, addr) = self.reservations.take(&t, self.now)?;
                if addr.is_ipv6() != ipv6 {
                    return None;
                }
                (s, addr.port(), None)
            }
        };
        let token = self.socks.insert(SockSlot::TurnRelay) as u32;
        self.turn_socks.insert(token, sock);
        self.pending_register.push(token);
        Some(Relay { token, addr: SocketAddr::new(advertised, port), reservation })
    }

    /// Return the ports of reservations nobody claimed to this core's slice.
    fn expire_reservations(&mut self) {
        for sock in self.reservations.expired(self.now) {
            if let Ok(a) = sock.local_addr() {
                let family = if a.is_ipv6() { Family::Ipv6 } else { Family::Ipv4 };
                if let Some(s) = self.relay_ports.get_mut(&family) {
                    s.release(a.port());
                }
            }
        }
    }

    pub(crate) fn turn_client(&mut self, token: u32, from: &RawAddr, data: &[u8]) {
        let (Some(mut turn), Some(from)) = (self.turn.take(), from.to_std()) else { return };
        let now = self.now;
        turn.on_client(self, token, from, data, now);
        self.turn = Some(turn);
    }

    pub(crate) fn turn_peer(&mut self, token: u32, from: &RawAddr, data: &[u8]) {
        let (Some(mut turn), Some(from)) = (self.turn.take(), from.to_std()) else { return };
        let now = self.now;
        turn.on_peer(self, token, from, data, now);
        self.turn = Some(turn);
    }

    pub(crate) fn turn_tick(&mut self) {
        self.sweep_streams();
        self.expire_reservations();
        let Some(mut turn) = self.turn.take() else { return };
        let now = self.now;
        turn.on_tick(self, now);
        // Publish the counters for stats readers. A lock per tick (10/s), never per
        // packet; try_lock so a reader can never stall the core.
        if let Ok(mut t) = self.counters.turn.try_lock() {
            *t = turn.stats.clone();
        }
        self.turn = Some(turn);
    }

    pub fn turn_snapshot(&self) -> Vec<control::AllocationInfo> {
        self.turn.as_ref().map(|t| t.snapshot(self.core, self.now)).unwrap_or_default()
    }

    /// Sockets opened or closed since the last call, for the worker to (de)register.
    pub fn take_socket_changes(&mut self) -> (Vec<u32>, Vec<(std::net::UdpSocket, u32)>) {
        (std::mem::take(&mut self.pending_register), std::mem::take(&mut self.pending_close))
    }
}

impl TurnIo for Engine {
    fn send(&mut self, via: u32, to: SocketAddr, parts: &[&[u8]]) {
        if let Some(SockSlot::TurnStream) = self.sock_slot(via) {
            return self.stream_send(via, parts);
        }
        let Some(fd) = self.turn_socks.get(&via).map(|s| s.as_raw_fd()) else { return };
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let mut buf = self.take_buf();
        if total > buf.data.len() {
            add(&self.counters.tx_dropped, 1);
            return self.recycle(buf);
        }
        let mut at = 0;
        for p in parts {
            buf.data[at..at + p.len()].copy_from_slice(p);
            at += p.len();
        }
        buf.len = total as u16;
        let ptr = buf.data.as_ptr();
        let hold = self.holds.hold(HoldKind::Pooled(buf));
        self.outbox.push(SendItem { fd, dest: RawAddr::from_std(to), data: ptr, len: total as u32, hold });
    }

    fn open_relay(&mut self, ipv6: bool, want: RelayPort) -> Option<Relay> {
        let family = if ipv6 { Family::Ipv6 } else { Family::Ipv4 };
        if let Some(shared) = self.mux_relays.get(&family) {
            // Shared sockets: an even one if asked, never a reservation.
            self.mux_next = self.mux_next.wrapping_add(1);
            let (token, addr) = match want {
                RelayPort::Any => *shared.get(self.mux_next % shared.len())?,
                RelayPort::Even => *shared.iter().find(|(_, a)| a.port() % 2 == 0)?,
                RelayPort::EvenReserveNext | RelayPort::Reserved(_) => return None,
            };
            return Some(Relay { token, addr, reservation: None });
        }
        let t = self.cfg.turn.as_ref()?;
        let ip = t.relay_ip(&self.cfg, ipv6)?;
        self.open_relay_port(ip, ipv6, want)
    }

    fn is_stream(&self, via: u32) -> bool {
        matches!(self.sock_slot(via), Some(SockSlot::TurnStream))
    }

    fn open_tcp_relay(&mut self, ipv6: bool) -> Option<Relay> {
        self.tcp_relay_listener(ipv6)
    }

    fn connect_peer(&mut self, relay: u32, peer: SocketAddr) -> Option<u32> {
        self.tcp_connect_peer(relay, peer)
    }

    fn pipe(&mut self, data: u32, peer: u32) {
        self.tcp_pipe(data, peer)
    }

    fn close_stream(&mut self, token: u32) {
        Engine::close_stream(self, token)
    }

    fn close_relay(&mut self, token: u32) {
        // RFC 6062 listeners; the server never closes a multiplexed socket (those
        // outlive every allocation), so every other token is a port-mode relay.
        if self.close_tcp_relay_listener(token) {
            return;
        }
        if let Some(sock) = self.turn_socks.remove(&token) {
            self.socks.remove(token as usize);
            if let Ok(a) = sock.local_addr() {
                let family = if a.is_ipv6() { Family::Ipv6 } else { Family::Ipv4 };
                if let Some(s) = self.relay_ports.get_mut(&family) {
                    s.release(a.port());
                }
            }
            self.pending_close.push((sock, token));
        }
    }
}

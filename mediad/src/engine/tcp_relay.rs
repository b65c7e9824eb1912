//! The runtime side of RFC 6062 TCP relays: a listener on each TCP allocation's relay
//! address, outgoing connects from that address (SO_REUSEADDR/SO_REUSEPORT, so the
//! peer sees the relayed address), and the pipe between a client's data connection and
//! its peer connection: bytes copied as they come, reading paused while the other side
//! cannot take more. A ConnectionBind that arrives on another core moves its data
//! connection to the core holding the peer connection (connection ids name it).

use super::streams::{listen_shared, Conn, Listen, Role, Transport, MAX_PENDING_WRITE};
use super::{Engine, SockSlot};
use crate::stun::message::{Class, Message};
use crate::stun::{attr, method};
use crate::turn::{connection_core, Relay};
use control::Family;
use mio::net::TcpStream;
use mio::{Interest, Token};
use std::io;
use std::net::SocketAddr;

/// A connection on its way to the core that owns the peer connection it binds.
pub struct MovedStream {
    pub(crate) conn: Box<Conn>,
}

impl Engine {
    /// RFC 6062: a listener on a relay port of this core's slice.
    pub(crate) fn tcp_relay_listener(&mut self, ipv6: bool) -> Option<Relay> {
        let t = self.cfg.turn.as_ref()?;
        let ip = t.relay_ip(&self.cfg, ipv6)?;
        let advertised = self.cfg.advertised(ipv6).unwrap_or(ip);
        let family = if ipv6 { Family::Ipv6 } else { Family::Ipv4 };
        let (port, mut l) = self.relay_ports.get_mut(&family)?.allocate(|p| listen_shared(SocketAddr::new(ip, p)))?;
        let token = self.socks.insert(SockSlot::TurnStream) as u32;
        let st = self.streams.as_mut()?;
        if st.poll.registry().register(&mut l, Token(token as usize), Interest::READABLE).is_err() {
            self.socks.remove(token as usize);
            self.relay_ports.get_mut(&family)?.release(port);
            return None;
        }
        st.listeners.insert(token, (l, Listen::Relay));
        Some(Relay { token, addr: SocketAddr::new(advertised, port), reservation: None })
    }

    /// Close a relay listener; false if `token` is not one.
    pub(crate) fn close_tcp_relay_listener(&mut self, token: u32) -> bool {
        let Some(st) = self.streams.as_mut() else { return false };
        let Some((mut l, _)) = st.listeners.remove(&token) else { return false };
        let _ = st.poll.registry().deregister(&mut l);
        self.socks.remove(token as usize);
        if let Ok(a) = l.local_addr() {
            let family = if a.is_ipv6() { Family::Ipv6 } else { Family::Ipv4 };
            if let Some(s) = self.relay_ports.get_mut(&family) {
                s.release(a.port());
            }
        }
        true
    }

    /// Peers connecting to a relay address: handed to the TURN server, which admits
    /// or closes them.
    pub(crate) fn accept_peer(&mut self, listener: u32) {
        loop {
            let Some((l, _)) = self.streams.as_ref().and_then(|s| s.listeners.get(&listener)) else { return };
            let (stream, peer) = match l.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            let _ = stream.set_nodelay(true);
            let Some(token) = self.adopt(Conn::new(Transport::Plain(stream), peer, Role::PeerIdle, self.now)) else { continue };
            if let Some(mut turn) = self.turn.take() {
                let now = self.now;
                turn.on_peer_connection(self, listener, token, peer, now);
                self.turn = Some(turn);
            }
        }
    }

    /// Connect from relay listener `relay`'s address to `peer` (non-blocking).
    pub(crate) fn tcp_connect_peer(&mut self, relay: u32, peer: SocketAddr) -> Option<u32> {
        use socket2::{Domain, Protocol, Socket, Type};
        let local = self.streams.as_ref()?.listeners.get(&relay)?.0.local_addr().ok()?;
        let domain = if local.is_ipv4() { Domain::IPV4 } else { Domain::IPV6 };
        let s = Socket::new(domain, Type::STREAM.nonblocking().cloexec(), Some(Protocol::TCP)).ok()?;
        s.set_reuse_address(true).ok()?;
        s.set_reuse_port(true).ok()?;
        s.bind(&local.into()).ok()?;
        match s.connect(&peer.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(_) => return None,
        }
        let stream = TcpStream::from_std(s.into());
        let _ = stream.set_nodelay(true);
        self.adopt(Conn::new(Transport::Plain(stream), peer, Role::Connecting, self.now))
    }

    /// A connect under way reported readiness: established, failed, or not yet.
    pub(crate) fn connect_done(&mut self, token: u32) {
        let Some(c) = self.streams.as_mut().and_then(|s| s.conns.get_mut(&token)) else { return };
        let Some(t) = c.t.as_ref() else { return };
        let ok = match (t.tcp().take_error(), t.tcp().peer_addr()) {
            (Ok(None), Ok(_)) => true,
            (Ok(Some(_)) | Err(_), _) => false,
            (Ok(None), Err(e)) if e.kind() == io::ErrorKind::NotConnected => return, // still connecting
            _ => false,
        };
        if ok {
            c.role = Role::PeerIdle;
        }
        if let Some(mut turn) = self.turn.take() {
            let now = self.now;
            turn.on_peer_connected(self, token, ok, now);
            self.turn = Some(turn);
        }
    }

    /// Join two connections (the server answered the ConnectionBind first).
    pub(crate) fn tcp_pipe(&mut self, data: u32, peer: u32) {
        let Some(st) = self.streams.as_mut() else { return };
        if !(st.conns.contains_key(&data) && st.conns.contains_key(&peer)) {
            return;
        }
        st.conns.get_mut(&data).expect("checked").role = Role::Pipe(peer);
        st.conns.get_mut(&peer).expect("checked").role = Role::Pipe(data);
        // Bytes may already wait in either socket; read them once the current call
        // (the server's) has returned.
        st.resume.extend([peer, data]);
    }

    /// Copy what `from` received to `to`, until `to`'s buffer is full (then pause).
    pub(crate) fn pump(&mut self, from: u32, to: u32) {
        let mut scratch = [0u8; 16 * 1024];
        let mut closed = false;
        loop {
            let Some(st) = self.streams.as_mut() else { return };
            let room = st.conns.get(&to).map_or(0, |c| MAX_PENDING_WRITE / 2 - c.wbuf.len().min(MAX_PENDING_WRITE / 2));
            let Some(c) = st.conns.get_mut(&from) else { return };
            if room == 0 {
                c.paused = true;
                break;
            }
            c.paused = false;
            let n = scratch.len().min(room);
            let Some(t) = c.t.as_mut() else { break };
            match t.read_some(&mut scratch[..n]) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(k) => {
                    c.last_rx = self.now;
                    self.stream_send(to, &[&scratch[..k]]);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        self.write_pending(from);
        if closed {
            self.close_stream(from); // closes `to` as well
        }
    }

    /// The core a ConnectionBind in `frame` belongs to, if not this one.
    pub(crate) fn bind_elsewhere(&self, frame: &[u8]) -> Option<usize> {
        if frame.get(..2) != Some(&[0x00, 0x0b]) {
            return None; // not a ConnectionBind request: the cheap check first
        }
        let m = Message::parse(frame).ok()?;
        if (m.class, m.method) != (Class::Request, method::CONNECTION_BIND) {
            return None;
        }
        let id = u32::from_be_bytes(m.attr(attr::CONNECTION_ID)?.try_into().ok()?);
        let core = connection_core(id);
        (core != self.core && core < self.mesh.cores).then_some(core)
    }

    /// Hand connection `token` to `core`, with `unread` as what it has received.
    pub(crate) fn move_stream(&mut self, token: u32, core: usize, unread: Vec<u8>) {
        let Some(mut conn) = self.detach_stream(token) else { return };
        conn.rbuf = unread;
        match self.mesh.move_stream(core, MovedStream { conn: Box::new(conn) }) {
            Ok(()) => {
                if let Some(t) = self.turn.as_mut() {
                    t.stats.stream_moves += 1;
                }
            }
            Err(m) => drop(m), // the queue is full: closing is the honest answer
        }
    }

    /// Adopt connections other cores moved here, and serve their ConnectionBind.
    pub(crate) fn adopt_moved_streams(&mut self) {
        while let Some(m) = self.mesh.take_moved_stream(self.core) {
            if let Some(token) = self.adopt(*m.conn) {
                self.serve(token);
            }
        }
        self.resume_streams();
    }
}

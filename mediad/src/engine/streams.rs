//! TURN over TCP and TLS (RFC 8656 §3.1): the stream transports between client and
//! server. Each core listens on the TURN port(s) with SO_REUSEPORT, so the kernel
//! spreads connections over cores, and owns its connections outright. Readiness comes
//! from a per-core epoll set that the I/O backend watches as a single descriptor (a
//! nested epoll for the epoll backend, a multishot poll for io_uring); reads and
//! writes are plain non-blocking calls on that readiness, since the stream side
//! carries signalling and the occasional relay-over-TCP client, not the bulk of UDP.
//!
//! Bytes are split into messages by the sans-IO `turn::framing`; each message goes to
//! the same `TurnServer::on_client` as a UDP datagram, with the connection's token as
//! the listener. Answers come back through `TurnIo::send`, which appends to the
//! connection's write buffer (ChannelData padded to four bytes, as streams require).
//! RFC 6062 relays (peer connections, piping) live in `tcp_relay.rs`.

use super::{Engine, SockSlot};
use crate::turn::framing::{self, Frame};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use openssl::ssl::{HandshakeError, MidHandshakeSslStream, SslAcceptor, SslStream};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Connections one core holds at most; beyond, new ones are closed on accept (counted).
const MAX_CONNECTIONS: usize = 16_384;
/// Unsent bytes a slow reader may leave queued before its messages are dropped.
pub(crate) const MAX_PENDING_WRITE: usize = 1 << 20;
/// A connection that has no allocation and sent nothing for this long is closed.
const IDLE_WITHOUT_ALLOCATION: Duration = Duration::from_secs(60);

pub(crate) enum Transport {
    Plain(TcpStream),
    Handshaking(MidHandshakeSslStream<TcpStream>),
    Tls(SslStream<TcpStream>),
}

impl Transport {
    /// Read application bytes (decrypted for TLS); nothing while handshaking.
    pub(crate) fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            Transport::Tls(s) => s.read(buf),
            Transport::Handshaking(_) => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Handshaking(m) => m.get_ref(),
            Transport::Tls(s) => s.get_ref(),
        }
    }
}

/// What a connection carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// A TURN client: STUN and ChannelData messages.
    Client,
    /// RFC 6062: our connect to a peer, under way.
    Connecting,
    /// RFC 6062: a peer connection not yet bound (its bytes wait in the socket).
    PeerIdle,
    /// RFC 6062: bytes go to this other connection untouched.
    Pipe(u32),
}

pub(crate) struct Conn {
    pub t: Option<Transport>,
    pub peer: SocketAddr,
    pub rbuf: Vec<u8>,
    pub wbuf: Vec<u8>,
    pub last_rx: Instant,
    pub role: Role,
    /// A pipe stopped reading because the other side's write buffer is full.
    pub paused: bool,
}

impl Conn {
    pub fn new(t: Transport, peer: SocketAddr, role: Role, now: Instant) -> Self {
        Conn { t: Some(t), peer, rbuf: Vec::new(), wbuf: Vec::new(), last_rx: now, role, paused: false }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listen {
    Turn { tls: bool },
    /// RFC 6062: an allocation's relay address.
    Relay,
}

pub struct Streams {
    pub(crate) poll: Poll,
    events: Events,
    pub(crate) listeners: HashMap<u32, (TcpListener, Listen)>,
    pub(crate) conns: HashMap<u32, Conn>,
    tls: Option<Arc<SslAcceptor>>,
    /// Connections to serve again once the engine is done with the current event.
    pub(crate) resume: Vec<u32>,
    /// Tokens of one readiness batch (kept to avoid an allocation per batch).
    ready: Vec<u32>,
    next_sweep: Instant,
}

impl Streams {
    pub fn new(tls: Option<Arc<SslAcceptor>>) -> io::Result<Self> {
        Ok(Streams { poll: Poll::new()?, events: Events::with_capacity(256), listeners: HashMap::new(), conns: HashMap::new(), tls, resume: Vec::new(), ready: Vec::new(), next_sweep: Instant::now() })
    }

    /// The descriptor the I/O backend watches: readable when a stream socket is ready.
    pub fn fd(&self) -> RawFd {
        self.poll.as_raw_fd()
    }

    pub fn connections(&self) -> usize {
        self.conns.len()
    }
}

/// A TCP listener every core binds on the same address (SO_REUSEPORT); relay
/// listeners use it too, since their outgoing connects share the address.
pub(crate) fn listen_shared(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let domain = if addr.is_ipv4() { Domain::IPV4 } else { Domain::IPV6 };
    let s = Socket::new(domain, Type::STREAM.nonblocking().cloexec(), Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    Ok(TcpListener::from_std(s.into()))
}

impl Engine {
    /// Listen for TURN over TCP on `addr` (and TLS when `tls`).
    pub fn open_stream_listener(&mut self, addr: SocketAddr, tls: bool) -> io::Result<()> {
        let Some(st) = self.streams.as_mut() else { return Ok(()) };
        let mut l = listen_shared(addr)?;
        let token = self.socks.insert(SockSlot::TurnStream) as u32;
        st.poll.registry().register(&mut l, Token(token as usize), Interest::READABLE)?;
        st.listeners.insert(token, (l, Listen::Turn { tls }));
        Ok(())
    }

    pub fn streams_fd(&self) -> Option<RawFd> {
        self.streams.as_ref().map(Streams::fd)
    }

    /// The backend saw the stream set readable: serve every ready listener and
    /// connection.
    pub fn on_streams_ready(&mut self) {
        self.now = Instant::now();
        // Drain the set: the backend's watch on it is edge-triggered, so events left
        // in it would wait for the next, unrelated, readiness.
        loop {
            let Some(st) = self.streams.as_mut() else { return };
            if st.poll.poll(&mut st.events, Some(Duration::ZERO)).is_err() {
                return;
            }
            let mut ready = std::mem::take(&mut st.ready);
            ready.clear();
            ready.extend(st.events.iter().map(|e| e.token().0 as u32));
            let more = ready.len() == st.events.capacity();
            for &token in &ready {
                match self.streams.as_ref().and_then(|s| s.listeners.get(&token)).map(|l| l.1) {
                    Some(Listen::Turn { tls }) => self.accept(token, tls),
                    Some(Listen::Relay) => self.accept_peer(token),
                    None => self.serve(token),
                }
                self.resume_streams();
            }
            if let Some(st) = self.streams.as_mut() {
                st.ready = ready;
            }
            if !more {
                return;
            }
        }
    }

    /// Register `conn` under a new token and serve what may already be waiting (the
    /// readiness is edge-triggered).
    pub(crate) fn adopt(&mut self, conn: Conn) -> Option<u32> {
        let fd = conn.t.as_ref()?.tcp().as_raw_fd();
        let token = self.socks.insert(SockSlot::TurnStream) as u32;
        let st = self.streams.as_mut()?;
        let interest = Interest::READABLE | Interest::WRITABLE;
        if st.poll.registry().register(&mut mio::unix::SourceFd(&fd), Token(token as usize), interest).is_err() {
            self.socks.remove(token as usize);
            return None;
        }
        st.conns.insert(token, conn);
        Some(token)
    }

    fn accept(&mut self, listener: u32, tls: bool) {
        loop {
            let st = self.streams.as_mut().expect("streams");
            let l = &st.listeners[&listener].0;
            let (stream, peer) = match l.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of descriptors or memory: leave the backlog for later.
                    tracing::warn!(core = self.core, "TURN accept: {e}");
                    return;
                }
            };
            if st.conns.len() >= MAX_CONNECTIONS {
                if let Some(t) = self.turn.as_mut() {
                    t.stats.stream_refused += 1;
                }
                continue; // dropping the stream closes it
            }
            let _ = stream.set_nodelay(true);
            let transport = if tls {
                let acceptor = st.tls.clone().expect("TLS listener has an acceptor");
                match acceptor.accept(stream) {
                    Ok(s) => Transport::Tls(s),
                    Err(HandshakeError::WouldBlock(m)) => Transport::Handshaking(m),
                    Err(_) => {
                        if let Some(t) = self.turn.as_mut() {
                            t.stats.tls_failures += 1;
                        }
                        continue;
                    }
                }
            } else {
                Transport::Plain(stream)
            };
            if let Some(token) = self.adopt(Conn::new(transport, peer, Role::Client, self.now)) {
                self.serve(token);
            }
        }
    }

    /// Handshake, read and dispatch whole messages, then write what is queued.
    pub(crate) fn serve(&mut self, token: u32) {
        match self.streams.as_ref().and_then(|s| s.conns.get(&token)).map(|c| c.role) {
            Some(Role::Client) => {}
            Some(Role::Connecting) => return self.connect_done(token),
            Some(Role::PeerIdle) => return self.write_pending(token),
            Some(Role::Pipe(other)) => return self.pump(token, other),
            None => return,
        }
        let (mut closed, mut full) = (false, false);
        let mut scratch = [0u8; 16 * 1024];
        let mut rbuf = {
            let Some(c) = self.streams.as_mut().and_then(|s| s.conns.get_mut(&token)) else { return };
            if let Some(Transport::Handshaking(_)) = c.t {
                let Some(Transport::Handshaking(m)) = c.t.take() else { unreachable!() };
                match m.handshake() {
                    Ok(s) => c.t = Some(Transport::Tls(s)),
                    Err(HandshakeError::WouldBlock(m)) => {
                        c.t = Some(Transport::Handshaking(m));
                        return;
                    }
                    Err(_) => {
                        if let Some(t) = self.turn.as_mut() {
                            t.stats.tls_failures += 1;
                        }
                        return self.close_stream(token);
                    }
                }
            }
            loop {
                if c.rbuf.len() >= framing::MAX_MESSAGE + scratch.len() {
                    full = true; // dispatch first, then come back for the rest
                    break;
                }
                let Some(t) = c.t.as_mut() else { break };
                match t.read_some(&mut scratch) {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(n) => {
                        c.rbuf.extend_from_slice(&scratch[..n]);
                        c.last_rx = self.now;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => {
                        closed = true;
                        break;
                    }
                }
            }
            std::mem::take(&mut c.rbuf)
        };
        let peer = self.streams.as_ref().and_then(|s| s.conns.get(&token)).map(|c| c.peer);
        let Some(peer) = peer else { return };
        let mut at = 0;
        loop {
            match framing::next(&rbuf[at..]) {
                Frame::Whole { len, used } => {
                    // A ConnectionBind for a peer connection on another core: move this
                    // connection, unread bytes included, to that core.
                    if let Some(core) = self.bind_elsewhere(&rbuf[at..at + len]) {
                        return self.move_stream(token, core, rbuf[at..].to_vec());
                    }
                    let (Some(mut turn), now) = (self.turn.take(), self.now) else { break };
                    turn.on_client(self, token, peer, &rbuf[at..at + len], now);
                    self.turn = Some(turn);
                    at += used;
                    if let Some(Role::Pipe(other)) = self.streams.as_ref().and_then(|s| s.conns.get(&token)).map(|c| c.role) {
                        // Bound (RFC 6062): what follows the ConnectionBind is the peer's.
                        self.stream_send(other, &[&rbuf[at..]]);
                        rbuf.clear();
                        at = 0;
                        break;
                    }
                }
                Frame::Partial => break,
                Frame::Invalid => {
                    if let Some(t) = self.turn.as_mut() {
                        t.stats.malformed += 1;
                    }
                    closed = true;
                    break;
                }
            }
        }
        rbuf.drain(..at);
        match self.streams.as_mut().and_then(|s| s.conns.get_mut(&token)) {
            Some(c) => c.rbuf = rbuf,
            None => return, // closed while dispatching
        }
        self.write_pending(token);
        if closed {
            self.close_stream(token);
        } else if full {
            // Edge-triggered: nothing announces the bytes still in the socket.
            if let Some(s) = self.streams.as_mut() {
                s.resume.push(token);
            }
        }
    }

    /// Queue `parts` on connection `token` and write as much as the socket takes.
    pub(crate) fn stream_send(&mut self, token: u32, parts: &[&[u8]]) {
        let Some(c) = self.streams.as_mut().and_then(|s| s.conns.get_mut(&token)) else { return };
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if c.wbuf.len() + total > MAX_PENDING_WRITE {
            super::counters::add(&self.counters.tx_dropped, 1);
            return;
        }
        for p in parts {
            c.wbuf.extend_from_slice(p);
        }
        // ChannelData on a stream to a TURN client is padded to a multiple of four bytes.
        if c.role == Role::Client && parts.first().and_then(|p| p.first()).is_some_and(|b| (0x40..0x80).contains(b)) {
            c.wbuf.extend_from_slice(&[0u8; 3][..framing::channel_padding(total)]);
        }
        self.write_pending(token);
    }

    pub(crate) fn write_pending(&mut self, token: u32) {
        let Some(c) = self.streams.as_mut().and_then(|s| s.conns.get_mut(&token)) else { return };
        let mut written = 0;
        while written < c.wbuf.len() {
            let r = match c.t.as_mut() {
                Some(Transport::Plain(s)) => s.write(&c.wbuf[written..]),
                Some(Transport::Tls(s)) => s.write(&c.wbuf[written..]),
                _ => break, // handshake first; sends wait in the buffer
            };
            match r {
                Ok(0) => break,
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break, // WouldBlock: the writable edge resumes; errors: the read side closes
            }
        }
        c.wbuf.drain(..written);
        // The pipe feeding this connection paused while the buffer was full.
        let low = c.wbuf.len() < MAX_PENDING_WRITE / 4;
        if let (true, Role::Pipe(src)) = (low, c.role) {
            if let Some(s) = self.streams.as_mut() {
                if s.conns.get(&src).is_some_and(|c| c.paused) {
                    s.resume.push(src);
                }
            }
        }
    }

    /// Close a connection and end the allocation it carried (RFC 8656 §3.1: an
    /// allocation over TCP or TLS lives only as long as its connection).
    pub(crate) fn close_stream(&mut self, token: u32) {
        let Some(st) = self.streams.as_mut() else { return };
        let Some(mut c) = st.conns.remove(&token) else { return };
        if let Some(t) = c.t.take() {
            let fd = t.tcp().as_raw_fd();
            let _ = st.poll.registry().deregister(&mut mio::unix::SourceFd(&fd));
        }
        self.socks.remove(token as usize);
        // Inside the TURN server's own call it already knows; otherwise tell it.
        if let Some(mut turn) = self.turn.take() {
            turn.on_transport_closed(self, token, c.peer);
            self.turn = Some(turn);
        }
        if let Role::Pipe(other) = c.role {
            self.close_stream(other);
        }
    }

    /// Take connection `token` out of this core (for another core to adopt).
    pub(crate) fn detach_stream(&mut self, token: u32) -> Option<Conn> {
        let st = self.streams.as_mut()?;
        let c = st.conns.remove(&token)?;
        let fd = c.t.as_ref()?.tcp().as_raw_fd();
        let _ = st.poll.registry().deregister(&mut mio::unix::SourceFd(&fd));
        self.socks.remove(token as usize);
        Some(c)
    }

    /// Serve connections that have work nobody will announce: new pipes, pipes whose
    /// other side drained, clients that stopped reading at a full buffer.
    pub(crate) fn resume_streams(&mut self) {
        while let Some(t) = self.streams.as_mut().and_then(|s| s.resume.pop()) {
            self.serve(t);
        }
    }

    /// Close connections that never allocated (or whose allocation ended) and stay
    /// silent: a half-open client must not hold a descriptor forever. Once a second:
    /// the timeout is a minute, and a core may hold thousands of connections.
    pub(crate) fn sweep_streams(&mut self) {
        let now = self.now;
        let open = self.streams.as_ref().map_or(0, |s| s.connections() as u64);
        if let Some(turn) = self.turn.as_mut() {
            turn.stats.stream_connections = open;
        }
        match self.streams.as_mut() {
            Some(st) if now >= st.next_sweep => st.next_sweep = now + Duration::from_secs(1),
            _ => return,
        }
        let (Some(st), Some(turn)) = (self.streams.as_ref(), self.turn.as_ref()) else { return };
        let idle: Vec<u32> = st
            .conns
            .iter()
            .filter(|(t, c)| {
                c.role == Role::Client
                    && now.saturating_duration_since(c.last_rx) > IDLE_WITHOUT_ALLOCATION
                    && !turn.has_allocation(c.peer, **t)
            })
            .map(|(t, _)| *t)
            .collect();
        for t in idle {
            self.close_stream(t);
        }
    }
}

//! SIP as a running service: the one place SIP touches a socket. One thread receives
//! datagrams and runs the endpoint's timers; TCP connections get a reader thread
//! (messages cut by `framing.rs`) and a writer thread (a bounded queue: a peer that
//! does not read is dropped, never blocks the rest); a TLS connection gets one thread
//! that reads with a short timeout and writes its queue in between; another thread follows mediad's
//! events (key presses, prompts that ended) for the calls' legs; the HTTP API reads the
//! call log and hangs calls up. All of them share the sans-IO endpoint under one lock.
//! What the endpoint sends to an address with an open TCP connection goes over it,
//! everything else as a datagram.

use super::call_log::{CallLog, Cdr, Logged};
use super::endpoint::{Counters, Endpoint};
use crate::mediad_link::{LinkOps, MediadLink};
use super::framing::{self, Frame};
use crossbeam_channel::{bounded, Sender};
use openssl::ssl::{SslAcceptor, SslStream};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub struct SipService {
    sock: UdpSocket,
    ep: Mutex<Endpoint>,
    link: Arc<MediadLink>,
    log: Mutex<CallLog>,
    /// Woken when the log grows (long-polling event readers wait on it).
    grew: Condvar,
    /// Open TCP connections by peer address: their writer's queue.
    tcp: Mutex<HashMap<SocketAddr, Sender<Vec<u8>>>>,
}

/// TCP connections served at once; more are closed at accept.
const MAX_TCP: usize = 2048;
/// Messages queued to one TCP peer before it counts as stuck and is dropped.
const TCP_QUEUE: usize = 256;
/// A TCP connection silent this long is closed (phones send CRLF keep-alives).
const TCP_IDLE: Duration = Duration::from_secs(600);
/// How long a TLS connection's thread waits for input before writing what is queued
/// (the bound on our added latency over TLS).
const TLS_POLL: Duration = Duration::from_millis(10);

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl SipService {
    /// Serve SIP on `sock`; `events_socket` is mediad's control socket, on which a
    /// second connection subscribes to the events SIP calls need.
    pub fn start(sock: UdpSocket, tcp: Option<TcpListener>, tls: Option<(TcpListener, Arc<SslAcceptor>)>, ep: Endpoint, link: Arc<MediadLink>, events_socket: PathBuf) -> Arc<Self> {
        let svc = Arc::new(SipService { sock, ep: Mutex::new(ep), link, log: Mutex::new(CallLog::default()), grew: Condvar::new(), tcp: Mutex::new(HashMap::new()) });
        let s = svc.clone();
        std::thread::Builder::new().name("sip-udp".into()).spawn(move || s.receive_loop()).expect("thread");
        if let Some(l) = tcp {
            let s = svc.clone();
            std::thread::Builder::new().name("sip-tcp".into()).spawn(move || s.accept_loop(l)).expect("thread");
        }
        if let Some((l, acceptor)) = tls {
            let s = svc.clone();
            std::thread::Builder::new().name("sip-tls".into()).spawn(move || s.accept_tls(l, acceptor)).expect("thread");
        }
        let s = svc.clone();
        std::thread::Builder::new().name("sip-events".into()).spawn(move || s.follow_mediad(events_socket)).expect("thread");
        svc
    }

    fn receive_loop(&self) {
        let mut buf = vec![0u8; 65_536];
        // Timers run when due, and at least every TICK_EVERY, not after every datagram:
        // `tick` and `next_due` walk every call, and a busy node gets thousands of
        // datagrams a second. New timers are never due sooner than T1 (500 ms) except
        // an answer delay, which this bounds to TICK_EVERY late. The socket's timeout
        // is armed when the timers ran (one setsockopt per tick, not per datagram): a
        // datagram in between may leave the next wait that much late, never more.
        const TICK_EVERY: Duration = Duration::from_millis(50);
        let mut next_tick = Instant::now();
        let _ = self.sock.set_read_timeout(Some(Duration::from_millis(1)));
        loop {
            let got = self.sock.recv_from(&mut buf);
            let mut ep = self.ep.lock().unwrap();
            match got {
                Ok((n, from)) => ep.receive(&buf[..n], from, Instant::now(), &mut LinkOps(&self.link)),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(e) => tracing::warn!("SIP socket: {e}"),
            }
            let now = Instant::now();
            if now >= next_tick {
                ep.tick(now, &mut LinkOps(&self.link));
                next_tick = ep.next_due().map_or(now + TICK_EVERY, |d| d.min(now + TICK_EVERY));
                let wait = next_tick.saturating_duration_since(now).max(Duration::from_millis(1));
                let _ = self.sock.set_read_timeout(Some(wait));
            }
            self.flush(&mut ep);
        }
    }

    fn accept_loop(self: Arc<Self>, listener: TcpListener) {
        for conn in listener.incoming() {
            let Ok(stream) = conn else { continue };
            let Ok(peer) = stream.peer_addr() else { continue };
            let Ok(writer) = stream.try_clone() else { continue };
            {
                let mut map = self.tcp.lock().unwrap();
                if map.len() >= MAX_TCP {
                    tracing::warn!("SIP over TCP: {MAX_TCP} connections open; closing {peer}");
                    continue;
                }
                let (tx, rx) = bounded::<Vec<u8>>(TCP_QUEUE);
                map.insert(peer, tx);
                std::thread::spawn(move || {
                    let mut writer = writer;
                    for bytes in rx {
                        if writer.write_all(&bytes).is_err() {
                            break;
                        }
                    }
                    let _ = writer.shutdown(std::net::Shutdown::Both);
                });
            }
            let s = self.clone();
            std::thread::spawn(move || s.read_stream(stream, peer));
        }
    }

    fn accept_tls(self: Arc<Self>, listener: TcpListener, acceptor: Arc<SslAcceptor>) {
        for conn in listener.incoming() {
            let Ok(stream) = conn else { continue };
            let Ok(peer) = stream.peer_addr() else { continue };
            if self.tcp.lock().unwrap().len() >= MAX_TCP {
                continue;
            }
            let (s, acceptor) = (self.clone(), acceptor.clone());
            std::thread::spawn(move || {
                // The handshake on the connection's own thread, bounded in time.
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                match acceptor.accept(stream) {
                    Ok(tls) => s.serve_tls(tls, peer),
                    Err(e) => tracing::info!("SIP over TLS from {peer}: handshake failed: {e}"),
                }
            });
        }
    }

    /// One TLS connection: a TLS stream cannot be split into a reader and a writer, so
    /// one thread reads with a short timeout and writes what was queued in between.
    fn serve_tls(&self, mut tls: SslStream<TcpStream>, peer: SocketAddr) {
        let (tx, rx) = bounded::<Vec<u8>>(TCP_QUEUE);
        self.tcp.lock().unwrap().insert(peer, tx);
        let _ = tls.get_ref().set_read_timeout(Some(TLS_POLL));
        let _ = tls.get_ref().set_nodelay(true);
        let mut buf = Vec::with_capacity(4096);
        let mut chunk = vec![0u8; 16 * 1024];
        let mut idle = Instant::now();
        'conn: loop {
            match tls.ssl_read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    idle = Instant::now();
                    buf.extend_from_slice(&chunk[..n]);
                    if !self.frames(&mut buf, peer) {
                        break 'conn;
                    }
                }
                Err(e) if e.code() == openssl::ssl::ErrorCode::WANT_READ || e.io_error().is_some_and(|io| matches!(io.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)) => {
                    if idle.elapsed() > TCP_IDLE {
                        break;
                    }
                }
                Err(_) => break,
            }
            while let Ok(bytes) = rx.try_recv() {
                if tls.write_all(&bytes).is_err() {
                    break 'conn;
                }
            }
        }
        self.tcp.lock().unwrap().remove(&peer);
        let _ = tls.shutdown();
    }

    /// Cut and hand over the whole messages in `buf`; false when the stream is broken.
    fn frames(&self, buf: &mut Vec<u8>, peer: SocketAddr) -> bool {
        loop {
            match framing::next(buf) {
                Frame::More => return true,
                Frame::KeepAlive(k) => {
                    buf.drain(..k);
                }
                Frame::Message(len) => {
                    {
                        let mut ep = self.ep.lock().unwrap();
                        ep.receive(&buf[..len], peer, Instant::now(), &mut LinkOps(&self.link));
                        self.flush(&mut ep);
                    }
                    buf.drain(..len);
                }
                Frame::Broken(why) => {
                    self.ep.lock().unwrap().counters.malformed += 1;
                    tracing::info!("SIP stream from {peer}: {why}; closing");
                    return false;
                }
            }
        }
    }

    /// Messages from one TCP connection until it closes, breaks or idles out.
    fn read_stream(&self, mut stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_read_timeout(Some(TCP_IDLE));
        let _ = stream.set_nodelay(true);
        let mut buf = Vec::with_capacity(4096);
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let n = match stream.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            buf.extend_from_slice(&chunk[..n]);
            if !self.frames(&mut buf, peer) {
                break;
            }
        }
        // Dropping the queue's sender ends the writer, which closes the socket.
        self.tcp.lock().unwrap().remove(&peer);
    }

    /// Key presses and prompt ends from mediad, for as long as the process lives
    /// (reconnecting when mediad restarts).
    fn follow_mediad(&self, socket: PathBuf) {
        loop {
            if let Ok((mut c, _)) = control::Client::connect(&socket, "signal-sip-events") {
                let want = vec!["leg.dtmf".to_string(), "prompt.done".to_string()];
                if c.call::<serde_json::Value>(control::Op::EventsSubscribe { events: want }).is_ok() {
                    loop {
                        match c.next_event(Duration::from_secs(1)) {
                            Ok(Some(ev)) => {
                                let mut ep = self.ep.lock().unwrap();
                                ep.media_event(&ev, Instant::now(), &mut LinkOps(&self.link));
                                self.flush(&mut ep);
                            }
                            Ok(None) => {}
                            Err(_) => break,
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// Send what the endpoint queued and log its call events.
    fn flush(&self, ep: &mut Endpoint) {
        let tcp = self.tcp.lock().unwrap();
        for (to, bytes) in ep.out.drain(..) {
            if let Some(q) = tcp.get(&to) {
                if q.try_send(bytes).is_err() {
                    tracing::info!("SIP over TCP to {to}: not reading; message dropped");
                }
                continue;
            }
            if let Err(e) = self.sock.send_to(&bytes, to) {
                tracing::debug!("SIP send to {to}: {e}");
            }
        }
        drop(tcp);
        if ep.events.is_empty() {
            return;
        }
        let mut log = self.log.lock().unwrap();
        let at = unix_ms();
        for e in ep.events.drain(..) {
            tracing::info!("SIP {e:?}");
            log.record(e, at);
        }
        self.grew.notify_all();
    }

    /// End a call from our side (BYE); false when there is no such call.
    pub fn hangup(&self, call_id: &str) -> bool {
        let mut ep = self.ep.lock().unwrap();
        if !ep.has_call(call_id) {
            return false;
        }
        ep.hangup(call_id, Instant::now(), &mut LinkOps(&self.link), "hung up by the API");
        self.flush(&mut ep);
        true
    }

    /// Put `d.to` into `d.conference` (a call out); its Call-ID.
    pub fn dial(&self, d: &super::calls_out::Dial) -> Result<String, String> {
        let mut ep = self.ep.lock().unwrap();
        let r = ep.dial(d, Instant::now(), &mut LinkOps(&self.link));
        self.flush(&mut ep);
        r
    }

    pub fn registered(&self) -> serde_json::Value {
        let ep = self.ep.lock().unwrap();
        let list: Vec<_> = ep
            .registered(Instant::now())
            .into_iter()
            .map(|(name, contact, addr, left)| serde_json::json!({"name": name, "contact": contact, "address": addr, "expires_s": left}))
            .collect();
        serde_json::json!({ "registrations": list })
    }

    pub fn active(&self) -> Vec<Cdr> {
        self.log.lock().unwrap().active()
    }

    pub fn cdrs(&self, limit: usize) -> Vec<Cdr> {
        self.log.lock().unwrap().cdrs(limit)
    }

    pub fn counters(&self) -> Counters {
        self.ep.lock().unwrap().counters.clone()
    }

    /// Events after `seq`; with `wait`, blocks up to that long for the first one.
    pub fn events_after(&self, seq: u64, limit: usize, wait: Duration) -> Vec<Logged> {
        let end = Instant::now() + wait;
        let mut log = self.log.lock().unwrap();
        loop {
            let now = Instant::now();
            if log.last_seq() > seq || now >= end {
                return log.events_after(seq, limit);
            }
            log = self.grew.wait_timeout(log, end - now).unwrap().0;
        }
    }
}

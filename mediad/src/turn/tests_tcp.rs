//! RFC 6062 through the sans-IO server: Connect, the runtime's connect result,
//! ConnectionBind and the pipe it asks for; peers connecting in; timeouts.

use super::*;

/// A runtime with streams: records what the server asks of it.
#[derive(Default)]
struct StreamIo {
    inner: Io,
    connects: Vec<(u32, SocketAddr)>,
    pipes: Vec<(u32, u32)>,
    closed_streams: Vec<u32>,
}

impl TurnIo for StreamIo {
    fn send(&mut self, via: u32, to: SocketAddr, parts: &[&[u8]]) {
        self.inner.send(via, to, parts)
    }
    fn open_relay(&mut self, ipv6: bool, want: RelayPort) -> Option<Relay> {
        self.inner.open_relay(ipv6, want)
    }
    fn close_relay(&mut self, token: u32) {
        self.inner.close_relay(token)
    }
    fn is_stream(&self, via: u32) -> bool {
        via >= 1000
    }
    fn open_tcp_relay(&mut self, _ipv6: bool) -> Option<Relay> {
        Some(Relay { token: 500, addr: "192.0.2.50:50100".parse().unwrap(), reservation: None })
    }
    fn connect_peer(&mut self, relay: u32, peer: SocketAddr) -> Option<u32> {
        self.connects.push((relay, peer));
        Some(2000 + self.connects.len() as u32)
    }
    fn pipe(&mut self, data: u32, peer: u32) {
        self.pipes.push((data, peer));
    }
    fn close_stream(&mut self, token: u32) {
        self.closed_streams.push(token);
    }
}

/// Send on stream `via` and return the last answer.
fn call(s: &mut TurnServer, io: &mut StreamIo, c: &mut Client, via: u32, now: Instant, req: &[u8]) -> Message<'static> {
    io.inner.sent.clear();
    s.on_client(io, via, c.from, req, now);
    let bytes = io.inner.sent.pop().expect("an answer").2.leak();
    let m = Message::parse(bytes).unwrap();
    if let Some(n) = m.attr(attr::NONCE) {
        c.nonce = n.to_vec();
    }
    m
}

fn tcp_allocation(s: &mut TurnServer, io: &mut StreamIo, c: &mut Client, via: u32, now: Instant) {
    let req = c.request(method::ALLOCATE, false, |b| {
        b.add(attr::REQUESTED_TRANSPORT, &[6, 0, 0, 0]).unwrap();
    });
    call(s, io, c, via, now, &req);
    let req = c.request(method::ALLOCATE, true, |b| {
        b.add(attr::REQUESTED_TRANSPORT, &[6, 0, 0, 0]).unwrap();
    });
    let m = call(s, io, c, via, now, &req);
    assert_eq!(m.class, Class::Success);
    assert_eq!(m.xor_address(attr::XOR_RELAYED_ADDRESS), Some("192.0.2.50:50100".parse().unwrap()));
}

#[test]
fn connect_then_bind_pipes_the_connections() {
    let (mut s, mut io, now) = (server(|_| {}), StreamIo::default(), Instant::now());
    let mut c = Client::new(CLIENT);
    // Over UDP a TCP relay is a bad request.
    c.challenge(&mut s, &mut io.inner, now);
    let req = c.request(method::ALLOCATE, true, |b| {
        b.add(attr::REQUESTED_TRANSPORT, &[6, 0, 0, 0]).unwrap();
    });
    assert_eq!(c.call(&mut s, &mut io.inner, now, &req), (Class::Error, Some(400)));
    tcp_allocation(&mut s, &mut io, &mut c, 1000, now);
    // Connect: the runtime connects; the answer waits for the outcome.
    let req = c.request(method::CONNECT, true, |b| peer_attr(b, PEER));
    io.inner.sent.clear();
    s.on_client(&mut io, 1000, c.from, &req, now);
    assert!(io.inner.sent.is_empty(), "answered when connected");
    assert_eq!(io.connects, vec![(500, PEER.parse().unwrap())]);
    // A second Connect to the same peer: 446.
    let req = c.request(method::CONNECT, true, |b| peer_attr(b, PEER));
    assert_eq!(call(&mut s, &mut io, &mut c, 1000, now, &req).attr(attr::ERROR_CODE).and_then(attr::decode_error), Some(446));
    io.inner.sent.clear();
    s.on_peer_connected(&mut io, 2001, true, now);
    let (via, _, bytes) = io.inner.sent.pop().unwrap();
    let m = Message::parse(&bytes).unwrap();
    assert_eq!((via, m.class, m.method), (1000, Class::Success, method::CONNECT));
    let id = m.u32_attr(attr::CONNECTION_ID).expect("CONNECTION-ID");
    // ConnectionBind on a new data connection, same credentials.
    let mut data = Client::new("192.0.2.10:40100");
    data.key = c.key;
    let bind = |d: &mut Client, id: u32| d.request(method::CONNECTION_BIND, true, |b| b.add_u32(attr::CONNECTION_ID, id).map(|_| ()).unwrap());
    let req = bind(&mut data, id);
    call(&mut s, &mut io, &mut data, 1001, now, &req); // 401: this address needs its nonce
    let req = bind(&mut data, id ^ 1);
    let code = call(&mut s, &mut io, &mut data, 1002, now, &req).attr(attr::ERROR_CODE).and_then(attr::decode_error);
    assert_eq!(code, Some(400), "unknown id");
    let req = bind(&mut data, id);
    let m = call(&mut s, &mut io, &mut data, 1001, now, &req);
    assert_eq!((m.class, m.method), (Class::Success, method::CONNECTION_BIND));
    assert_eq!(io.pipes, vec![(1001, 2001)]);
    // Bound once only.
    let req = bind(&mut data, id);
    let code = call(&mut s, &mut io, &mut data, 1003, now, &req).attr(attr::ERROR_CODE).and_then(attr::decode_error);
    assert_eq!(code, Some(400));
    // The control connection closes: the allocation and its connections go.
    s.on_transport_closed(&mut io, 1000, c.from);
    assert_eq!(s.stats.allocations, 0);
    assert!(io.closed_streams.contains(&2001) && io.closed_streams.contains(&1001), "{:?}", io.closed_streams);
    assert_eq!(io.inner.closed, vec![500], "the relay listener closes");
}

#[test]
fn peers_connecting_in_need_a_permission_and_expire_unbound() {
    let (mut s, mut io, now) = (server(|_| {}), StreamIo::default(), Instant::now());
    let mut c = Client::new(CLIENT);
    tcp_allocation(&mut s, &mut io, &mut c, 1000, now);
    s.on_peer_connection(&mut io, 500, 3001, PEER.parse().unwrap(), now);
    assert_eq!(io.closed_streams, vec![3001], "no permission yet");
    let req = c.request(method::CREATE_PERMISSION, true, |b| peer_attr(b, PEER));
    assert_eq!(call(&mut s, &mut io, &mut c, 1000, now, &req).class, Class::Success);
    io.inner.sent.clear();
    s.on_peer_connection(&mut io, 500, 3002, PEER.parse().unwrap(), now);
    let (via, to, bytes) = io.inner.sent.pop().unwrap();
    let m = Message::parse(&bytes).unwrap();
    assert_eq!((via, to, m.method, m.class), (1000, c.from, method::CONNECTION_ATTEMPT, Class::Indication));
    assert_eq!(m.xor_address(attr::XOR_PEER_ADDRESS), Some(PEER.parse().unwrap()));
    assert!(m.u32_attr(attr::CONNECTION_ID).is_some());
    // Nobody binds it within 30 s: closed.
    s.on_tick(&mut io, now + Duration::from_secs(31));
    assert_eq!(io.closed_streams, vec![3001, 3002]);
    // A failed Connect is answered 447.
    let req = c.request(method::CONNECT, true, |b| peer_attr(b, "198.51.100.77:9"));
    io.inner.sent.clear();
    s.on_client(&mut io, 1000, c.from, &req, now);
    s.on_peer_connected(&mut io, 2001, false, now);
    let answer = io.inner.sent.pop().unwrap().2;
    let m = Message::parse(&answer).unwrap();
    assert_eq!(m.attr(attr::ERROR_CODE).and_then(attr::decode_error), Some(447));
}

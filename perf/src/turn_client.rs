//! Just enough of a TURN client to set up load: Allocate (answering the 401 challenge
//! with long-term credentials) and ChannelBind to the generator's peer socket.

use mediad::stun::message::{Builder, Class, Message};
use mediad::stun::{attr, method};
use mediad::turn::auth::long_term_key;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

struct Session {
    sock: UdpSocket,
    server: SocketAddr,
    txid: u64,
}

impl Session {
    fn call(&mut self, build: impl Fn(&mut Builder<'_>) -> Result<(), mediad::stun::StunError>, m: u16) -> Result<Vec<u8>, String> {
        self.txid += 1;
        let mut t = [0u8; 12];
        t[4..].copy_from_slice(&self.txid.to_be_bytes());
        let mut buf = [0u8; 1024];
        let mut b = Builder::new(&mut buf, Class::Request, m, t).map_err(|e| format!("{e:?}"))?;
        build(&mut b).map_err(|e| format!("{e:?}"))?;
        let n = b.len();
        for _ in 0..3 {
            self.sock.send_to(&buf[..n], self.server).map_err(|e| e.to_string())?;
            let mut r = vec![0u8; 2048];
            if let Ok(len) = self.sock.recv(&mut r) {
                r.truncate(len);
                return Ok(r);
            }
        }
        Err(format!("no answer from {}", self.server))
    }
}

/// Allocate on `server` and bind `channel` to `peer`. Returns the client socket
/// (non-blocking) and the relayed address.
pub fn allocate(server: SocketAddr, user: &str, pass: &str, peer: SocketAddr, channel: u16) -> Result<(UdpSocket, SocketAddr), String> {
    let sock = crate::sys::udp("127.0.0.1:0", 4 << 20);
    sock.set_nonblocking(false).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_millis(500))).map_err(|e| e.to_string())?;
    let mut s = Session { sock, server, txid: rand_seed() };
    let udp = [17u8, 0, 0, 0];
    let r = s.call(|b| b.add(attr::REQUESTED_TRANSPORT, &udp).map(|_| ()), method::ALLOCATE)?;
    let m = Message::parse(&r).map_err(|e| format!("{e:?}"))?;
    let (Some(realm), Some(nonce)) = (m.attr(attr::REALM), m.attr(attr::NONCE)) else {
        return Err("no 401 challenge".into());
    };
    let (realm, nonce) = (realm.to_vec(), nonce.to_vec());
    let key = long_term_key(user, std::str::from_utf8(&realm).unwrap_or(""), pass);
    let auth = |b: &mut Builder<'_>| -> Result<(), mediad::stun::StunError> {
        b.add(attr::USERNAME, user.as_bytes())?;
        b.add(attr::REALM, &realm)?;
        b.add(attr::NONCE, &nonce)?;
        b.add_integrity(&key)?;
        Ok(())
    };
    let r = s.call(|b| {
        b.add(attr::REQUESTED_TRANSPORT, &udp)?;
        auth(b)
    }, method::ALLOCATE)?;
    let m = Message::parse(&r).map_err(|e| format!("{e:?}"))?;
    let relay = m.xor_address(attr::XOR_RELAYED_ADDRESS).ok_or_else(|| format!("Allocate refused: {:?}", m.attr(attr::ERROR_CODE).and_then(attr::decode_error)))?;
    let ch = [(channel >> 8) as u8, channel as u8, 0, 0];
    let r = s.call(|b| {
        b.add(attr::CHANNEL_NUMBER, &ch)?;
        b.add_xor_address(attr::XOR_PEER_ADDRESS, peer)?;
        auth(b)
    }, method::CHANNEL_BIND)?;
    let m = Message::parse(&r).map_err(|e| format!("{e:?}"))?;
    if m.class != Class::Success {
        return Err(format!("ChannelBind refused: {:?}", m.attr(attr::ERROR_CODE).and_then(attr::decode_error)));
    }
    s.sock.set_nonblocking(true).map_err(|e| e.to_string())?;
    Ok((s.sock, relay))
}

fn rand_seed() -> u64 {
    crate::sys::now_ns() ^ ((std::process::id() as u64) << 32)
}

/// One STUN Binding request answered (readiness probe).
pub fn binding(server: SocketAddr) -> Result<(), String> {
    let sock = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_millis(200))).map_err(|e| e.to_string())?;
    let mut s = Session { sock, server, txid: rand_seed() };
    s.call(|_| Ok(()), method::BINDING).map(|_| ())
}

//! The load generator's side of a mediad WebRTC leg: one nominating ICE check and a
//! DTLS client handshake over the generator's socket, using mediad's own sans-IO
//! modules (the browser tests prove those interoperate with Chromium); what comes out
//! is the SRTP keys the generator protects with.

use mediad::dtls::{self, Dtls, Keys, Role};
use mediad::stun::message::{Builder, Class, Message};
use mediad::stun::{attr, method};
use openssl::pkey::{PKey, Private};
use openssl::ssl::SslContext;
use openssl::x509::X509;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// Our certificate, once per run.
pub struct Identity {
    pub fingerprint: String,
    context: SslContext,
}

impl Identity {
    pub fn new() -> Identity {
        Identity::with_profiles("SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80")
    }

    /// A client that offers only these SRTP profiles (openssl names).
    pub fn with_profiles(profiles: &str) -> Identity {
        let (cert, key): (X509, PKey<Private>) = mediad::tls::self_signed("perf").expect("a certificate");
        let context = dtls::context_with_profiles(&cert, &key, profiles).expect("context");
        Identity { fingerprint: format!("sha-256 {}", dtls::fingerprint(&cert)), context }
    }
}

/// What a client says about itself in `leg.create`.
pub fn remote(id: &Identity, ufrag: &str) -> control::WebrtcRemote {
    control::WebrtcRemote { ice_ufrag: ufrag.into(), ice_pwd: "perfperfperfperfperfperf".into(), fingerprint: id.fingerprint.clone() }
}

/// Wait for a datagram from `from` on a non-blocking socket.
fn recv_from(sock: &UdpSocket, from: SocketAddr, buf: &mut [u8], until: Instant) -> Result<usize, String> {
    loop {
        match sock.recv_from(buf) {
            Ok((n, a)) if a == from => return Ok(n),
            Ok(_) => continue, // late media from an earlier run
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() > until {
                    return Err(format!("no answer from {from}"));
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Connect `sock` to the leg at `to`: ICE check (nominating), then DTLS as client.
pub fn connect(sock: &UdpSocket, to: SocketAddr, local: &control::WebrtcLocal, ufrag: &str, id: &Identity) -> Result<Keys, String> {
    let until = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 2048];
    let user = format!("{}:{ufrag}", local.ice_ufrag);
    let mut txid = [0u8; 12];
    openssl::rand::rand_bytes(&mut txid).map_err(|e| e.to_string())?;
    let mut out = [0u8; 512];
    let mut b = Builder::new(&mut out, Class::Request, method::BINDING, txid).map_err(|e| format!("{e:?}"))?;
    b.add(attr::USERNAME, user.as_bytes()).and_then(|b| b.add_u32(attr::PRIORITY_ICE, 1_845_501_695)).map_err(|e| format!("{e:?}"))?;
    b.add(attr::USE_CANDIDATE_ICE, &[]).and_then(|b| b.add(attr::ICE_CONTROLLING, &[7; 8])).map_err(|e| format!("{e:?}"))?;
    b.add_integrity(local.ice_pwd.as_bytes()).and_then(|b| b.add_fingerprint()).map_err(|e| format!("{e:?}"))?;
    let n = b.len();
    // What an earlier phase left queued (a full buffer would drop our answers).
    while sock.recv_from(&mut buf).is_ok() {}
    // Checks are retransmitted until answered, as an ICE agent does.
    let got = loop {
        sock.send_to(&out[..n], to).map_err(|e| e.to_string())?;
        match recv_from(sock, to, &mut buf, Instant::now() + Duration::from_millis(100)) {
            Ok(got) if Message::parse(&buf[..got]).is_ok() => break got,
            _ if Instant::now() > until => return Err(format!("no ICE answer from {to}")),
            _ => continue,
        }
    };
    let m = Message::parse(&buf[..got]).map_err(|e| format!("ICE answer: {e:?}"))?;
    if m.class != Class::Success || !m.check_integrity(local.ice_pwd.as_bytes()) {
        return Err(format!("ICE check refused: {:?}", m.class));
    }
    let mut d = Dtls::with_context(Role::Client, &id.context).map_err(|e| format!("{e:?}"))?;
    let mut keys = d.start().map_err(|e| format!("{e:?}"))?;
    while keys.is_none() {
        while let Some(o) = d.poll_output() {
            sock.send_to(&o, to).map_err(|e| e.to_string())?;
        }
        let n = recv_from(sock, to, &mut buf, until)?;
        if (20..=63).contains(&buf[0]) {
            keys = d.handle_datagram(&buf[..n]).map_err(|e| format!("DTLS: {e:?}"))?;
        }
    }
    // Our last flight (if any) still has to reach mediad.
    while let Some(o) = d.poll_output() {
        sock.send_to(&o, to).map_err(|e| e.to_string())?;
    }
    let keys = keys.expect("set");
    if !dtls::fingerprint_matches(&local.fingerprint, &keys.peer_fingerprint) {
        return Err("mediad's certificate does not match its fingerprint".into());
    }
    Ok(keys)
}

//! DTLS-SRTP (RFC 5764) for WebRTC legs, sans-IO over openssl. Fed datagrams, it returns datagrams to send; when the handshake
//! completes it hands out the negotiated SRTP profile as two `SrtpSession`s (ours to
//! protect, the peer's to unprotect) and the peer certificate's SHA-256 fingerprint,
//! which the caller compares with the one in the SDP.
//!
//! openssl drives the handshake through an in-memory datagram "socket": each `read`
//! yields one received datagram, each `write` is one datagram out (DTLS records never
//! span datagrams). Handshake messages are rare, so a `Vec` per datagram is fine here;
//! media never passes through this module. As the passive side (what mediad always
//! is) a lost flight is recovered by the client's retransmission, which makes openssl
//! resend ours; the final flight (ChangeCipherSpec/Finished) is ours, and a client
//! that misses it retransmits its Finished, which we answer the same way.

use crate::srtp::SrtpSession;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKeyRef, Private};
use openssl::ssl::{HandshakeError, MidHandshakeSslStream, Ssl, SslContext, SslMethod, SslStream, SslVerifyMode};
use openssl::x509::X509Ref;
use std::collections::VecDeque;
use std::io::{self, Read, Write};

/// Profiles we offer or accept, in our order of preference (RFC 7714 GCM first).
const PROFILES: &str = "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80";
/// Largest DTLS datagram we send (fits the path MTU with room for IP/UDP).
const MTU: u32 = 1200;

#[derive(Default)]
struct Datagrams {
    incoming: VecDeque<Vec<u8>>,
    outgoing: VecDeque<Vec<u8>>,
}

impl Read for Datagrams {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(d) = self.incoming.pop_front() else { return Err(io::ErrorKind::WouldBlock.into()) };
        let n = d.len().min(buf.len());
        buf[..n].copy_from_slice(&d[..n]);
        Ok(n)
    }
}

impl Write for Datagrams {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.outgoing.push_back(buf.to_vec());
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `a=setup:active`: we start the handshake.
    Client,
    /// `a=setup:passive`: we wait for the peer's ClientHello (what an SFU usually is).
    Server,
}

/// What a finished handshake yields.
#[derive(Debug)]
pub struct Keys {
    pub profile: &'static str,
    /// Protects what we send.
    pub outbound: SrtpSession,
    /// Unprotects what the peer sends.
    pub inbound: SrtpSession,
    /// SHA-256 of the peer's certificate, `AB:CD:..` as in `a=fingerprint`.
    pub peer_fingerprint: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DtlsError {
    Setup(String),
    Handshake(String),
    /// The peer negotiated no SRTP profile we support.
    NoSrtpProfile,
    /// The peer closed the association (close_notify).
    Closed,
}

enum State {
    Handshaking(MidHandshakeSslStream<Datagrams>),
    Starting(Ssl, Datagrams),
    Done(SslStream<Datagrams>),
    Failed,
}

pub struct Dtls {
    role: Role,
    state: State,
}

/// `a=fingerprint:sha-256` of a certificate.
pub fn fingerprint(cert: &X509Ref) -> String {
    let d = cert.digest(MessageDigest::sha256()).map(|d| d.to_vec()).unwrap_or_default();
    d.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// A DTLS context with our certificate that every endpoint of a node shares.
pub fn context(cert: &X509Ref, key: &PKeyRef<Private>) -> Result<SslContext, DtlsError> {
    context_with_profiles(cert, key, PROFILES)
}

/// The same with a chosen SRTP profile list (openssl names, `:`-separated): a client
/// that offers only AES-CM gets AES-CM (the load generator compares like with like).
pub fn context_with_profiles(cert: &X509Ref, key: &PKeyRef<Private>, profiles: &str) -> Result<SslContext, DtlsError> {
    let setup = |e: openssl::error::ErrorStack| DtlsError::Setup(e.to_string());
    let mut b = SslContext::builder(SslMethod::dtls()).map_err(setup)?;
    b.set_certificate(cert).map_err(setup)?;
    b.set_private_key(key).map_err(setup)?;
    b.set_tlsext_use_srtp(profiles).map_err(setup)?;
    // Self-signed certificates are the WebRTC norm: trust comes from the SDP.
    b.set_verify_callback(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT, |_, _| true);
    Ok(b.build())
}

/// The node's DTLS identity: one certificate (P-256, generated at first use; browsers
/// accept self-signed ones, trust comes from the fingerprint in the SDP), its
/// `a=fingerprint` and the shared context. Generated once so every leg of every core
/// advertises the same fingerprint.
pub struct Identity {
    pub fingerprint: String,
    pub context: SslContext,
}

pub fn identity() -> &'static Identity {
    static ID: std::sync::OnceLock<Identity> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        let (cert, key) = crate::tls::self_signed("mediad-webrtc").expect("openssl generates a P-256 certificate");
        Identity { fingerprint: fingerprint(&cert), context: context(&cert, &key).expect("a DTLS context") }
    })
}

/// Whether an SDP `a=fingerprint` value (`sha-256 AB:CD:..`) names `ours` (the
/// SHA-256 we computed, `AB:CD:..`). Only sha-256 is accepted: every browser sends it.
pub fn fingerprint_matches(sdp_value: &str, ours: &str) -> bool {
    let mut parts = sdp_value.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(alg), Some(hex)) => alg.eq_ignore_ascii_case("sha-256") && hex.eq_ignore_ascii_case(ours),
        _ => false,
    }
}

impl Dtls {
    /// A DTLS endpoint with our certificate; the peer must present one too (its
    /// fingerprint is checked by the caller against the SDP, not by a CA).
    pub fn new(role: Role, cert: &X509Ref, key: &PKeyRef<Private>) -> Result<Self, DtlsError> {
        Self::with_context(role, &context(cert, key)?)
    }

    pub fn with_context(role: Role, ctx: &SslContext) -> Result<Self, DtlsError> {
        let setup = |e: openssl::error::ErrorStack| DtlsError::Setup(e.to_string());
        let mut ssl = Ssl::new(ctx).map_err(setup)?;
        ssl.set_mtu(MTU).map_err(setup)?;
        Ok(Dtls { role, state: State::Starting(ssl, Datagrams::default()) })
    }

    /// Start (client) or get ready (server); returns nothing, output comes from
    /// `poll_output`.
    fn step(&mut self) -> Result<Option<Keys>, DtlsError> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        let r = match state {
            State::Starting(ssl, io) => match self.role {
                Role::Client => ssl.connect(io),
                Role::Server => ssl.accept(io),
            },
            State::Handshaking(m) => m.handshake(),
            State::Done(mut s) => {
                // Let openssl see what arrived after the handshake: a retransmitted
                // Finished (it answers with our last flight again) or an alert.
                let mut buf = [0u8; 1500];
                let r = loop {
                    match s.ssl_read(&mut buf) {
                        Ok(_) => continue, // data channels are not offered; drop
                        Err(e) if e.code() == openssl::ssl::ErrorCode::WANT_READ => break Ok(None),
                        Err(e) if e.code() == openssl::ssl::ErrorCode::ZERO_RETURN => break Err(DtlsError::Closed),
                        Err(e) => break Err(DtlsError::Handshake(e.to_string())),
                    }
                };
                self.state = State::Done(s);
                return r;
            }
            State::Failed => return Err(DtlsError::Handshake("failed earlier".into())),
        };
        match r {
            Ok(s) => {
                let keys = keys(&s, self.role)?;
                self.state = State::Done(s);
                Ok(Some(keys))
            }
            Err(HandshakeError::WouldBlock(m)) => {
                self.state = State::Handshaking(m);
                Ok(None)
            }
            Err(HandshakeError::Failure(m)) => Err(DtlsError::Handshake(m.error().to_string())),
            Err(HandshakeError::SetupFailure(e)) => Err(DtlsError::Setup(e.to_string())),
        }
    }

    fn io(&mut self) -> Option<&mut Datagrams> {
        match &mut self.state {
            State::Starting(_, io) => Some(io),
            State::Handshaking(m) => Some(m.get_mut()),
            State::Done(s) => Some(s.get_mut()),
            State::Failed => None,
        }
    }

    /// Begin: a client sends its ClientHello.
    pub fn start(&mut self) -> Result<Option<Keys>, DtlsError> {
        self.step()
    }

    /// A DTLS datagram from the peer (RFC 7983: first byte 20-63). Returns the keys
    /// when this completed the handshake.
    pub fn handle_datagram(&mut self, d: &[u8]) -> Result<Option<Keys>, DtlsError> {
        match self.io() {
            Some(io) => io.incoming.push_back(d.to_vec()),
            None => return Err(DtlsError::Handshake("failed earlier".into())),
        }
        self.step()
    }

    /// The next datagram to send to the peer.
    pub fn poll_output(&mut self) -> Option<Vec<u8>> {
        self.io()?.outgoing.pop_front()
    }

    pub fn is_connected(&self) -> bool {
        matches!(self.state, State::Done(_))
    }
}

/// RFC 5764 §4.2: export 2 × (key + salt) as client key, server key, client salt,
/// server salt; ours protects, the peer's unprotects.
fn keys(s: &SslStream<Datagrams>, role: Role) -> Result<Keys, DtlsError> {
    let ssl = s.ssl();
    let profile = ssl.selected_srtp_profile().map(|p| p.name()).ok_or(DtlsError::NoSrtpProfile)?;
    let salt_len = match profile {
        "SRTP_AEAD_AES_128_GCM" => 12,
        "SRTP_AES128_CM_SHA1_80" => 14,
        _ => return Err(DtlsError::NoSrtpProfile),
    };
    let mut m = vec![0u8; 2 * (16 + salt_len)];
    ssl.export_keying_material(&mut m, "EXTRACTOR-dtls_srtp", None).map_err(|e| DtlsError::Handshake(e.to_string()))?;
    let (client_key, rest) = m.split_at(16);
    let (server_key, rest) = rest.split_at(16);
    let (client_salt, server_salt) = rest.split_at(salt_len);
    let session = |key: &[u8], salt: &[u8]| SrtpSession::from_key_salt(key.try_into().expect("16 bytes"), salt).expect("salt length of a known profile");
    let (client, server) = (session(client_key, client_salt), session(server_key, server_salt));
    let (outbound, inbound) = match role {
        Role::Client => (client, server),
        Role::Server => (server, client),
    };
    let peer_fingerprint = ssl.peer_certificate().map(|c| fingerprint(&c)).unwrap_or_default();
    Ok(Keys { profile, outbound, inbound, peer_fingerprint })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(role: Role) -> (Dtls, String) {
        let (cert, key) = crate::tls::self_signed("webrtc").unwrap();
        (Dtls::new(role, &cert, &key).unwrap(), fingerprint(&cert))
    }

    /// Shuttle datagrams until both sides are done; returns (client keys, server keys).
    fn handshake(c: &mut Dtls, s: &mut Dtls) -> (Keys, Keys) {
        let (mut ck, mut sk) = (c.start().unwrap(), s.start().unwrap());
        for _ in 0..20 {
            while let Some(d) = c.poll_output() {
                if let Some(k) = s.handle_datagram(&d).unwrap() {
                    sk = Some(k);
                }
            }
            while let Some(d) = s.poll_output() {
                if let Some(k) = c.handle_datagram(&d).unwrap() {
                    ck = Some(k);
                }
            }
            if ck.is_some() && sk.is_some() {
                break;
            }
        }
        (ck.expect("client done"), sk.expect("server done"))
    }

    #[test]
    fn handshake_exports_matching_srtp_keys_and_fingerprints() {
        let ((mut c, cfp), (mut s, sfp)) = (endpoint(Role::Client), endpoint(Role::Server));
        let (mut ck, mut sk) = handshake(&mut c, &mut s);
        assert!(c.is_connected() && s.is_connected());
        assert_eq!((ck.profile, sk.profile), ("SRTP_AEAD_AES_128_GCM", "SRTP_AEAD_AES_128_GCM"));
        assert_eq!((ck.peer_fingerprint.as_str(), sk.peer_fingerprint.as_str()), (sfp.as_str(), cfp.as_str()));
        assert_eq!(sfp.len(), 32 * 3 - 1, "AB:CD:.. over 32 bytes");
        // What one side protects, the other unprotects, both ways.
        for (tx, rx) in [(&mut ck.outbound, &mut sk.inbound), (&mut sk.outbound, &mut ck.inbound)] {
            let mut p = vec![0x80, 96, 0, 9, 0, 0, 0, 0, 0, 0, 0, 5];
            p.extend_from_slice(b"media");
            p.resize(p.len() + 16, 0);
            let n = tx.protect_rtp(&mut p, 17).unwrap();
            assert_eq!(rx.unprotect_rtp(&mut p[..n]), Ok(17));
            assert_eq!(&p[12..17], b"media");
        }
    }

    #[test]
    fn garbage_fails_the_handshake_without_panicking() {
        let (mut s, _) = endpoint(Role::Server);
        s.start().unwrap();
        // A handshake record header with a bogus body, then random bytes.
        let _ = s.handle_datagram(&[22, 254, 253, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4, 5]);
        let _ = s.handle_datagram(b"not dtls at all");
        assert!(!s.is_connected());
    }
}

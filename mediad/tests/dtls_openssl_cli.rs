//! DTLS-SRTP against a client we did not drive ourselves: `openssl s_client -dtls1_2
//! -use_srtp` handshakes with mediad's sans-IO endpoint over real UDP, prints the RFC 5764
//! keying material it exported, and keys built from that print must interoperate with
//! the SRTP sessions our side derived (both directions).

use mediad::dtls::{fingerprint, Dtls, Role};
use mediad::srtp::{MasterKey, SrtpContext, SrtpSession};
use std::io::Write;
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn openssl_s_client_handshakes_and_agrees_on_srtp_keys() {
    let dir = std::env::temp_dir().join(format!("dtls-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ccert, ckey) = mediad::tls::self_signed("client").unwrap();
    std::fs::write(dir.join("c.pem"), ccert.to_pem().unwrap()).unwrap();
    std::fs::write(dir.join("k.pem"), ckey.private_key_to_pem_pkcs8().unwrap()).unwrap();
    let (scert, skey) = mediad::tls::self_signed("server").unwrap();
    let mut server = Dtls::new(Role::Server, &scert, &skey).unwrap();
    server.start().unwrap();

    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let port = sock.local_addr().unwrap().port();
    let mut client = Command::new("timeout")
        .args(["-s", "KILL", "20", "openssl", "s_client", "-dtls1_2", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-use_srtp", "SRTP_AES128_CM_SHA1_80", "-keymatexport", "EXTRACTOR-dtls_srtp", "-keymatexportlen", "60"])
        .arg("-cert")
        .arg(dir.join("c.pem"))
        .arg("-key")
        .arg(dir.join("k.pem"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl CLI");
    let mut keys = None;
    let end = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 2048];
    while keys.is_none() && Instant::now() < end {
        let Ok((n, from)) = sock.recv_from(&mut buf) else { continue };
        keys = server.handle_datagram(&buf[..n]).expect("handshake");
        while let Some(d) = server.poll_output() {
            sock.send_to(&d, from).unwrap();
        }
    }
    let mut keys = keys.expect("handshake completed");
    // Closing s_client's stdin ends it after the handshake; it prints what it exported.
    let _ = client.stdin.take().map(|mut s| s.write_all(b""));
    std::thread::sleep(Duration::from_millis(300));
    let _ = client.kill();
    let out = client.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(keys.profile, "SRTP_AES128_CM_SHA1_80", "{text}");
    assert_eq!(keys.peer_fingerprint, fingerprint(&ccert));
    let line = text.lines().find_map(|l| l.trim().strip_prefix("Keying material: ")).unwrap_or_else(|| panic!("no keying material printed:\n{text}"));
    let m = hex(line.trim());
    assert_eq!(m.len(), 60);
    let ctx = |key: &[u8], salt: &[u8]| {
        SrtpSession::AesCm(Box::new(SrtpContext::new(&MasterKey { key: key.try_into().unwrap(), salt: salt.try_into().unwrap() })))
    };
    // RFC 5764 layout: client key, server key, client salt, server salt.
    let (mut client_out, mut client_in) = (ctx(&m[0..16], &m[32..46]), ctx(&m[16..32], &m[46..60]));
    for (tx, rx) in [(&mut client_out, &mut keys.inbound), (&mut keys.outbound, &mut client_in)] {
        let mut p = vec![0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4];
        p.resize(16 + 10, 0);
        let n = tx.protect_rtp(&mut p, 16).unwrap();
        assert_eq!(rx.unprotect_rtp(&mut p[..n]), Ok(16), "keys agree with openssl's export");
    }
}

//! SRTP against a peer we did not write: ffmpeg protects an Opus RTP stream (and its
//! RTCP sender reports) with AES_CM_128_HMAC_SHA1_80 and our context must authenticate
//! and decrypt every packet (and a context with another key none).

use base64::Engine as _;
use mediad::srtp::{MasterKey, SrtpContext, SrtpError};
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn ffmpeg_srtp_stream_unprotects_in_place() {
    let master = MasterKey { key: *b"0123456789abcdef", salt: *b"mediad-salt-14" };
    let params = base64::engine::general_purpose::STANDARD.encode([&master.key[..], &master.salt[..]].concat());
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let port = sock.local_addr().unwrap().port();
    let mut ff = Command::new("timeout")
        .args(["-s", "KILL", "30", "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i"])
        .arg("sine=frequency=440:duration=2")
        .args(["-c:a", "libopus", "-ar", "48000", "-f", "rtp", "-srtp_out_suite", "AES_CM_128_HMAC_SHA1_80"])
        .args(["-srtp_out_params", &params])
        .arg(format!("srtp://127.0.0.1:{port}?rtcpport={}", port))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg (apt-get install ffmpeg)");
    let (mut ours, mut wrong) = (SrtpContext::new(&master), SrtpContext::new(&MasterKey { key: [1; 16], salt: master.salt }));
    let (mut ok, mut rtcp, mut refused_by_wrong) = (0, 0, 0);
    let mut buf = [0u8; 2048];
    let end = Instant::now() + Duration::from_secs(20);
    while Instant::now() < end {
        let Ok(n) = sock.recv(&mut buf) else {
            if ff.try_wait().unwrap().is_some() {
                break;
            }
            continue;
        };
        // SRTCP shares the port here (packet types 200-204 stay in the clear).
        if (200..=204).contains(&buf[1]) {
            let len = ours.unprotect_rtcp(&mut buf[..n]).unwrap_or_else(|e| panic!("SRTCP {rtcp}: {e:?}"));
            assert_eq!((buf[1], len % 4), (200, 0), "a sender report, whole words");
            rtcp += 1;
            continue;
        }
        let mut copy = buf[..n].to_vec();
        if wrong.unprotect_rtp(&mut copy) == Err(SrtpError::AuthFailed) {
            refused_by_wrong += 1;
        }
        let len = ours.unprotect_rtp(&mut buf[..n]).unwrap_or_else(|e| panic!("packet {ok}: {e:?}"));
        assert_eq!(buf[0] >> 6, 2, "RTP version");
        assert!(len > 12 + 3, "an Opus frame");
        ok += 1;
    }
    let _ = ff.kill();
    let out = ff.wait_with_output().unwrap();
    assert!(ok >= 80, "2 s of 20 ms Opus frames, got {ok} (rtcp {rtcp}): {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(refused_by_wrong, ok, "another key authenticates nothing");
    assert!(rtcp >= 1, "ffmpeg sends a sender report at the start");
}

//! What the codec tests with ffmpeg share: scratch files removed on drop, an SDP file
//! that makes ffmpeg an RTP receiver, a free even port for it, and ffmpeg's
//! per-frame MD5s.
#![allow(dead_code)]

use mediad::video::VideoCodec;
use std::net::UdpSocket;
use std::path::PathBuf;

/// A file removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// A file in the temporary directory, its name unique to this process and `tag`.
    pub fn named(tag: &str) -> Scratch {
        Scratch(std::env::temp_dir().join(format!("mediad-video-{}-{tag}", std::process::id())))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// An even UDP port free a moment ago (ffmpeg takes it for RTP and the next for RTCP).
pub fn even_port() -> u16 {
    loop {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let p = s.local_addr().unwrap().port();
        if p.is_multiple_of(2) && p < 65000 {
            return p;
        }
    }
}

/// An SDP file describing H.264 (packetization-mode 1) or VP8 RTP, payload type 96,
/// arriving on 127.0.0.1:`port`: what ffmpeg reads to receive it.
pub fn sdp_file(port: u16, codec: VideoCodec, tag: &str) -> Scratch {
    let file = Scratch::named(&format!("{tag}.sdp"));
    std::fs::write(&file.0, system_tests::video::sdp(port, if codec == VideoCodec::H264 { "H264" } else { "VP8" })).unwrap();
    file
}

/// The per-frame MD5s of ffmpeg's `-f framemd5` output.
pub fn framemd5(stdout: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stdout).lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.rsplit(',').next()).map(|m| m.trim().to_string()).collect()
}

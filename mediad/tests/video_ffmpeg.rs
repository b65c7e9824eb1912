//! Depacketizing against a sender we did not write: ffmpeg packetizes H.264 (libx264;
//! small packets so frames are split in FU-A, parameter sets aggregated in STAP-A) and
//! VP8 (libvpx) into RTP; our assembler rebuilds the frames, and ffmpeg's decoder
//! must read back every one of them without an error. With packets dropped on the way
//! the frames touched by the loss and those after it are held back until the next key
//! frame, a key frame is requested, and what is handed out still decodes cleanly.

use mediad::video::assembler::{Assembler, AssemblerConfig, Output};
use mediad::video::{Unit, VideoCodec};
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const FRAMES: usize = 50;

/// The RTP packets ffmpeg sends for `FRAMES` frames of a test pattern (in real time,
/// 50 frames/s), with when each arrived.
fn capture(encoder: &[&str]) -> Vec<(Instant, Vec<u8>)> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let port = sock.local_addr().unwrap().port();
    let mut ff = Command::new("timeout")
        .args(["-s", "KILL", "30", "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=50"])
        .args(["-frames:v", &FRAMES.to_string()])
        .args(encoder)
        .args(["-f", "rtp", "-pkt_size", "400"])
        .arg(format!("rtp://127.0.0.1:{port}?rtcpport={}", port + 1))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg (apt-get install ffmpeg)");
    let mut packets = Vec::new();
    let mut buf = [0u8; 2048];
    let end = Instant::now() + Duration::from_secs(20);
    while Instant::now() < end {
        match sock.recv(&mut buf) {
            Ok(n) => packets.push((Instant::now(), buf[..n].to_vec())),
            Err(_) if ff.try_wait().unwrap().is_some() => break,
            Err(_) => {}
        }
    }
    let _ = ff.kill();
    let out = ff.wait_with_output().unwrap();
    assert!(packets.len() >= FRAMES, "{} packets: {}", packets.len(), String::from_utf8_lossy(&out.stderr));
    packets
}

/// The frames and key frame requests our assembler makes of `packets`, replayed with
/// their arrival times.
fn assemble(codec: VideoCodec, packets: &[(Instant, Vec<u8>)]) -> (Vec<Unit>, usize, Assembler) {
    let mut a = Assembler::new(codec, AssemblerConfig::default()).unwrap();
    let (mut units, mut requests) = (Vec::new(), 0);
    for (now, p) in packets {
        a.handle_timeout(*now);
        a.push(*now, p);
        while let Some(o) = a.poll() {
            match o {
                Output::Frame { unit, .. } => units.push(unit),
                Output::RequestKeyframe => requests += 1,
            }
        }
    }
    (units, requests, a)
}

struct Scratch(PathBuf);
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// ffmpeg decodes the file: (frames decoded, its error output).
fn decode(units: &[Unit], codec: VideoCodec) -> (usize, String) {
    let ext = if codec == VideoCodec::H264 { "h264" } else { "ivf" };
    let file = Scratch(std::env::temp_dir().join(format!("mediad-video-{}-{:?}.{ext}", std::process::id(), std::thread::current().id()).replace(['(', ')'], "")));
    let bytes: Vec<u8> = match codec {
        VideoCodec::H264 => units.iter().flat_map(|u| u.data.iter().copied()).collect(),
        _ => ivf(units),
    };
    std::fs::write(&file.0, bytes).unwrap();
    let out = Command::new("ffmpeg").args(["-hide_banner", "-v", "error", "-i"]).arg(&file.0).args(["-f", "framemd5", "-"]).output().expect("ffmpeg");
    let frames = String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.starts_with('#')).count();
    (frames, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// VP8 frames in an IVF file (the container libvpx's tools use).
fn ivf(units: &[Unit]) -> Vec<u8> {
    let mut f = b"DKIF".to_vec();
    f.extend_from_slice(&0u16.to_le_bytes());
    f.extend_from_slice(&32u16.to_le_bytes());
    f.extend_from_slice(b"VP80");
    f.extend_from_slice(&320u16.to_le_bytes());
    f.extend_from_slice(&240u16.to_le_bytes());
    f.extend_from_slice(&50u32.to_le_bytes());
    f.extend_from_slice(&1u32.to_le_bytes());
    f.extend_from_slice(&(units.len() as u32).to_le_bytes());
    f.extend_from_slice(&0u32.to_le_bytes());
    for (i, u) in units.iter().enumerate() {
        f.extend_from_slice(&(u.data.len() as u32).to_le_bytes());
        f.extend_from_slice(&(i as u64).to_le_bytes());
        f.extend_from_slice(&u.data);
    }
    f
}

fn nal_kinds(packets: &[(Instant, Vec<u8>)]) -> (usize, usize) {
    let kinds: Vec<u8> = packets.iter().map(|(_, p)| p[12] & 0x1f).collect();
    (kinds.iter().filter(|&&k| k == 24).count(), kinds.iter().filter(|&&k| k == 28).count())
}

#[test]
fn h264_from_ffmpeg_reassembles_and_decodes_frame_for_frame() {
    let packets = capture(&["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "10", "-bf", "0"]);
    let (stap, fu) = nal_kinds(&packets);
    assert!(fu > 0 && stap > 0, "frames split in FU-A ({fu}), parameter sets in STAP-A ({stap}): {} packets", packets.len());
    let (units, requests, a) = assemble(VideoCodec::H264, &packets);
    assert_eq!((units.len(), requests), (FRAMES, 0), "{:?} (STAP-A {stap}, FU-A {fu})", a.stats);
    assert_eq!(units.iter().filter(|u| u.keyframe).count(), FRAMES / 10, "an IDR every 10 frames");
    let (decoded, errors) = decode(&units, VideoCodec::H264);
    assert_eq!((decoded, errors.as_str()), (FRAMES, ""));
}

#[test]
fn vp8_from_ffmpeg_reassembles_and_decodes_frame_for_frame() {
    let packets = capture(&["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-g", "10", "-b:v", "2M"]);
    let (units, requests, a) = assemble(VideoCodec::Vp8, &packets);
    assert!(packets.len() > FRAMES, "frames span packets: {}", packets.len());
    assert_eq!((units.len(), requests), (FRAMES, 0), "{:?}", a.stats);
    assert!(units[0].keyframe && units.iter().filter(|u| u.keyframe).count() >= FRAMES / 10);
    let (decoded, errors) = decode(&units, VideoCodec::Vp8);
    assert_eq!((decoded, errors.as_str()), (FRAMES, ""));
}

#[test]
fn h264_with_loss_holds_frames_back_until_a_keyframe_and_what_remains_decodes() {
    let packets = capture(&["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "10", "-bf", "0"]);
    // Lose one packet in the middle of frame 13's data (frames 10..19 are one GOP).
    let ts: Vec<u32> = packets.iter().map(|(_, p)| u32::from_be_bytes([p[4], p[5], p[6], p[7]])).collect();
    let mut stamps = ts.clone();
    stamps.dedup();
    let victim = ts.iter().position(|&t| t == stamps[13]).unwrap();
    let lossy: Vec<(Instant, Vec<u8>)> = packets.iter().enumerate().filter(|(i, _)| *i != victim).map(|(_, p)| p.clone()).collect();
    let (units, requests, a) = assemble(VideoCodec::H264, &lossy);
    // The hole is given up after 80 ms, before frame 20 (the next IDR, 140 ms later).
    assert!(requests >= 1, "a key frame is asked for: {:?}", a.stats);
    assert_eq!(a.stats.lost_packets, 1);
    assert_eq!(units.len(), FRAMES - 7, "frames 13 to 19 held back: {:?}", a.stats);
    let (decoded, errors) = decode(&units, VideoCodec::H264);
    assert_eq!((decoded, errors.as_str()), (FRAMES - 7, ""), "no corrupt frame reaches the decoder");
}

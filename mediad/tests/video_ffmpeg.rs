//! Depacketizing against a sender we did not write: ffmpeg packetizes H.264 (libx264;
//! small packets so frames are split in FU-A, parameter sets aggregated in STAP-A) and
//! VP8 (libvpx) into RTP; our assembler rebuilds the frames, and ffmpeg's decoder
//! must read back every one of them without an error. With packets dropped on the way
//! the frames touched by the loss and those after it are held back until the next key
//! frame, a key frame is requested, and what is handed out still decodes cleanly.
//! Our decoders (openh264, libvpx, dav1d) give the same samples as ffmpeg's on those
//! streams and on an AV1 file from libaom; ffmpeg reads what our encoders make.

use mediad::video::assembler::{Assembler, AssemblerConfig, Output};
mod common;

use common::{even_port, framemd5, sdp_file, Scratch};
use mediad::video::codec::{Decoded, Decoder};
use mediad::video::{Unit, VideoCodec};
use std::net::UdpSocket;
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
        .args(["-pix_fmt", "yuv420p", "-f", "rtp", "-pkt_size", "400"])
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

/// ffmpeg decodes the file: (MD5 of each decoded frame, its error output).
fn decode(units: &[Unit], codec: VideoCodec) -> (Vec<String>, String) {
    let ext = if codec == VideoCodec::H264 { "h264" } else { "ivf" };
    let file = Scratch::named(&format!("{:?}.{ext}", std::thread::current().id()).replace(['(', ')'], ""));
    let bytes: Vec<u8> = match codec {
        VideoCodec::H264 => units.iter().flat_map(|u| u.data.iter().copied()).collect(),
        _ => ivf(units),
    };
    std::fs::write(&file.0, bytes).unwrap();
    let out = Command::new("ffmpeg").args(["-hide_banner", "-v", "error", "-i"]).arg(&file.0).args(["-f", "framemd5", "-"]).output().expect("ffmpeg");
    let frames = framemd5(&out.stdout);
    (frames, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Our decoder on the same units: the MD5 of each picture's I420 planes (what
/// ffmpeg's framemd5 hashes), so every sample is compared with ffmpeg's decoder.
fn our_md5s(units: &[Unit], codec: VideoCodec) -> Vec<String> {
    use md5::Digest;
    let mut dec = Decoder::new(codec).unwrap();
    units
        .iter()
        .filter_map(|u| match dec.decode(&u.data) {
            Decoded::Picture(f) => Some(f),
            Decoded::Nothing => None,
            Decoded::Corrupt(e) => {
                let nals: Vec<u8> = u.data.windows(5).filter(|w| w[..4] == [0, 0, 0, 1]).map(|w| w[4] & 0x1f).collect();
                panic!("{codec:?}: {e} ({nals:?} key {})", u.keyframe)
            }
        })
        .map(|f| {
            let mut h = md5::Md5::new();
            for p in [&f.y, &f.u, &f.v] {
                h.update(&p.data);
            }
            h.finalize().iter().map(|b| format!("{b:02x}")).collect()
        })
        .collect()
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
    let (theirs, errors) = decode(&units, VideoCodec::H264);
    assert_eq!((theirs.len(), errors.as_str()), (FRAMES, ""));
    assert_eq!(our_md5s(&units, VideoCodec::H264), theirs, "openh264 decodes what ffmpeg decodes, sample for sample");
}

#[test]
fn vp8_from_ffmpeg_reassembles_and_decodes_frame_for_frame() {
    let packets = capture(&["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-g", "10", "-b:v", "2M"]);
    let (units, requests, a) = assemble(VideoCodec::Vp8, &packets);
    assert!(packets.len() > FRAMES, "frames span packets: {}", packets.len());
    assert_eq!((units.len(), requests), (FRAMES, 0), "{:?}", a.stats);
    assert!(units[0].keyframe && units.iter().filter(|u| u.keyframe).count() >= FRAMES / 10);
    let (theirs, errors) = decode(&units, VideoCodec::Vp8);
    assert_eq!((theirs.len(), errors.as_str()), (FRAMES, ""));
    assert_eq!(our_md5s(&units, VideoCodec::Vp8), theirs, "libvpx decodes what ffmpeg decodes, sample for sample");
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
    let (theirs, errors) = decode(&units, VideoCodec::H264);
    assert_eq!((theirs.len(), errors.as_str()), (FRAMES - 7, ""), "no corrupt frame reaches the decoder");
    assert_eq!(our_md5s(&units, VideoCodec::H264), theirs);
}

/// A file from ffmpeg, removed afterwards.
fn ffmpeg_file(ext: &str, args: &[&str]) -> (Scratch, Vec<u8>) {
    let file = Scratch::named(&format!("{ext}-src.{ext}"));
    let out = Command::new("timeout").args(["-s", "KILL", "60", "ffmpeg", "-hide_banner", "-v", "error", "-y"]).args(args).arg(&file.0).output().expect("ffmpeg");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&file.0).unwrap();
    (file, bytes)
}

/// Split a low-overhead AV1 bitstream into temporal units (each opened by a temporal
/// delimiter OBU).
fn temporal_units(obus: &[u8]) -> Vec<Unit> {
    let mut units: Vec<Unit> = Vec::new();
    let mut at = 0;
    while at < obus.len() {
        let header = obus[at];
        assert!(header & 0x02 != 0, "ffmpeg writes sized OBUs");
        let ext = if header & 0x04 != 0 { 1 } else { 0 };
        let (mut size, mut n) = (0usize, 0);
        while obus[at + 1 + ext + n] & 0x80 != 0 {
            size |= ((obus[at + 1 + ext + n] & 0x7f) as usize) << (7 * n);
            n += 1;
        }
        size |= (obus[at + 1 + ext + n] as usize) << (7 * n);
        let end = at + 1 + ext + n + 1 + size;
        if (header >> 3) & 0x0f == 2 {
            units.push(Unit::default());
        }
        units.last_mut().expect("a temporal delimiter first").data.extend_from_slice(&obus[at..end]);
        at = end;
    }
    units
}

#[test]
fn av1_from_ffmpeg_decodes_sample_for_sample() {
    let (file, obus) = ffmpeg_file("obu", &["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-frames:v", "20", "-pix_fmt", "yuv420p", "-c:v", "libaom-av1", "-cpu-used", "8", "-usage", "realtime", "-g", "10", "-f", "obu"]);
    let units = temporal_units(&obus);
    assert_eq!(units.len(), 20);
    let ours = our_md5s(&units, VideoCodec::Av1);
    let out = Command::new("ffmpeg").args(["-hide_banner", "-v", "error", "-i"]).arg(&file.0).args(["-f", "framemd5", "-"]).output().expect("ffmpeg");
    let theirs: Vec<String> = framemd5(&out.stdout);
    assert_eq!(theirs.len(), 20, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(ours, theirs, "dav1d decodes what ffmpeg decodes, sample for sample");
}

/// Our encoders' output is read by ffmpeg without an error, frame for frame, and
/// decodes to the same samples as our own decoders give (whose colours are checked).
fn our_encoder_for_ffmpeg(codec: VideoCodec) {
    use mediad::video::codec::{Encoder, EncoderConfig};
    let colours = [(81, 90, 240), (145, 54, 34), (41, 240, 110), (210, 16, 146)];
    let mut enc = Encoder::new(codec, EncoderConfig { width: 320, height: 240, bitrate_bps: 800_000, max_fps: 25 }).unwrap();
    let mut units = Vec::new();
    for n in 0..24 {
        // Each colour for six frames: the new colour arrives with a requested key frame.
        let frame = gpu::Frame::solid(320, 240, colours[n / 6]);
        let e = enc.encode(&frame, n as u64 * 3600, n % 6 == 0).unwrap().expect("frame out");
        assert_eq!(e.keyframe, n % 6 == 0, "{codec:?} frame {n}");
        units.push(Unit { data: e.data, keyframe: e.keyframe });
    }
    let (theirs, errors) = decode(&units, codec);
    assert_eq!((theirs.len(), errors.as_str()), (24, ""), "{codec:?}");
    assert_eq!(our_md5s(&units, codec), theirs, "{codec:?}");
    let mut dec = Decoder::new(codec).unwrap();
    for (n, u) in units.iter().enumerate() {
        let Decoded::Picture(f) = dec.decode(&u.data) else { panic!("{codec:?} frame {n}") };
        let want = colours[n / 6];
        let got = (f.y.get(160, 120), f.u.get(80, 60), f.v.get(80, 60));
        assert!(got.0.abs_diff(want.0) <= 6 && got.1.abs_diff(want.1) <= 6 && got.2.abs_diff(want.2) <= 6, "{codec:?} frame {n}: {got:?} for {want:?}");
    }
}

#[test]
fn ffmpeg_reads_our_h264() {
    our_encoder_for_ffmpeg(VideoCodec::H264);
}

#[test]
fn ffmpeg_reads_our_vp8() {
    our_encoder_for_ffmpeg(VideoCodec::Vp8);
}

/// Our encoder's frames, packetized by us into RTP, received and decoded by ffmpeg
/// (described by an SDP file as any receiver would be): the same pictures as our own
/// decoder gives.
fn ffmpeg_receives_our_rtp(codec: VideoCodec) {
    use mediad::video::codec::{Encoder, EncoderConfig};
    use mediad::video::packetize;
    const SENT: usize = 30;
    const CHECKED: usize = 24;
    let colours = [(81, 90, 240), (145, 54, 34), (41, 240, 110), (210, 16, 146), (128, 128, 128)];
    let mut enc = Encoder::new(codec, EncoderConfig { width: 320, height: 240, bitrate_bps: 800_000, max_fps: 25 }).unwrap();
    let frames: Vec<Unit> = (0..SENT)
        .map(|n| {
            let e = enc.encode(&gpu::Frame::solid(320, 240, colours[n / 6]), n as u64 * 3600, n % 6 == 0).unwrap().unwrap();
            Unit { data: e.data, keyframe: e.keyframe }
        })
        .collect();
    let port = even_port();
    let file = sdp_file(port, codec, &format!("{codec:?}"));
    let ff = Command::new("timeout")
        .args(["-s", "KILL", "30", "ffmpeg", "-hide_banner", "-v", "error", "-protocol_whitelist", "file,udp,rtp", "-analyzeduration", "400000", "-i"])
        .arg(&file.0)
        .args(["-frames:v", &CHECKED.to_string(), "-f", "framemd5", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg");
    std::thread::sleep(Duration::from_millis(1500)); // ffmpeg opens its socket
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut seq = 7000u16;
    for (n, f) in frames.iter().enumerate() {
        let payloads = match codec {
            VideoCodec::H264 => packetize::h264(&f.data, 1100).unwrap(),
            _ => packetize::vp8(&f.data, n as u16, 1100).unwrap(),
        };
        for (i, p) in payloads.iter().enumerate() {
            let marker = if i + 1 == payloads.len() { 0x80 } else { 0 };
            let mut rtp = vec![0x80, 96 | marker];
            rtp.extend_from_slice(&seq.to_be_bytes());
            rtp.extend_from_slice(&(n as u32 * 3600).to_be_bytes());
            rtp.extend_from_slice(&0x0bad_cafeu32.to_be_bytes());
            rtp.extend_from_slice(p);
            sock.send_to(&rtp, ("127.0.0.1", port)).unwrap();
            seq = seq.wrapping_add(1);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = ff.wait_with_output().unwrap();
    let theirs: Vec<String> = framemd5(&out.stdout);
    assert_eq!(theirs.len(), CHECKED, "{codec:?}: ffmpeg decoded {} frames: {}", theirs.len(), String::from_utf8_lossy(&out.stderr));
    assert_eq!(our_md5s(&frames[..CHECKED], codec), theirs, "{codec:?}: ffmpeg sees what we encoded");
}

#[test]
fn ffmpeg_receives_our_h264_rtp() {
    ffmpeg_receives_our_rtp(VideoCodec::H264);
}

#[test]
fn ffmpeg_receives_our_vp8_rtp() {
    ffmpeg_receives_our_rtp(VideoCodec::Vp8);
}

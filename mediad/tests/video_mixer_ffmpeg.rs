//! The video MCU's mixer between real peers: four ffmpeg senders (solid red, green,
//! blue and yellow; two in H.264, two in VP8) send RTP; the mixer decodes each once
//! and composes three outputs, which ffmpeg receives as RTP (two H.264, one VP8; through
//! an SDP file) and decodes: each tile's colour is checked at its place for the 2x2 and 1+5
//! presets, the "exclude self" output of the red participant has no red in it, and a
//! layout changed live shows up within a few frames.

mod common;

use common::{even_port, sdp_file, Scratch};
use gpu::layout::Library;
use gpu::{Compositor, Font, Yuv};
use mediad::video::mixer::{Event, LayoutChoice, Mixer, OutputSpec};
use mediad::video::VideoCodec;
use std::io::Read;
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const W: usize = 640;
const H: usize = 360;
const FRAMES: usize = 80;
const CHANGE_AT: usize = 45;
const COLOURS: [(&str, (u8, u8, u8)); 4] = [("red", (255, 0, 0)), ("lime", (0, 255, 0)), ("blue", (0, 0, 255)), ("yellow", (255, 255, 0))];

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sender(colour: &str, codec: VideoCodec, port: u16) -> Killed {
    let enc: &[&str] = match codec {
        VideoCodec::H264 => &["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-bf", "0"],
        _ => &["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-g", "25", "-b:v", "500k"],
    };
    Killed(
        Command::new("timeout")
            .args(["-s", "KILL", "30", "ffmpeg", "-hide_banner", "-v", "error", "-re", "-f", "lavfi", "-i"])
            .arg(format!("color=c={colour}:size=320x240:rate=25"))
            .args(["-t", "6", "-pix_fmt", "yuv420p"])
            .args(enc)
            .args(["-f", "rtp", "-pkt_size", "1200"])
            .arg(format!("rtp://127.0.0.1:{port}?rtcpport={}", port + 1))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ffmpeg"),
    )
}

/// ffmpeg receiving H.264 or VP8 RTP on `port`, writing `FRAMES` raw I420 frames to
/// stdout.
fn receiver(port: u16, tag: &str, codec: VideoCodec) -> (Killed, Scratch) {
    let file = sdp_file(port, codec, &format!("mixer-{tag}"));
    let child = Command::new("timeout")
        .args(["-s", "KILL", "40", "ffmpeg", "-hide_banner", "-v", "error", "-protocol_whitelist", "file,udp,rtp", "-analyzeduration", "400000", "-i"])
        .arg(&file.0)
        .args(["-frames:v", &FRAMES.to_string(), "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ffmpeg");
    (Killed(child), file)
}

type Picture = Vec<u8>;

fn at(f: &Picture, x: usize, y: usize) -> Yuv {
    Yuv(f[y * W + x], f[W * H + (y / 2) * (W / 2) + x / 2], f[W * H + W * H / 4 + (y / 2) * (W / 2) + x / 2])
}

fn near(a: Yuv, b: Yuv) -> bool {
    a.0.abs_diff(b.0) <= 16 && a.1.abs_diff(b.1) <= 16 && a.2.abs_diff(b.2) <= 16
}

fn colour(i: usize) -> Yuv {
    let (r, g, b) = COLOURS[i].1;
    Yuv::from_rgb(r, g, b)
}

/// Whether frame `f` shows input `inputs[t]` in tile `t` of `layout` (None: background).
fn shows(lib: &Library, layout: &str, f: &Picture, inputs: &[Option<usize>]) -> Result<(), String> {
    let l = &lib.layouts[layout];
    for (t, r) in l.tile_rects(W, H).iter().enumerate() {
        let want = inputs.get(t).copied().flatten().map_or(l.background, colour);
        let got = at(f, r.x + r.w / 2, r.y + r.h / 3);
        if !near(got, want) {
            return Err(format!("{layout} tile {t}: {got:?}, want {want:?}"));
        }
    }
    Ok(())
}

#[test]
fn four_ffmpeg_senders_composed_into_layouts_that_ffmpeg_decodes() {
    let lib = Library::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../layouts")).unwrap();
    let mut mixer = Mixer::new(lib.clone(), Compositor::Cpu, Some(Font::system().expect("fonts-dejavu-core")));
    let codecs = [VideoCodec::H264, VideoCodec::Vp8, VideoCodec::H264, VideoCodec::Vp8];
    let mut sockets = Vec::new();
    for (i, c) in codecs.iter().enumerate() {
        assert_eq!(mixer.add_input(COLOURS[i].0, *c).unwrap(), i);
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_nonblocking(true).unwrap();
        sockets.push(s);
    }
    let spec = |layout: &str, exclude: Option<usize>, ssrc: u32, codec: VideoCodec| OutputSpec {
        layout: LayoutChoice::Preset(layout.into()),
        exclude,
        width: W,
        height: H,
        codec,
        bitrate_bps: 1_000_000,
        fps: 25,
        payload_type: 96,
        ssrc,
        max_payload: 1200,
    };
    // The third output in VP8, for receivers that only take VP8.
    let outputs = [spec("2x2", None, 1, VideoCodec::H264), spec("2x2", Some(0), 2, VideoCodec::H264), spec("1+5", None, 3, VideoCodec::Vp8)];
    let mut receivers = Vec::new();
    let mut ports = Vec::new();
    for (n, o) in outputs.iter().enumerate() {
        assert_eq!(mixer.add_output(o.clone()).unwrap(), n);
        let port = even_port();
        receivers.push(receiver(port, &n.to_string(), o.codec));
        ports.push(port);
    }
    std::thread::sleep(Duration::from_millis(1500)); // the receivers open their sockets
    let _senders: Vec<Killed> = codecs.iter().enumerate().map(|(i, c)| sender(COLOURS[i].0, *c, sockets[i].local_addr().unwrap().port())).collect();
    // Wait until every input has been decoded, then run FRAMES + a few ticks at 25/s.
    let out = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut buf = [0u8; 2048];
    let start = Instant::now();
    let mut next_tick: Option<Instant> = None;
    let (mut ticks, mut requests) = (0usize, 0usize);
    while ticks < FRAMES + 8 && start.elapsed() < Duration::from_secs(20) {
        let now = Instant::now();
        for (i, s) in sockets.iter().enumerate() {
            while let Ok(n) = s.recv(&mut buf) {
                mixer.push(i, now, &buf[..n]);
            }
        }
        mixer.handle_timeout(now);
        if next_tick.is_none() && mixer.stats.decoded >= 8 {
            next_tick = Some(now);
        }
        if next_tick.is_some_and(|t| now >= t) {
            if ticks == CHANGE_AT {
                mixer.set_layout(0, LayoutChoice::Preset("1+5".into())).unwrap();
            }
            mixer.tick().unwrap();
            ticks += 1;
            next_tick = next_tick.map(|t| t + Duration::from_millis(40));
        }
        while let Some(e) = mixer.poll() {
            match e {
                Event::Packet { output, rtp } => {
                    out.send_to(&rtp, ("127.0.0.1", ports[output])).unwrap();
                }
                Event::RequestKeyframe { .. } => requests += 1,
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(ticks >= FRAMES, "{ticks} ticks, mixer {:?}", mixer.stats);
    let pictures: Vec<Vec<Picture>> = receivers
        .iter_mut()
        .map(|(child, _)| {
            let mut raw = Vec::new();
            child.0.stdout.take().unwrap().read_to_end(&mut raw).unwrap();
            raw.chunks_exact(W * H * 3 / 2).map(<[u8]>::to_vec).collect()
        })
        .collect();
    for (n, p) in pictures.iter().enumerate() {
        assert_eq!(p.len(), FRAMES, "output {n}: ffmpeg decoded {} frames (mixer {:?}, {requests} key frame requests)", p.len(), mixer.stats);
    }
    // Every input is on screen by frame 10 (the mixer started once 8 pictures were in).
    let all = [Some(0), Some(1), Some(2), Some(3)];
    shows(&lib, "2x2", &pictures[0][30], &all).unwrap();
    shows(&lib, "1+5", &pictures[2][30], &all).unwrap();
    shows(&lib, "2x2", &pictures[1][30], &[Some(1), Some(2), Some(3), None]).unwrap();
    // The red participant's own view has no red anywhere (a grid of samples).
    for f in [&pictures[1][30], &pictures[1][FRAMES - 1]] {
        for y in (4..H).step_by(16) {
            for x in (4..W).step_by(16) {
                assert!(!near(at(f, x, y), colour(0)), "red at ({x}, {y}) in the exclude-self view");
            }
        }
    }
    // The live change: 2x2 until the change, 1+5 within 3 frames after it, and kept.
    shows(&lib, "2x2", &pictures[0][CHANGE_AT - 1], &all).unwrap();
    let first = (CHANGE_AT..FRAMES).find(|&k| shows(&lib, "1+5", &pictures[0][k], &all).is_ok()).expect("the change shows up");
    assert!(first <= CHANGE_AT + 3, "1+5 first at frame {first}, changed at {CHANGE_AT}");
    shows(&lib, "1+5", &pictures[0][FRAMES - 1], &all).unwrap();
    assert_eq!(mixer.stats.decode_errors, 0);
}

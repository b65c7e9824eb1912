//! The video MCU's mixer between real peers: four ffmpeg senders (solid red, green,
//! blue and yellow; two in H.264, two in VP8) send RTP; the mixer decodes each once
//! and composes three outputs, which ffmpeg receives as RTP (two H.264, one VP8; through
//! an SDP file) and decodes: each tile's colour is checked at its place for the 2x2 and 1+5
//! presets, the "exclude self" output of the red participant has no red in it, and a
//! layout changed live shows up within a few frames.

use gpu::{Compositor, Font};
use mediad::video::mixer::{Event, LayoutChoice, Mixer, OutputSpec};
use mediad::video::VideoCodec;
use std::net::UdpSocket;
use std::time::{Duration, Instant};
use system_tests::video::{frames, layouts, receiver, sender, Picture, COLOURS};
use system_tests::{free_udp_port, Proc, TempDir};

const W: usize = 640;
const H: usize = 360;
const FRAMES: usize = 80;
const CHANGE_AT: usize = 45;

fn name(c: VideoCodec) -> &'static str {
    if c == VideoCodec::H264 {
        "H264"
    } else {
        "VP8"
    }
}

#[test]
fn four_ffmpeg_senders_composed_into_layouts_that_ffmpeg_decodes() {
    let lib = layouts();
    let dir = TempDir::new("video-mixer");
    let mut mixer = Mixer::new(lib.clone(), std::sync::Arc::new(Compositor::Cpu), Some(Font::system().expect("fonts-dejavu-core")));
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
        key_interval: None,
    };
    // The third output in VP8, for receivers that only take VP8.
    let outputs = [spec("2x2", None, 1, VideoCodec::H264), spec("2x2", Some(0), 2, VideoCodec::H264), spec("1+5", None, 3, VideoCodec::Vp8)];
    let mut receivers = Vec::new();
    let mut ports = Vec::new();
    for (n, o) in outputs.iter().enumerate() {
        assert_eq!(mixer.add_output(o.clone()).unwrap(), n);
        let port = free_udp_port();
        receivers.push(receiver(&dir, port, &n.to_string(), name(o.codec), FRAMES));
        ports.push(port);
    }
    std::thread::sleep(Duration::from_millis(1500)); // the receivers open their sockets
    let _senders: Vec<Proc> = codecs.iter().enumerate().map(|(i, c)| sender(COLOURS[i].0, name(*c), sockets[i].local_addr().unwrap().port(), 6)).collect();
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
            mixer.tick(next_tick.expect("due")).unwrap();
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
    let pictures: Vec<Vec<Vec<u8>>> = receivers.iter_mut().map(|r| frames(r, W, H)).collect();
    let pic = |n: usize, k: usize| Picture { data: &pictures[n][k], w: W, h: H };
    for (n, p) in pictures.iter().enumerate() {
        assert_eq!(p.len(), FRAMES, "output {n}: ffmpeg decoded {} frames (mixer {:?}, {requests} key frame requests)", p.len(), mixer.stats);
    }
    // Every input is on screen by frame 10 (the mixer started once 8 pictures were in).
    let all = [Some(0), Some(1), Some(2), Some(3)];
    pic(0, 30).shows(&lib, "2x2", &all).unwrap();
    pic(2, 30).shows(&lib, "1+5", &all).unwrap();
    pic(1, 30).shows(&lib, "2x2", &[Some(1), Some(2), Some(3), None]).unwrap();
    // The red participant's own view has no red anywhere (a grid of samples).
    assert!(!pic(1, 30).contains(0) && !pic(1, FRAMES - 1).contains(0), "red in the exclude-self view");
    // The live change: 2x2 until the change, 1+5 within 3 frames after it, and kept.
    pic(0, CHANGE_AT - 1).shows(&lib, "2x2", &all).unwrap();
    let first = (CHANGE_AT..FRAMES).find(|&k| pic(0, k).shows(&lib, "1+5", &all).is_ok()).expect("the change shows up");
    assert!(first <= CHANGE_AT + 3, "1+5 first at frame {first}, changed at {CHANGE_AT}");
    pic(0, FRAMES - 1).shows(&lib, "1+5", &all).unwrap();
    assert_eq!(mixer.stats.decode_errors, 0);
}

use super::*;
use crate::video::codec::EncoderConfig;
use std::path::Path;

/// A participant: our encoder on a solid colour, packetized into RTP.
struct Sender {
    enc: Encoder,
    colour: (u8, u8, u8),
    seq: u16,
    n: u32,
}

impl Sender {
    fn new(colour: (u8, u8, u8)) -> Sender {
        let enc = Encoder::new(VideoCodec::H264, EncoderConfig { width: 160, height: 120, bitrate_bps: 300_000, max_fps: 25 }).unwrap();
        Sender { enc, colour, seq: 1, n: 0 }
    }

    /// The packets of the next frame (a key frame when asked); `damage` flips bytes.
    fn frame(&mut self, key: bool, damage: bool) -> Vec<Vec<u8>> {
        let f = Frame::solid(160, 120, self.colour);
        let mut e = self.enc.encode(&f, self.n as u64 * 3600, key).unwrap().unwrap();
        if damage {
            let len = e.data.len();
            for b in &mut e.data[len / 2..] {
                *b ^= 0x5a;
            }
        }
        let ts = self.n * 3600;
        self.n += 1;
        let payloads = packetize::h264(&e.data, 1200).unwrap();
        let last = payloads.len() - 1;
        payloads
            .into_iter()
            .enumerate()
            .map(|(k, p)| {
                let mut rtp = vec![0x80, 96 | if k == last { 0x80 } else { 0 }];
                rtp.extend_from_slice(&self.seq.to_be_bytes());
                rtp.extend_from_slice(&ts.to_be_bytes());
                rtp.extend_from_slice(&[0, 0, 0, 7]);
                rtp.extend_from_slice(&p);
                self.seq = self.seq.wrapping_add(1);
                rtp
            })
            .collect()
    }
}

fn mixer() -> Mixer {
    let lib = Library::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../layouts")).unwrap();
    Mixer::new(lib, Arc::new(Compositor::Cpu), None)
}

/// Tick times 40 ms apart (25 frames/s), not the wall clock.
struct Clock(Instant);

impl Clock {
    fn new() -> Clock {
        Clock(Instant::now())
    }
    fn next(&mut self) -> Instant {
        self.0 += Duration::from_millis(40);
        self.0
    }
}

fn spec(layout: &str) -> OutputSpec {
    OutputSpec {
        layout: LayoutChoice::Preset(layout.into()),
        exclude: None,
        width: 320,
        height: 240,
        codec: VideoCodec::H264,
        bitrate_bps: 300_000,
        fps: 25,
        payload_type: 96,
        ssrc: 9,
        max_payload: 1200,
        key_interval: None,
    }
}

fn requests(m: &mut Mixer) -> Vec<usize> {
    std::iter::from_fn(|| m.poll()).filter_map(|e| match e {
        Event::RequestKeyframe { input } => Some(input),
        Event::Packet { .. } => None,
    }).collect()
}

#[test]
fn an_auto_selector_decodes_only_whom_it_shows_and_asks_for_a_key_frame_on_a_switch() {
    let mut m = mixer();
    let mut clock = Clock::new();
    let mut senders: Vec<Sender> = (0..6).map(|i| Sender::new((40 * i as u8 + 20, 100, 150))).collect();
    for i in 0..6 {
        m.add_input(&format!("p{i}"), VideoCodec::H264).unwrap();
    }
    m.add_output(spec("1x1")).unwrap();
    m.set_mode(Mode::AutoSelector { shown: 1 });
    m.set_speakers(vec![2]);
    let now = Instant::now();
    let send = |m: &mut Mixer, senders: &mut [Sender], key: bool| {
        for (i, s) in senders.iter_mut().enumerate() {
            for p in s.frame(key, false) {
                m.push(i, now, &p);
            }
        }
    };
    send(&mut m, &mut senders, true);
    m.tick(clock.next()).unwrap();
    let before = m.stats.decoded;
    for _ in 0..5 {
        send(&mut m, &mut senders, false);
        m.tick(clock.next()).unwrap();
    }
    assert_eq!(m.stats.decoded - before, 5, "only the speaker shown is decoded");
    requests(&mut m);
    // Participant 4 becomes the loudest: it comes into view and is asked for a key
    // frame; its inter frames are not decoded until the key frame comes.
    m.set_speakers(vec![4, 2]);
    m.tick(clock.next()).unwrap();
    assert_eq!(requests(&mut m), [4]);
    let decoded = m.stats.decoded;
    send(&mut m, &mut senders, false);
    assert_eq!(m.stats.decoded, decoded, "4's inter frames wait for its key frame");
    for p in senders[4].frame(true, false) {
        m.push(4, now, &p);
    }
    assert_eq!(m.stats.decoded, decoded + 1, "its key frame is decoded");
    assert_eq!(m.stats.decode_errors, 0);
}

#[test]
fn a_damaged_frame_is_dropped_and_a_key_frame_requested() {
    let mut m = mixer();
    let mut clock = Clock::new();
    let mut s = Sender::new((200, 60, 60));
    m.add_input("p", VideoCodec::H264).unwrap();
    m.add_output(spec("2x2")).unwrap();
    let now = Instant::now();
    for (k, damage) in [(true, false), (false, false), (false, true), (false, false), (true, false), (false, false)] {
        for p in s.frame(k, damage) {
            m.push(0, now, &p);
        }
        m.tick(clock.next()).unwrap();
    }
    let r = requests(&mut m);
    assert!(m.stats.decode_errors >= 1 && r.contains(&0), "{:?} {r:?}", m.stats);
    assert_eq!(m.stats.composed, 6, "the output kept going");
    assert!(m.stats.decoded >= 3, "{:?}", m.stats);
}

#[test]
fn outputs_and_layouts_are_checked() {
    let mut m = mixer();
    let mut clock = Clock::new();
    assert!(m.add_output(spec("7x7")).is_err());
    assert!(m.add_output(OutputSpec { width: 322, ..spec("2x2") }).is_err());
    let o = m.add_output(spec("2x2")).unwrap();
    assert!(m.set_layout(o, LayoutChoice::Group("nope".into())).is_err());
    assert!(m.set_layout(o, LayoutChoice::Group("auto".into())).is_ok());
    assert!(m.add_input("x", VideoCodec::Vp9).is_err(), "VP9 is not decoded");
    m.tick(clock.next()).unwrap();
}

#[test]
fn each_output_keeps_its_frame_rate_and_a_removed_one_stops() {
    let mut m = mixer();
    let mut clock = Clock::new();
    let fast = m.add_output(spec("2x2")).unwrap();
    let slow = m.add_output(OutputSpec { fps: 10, ssrc: 10, ..spec("2x2") }).unwrap();
    let mut frames = [0usize; 2];
    let count = |m: &mut Mixer, frames: &mut [usize; 2]| {
        for e in std::iter::from_fn(|| m.poll()) {
            if let Event::Packet { output, rtp } = e {
                // One frame per marker bit.
                if rtp[1] & 0x80 != 0 {
                    frames[output] += 1;
                }
            }
        }
    };
    for _ in 0..25 {
        m.tick(clock.next()).unwrap();
        count(&mut m, &mut frames);
    }
    assert_eq!(frames, [25, 10], "one second at 25 and at 10 frames/s");
    m.remove_output(fast);
    assert_eq!(m.outputs(), 1);
    for _ in 0..25 {
        m.tick(clock.next()).unwrap();
        count(&mut m, &mut frames);
    }
    assert_eq!(frames, [25, 20], "the removed output sent nothing more");
    assert!(m.pin(fast, 0, Some(0)).is_err() && m.pin(slow, 0, None).is_ok());
}

#[test]
fn periodic_key_frames_follow_time_not_frames_drawn() {
    let mut m = mixer();
    let mut clock = Clock::new();
    // 25 and 10 frames/s, a key frame at least every 400 ms for both.
    let every = Some(Duration::from_millis(400));
    m.add_output(OutputSpec { key_interval: every, ..spec("2x2") }).unwrap();
    m.add_output(OutputSpec { fps: 10, ssrc: 10, key_interval: every, ..spec("2x2") }).unwrap();
    let mut keys = [0usize; 2];
    for _ in 0..25 {
        m.tick(clock.next()).unwrap();
        for e in std::iter::from_fn(|| m.poll()) {
            if let Event::Packet { output, rtp } = e {
                if crate::rtp::keyframe::starts_keyframe(VideoCodec::H264, &rtp) {
                    keys[output] += 1;
                }
            }
        }
    }
    // One second: the first two frames (the first packet of a new source is often
    // dropped), then 400 and 800 ms on (the 10 frames/s output too,
    // though it draws only 10 frames).
    assert_eq!(keys, [4, 4]);
}

use super::*;

fn rtp(seq: u16, ts: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 96 | (marker as u8) << 7];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&[1, 2, 3, 4]);
    p.extend_from_slice(payload);
    p
}

/// An H.264 stream: frame `n` at timestamp 3000 n, a key frame (SPS+PPS in a STAP-A,
/// then an IDR in two FU-A packets) or a P slice in one packet.
fn frame(n: u32, key: bool) -> Vec<(u32, bool, Vec<u8>)> {
    let ts = 3000 * n;
    if key {
        vec![(ts, false, vec![0x78, 0, 2, 0x67, 0x42, 0, 1, 0x68]), (ts, false, vec![0x7c, 0x85, n as u8]), (ts, true, vec![0x7c, 0x45, 0xee])]
    } else {
        vec![(ts, true, vec![0x41, 0x9a, n as u8])]
    }
}

struct Feed {
    a: Assembler,
    seq: u16,
    now: Instant,
}

impl Feed {
    fn new(first_seq: u16) -> Feed {
        Feed { a: Assembler::new(VideoCodec::H264, AssemblerConfig::default()).unwrap(), seq: first_seq, now: Instant::now() }
    }

    /// Send frame `n`, skipping the packets whose index is in `drop`.
    fn send(&mut self, n: u32, key: bool, drop: &[usize]) {
        for (i, (ts, marker, payload)) in frame(n, key).into_iter().enumerate() {
            if !drop.contains(&i) {
                self.a.push(self.now, &rtp(self.seq, ts, marker, &payload));
            }
            self.seq = self.seq.wrapping_add(1);
        }
    }

    fn wait(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
        self.a.handle_timeout(self.now);
    }

    fn outputs(&mut self) -> Vec<String> {
        std::iter::from_fn(|| self.a.poll())
            .map(|o| match o {
                Output::Frame { rtp_timestamp, unit } => format!("{}{}", if unit.keyframe { "K" } else { "P" }, rtp_timestamp / 3000),
                Output::RequestKeyframe => "PLI".into(),
            })
            .collect()
    }
}

#[test]
fn an_in_order_stream_comes_out_frame_by_frame_across_the_sequence_wrap() {
    let mut f = Feed::new(65533);
    f.send(1, true, &[]);
    for n in 2..5 {
        f.send(n, false, &[]);
    }
    assert_eq!(f.outputs(), ["K1", "P2", "P3", "P4"]);
    assert_eq!((f.a.stats.frames, f.a.stats.keyframes, f.a.stats.lost_packets, f.a.stats.keyframe_requests), (4, 1, 0, 0));
}

#[test]
fn reordered_packets_are_put_back_in_order() {
    let mut f = Feed::new(100);
    f.send(1, true, &[]);
    let packets: Vec<Vec<u8>> = frame(2, true).iter().enumerate().map(|(i, (ts, m, p))| rtp(103 + i as u16, *ts, *m, p)).collect();
    for i in [2, 0, 1] {
        f.a.push(f.now, &packets[i]);
    }
    f.seq = 106;
    f.send(3, false, &[]);
    assert_eq!(f.outputs(), ["K1", "K2", "P3"]);
    assert_eq!((f.a.stats.lost_packets, f.a.stats.late_packets), (0, 0));
    let Output::Frame { unit, .. } = Assembler::new(VideoCodec::H264, AssemblerConfig::default()).map(|mut a| {
        packets.iter().for_each(|p| a.push(f.now, p));
        a.poll().unwrap()
    }).unwrap() else { panic!() };
    assert_eq!(unit.data, [0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68, 0, 0, 0, 1, 0x65, 2, 0xee]);
}

#[test]
fn loss_drops_frames_until_a_requested_keyframe_arrives() {
    let mut f = Feed::new(7);
    f.send(1, true, &[]);
    f.send(2, false, &[0]); // lost entirely
    f.send(3, false, &[]);
    assert_eq!(f.outputs(), ["K1"], "frame 3 waits behind the hole");
    f.wait(100);
    assert_eq!(f.outputs(), ["PLI"], "the hole is given up: frame 3 may reference frame 2");
    assert_eq!(f.a.stats.lost_packets, 1);
    f.send(4, false, &[]);
    f.wait(300);
    assert_eq!(f.outputs(), Vec::<String>::new(), "no request storm");
    f.wait(300);
    assert_eq!(f.outputs(), ["PLI"], "asked again after the interval");
    f.send(5, true, &[1]); // the key frame's IDR start lost: the fragment cannot be used
    f.wait(100);
    f.send(6, true, &[]);
    f.send(7, false, &[]);
    assert_eq!(f.outputs(), ["K6", "P7"]);
    let s = f.a.stats;
    assert_eq!((s.dropped_frames, s.keyframe_requests, s.lost_packets), (3, 2, 2), "{s:?}");
    assert_eq!(f.a.poll_timeout(), None, "nothing pending");
}

#[test]
fn joining_mid_stream_asks_for_a_keyframe_at_once() {
    let mut f = Feed::new(1);
    f.send(1, false, &[]);
    assert_eq!(f.outputs(), ["PLI"]);
    f.send(2, true, &[]);
    assert_eq!(f.outputs(), ["K2"]);
}

#[test]
fn duplicates_late_packets_restarts_and_garbage_are_counted_not_fatal() {
    let mut f = Feed::new(500);
    f.send(1, true, &[]);
    f.a.push(f.now, &rtp(501, 3000, false, &[0x7c, 0x85, 1]));
    assert_eq!(f.a.stats.late_packets, 1, "a duplicate");
    for junk in [&[][..], &[0x80], &[0x40, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]] {
        f.a.push(f.now, junk);
    }
    assert_eq!(f.a.stats.malformed_packets, 3);
    // A sender's own bug: an FU-A continuing a fragment it never started.
    f.a.push(f.now, &rtp(503, 6000, true, &[0x7c, 0x05, 1]));
    assert_eq!((f.a.stats.malformed_packets, f.a.stats.dropped_frames), (4, 1));
    // A sender restarting far away in sequence space (here behind): no flood of "lost"
    // packets, and its packets are not taken for late ones.
    f.seq = 40000;
    f.send(9, true, &[]);
    assert_eq!(f.outputs(), ["K1", "PLI", "K9"]);
    assert_eq!(f.a.stats.lost_packets, 0);
}

#[test]
fn a_frame_over_the_size_limit_is_dropped() {
    let config = AssemblerConfig { max_frame_bytes: 64, ..Default::default() };
    let mut a = Assembler::new(VideoCodec::Vp8, config).unwrap();
    let now = Instant::now();
    a.push(now, &rtp(1, 90, false, &[0x10, 0x50, 1]));
    a.push(now, &rtp(2, 90, true, &[0x00; 100]));
    a.push(now, &rtp(3, 180, true, &[0x10, 0x50, 2]));
    assert_eq!(a.stats.oversize_frames, 1);
    let frames: Vec<Output> = std::iter::from_fn(|| a.poll()).collect();
    assert_eq!(frames, [Output::RequestKeyframe, Output::Frame { rtp_timestamp: 180, unit: Unit { data: vec![0x50, 2], keyframe: true } }]);
}

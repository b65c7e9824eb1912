//! Two ffmpeg senders and two ffmpeg receivers exchange H.264 and Opus through
//! mediad rooms; each receiver must decode every frame the other side sent.
//! Run for legs on one core and on different cores, with both I/O backends.

use control::{LegCreate, Media};
use system_tests::peers::{decoded_window, expected_frames, send, Codec, Receiver};
use system_tests::{free_udp_port, Mediad, TempDir};
use std::time::Duration;

const SECONDS: u32 = 3;

fn exchange(io: &str, cores: [usize; 2]) {
    let m = Mediad::start(2, io, &[]);
    let mut c = m.client();
    let dir = TempDir::new("exchange");
    let mut receivers = vec![];
    let mut senders = vec![];
    for (codec, media) in [(Codec::H264, Media::Video), (Codec::Opus, Media::Audio)] {
        let room = format!("{codec:?}");
        c.room_create(Some(&room)).unwrap();
        // Participant i: a leg whose remote is receiver i; sender i feeds the leg.
        let mut legs = vec![];
        for (i, core) in cores.iter().enumerate() {
            let rx_port = free_udp_port();
            let rx = Receiver::start(&dir, &format!("{room}-{i}"), codec, rx_port);
            let leg = c
                .leg_create(LegCreate {
                    media,
                    core: Some(*core),
                    remote: Some(format!("127.0.0.1:{rx_port}").parse().unwrap()),
                    room: Some(room.clone()),
                    ..Default::default()
                })
                .unwrap();
            assert_eq!(leg.core, *core);
            receivers.push((room.clone(), i, codec, rx));
            legs.push(leg);
        }
        // Let the receivers open their sockets before the first keyframe goes out.
        std::thread::sleep(Duration::from_millis(800));
        for (i, leg) in legs.iter().enumerate() {
            // One extra second flushes the receivers' parsers past the checked window.
            senders.push(send(&dir, &format!("{room}-{i}"), codec, leg.rtp_port, SECONDS + 1));
        }
    }
    for mut s in senders {
        let st = s.wait_timeout(Duration::from_secs(30)).expect("sender finished");
        assert!(st.success(), "ffmpeg sender failed");
    }
    std::thread::sleep(Duration::from_millis(500));
    let stats = c.daemon_stats().unwrap();
    for (room, i, codec, rx) in receivers {
        let (pts, log) = rx.finish();
        let want = expected_frames(codec, SECONDS);
        if let Err(e) = decoded_window(&pts, want) {
            panic!("{io} cores {cores:?}: receiver {room}-{i}: {e}\n{log}\n{stats:?}");
        }
    }
    for w in &stats.workers {
        assert_eq!(w.malformed, 0, "real peers sent nothing malformed: {stats:?}");
        assert_eq!(w.tx_dropped + w.handoff_dropped, 0, "{stats:?}");
    }
    if cores[0] != cores[1] {
        assert!(stats.workers.iter().all(|w| w.handoff_out > 0), "cross-core rooms must hand off: {stats:?}");
    }
}

#[test]
fn h264_and_opus_same_core_epoll() {
    exchange("epoll", [0, 0]);
}

#[test]
fn h264_and_opus_across_cores_epoll() {
    exchange("epoll", [0, 1]);
}

#[test]
fn h264_and_opus_across_cores_uring() {
    exchange("uring", [1, 0]);
}

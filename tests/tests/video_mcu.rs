//! The video MCU inside mediad, between real peers: four ffmpeg senders (solid red,
//! lime, blue, yellow; H.264 and VP8) send RTP to their legs' sockets in a room that
//! composes video; three of the legs take a composite, which ffmpeg receives (through
//! an SDP file) and decodes: each tile's colour at its place (2x2 and 1+5), the red
//! participant's "exclude self" view without red, an individual layout, and a
//! room-wide layout change live. The control ops' refusals are checked too.

use control::*;
use system_tests::video::{frames, layouts, receiver, sender, Picture, COLOURS};
use system_tests::{free_udp_port, Mediad, Proc, TempDir};
use std::time::{Duration, Instant};

const W: usize = 320;
const H: usize = 240;
const FRAMES: usize = 150;

fn video_room(c: &mut Client, name: &str, layout: &str) {
    let settings = VideoMixSettings { layout: layout.into(), ..Default::default() };
    let _: RoomInfo = c.call(Op::RoomCreate { room: Some(name.into()), mix: None, core: None, video: Some(settings) }).unwrap();
}

fn send(codec: &str, layout: Option<&str>, exclude_self: bool) -> VideoSend {
    VideoSend { pt: 96, codec: codec.into(), width: W, height: H, bitrate: 600_000, fps: Some(25), class: OutputClass::Sip, layout: layout.map(str::to_string), exclude_self, max_payload: None }
}

fn stats(c: &mut Client, room: &str) -> VideoRoomStats {
    c.call(Op::StatsVideo { room: room.into() }).unwrap()
}

#[test]
fn ffmpeg_senders_through_mediad_into_composites_that_ffmpeg_decodes() {
    let m = Mediad::start(2, "epoll", &["--video-threads", "1", "--compositor", "cpu"]);
    let mut c = m.client();
    let dir = TempDir::new("video-mcu");
    let lib = layouts();
    video_room(&mut c, "vconf", "2x2");
    let codecs = ["H264", "VP8", "H264", "VP8"];
    // Red takes the common layout without itself, lime an individual 1+5 in VP8 with
    // itself, blue the common layout with itself; yellow only sends.
    let takes = [Some(send("H264", None, true)), Some(send("VP8", Some("1+5"), false)), Some(send("H264", None, false)), None];
    let ports: Vec<Option<u16>> = takes.iter().map(|t| t.as_ref().map(|_| free_udp_port())).collect();
    let mut receivers: Vec<Option<Proc>> = takes.iter().zip(&ports).enumerate().map(|(i, (t, p))| Some(receiver(&dir, (*p)?, &format!("out{i}"), &t.as_ref()?.codec, FRAMES))).collect();
    std::thread::sleep(Duration::from_millis(1500)); // the receivers open their sockets
    let mut legs = Vec::new();
    for (i, t) in takes.iter().enumerate() {
        let remote = ports[i].map(|p| format!("127.0.0.1:{p}").parse().unwrap());
        let video = LegVideo { receive: vec![VideoPayload { pt: 96, codec: codecs[i].into() }], send: t.clone(), name: Some(COLOURS[i].0.into()), ..Default::default() };
        let leg = c
            .leg_create(LegCreate { media: Media::Video, core: Some(i % 2), remote, room: Some("vconf".into()), video: Some(Box::new(video)), ..Default::default() })
            .unwrap();
        assert_eq!(leg.video_ssrc.is_some(), t.is_some());
        legs.push(leg);
    }
    let _senders: Vec<Proc> = legs.iter().enumerate().map(|(i, l)| sender(COLOURS[i].0, codecs[i], l.rtp_port, 9)).collect();
    // Every picture decoded a while, then the common layout changes to 1+5.
    let start = Instant::now();
    while stats(&mut c, "vconf").decoded < 4 * 30 && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(800));
    let _: serde_json::Value = c.call(Op::VideoLayout(VideoLayoutSet { room: "vconf".into(), layout: "1+5".into(), leg: None, class: None })).unwrap();
    let changed_at = start.elapsed();
    let pictures: Vec<Vec<Vec<u8>>> = receivers.iter_mut().map(|r| r.as_mut().map(|p| frames(p, W, H)).unwrap_or_default()).collect();
    let s = stats(&mut c, "vconf");
    for n in [0, 1, 2] {
        assert_eq!(pictures[n].len(), FRAMES, "composite of leg {n}: ffmpeg decoded {} frames; {s:?}", pictures[n].len());
    }
    assert_eq!((s.compositor.as_str(), s.inputs, s.outputs, s.decode_errors), ("cpu", 4, 3, 0), "{s:?}");
    let pic = |n: usize, k: usize| Picture { data: &pictures[n][k], w: W, h: H };
    let all = [Some(0), Some(1), Some(2), Some(3)];
    // Blue's composite follows the common layout: 2x2 of everyone, then 1+5, and no
    // frame in between shows neither.
    // Each tile's colour (1+5 tile centres) every 15th frame, for failure messages.
    let describe = |n: usize| -> Vec<String> {
        let rects = lib.layouts["1+5"].tile_rects(W, H);
        (0..FRAMES).step_by(15).map(|k| format!("{k}: {:?}", rects.iter().map(|r| pic(n, k).at(r.x + r.w / 2, r.y + r.h / 3)).collect::<Vec<_>>())).collect()
    };
    let first_1_5 = (0..FRAMES).find(|&k| pic(2, k).shows(&lib, "1+5", &all).is_ok()).unwrap_or_else(|| panic!("no 1+5 frame (changed {changed_at:?} after start; {s:?}): {:#?}", describe(2)));
    let before = (0..first_1_5).rev().find(|&k| pic(2, k).shows(&lib, "2x2", &all).is_ok()).unwrap_or_else(|| {
        let seen: Vec<String> = (0..first_1_5).step_by(10).map(|k| format!("{k}: {:?}", pic(2, k).shows(&lib, "2x2", &all))).collect();
        panic!("no 2x2 frame before frame {first_1_5}: {seen:#?}")
    });
    assert!(first_1_5 - before <= 2, "2x2 last at frame {before}, 1+5 first at {first_1_5}");
    for k in first_1_5..FRAMES {
        pic(2, k).shows(&lib, "1+5", &all).unwrap_or_else(|e| panic!("frame {k}: {e}"));
    }
    // Red's own view: lime, blue, yellow in 2x2 then 1+5, never red. (Frame numbers of
    // different receivers are not the same instants: each stream is checked on its own.)
    let others = [Some(1), Some(2), Some(3), None];
    let red_2x2 = (0..FRAMES).rev().find(|&k| pic(0, k).shows(&lib, "2x2", &others).is_ok()).unwrap_or_else(|| panic!("red's view never 2x2: {:#?}", describe(0)));
    assert!((red_2x2..FRAMES).any(|k| pic(0, k).shows(&lib, "1+5", &others).is_ok()), "red's view did not follow the change: {:#?}", describe(0));
    pic(0, FRAMES - 1).shows(&lib, "1+5", &others).unwrap();
    for k in (0..FRAMES).step_by(5) {
        assert!(!pic(0, k).contains(0), "red in red's exclude-self view at frame {k}");
    }
    // Lime's individual 1+5 (VP8, itself included) never followed the room's 2x2.
    assert!((0..FRAMES).all(|k| pic(1, k).shows(&lib, "2x2", &all).is_err()), "lime's view showed the common 2x2: {:#?}", describe(1));
    pic(1, FRAMES - 1).shows(&lib, "1+5", &all).unwrap_or_else(|e| panic!("{e}: {:#?}", describe(1)));
}

#[test]
fn video_ops_refuse_what_they_cannot_do() {
    let m = Mediad::start(1, "epoll", &["--video-threads", "1", "--compositor", "cpu"]);
    let mut c = m.client();
    let err = |r: Result<serde_json::Value, ClientError>| match r {
        Err(ClientError::Daemon(e)) => e,
        other => panic!("expected a refusal, got {other:?}"),
    };
    let bad_layout = VideoMixSettings { layout: "7x7".into(), ..Default::default() };
    let e = err(c.call(Op::RoomCreate { room: Some("r".into()), mix: None, core: None, video: Some(bad_layout) }));
    assert!(e.code == ErrorCode::BadRequest && e.message.contains("7x7"), "{e:?}");
    video_room(&mut c, "r", "auto");
    let _: RoomInfo = c.call(Op::RoomCreate { room: Some("sfu".into()), mix: None, core: None, video: None }).unwrap();
    let e = err(c.call(Op::VideoLayout(VideoLayoutSet { room: "sfu".into(), layout: "2x2".into(), leg: None, class: None })));
    assert!(e.message.contains("composes no video"), "{e:?}");
    // Refused before any socket is opened: VP9 is not decoded, 321 is not a multiple of 8.
    let legs_before: Vec<LegInfo> = c.call(Op::LegList).unwrap();
    for v in [
        LegVideo { receive: vec![VideoPayload { pt: 98, codec: "VP9".into() }], ..Default::default() },
        LegVideo { send: Some(VideoSend { width: 321, ..send("H264", None, true) }), ..Default::default() },
        LegVideo { send: Some(send("AV1", None, true)), ..Default::default() },
    ] {
        let e = err(c.call(Op::LegCreate(LegCreate { media: Media::Video, video: Some(Box::new(v)), ..Default::default() })));
        assert_eq!(e.code, ErrorCode::BadRequest, "{e:?}");
    }
    let legs_after: Vec<LegInfo> = c.call(Op::LegList).unwrap();
    assert_eq!(legs_before.len(), legs_after.len());
    let video = LegVideo { receive: vec![VideoPayload { pt: 96, codec: "H264".into() }], send: Some(send("H264", None, true)), ..Default::default() };
    let a = c.leg_create(LegCreate { media: Media::Video, room: Some("r".into()), video: Some(Box::new(video.clone())), ..Default::default() }).unwrap();
    let e = err(c.call(Op::VideoMode { room: "r".into(), mode: VideoMode { mode: VideoModeName::Lesson, shown: 4, presenter: Some(12345) } }));
    assert!(e.message.contains("sends no video"), "{e:?}");
    let e = err(c.call(Op::VideoMode { room: "r".into(), mode: VideoMode { mode: VideoModeName::Auto, shown: 37, presenter: None } }));
    assert!(e.message.contains("1..=36"), "{e:?}");
    let _: serde_json::Value = c.call(Op::VideoMode { room: "r".into(), mode: VideoMode { mode: VideoModeName::Lesson, shown: 4, presenter: Some(a.leg) } }).unwrap();
    let _: serde_json::Value = c.call(Op::VideoMode { room: "r".into(), mode: VideoMode { mode: VideoModeName::Managed, shown: 4, presenter: None } }).unwrap();
    let _: serde_json::Value = c.call(Op::VideoPodium { leg: a.leg, on: true }).unwrap();
    assert_eq!(stats(&mut c, "r").podium, [a.leg]);
    let e = err(c.call(Op::VideoPin(VideoPin { leg: a.leg, tile: 0, source: Some(999) })));
    assert!(e.message.contains("sends no video"), "{e:?}");
    // A leg leaves with its picture and composite; the room goes with the last.
    let _: serde_json::Value = c.call(Op::LegDelete { leg: a.leg }).unwrap();
    let s = stats(&mut c, "r");
    assert_eq!((s.inputs, s.outputs, s.podium.len()), (0, 0, 0), "{s:?}");
    let _: serde_json::Value = c.call(Op::RoomDelete { room: "r".into(), if_empty: false }).unwrap();
    let e = err(c.call(Op::StatsVideo { room: "r".into() }));
    assert_eq!(e.code, ErrorCode::NoSuchRoom);
}

#[test]
fn without_video_threads_a_video_room_is_refused() {
    let m = Mediad::start(1, "epoll", &["--video-threads", "0"]);
    let mut c = m.client();
    let r: Result<RoomInfo, _> = c.call(Op::RoomCreate { room: Some("v".into()), mix: None, core: None, video: Some(Default::default()) });
    match r {
        Err(ClientError::Daemon(e)) => assert_eq!(e.code, ErrorCode::Unsupported, "{e:?}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_sip_phone_with_an_h264_video_m_line_gets_the_composite() {
    use system_tests::sip::{signal_sip, sipp, sipp_ok};
    const SIP_W: usize = 640; // level 3.0 in the phone's offer
    const SIP_H: usize = 360;
    let m = Mediad::start(2, "epoll", &["--video-threads", "1", "--compositor", "cpu"]);
    let sig = signal_sip(&m, &[]);
    let mut c = m.client();
    let dir = TempDir::new("video-sip");
    let lib = layouts();
    // Conference 77 composes 2x2; red and lime send pictures (ffmpeg, through mediad).
    let settings = VideoMixSettings { layout: "2x2".into(), ..Default::default() };
    let _: RoomInfo = c.call(Op::RoomCreate { room: Some("77".into()), mix: Some(MixSettings::default()), core: None, video: Some(settings) }).unwrap();
    let codecs = ["H264", "VP8"];
    let senders: Vec<LegInfo> = (0..2)
        .map(|i| {
            let video = LegVideo { receive: vec![VideoPayload { pt: 96, codec: codecs[i].into() }], name: Some(COLOURS[i].0.into()), ..Default::default() };
            c.leg_create(LegCreate { media: Media::Video, room: Some("77".into()), video: Some(Box::new(video)), ..Default::default() }).unwrap()
        })
        .collect();
    let _ffmpeg: Vec<Proc> = senders.iter().enumerate().map(|(i, l)| sender(COLOURS[i].0, codecs[i], l.rtp_port, 14)).collect();
    // sipp offers audio (its own media port) and H.264 video at a port where ffmpeg
    // decodes what mediad sends.
    let video_port = free_udp_port();
    let mut composite = receiver(&dir, video_port, "sip", "H264", 60);
    std::thread::sleep(Duration::from_millis(1500));
    let scenario = include_str!("../sipp/uac_video.xml").replace("VIDEO_PORT", &video_port.to_string()).replace("SECONDS", "5000").replace("ENDING", &include_str!("../sipp/end_our_bye.xml").replace("CSeq: 2 BYE", "CSeq: 3 BYE"));
    std::fs::write(dir.path("uac_video.xml"), scenario).unwrap();
    let target = format!("127.0.0.1:{}", sig.sip);
    let mut phone = sipp(&dir, "phone", &["-sf", "uac_video.xml", "-s", "0077", "-p", &free_udp_port().to_string(), "-mp", &free_udp_port().to_string(), &target]);
    std::thread::sleep(Duration::from_secs(3));
    // Mid-call: the phone's audio and video legs are in the room, its picture an input
    // (it sends none) and its composite the room's one output.
    let room: RoomStats = c.call(Op::StatsRoom { room: "77".into() }).unwrap();
    assert_eq!(room.legs.len(), 4, "2 senders + the phone's audio and video legs: {room:?}");
    let v = stats(&mut c, "77");
    assert_eq!((v.inputs, v.outputs), (3, 1), "{v:?}");
    let got = frames(&mut composite, SIP_W, SIP_H);
    sipp_ok(&mut phone, &dir, "phone").unwrap();
    assert_eq!(got.len(), 60, "ffmpeg decoded {} frames of the phone's composite; {v:?}", got.len());
    // Red and lime in the top tiles; the phone's own tile is left out (exclude self).
    let last = Picture { data: &got[59], w: SIP_W, h: SIP_H };
    last.shows(&lib, "2x2", &[Some(0), Some(1), None, None]).unwrap();
    // The BYE took both of the phone's legs away.
    let legs: RoomStats = c.call(Op::StatsRoom { room: "77".into() }).unwrap();
    assert_eq!(legs.legs.len(), 2, "{legs:?}");
    assert_eq!(stats(&mut c, "77").outputs, 0);
}

/// Whether an H.264 RTP packet (our packetizer's) starts a key frame: parameter sets
/// in a STAP-A, an IDR slice, or the first fragment of one.
fn starts_h264_key_frame(p: &[u8]) -> bool {
    match p.get(12).map(|b| b & 0x1f) {
        Some(24) | Some(5) => true,
        Some(28) => p.get(13).is_some_and(|b| b & 0x80 != 0 && b & 0x1f == 5),
        _ => false,
    }
}

/// A receiver's NACK about a composite is answered by the core that serves it, with the
/// same bytes; a NACK for a packet long gone (the picture cannot be repaired) makes the
/// next frame a key frame, well before the periodic one, and so does `video.keyframe`
/// (what signal sends for a SIP INFO picture_fast_update).
#[test]
fn nacks_about_a_composite_are_answered_and_the_unrepairable_bring_a_key_frame() {
    use rtcp_types::{Nack, RtcpPacketWriterExt, TransportFeedback};
    use std::net::UdpSocket;
    let m = Mediad::start(2, "epoll", &["--video-threads", "1", "--compositor", "cpu"]);
    let mut c = m.client();
    video_room(&mut c, "nack", "2x2");
    let (rx, rx_rtcp) = (UdpSocket::bind("127.0.0.1:0").unwrap(), UdpSocket::bind("127.0.0.1:0").unwrap());
    rx.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let picture = LegVideo { receive: vec![VideoPayload { pt: 96, codec: "H264".into() }], ..Default::default() };
    let red = c.leg_create(LegCreate { media: Media::Video, core: Some(0), room: Some("nack".into()), video: Some(Box::new(picture)), ..Default::default() }).unwrap();
    let _ffmpeg = sender(COLOURS[0].0, "H264", red.rtp_port, 8);
    let takes = LegVideo { send: Some(send("H264", None, false)), ..Default::default() };
    let viewer = c
        .leg_create(LegCreate {
            media: Media::Video,
            core: Some(1),
            room: Some("nack".into()),
            remote: Some(rx.local_addr().unwrap()),
            remote_rtcp: Some(rx_rtcp.local_addr().unwrap()),
            video: Some(Box::new(takes)),
            ..Default::default()
        })
        .unwrap();
    let mut buf = [0u8; 2048];
    let mut got: Vec<Vec<u8>> = vec![];
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1500) {
        let n = rx.recv(&mut buf).expect("the composite");
        got.push(buf[..n].to_vec());
    }
    let seq = |p: &[u8]| u16::from_be_bytes([p[2], p[3]]);
    let ssrc = u32::from_be_bytes(got[0][8..12].try_into().unwrap());
    assert_eq!(Some(ssrc), viewer.video_ssrc);
    let nack_for = |s: u16| {
        let mut pkt = [0u8; 64];
        let nack = Nack::builder().add_rtp_sequence(s);
        let n = TransportFeedback::builder(&nack).sender_ssrc(0x7777).media_ssrc(ssrc).write_into(&mut pkt).unwrap();
        rx_rtcp.send_to(&pkt[..n], ("127.0.0.1", viewer.rtcp_port)).unwrap();
    };
    // A packet from the middle: sent again, byte for byte.
    let lost = got[got.len() / 2].clone();
    nack_for(seq(&lost));
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        assert!(Instant::now() < deadline, "no retransmission of seq {}", seq(&lost));
        let n = rx.recv(&mut buf).unwrap();
        if buf[..n] == lost[..] {
            break;
        }
    }
    assert_eq!(c.leg_stats(viewer.leg).unwrap().retransmitted, 1);
    // The output's first frames are key frames, the periodic one 4 s on: a key frame
    // within a second of a NACK for a packet the cache dropped long ago is its answer.
    let gone = seq(&got[0]).wrapping_sub(5000);
    // A key frame within a second of asking.
    let key_frame_after = |why: &str| {
        let asked = Instant::now();
        let mut buf = [0u8; 2048];
        loop {
            assert!(asked.elapsed() < Duration::from_secs(1), "no key frame after {why}");
            let n = rx.recv(&mut buf).unwrap();
            if starts_h264_key_frame(&buf[..n]) {
                return;
            }
        }
    };
    nack_for(gone);
    key_frame_after("an unrepairable NACK");
    // An operator's (or a SIP INFO's) `video.keyframe`: another one, also before the
    // periodic key frame; a leg that takes no composite is refused.
    let _: serde_json::Value = c.call(Op::VideoKeyframe { leg: viewer.leg }).unwrap();
    key_frame_after("video.keyframe");
    assert!(start.elapsed() < Duration::from_millis(3800), "answered before the periodic key frame");
    let e = c.call::<serde_json::Value>(Op::VideoKeyframe { leg: red.leg }).unwrap_err();
    assert!(matches!(&e, ClientError::Daemon(d) if d.code == ErrorCode::BadRequest), "{e:?}");
}

/// A room that composes video but where nobody takes a composite (every WebRTC room
/// signal makes on a daemon with video threads) costs its cores no copies: the
/// pictures reach the video thread only once a leg takes one, and stop when it leaves.
#[test]
fn pictures_reach_the_video_thread_only_while_someone_takes_a_composite() {
    let m = Mediad::start(2, "epoll", &["--video-threads", "1", "--compositor", "cpu"]);
    let mut c = m.client();
    video_room(&mut c, "idle", "2x2");
    let picture = LegVideo { receive: vec![VideoPayload { pt: 96, codec: "VP8".into() }], ..Default::default() };
    let lime = c.leg_create(LegCreate { media: Media::Video, room: Some("idle".into()), video: Some(Box::new(picture)), ..Default::default() }).unwrap();
    let _ffmpeg = sender(COLOURS[1].0, "VP8", lime.rtp_port, 8);
    std::thread::sleep(Duration::from_millis(2000));
    let s = stats(&mut c, "idle");
    assert!(c.leg_stats(lime.leg).unwrap().rx_packets > 20, "lime sends");
    assert_eq!((s.received, s.decoded, s.outputs), (0, 0, 0), "{s:?}");
    // Someone takes a composite: lime's picture flows and is decoded.
    let takes = LegVideo { send: Some(send("VP8", None, true)), ..Default::default() };
    let viewer = c.leg_create(LegCreate { media: Media::Video, room: Some("idle".into()), remote: Some("127.0.0.1:9".parse().unwrap()), video: Some(Box::new(takes)), ..Default::default() }).unwrap();
    let start = Instant::now();
    while stats(&mut c, "idle").decoded < 10 {
        assert!(start.elapsed() < Duration::from_secs(4), "{:?}", stats(&mut c, "idle"));
        std::thread::sleep(Duration::from_millis(100));
    }
    // It leaves: the flow stops again.
    let _: serde_json::Value = c.call(Op::LegDelete { leg: viewer.leg }).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let after = stats(&mut c, "idle").received;
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(stats(&mut c, "idle").received, after, "no pictures without a composite to make");
}

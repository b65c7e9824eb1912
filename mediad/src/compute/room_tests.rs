use super::*;
use control::{VideoPayload, VideoSend};
use gpu::layout::Library;
use std::path::Path;
use std::sync::Arc;

fn room() -> VideoRoom {
    let lib = Library::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../layouts")).unwrap();
    VideoRoom::new("r".into(), VideoMixSettings::default(), Mixer::new(lib, Arc::new(gpu::Compositor::Cpu), None)).unwrap()
}

fn camera() -> LegVideo {
    LegVideo { receive: vec![VideoPayload { pt: 96, codec: "VP8".into() }], ..Default::default() }
}

/// A browser's receiving leg: the composite, without the picture its publisher leg sends.
fn viewer(own: LegId) -> LegVideo {
    let send = VideoSend { pt: 96, codec: "VP8".into(), width: 320, height: 180, bitrate: 300_000, fps: None, class: OutputClass::Webrtc, layout: None, exclude_self: true, max_payload: None };
    LegVideo { send: Some(send), own_picture: Some(own), sfu_video: true, ..Default::default() }
}

#[test]
fn own_picture_on_another_leg_is_left_out_whichever_joins_first() {
    let caps = VideoSettings::default();
    // Publisher first (a browser publishes, then is offered its receiving connection).
    let mut r = room();
    r.join(10, None, &camera(), &caps).unwrap();
    r.join(11, None, &camera(), &caps).unwrap();
    r.join(20, None, &viewer(11), &caps).unwrap();
    assert_eq!(r.mixer.excluded(r.outputs[&20].output), Some(r.inputs[&11].input));
    // The viewer first: its picture is left out as soon as it joins.
    let mut r = room();
    let composing = |r: &VideoRoom| r.composing.load(std::sync::atomic::Ordering::Relaxed);
    assert!(!composing(&r), "nobody takes a composite: the cores send no pictures");
    r.join(20, None, &viewer(11), &caps).unwrap();
    assert!(composing(&r));
    r.join(10, None, &camera(), &caps).unwrap();
    assert_eq!(r.mixer.excluded(r.outputs[&20].output), None);
    r.join(11, None, &camera(), &caps).unwrap();
    assert_eq!(r.mixer.excluded(r.outputs[&20].output), Some(r.inputs[&11].input));
    // It leaves and comes back (a republish): left out again under its new input.
    r.leave(11);
    r.join(11, None, &camera(), &caps).unwrap();
    assert_eq!(r.mixer.excluded(r.outputs[&20].output), Some(r.inputs[&11].input));
    // The viewer gone, nothing is composed.
    r.leave(20);
    assert!(!composing(&r));
    // Without exclude_self its picture stays in.
    let mut r = room();
    let mut v = viewer(11);
    v.send.as_mut().unwrap().exclude_self = false;
    r.join(20, None, &v, &caps).unwrap();
    r.join(11, None, &camera(), &caps).unwrap();
    assert_eq!(r.mixer.excluded(r.outputs[&20].output), None);
}

//! The MCU view in a browser: Chromium publishers whose cameras are solid colours (red
//! in AV1, lime in VP8, blue in H.264) and a viewer (yellow) that asks signal's page
//! for the composite. mediad decodes each publisher once (AV1 from Chromium's
//! encoder included), composes the room's 2x2 without the viewer's own picture, and
//! sends it as VP8 on the viewer's subscriber connection next to its SFU tracks;
//! Chromium decodes it and the page reads its pixels back. Then red shares a screen
//! (magenta): the layout group switches to content+4, the screen in the content tile.

use std::process::Command;
use std::time::Duration;
use system_tests::browsers::{signal_in, web_dir};
use system_tests::{Mediad, Netns};

const SECONDS: u64 = 24;

/// 16x9 points over the composite (centres of 40x40 cells at 640x360) as colour names.
fn grid(shot: &serde_json::Value) -> Vec<Vec<&'static str>> {
    (0..9).map(|y| (0..16).map(|x| colour(&shot["points"][y][x])).collect()).collect()
}

/// The colour a pixel is closest to, if it is close (compression and YUV round trips
/// move solid colours by a few levels).
fn colour(rgb: &serde_json::Value) -> &'static str {
    let px: Vec<i64> = rgb.as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    let named = [("red", [255, 0, 0]), ("lime", [0, 255, 0]), ("blue", [0, 0, 255]), ("yellow", [255, 255, 0]), ("magenta", [255, 0, 255])];
    named.iter().find(|(_, c)| c.iter().zip(&px).all(|(a, b)| (a - b).abs() <= 60)).map_or("other", |(n, _)| n)
}

#[test]
fn a_browser_takes_the_mcu_view_beside_its_sfu_tracks() {
    let ns = Netns::new("mcu-view");
    let m = Mediad::start_in(Some(&ns), 2, "epoll", &["--video-threads", "1", "--compositor", "cpu"]);
    let _signal = signal_in(&ns, &m, &[]);
    // The operator made the conference (signal finds it made, with video, and uses it)
    // with the `auto` group: 2x2 for three pictures, content+4 with a shared screen.
    let settings = control::VideoMixSettings { layout: "auto".into(), ..Default::default() };
    let _: control::RoomInfo =
        m.client().call(control::Op::RoomCreate { room: Some("view".into()), mix: Some(control::MixSettings::default()), core: None, video: Some(settings) }).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    let (out, views) = std::thread::scope(|s| {
        // mediad's view of the room's video every second while the browsers run.
        let views = s.spawn(|| {
            let mut views: Vec<control::VideoRoomStats> = vec![];
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_secs(1));
                views.extend(m.client().call(control::Op::StatsVideo { room: "view".into() }).ok());
            }
            views
        });
        let out = Command::new("timeout")
            .args(["-s", "KILL", "150", "ip", "netns", "exec", &ns.name, "node", "mcu.mjs", "http://127.0.0.1:8080", "view"])
            .arg(SECONDS.to_string())
            .current_dir(web_dir())
            .output()
            .expect("node (apt-get install nodejs)");
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        (out, views.join().unwrap())
    });
    let text = String::from_utf8_lossy(&out.stdout);
    let r: serde_json::Value = serde_json::from_str(text.lines().last().unwrap_or(""))
        .unwrap_or_else(|_| panic!("no result from the browsers:\n{text}\n{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(r["errors"], serde_json::json!([[], [], [], []]), "{r}");
    // mediad's view: four cameras and then the screen in, one composite out, every
    // picture shown decoded.
    let video = views.iter().max_by_key(|v| (v.inputs, v.decoded)).expect("stats.video while the browsers are in the room");
    assert_eq!((video.inputs, video.outputs), (5, 1), "{views:?}");
    // A damaged frame is dropped and a key frame asked for (a loaded machine may drop a
    // datagram); more than one in fifty would be a decoding fault.
    assert!(video.decoded > 100 && video.encoded > 50 && video.decode_errors * 50 <= video.decoded, "{video:?}");
    // The viewer decodes the composite at the size it asked for.
    let mcu = &r["mcu"];
    assert_eq!((mcu["codec"].as_str(), mcu["frameWidth"].as_u64(), mcu["frameHeight"].as_u64()), (Some("video/VP8"), Some(640), Some(360)), "{r}");
    assert!(mcu["framesDecoded"].as_u64().unwrap_or(0) > 100, "{r}");
    // Next to it, the three publishers' own tracks in their own codecs, and red's
    // screen (AV1 too).
    let mut sfu: Vec<&str> = r["sfu"].as_array().unwrap().iter().map(|v| v["codec"].as_str().unwrap_or("?")).collect();
    sfu.sort();
    assert_eq!(sfu, ["video/AV1", "video/AV1", "video/H264", "video/VP8"], "{r}");
    assert!(r["sfu"].as_array().unwrap().iter().all(|v| v["framesDecoded"].as_u64().unwrap_or(0) > 30), "{r}");
    // What the viewer sees: 2x2 in join order (red, lime, blue; the fourth tile empty),
    // never its own yellow. A 16x9 grid of points: quadrant centres are (4, 2), (12, 2),
    // (4, 6), (12, 6).
    let shots: Vec<&serde_json::Value> = r["shots"].as_array().unwrap().iter().filter(|s| !s.is_null()).collect();
    assert_eq!(shots.len(), 5, "{r}");
    for g in shots.iter().map(|s| grid(s)) {
        assert_eq!([g[2][4], g[2][12], g[6][4]], ["red", "lime", "blue"], "{g:?}");
        assert_eq!(g[6][12], "other", "the fourth tile is empty: {g:?}");
        assert!(g.iter().flatten().all(|&c| c != "yellow"), "the viewer's own picture is left out: {g:?}");
    }
    // With red's screen: content+4 (5x4 grid units: the screen 4x4 on the left, 512x360
    // at 640x360, a column of four 128x90 tiles on the right). Point (6, 4) is in the
    // screen; (14, 0), (14, 2), (14, 5), (14, 7) in the column's tiles (above their name
    // boxes): red, lime, blue, and the fourth empty.
    let shared: Vec<&serde_json::Value> = r["shared"].as_array().unwrap().iter().filter(|s| !s.is_null()).collect();
    assert_eq!(shared.len(), 5, "{r}");
    let last = grid(shared[4]);
    assert_eq!([last[4][6], last[0][14], last[2][14], last[5][14], last[7][14]], ["magenta", "red", "lime", "blue", "other"], "{last:?}");
    assert!(shared.iter().all(|s| grid(s).iter().flatten().all(|&c| c != "yellow")), "{r}");
}

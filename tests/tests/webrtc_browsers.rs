//! Headless Chromium (driven by Playwright) in signal's conference page, media through
//! mediad's SFU: three participants each decode the other two with VP8, H.264 and
//! AV1 in turn, with next to no loss; mediad reports every leg connected over SRTP.
//! Chromium's WebRTC needs a loopback-only network namespace (../shared/peers.md), so
//! mediad, signal and the browsers all run inside one made for the test. aiortc joins
//! a room with browsers through the same WebSocket protocol. With 5 % of media packets
//! dropped both ways, NACKs (answered from mediad's cache, or relayed to the
//! publisher) keep the decoded frames within 2 % of a lossless run.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use system_tests::browsers::{signal_in, web_dir};
use system_tests::{Mediad, Netns, Proc};

/// Run `n` browsers in `room` for `seconds` (sampling the last `window` seconds when
/// not 0), all but the first with the microphone off; the script's JSON result.
fn browsers(ns: &Netns, room: &str, codec: &str, n: usize, seconds: u32, window: u32) -> serde_json::Value {
    browsers_with(ns, room, codec, n, seconds, window, "")
}

/// The same, with `query` added to every page's URL (`&relay=1`).
fn browsers_with(ns: &Netns, room: &str, codec: &str, n: usize, seconds: u32, window: u32, query: &str) -> serde_json::Value {
    let muted: Vec<String> = (1..n).map(|i| i.to_string()).collect();
    let out = Command::new("timeout")
        .env("MUTED", muted.join(","))
        .env("QUERY", query)
        .args(["-s", "KILL", "120", "ip", "netns", "exec", &ns.name, "node", "conference.mjs", "http://127.0.0.1:8080", room, codec])
        .args([n.to_string(), seconds.to_string(), window.to_string()])
        .current_dir(web_dir())
        .output()
        .expect("node (apt-get install nodejs)");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or("");
    serde_json::from_str(line).unwrap_or_else(|_| panic!("no result from the browsers:\n{text}\n{}", String::from_utf8_lossy(&out.stderr)))
}

/// Browsers are heavy on two cores: the tests of this file take turns.
static BROWSERS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A test's own namespace with mediad (two cores) and signal in it; the guard keeps the
/// other browser tests waiting.
fn conference_site(tag: &str) -> (std::sync::MutexGuard<'static, ()>, Netns, Mediad, Proc) {
    conference_site_with(tag, &[], &[])
}

fn conference_site_with(tag: &str, mediad_args: &[&str], signal_args: &[&str]) -> (std::sync::MutexGuard<'static, ()>, Netns, Mediad, Proc) {
    let turn = BROWSERS.lock().unwrap_or_else(|e| e.into_inner());
    let ns = Netns::new(tag);
    let m = Mediad::start_in(Some(&ns), 2, "epoll", mediad_args);
    let signal = signal_in(&ns, &m, signal_args);
    (turn, ns, m, signal)
}

#[test]
fn three_browsers_decode_each_other_with_vp8_h264_and_av1() {
    let (_turn, ns, m, _signal) = conference_site("sfu");
    for codec in ["VP8", "H264", "AV1"] {
        let room = format!("room-{codec}");
        // While they run, mediad's view of the room: three publishers and three
        // subscribers, all through ICE and DTLS, no SRTP failure.
        let (r, room_stats) = std::thread::scope(|s| {
            let run = s.spawn(|| browsers(&ns, &room, codec, 3, 10, 0));
            std::thread::sleep(Duration::from_secs(8));
            let st: Result<control::RoomStats, _> = m.client().call(control::Op::StatsRoom { room: room.clone() });
            (run.join().unwrap(), st)
        });
        let room_stats = room_stats.expect("the room exists while its browsers are in it");
        assert_eq!(room_stats.legs.len(), 6, "{room_stats:?}");
        for l in &room_stats.legs {
            let w = l.webrtc.as_ref().expect("WebRTC legs");
            assert_eq!((w.ice.as_str(), w.dtls.as_str(), w.srtp_failures), ("connected", "connected", 0), "{l:?}");
            assert_eq!(w.srtp_profile.as_deref(), Some("SRTP_AEAD_AES_128_GCM"), "{l:?}");
            assert!(w.selected.is_some() && l.rtcp_rx > 0, "{l:?}");
            // The per-call panel: publishers name their codecs and receive video
            // bit rates; subscribers get the other two publishers' media.
            if l.codecs.is_empty() {
                assert!(l.tx_bps > 100_000, "subscriber bit rate: {l:?}");
            } else {
                assert_eq!(l.codecs, ["opus", codec], "{l:?}");
                assert!(l.rx_bps > 100_000, "publisher bit rate: {l:?}");
            }
        }
        let ps = r["participants"].as_array().expect("participants");
        assert_eq!(ps.len(), 3, "{r}");
        // Only the first participant's microphone is on: mediad's audio-level choice
        // names it, and every page shows it as the speaker.
        for p in ps {
            assert_eq!(p["speaking"], ps[0]["id"], "{codec}: active speaker: {r}");
        }
        for p in ps {
            assert_eq!(p["errors"], serde_json::json!([]), "{codec}: {r}");
            let video = p["video"].as_array().unwrap();
            assert_eq!(video.len(), 2, "{codec}: each participant receives the other two: {r}");
            for v in video {
                assert_eq!(v["codec"], format!("video/{codec}"), "{r}");
                // The fake camera runs at ~20 fps: 10 s should decode far more than 60.
                assert!(v["framesDecoded"].as_u64().unwrap() >= 60, "{codec}: frames decoded: {r}");
                let (lost, got) = (v["packetsLost"].as_i64().unwrap(), v["packetsReceived"].as_i64().unwrap());
                assert!(lost * 100 <= got, "{codec}: loss above 1 %: {r}");
            }
        }
    }
    // Closing a browser closes its WebSocket; signal then deletes its legs.
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let legs: Vec<control::LegInfo> = m.client().call(control::Op::LegList).unwrap();
        if legs.is_empty() {
            break;
        }
        assert!(Instant::now() < end, "every leg is deleted when its browser leaves: {legs:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let d = m.client().daemon_stats().unwrap();
    assert_eq!(d.workers.iter().map(|w| w.malformed).sum::<u64>(), 0, "{d:?}");
}

#[test]
fn aiortc_and_browsers_see_each_other() {
    let (_turn, ns, _m, _signal) = conference_site("aio");
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/peers-venv/bin/python3");
    assert!(python.exists(), "aiortc venv missing: run scripts/setup.sh --test");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers/conference_aiortc.py");
    // aiortc stays longer than the browsers take their stats, so its track is live then.
    let mut aiortc = ns.command(&python);
    aiortc.arg(&script).args(["ws://127.0.0.1:8080/ws", "mixed", "16"]).stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = Proc::spawn("aiortc", &mut aiortc);
    std::thread::sleep(Duration::from_secs(1));
    let r = browsers(&ns, "mixed", "VP8", 2, 12, 0);
    let mut child = child;
    assert!(child.wait_timeout(Duration::from_secs(30)).is_some(), "aiortc did not finish");
    let (mut text, mut err) = (String::new(), String::new());
    use std::io::Read;
    child.child.stdout.take().unwrap().read_to_string(&mut text).unwrap();
    child.child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let a: serde_json::Value =
        serde_json::from_str(text.lines().last().unwrap_or("")).unwrap_or_else(|_| panic!("aiortc printed no result:\n{text}\n{err}"));
    assert_eq!(a["errors"], serde_json::json!([]), "{a}");
    let frames = a["frames"].as_object().expect("frames");
    assert_eq!(frames.len(), 2, "aiortc receives both browsers: {a}");
    assert!(frames.values().all(|f| f.as_u64().unwrap() >= 60), "{a}");
    for p in r["participants"].as_array().unwrap() {
        assert_eq!(p["errors"], serde_json::json!([]), "{r}");
        let video = p["video"].as_array().unwrap();
        assert_eq!(video.len(), 2, "the other browser and aiortc: {r}");
        // aiortc's pattern is 320 pixels wide, the fake camera 640.
        assert!(video.iter().any(|v| v["frameWidth"] == 320 && v["framesDecoded"].as_u64().unwrap() >= 60), "aiortc decoded: {r}");
    }
}

/// Frames each participant decoded of the other's video over the sampled window, as a
/// share of what the other's camera encoded in it (two participants).
fn decoded_share(r: &serde_json::Value) -> Vec<f64> {
    let ps = r["participants"].as_array().expect("participants");
    assert_eq!(ps.len(), 2, "{r}");
    (0..2)
        .map(|i| {
            let decoded = ps[i]["window"]["decoded"][0].as_f64().unwrap_or_else(|| panic!("no window: {r}"));
            let sent = ps[1 - i]["window"]["sent"].as_f64().unwrap();
            assert!(sent > 100.0, "the camera encodes ~20-30 fps: {r}");
            decoded / sent
        })
        .collect()
}

#[test]
fn nack_keeps_decoded_frames_within_two_percent_at_five_percent_loss() {
    let (_turn, ns, m, _signal) = conference_site("loss");
    let clean = browsers(&ns, "clean", "VP8", 2, 16, 10);
    // Drop 5 % of RTP/RTCP (first byte 0b10xxxxxx: STUN and DTLS pass) in each
    // direction between the browsers and mediad's WebRTC ports.
    for dir in ["--sport", "--dport"] {
        let rule = ["OUTPUT", "-p", "udp", dir, "53000:55000", "-m", "u32", "--u32", "0>>22&0x3C@8>>24&0xC0=0x80", "-m", "statistic", "--mode", "random", "--probability", "0.05", "-j", "DROP"];
        let ok = ns.command("iptables").arg("-A").args(rule).status().expect("iptables (apt-get install iptables)");
        assert!(ok.success(), "iptables rule in {}", ns.name);
    }
    let (lossy, room_stats) = std::thread::scope(|s| {
        let run = s.spawn(|| browsers(&ns, "lossy", "VP8", 2, 16, 10));
        std::thread::sleep(Duration::from_secs(14));
        let st: Result<control::RoomStats, _> = m.client().call(control::Op::StatsRoom { room: "lossy".into() });
        (run.join().unwrap(), st.expect("room"))
    });
    let dropped = ns.command("iptables").args(["-L", "OUTPUT", "-v", "-x", "-n"]).output().unwrap();
    let dropped = String::from_utf8_lossy(&dropped.stdout).to_string();
    let (c, l) = (decoded_share(&clean), decoded_share(&lossy));
    eprintln!("decoded/encoded over 10 s: lossless {c:?}, 5 % loss {l:?}\n{dropped}");
    for p in lossy["participants"].as_array().unwrap() {
        assert!(p["video"][0]["nackCount"].as_u64().unwrap() > 0, "the receivers saw loss and asked: {lossy}");
    }
    let resent: u64 = room_stats.legs.iter().map(|l| l.retransmitted).sum();
    assert!(resent > 0, "mediad answered NACKs from its cache: {room_stats:?}");
    let (worst_clean, worst_lossy) = (c.iter().cloned().fold(f64::MAX, f64::min), l.iter().cloned().fold(f64::MAX, f64::min));
    assert!(worst_lossy >= worst_clean - 0.02, "decoded share {worst_lossy:.3} with loss vs {worst_clean:.3} without");
}

#[test]
fn browsers_reach_the_sfu_through_mediads_own_turn_relay() {
    let turn = ["--turn-port", "3478", "--turn-realm", "test.local", "--turn-secret", "s3cr3t", "--turn-allow-loopback-peers", "--turn-relay-ports", "40000-41999"];
    let ice = ["--ice-server", "turn:127.0.0.1:3478?transport=udp", "--ice-secret", "s3cr3t"];
    let (_turn, ns, m, _signal) = conference_site_with("relay", &turn, &ice);
    // Both browsers may only use relay candidates: every packet between them and the
    // SFU crosses an allocation, authenticated with the credentials signal handed out.
    let (r, allocations) = std::thread::scope(|s| {
        let run = s.spawn(|| browsers_with(&ns, "relayed", "VP8", 2, 12, 0, "&relay=1"));
        std::thread::sleep(Duration::from_secs(9));
        let a: Vec<control::AllocationInfo> = m.client().call(control::Op::TurnAllocations).unwrap();
        (run.join().unwrap(), a)
    });
    for p in r["participants"].as_array().unwrap() {
        assert_eq!(p["errors"], serde_json::json!([]), "{r}");
        let v = &p["video"][0];
        assert!(v["framesDecoded"].as_u64().unwrap_or(0) >= 60, "decoded through TURN: {r}");
    }
    // A publisher and a subscriber connection per browser, each with its allocation.
    assert!(allocations.len() >= 4, "{allocations:?}");
    assert!(allocations.iter().all(|a| a.user.ends_with(":p0") || a.user.ends_with(":p1")), "{allocations:?}");
    assert!(allocations.iter().filter(|a| a.to_peer_bytes > 100_000 && a.from_peer_bytes > 0).count() >= 2, "media crossed the relay: {allocations:?}");
}

/// One simulcast run (`tests/web/simulcast.mjs`): a publisher with three VP8 encodings,
/// a receiver on an open path and one policed to `limit_kbit` once it plays, for 40 s;
/// the script's result and mediad's view of the room every two seconds.
fn simulcast_run(tag: &str, limit_kbit: u32) -> (serde_json::Value, Vec<control::RoomStats>, String) {
    let (_turn, ns, m, _signal) = conference_site(tag);
    let done = std::sync::atomic::AtomicBool::new(false);
    let (out, views) = std::thread::scope(|s| {
        let views = s.spawn(|| {
            let mut views: Vec<control::RoomStats> = vec![];
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_secs(2));
                if let Ok(st) = m.client().call(control::Op::StatsRoom { room: "sim".into() }) {
                    views.push(st);
                }
            }
            views
        });
        let out = Command::new("timeout")
            .args(["-s", "KILL", "120", "ip", "netns", "exec", &ns.name, "node", "simulcast.mjs", "http://127.0.0.1:8080", "sim", "40"])
            .arg(limit_kbit.to_string())
            .current_dir(web_dir())
            .output()
            .expect("node (apt-get install nodejs)");
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        (out, views.join().unwrap())
    });
    let view = |st: &control::RoomStats| -> String {
        let subs: Vec<String> = st.legs.iter().filter(|l| !l.simulcast.is_empty()).map(|l| format!("{:?} est={:?} {:?}", l.label, l.estimate_bps, l.simulcast)).collect();
        subs.join(" | ")
    };
    let history: Vec<String> = views.iter().map(view).collect();
    let text = String::from_utf8_lossy(&out.stdout);
    let r: serde_json::Value = serde_json::from_str(text.lines().last().unwrap_or(""))
        .unwrap_or_else(|_| panic!("no result from the browsers:\n{text}\n{}", String::from_utf8_lossy(&out.stderr)));
    (r, views, history.join("\n"))
}

/// The last stats that show both subscribers, and one subscriber leg of them by label.
fn simulcast_leg<'a>(views: &'a [control::RoomStats], name: &str, history: &str) -> &'a control::LegStats {
    let last = views.iter().rev().find(|st| st.legs.iter().filter(|l| !l.simulcast.is_empty()).count() == 2).expect("stats with both subscribers");
    last.legs.iter().find(|l| l.label.as_deref() == Some(name)).unwrap_or_else(|| panic!("{name}: {history}"))
}

/// Simulcast: a publisher sends three VP8 encodings (160, 320 and 640 pixels wide);
/// one receiver has an open path, the other's video is policed to 150 kbit/s once it
/// plays (the 320-pixel layer runs at 190-390 kbit/s: a 200 kbit/s policer lost only
/// 2-10 % of a slow publisher's 210 kbit/s layer, where GCC's loss controller rightly
/// holds, so the link under test is one the middle layer clearly does not fit).
/// mediad's per-receiver estimate (loss in its reports) moves the narrow one down to
/// the layer that fits, while the wide one keeps the full one.
#[test]
fn simulcast_receiver_behind_a_narrow_link_gets_the_low_layer() {
    let (r, views, history) = simulcast_run("simulcast", 150);
    eprintln!("mediad's view, every 2 s:\n{history}");
    assert_eq!(r["errors"], serde_json::json!([[], [], []]), "{r}");
    assert!(r["policed"].is_object(), "the narrow receiver never decoded: {r}");
    // mediad's view near the end: the narrow subscriber's estimate is about what the
    // policer lets through, and it gets layer 0.
    let sub = |name: &str| simulcast_leg(&views, name, &history);
    let narrow_leg = sub("narrow/sub");
    assert_eq!((narrow_leg.simulcast[0].layer, narrow_leg.simulcast[0].layers), (Some(0), 3), "{history}");
    assert!(narrow_leg.estimate_bps.unwrap() < 300_000, "{history}");
    // It got there by adapting: it went up once rates were known, then came down.
    assert!(narrow_leg.simulcast[0].switches >= 2, "{history}");
    // The open path is the control: it gets the full layer and keeps it (REMB that
    // nobody negotiated no longer pulls it down; see docs/webrtc.md).
    assert_eq!(sub("wide/sub").simulcast[0].layer, Some(2), "{history}");
    // The publisher really sends three encodings.
    let sent = r["sent"].as_array().unwrap();
    assert_eq!(sent.len(), 3, "{r}");
    let widths = |who: &str| -> Vec<u64> { r["samples"][who].as_array().unwrap().iter().map(|w| w.as_u64().unwrap()).collect() };
    let share = |v: &[u64], f: &dyn Fn(u64) -> bool| v.iter().filter(|&&w| f(w)).count() * 100 / v.len().max(1);
    assert!(share(&widths("narrow"), &|w| w == 160) >= 70, "the policed path gets the low layer: {r}");
    assert!(share(&widths("wide"), &|w| w == 640) >= 70, "the open path gets the full layer: {r}");
    // Both keep decoding: the narrow one is not starved by loss.
    assert!(r["last"]["narrow"]["framesDecoded"].as_u64().unwrap() > 200, "{r}");
}

/// Below the leanest layer: the narrow receiver is policed to 60 kbit/s, under the
/// 160-pixel layer's rate. mediad keeps that layer but leaves out its upper VP8
/// temporal layers (renumbering so nothing looks lost): the receiver decodes on at a
/// lower frame rate instead of stalling in loss.
#[test]
fn simulcast_receiver_below_the_low_layer_keeps_decoding_at_a_lower_frame_rate() {
    let (r, views, history) = simulcast_run("temporal", 60);
    assert_eq!(r["errors"], serde_json::json!([[], [], []]), "{r}");
    assert!(r["policed"].is_object(), "the narrow receiver never decoded: {r}");
    let narrow = simulcast_leg(&views, "narrow/sub", &history);
    assert_eq!(narrow.simulcast[0].layer, Some(0), "{history}");
    // Over the second half, upper temporal layers are left out most of the time (the
    // estimate grows again after each hold, so a view may catch it trying them).
    let late = &views[views.len() / 2..];
    let thinned = late
        .iter()
        .filter(|st| st.legs.iter().any(|l| l.label.as_deref() == Some("narrow/sub") && l.simulcast.first().is_some_and(|t| t.max_temporal.is_some_and(|m| m < 2))))
        .count();
    assert!(thinned * 2 >= late.len(), "upper temporal layers left out: {history}");
    let fps = |who: &str| -> Vec<f64> { r["fps"][who].as_array().unwrap().iter().map(|f| f.as_f64().unwrap_or(0.0)).collect() };
    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let (wide, narrow_fps) = (median(fps("wide")), median(fps("narrow")));
    assert!(narrow_fps > 2.0, "the narrow receiver keeps decoding: {narrow_fps} fps: {r}");
    assert!(narrow_fps < 0.75 * wide, "at a lower frame rate ({narrow_fps} against {wide}): {r}");
}

/// Hybrid room: two phones (plain RTP, PCMU 440 Hz and G.722 880 Hz, recorded by
/// ffmpeg) and a Chromium page that takes the room's mix (`?audio=mix`), its microphone
/// a 1300 Hz WAV. The browser hears both phones and not itself; each phone hears the
/// browser and the other phone, not itself.
/// Chromium in `ns` joins `room` taking the mix, its microphone playing `wav`, and
/// records `seconds` of what it hears (tests/web/mix.mjs); the script's JSON result.
fn mix_page(ns: &Netns, room: &str, wav: &std::path::Path, seconds: u32) -> serde_json::Value {
    let out = Command::new("timeout")
        .args(["-s", "KILL", "60", "ip", "netns", "exec", &ns.name, "node", "mix.mjs", "http://127.0.0.1:8080", room])
        .arg(wav)
        .arg(seconds.to_string())
        .current_dir(web_dir())
        .output()
        .expect("node (apt-get install nodejs)");
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap_or(""))
        .unwrap_or_else(|_| panic!("no result from the browser:\n{text}\n{}", String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn browser_taking_the_mix_and_phones_hear_each_other() {
    use system_tests::audio::*;
    const SECONDS: u32 = 9;
    let (_turn, ns, m, _signal) = conference_site("mixweb");
    let dir = system_tests::TempDir::new("mixweb");
    let wav = dir.path("mic.wav");
    let made = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=1300:sample_rate=48000:duration=4"])
        .args(["-af", "volume=0.5", "-ac", "1", "-c:a", "pcm_s16le"])
        .arg(&wav)
        .status()
        .unwrap();
    assert!(made.success(), "ffmpeg made no WAV");
    let mut c = m.client();
    // The room exists before the browser: signal's own room.create finds it (mixing).
    let _: control::RoomInfo =
        c.call(control::Op::RoomCreate { room: Some("hybrid".into()), mix: Some(control::MixSettings::default()), core: Some(0), video: None }).unwrap();
    let phones = [(PCMU, 440u32), (G722, 880)];
    let mut recorders = Vec::new();
    let mut senders = Vec::new();
    for (i, &(codec, hz)) in phones.iter().enumerate() {
        let port = 41_000 + i as u16 * 2;
        recorders.push(Recorder::start_in(Some(&ns), &dir, &format!("phone{i}"), codec, port));
        let leg = c
            .leg_create(control::LegCreate {
                core: Some(1 - i),
                remote: Some(format!("127.0.0.1:{port}").parse().unwrap()),
                room: Some("hybrid".into()),
                clock_rate: Some(8_000),
                audio: Some(control::LegAudio {
                    receive: vec![control::AudioPayload { pt: codec.pt, codec: codec.name.into() }],
                    send: Some(control::AudioSend { pt: codec.pt, codec: codec.name.into(), ptime: 20 }),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .unwrap();
        senders.push(send_lavfi_in(Some(&ns), &dir, &format!("phone{i}"), codec, &sine(codec, hz, SECONDS + 6), leg.rtp_port));
    }
    let r = mix_page(&ns, "hybrid", &wav, SECONDS);
    drop(senders);
    let heard: Vec<(Vec<i16>, String)> = recorders.into_iter().map(|r| r.finish()).collect();

    assert_eq!(r["errors"], serde_json::json!([]), "{}", r["console"]);
    assert!(r["stats"]["packetsReceived"].as_u64().unwrap_or(0) > 200, "the mix reached the browser: {}", r["stats"]);
    let rate = r["heard"]["rate"].as_u64().expect("the page recorded the mix") as u32;
    let pcm: Vec<i16> = r["heard"]["samples"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap() as i16).collect();
    let share = |pcm: &[i16], rate, hz| tone_share(pcm, rate, hz as f32);
    let browser = [440, 880, 1300].map(|hz| share(&pcm, rate, hz));
    eprintln!("browser heard {browser:?}, {} samples at {rate}", pcm.len());
    assert!(browser[0] > 0.1 && browser[1] > 0.1, "the browser hears both phones: {browser:?} at {} dBFS", rms_dbfs(&pcm));
    assert!(browser[2] < 0.02, "and not itself: {browser:?}");
    for (i, (pcm, log)) in heard.iter().enumerate() {
        let own = phones[i].1;
        let other = phones[1 - i].1;
        // The browser joins a few seconds into the recording: its share is diluted.
        let s = [own, other, 1300].map(|hz| share(pcm, RECORD_RATE, hz));
        eprintln!("phone {i} heard {s:?}");
        assert!(s[1] > 0.08 && s[2] > 0.05, "phone {i} hears the other phone and the browser: {s:?}\n{log}");
        assert!(s[0] < 0.02, "phone {i} does not hear itself: {s:?}");
    }
}

/// baresip, headless with a 660 Hz tone from a WAV, dials into a conference where
/// Chromium (1300 Hz microphone) takes the mix: each hears the other.
#[test]
fn baresip_dials_in_and_it_and_the_browser_hear_each_other() {
    use system_tests::audio::*;
    const SECONDS: u32 = 9;
    let (_turn, ns, _m, _signal) = conference_site_with("baresip", &[], &["--sip", "127.0.0.1:5060"]);
    let dir = system_tests::TempDir::new("baresip");
    let (mic, phone_tone) = (dir.path("mic.wav"), dir.path("phone.wav"));
    system_tests::sip::tone_wav(&mic, 1300, 48_000, 40, 0.5);
    system_tests::sip::tone_wav(&phone_tone, 660, 8_000, 40, 0.5);
    // baresip 1.0 as Debian ships it: aufile plays the WAV, sndfile writes what it
    // decodes (dump-*-dec.wav), no registration (regint=0), PCMU only.
    let conf = system_tests::sip::baresip_conf(&dir, "127.0.0.1:5070", &phone_tone, "", "<sip:phone@127.0.0.1>;regint=0;audio_codecs=PCMU");
    let log = std::fs::File::create(dir.path("baresip.log")).unwrap();
    let mut phone = Proc::spawn(
        "baresip",
        ns.command("baresip").arg("-f").arg(&conf).args(["-e", "/dial sip:00hybrid@127.0.0.1:5060", "-t", &(SECONDS + 12).to_string()]).stdin(Stdio::null()).stdout(log).stderr(Stdio::null()),
    );
    let r = mix_page(&ns, "hybrid", &mic, SECONDS);
    // baresip hangs up and quits at its -t; only then is its recording complete (a
    // signal leaves it cut short).
    if phone.wait_timeout(Duration::from_secs(30)).is_none() {
        phone.signal(libc::SIGTERM);
    }
    let baresip_log = std::fs::read_to_string(dir.path("baresip.log")).unwrap_or_default();
    assert!(baresip_log.contains("Call established"), "baresip's call: {baresip_log}");
    assert_eq!(r["errors"], serde_json::json!([]), "{}", r["console"]);
    let rate = r["heard"]["rate"].as_u64().expect("the page recorded the mix") as u32;
    let pcm: Vec<i16> = r["heard"]["samples"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap() as i16).collect();
    let browser = [660, 1300].map(|hz| tone_share(&pcm, rate, hz as f32));
    eprintln!("browser heard {browser:?}");
    assert!(browser[0] > 0.3, "the browser hears baresip's tone: {browser:?} at {} dBFS", rms_dbfs(&pcm));
    assert!(browser[1] < 0.02, "and not itself: {browser:?}");
    let dump = std::fs::read_dir(&dir.0).unwrap().filter_map(|e| e.ok()).map(|e| e.path()).find(|p| p.to_string_lossy().ends_with("-dec.wav"));
    let dump = dump.unwrap_or_else(|| panic!("baresip's sndfile wrote no recording: {baresip_log}"));
    let heard = wav_pcm(&dump, RECORD_RATE);
    let phone_heard = [660, 1300].map(|hz| tone_share(&heard, RECORD_RATE, hz as f32));
    eprintln!("baresip heard {phone_heard:?} over {} samples", heard.len());
    assert!(phone_heard[1] > 0.1, "baresip hears the browser: {phone_heard:?}");
    assert!(phone_heard[0] < 0.02, "and not itself: {phone_heard:?}");
}

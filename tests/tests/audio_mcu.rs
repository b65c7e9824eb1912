//! The audio MCU against real peers: ffmpeg tone senders in four codecs and ffmpeg
//! recorders (tone analysis of what each one heard), sipp playing RFC 2833 pcaps,
//! in-band DTMF in G.711 from ffmpeg, prompts, and a flood of hostile packets.

use control::*;
use system_tests::audio::*;
use system_tests::{free_udp_port, Mediad, TempDir};
use std::net::UdpSocket;
use std::time::{Duration, Instant};

fn audio(codec: AudioCodec, send: bool) -> LegAudio {
    LegAudio {
        receive: vec![AudioPayload { pt: codec.pt, codec: codec.name.into() }],
        send: send.then(|| AudioSend { pt: codec.pt, codec: codec.name.into(), ptime: 20 }),
        telephone_event: Some(101),
        inband_dtmf: true,
        ..Default::default()
    }
}

fn mix_room(c: &mut Client, name: &str, home: usize) {
    let _: RoomInfo = c.call(Op::RoomCreate { room: Some(name.into()), mix: Some(MixSettings::default()), core: Some(home), video: None }).unwrap();
}

/// Events of one kind seen within `limit`, stopping early once `done` says so.
fn collect_events(c: &mut Client, limit: Duration, mut done: impl FnMut(&[Event]) -> bool) -> Vec<Event> {
    let end = Instant::now() + limit;
    let mut seen = Vec::new();
    while Instant::now() < end && !done(&seen) {
        if let Some(e) = c.next_event(Duration::from_millis(200)).unwrap() {
            seen.push(e);
        }
    }
    seen
}

#[test]
fn four_codecs_each_hear_the_other_three_and_not_themselves() {
    const SECONDS: u32 = 6;
    let m = Mediad::start(2, "epoll", &[]);
    let mut c = m.client();
    let mut ev = m.client();
    let _: serde_json::Value = ev.call(Op::EventsSubscribe { events: vec!["room.".into()] }).unwrap();
    let dir = TempDir::new("audio-mix");
    mix_room(&mut c, "conf", 0);
    let phones = [(OPUS, 440u32), (PCMU, 660), (PCMA, 880), (G722, 1100)];
    let mut recorders = Vec::new();
    let mut legs = Vec::new();
    // Legs alternate cores: half the audio crosses to the room's home core and back.
    for (i, &(codec, _)) in phones.iter().enumerate() {
        let port = free_udp_port();
        recorders.push(Recorder::start(&dir, &format!("p{i}"), codec, port));
        let leg = c
            .leg_create(LegCreate {
                core: Some(i % 2),
                remote: Some(format!("127.0.0.1:{port}").parse().unwrap()),
                room: Some("conf".into()),
                clock_rate: Some(if codec.name == "opus" { 48_000 } else { 8_000 }),
                audio: Some(audio(codec, true)),
                ..Default::default()
            })
            .unwrap();
        assert!(leg.mix_ssrc.is_some());
        legs.push(leg);
    }
    // A fifth phone sends silence: it must never be mixed, and hears all four tones.
    let silent_port = free_udp_port();
    let silent_rec = Recorder::start(&dir, "silent", PCMU, silent_port);
    let silent = c
        .leg_create(LegCreate {
            core: Some(1),
            remote: Some(format!("127.0.0.1:{silent_port}").parse().unwrap()),
            room: Some("conf".into()),
            clock_rate: Some(8000),
            audio: Some(audio(PCMU, true)),
            ..Default::default()
        })
        .unwrap();
    // A sixth leg only receives a flood: garbage, duplicates, reordered and jumping
    // sequence numbers. The mix must not notice.
    let flooded = c
        .leg_create(LegCreate { core: Some(0), room: Some("conf".into()), clock_rate: Some(8000), audio: Some(audio(PCMU, false)), ..Default::default() })
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let mut senders: Vec<_> =
        phones.iter().zip(&legs).enumerate().map(|(i, (&(codec, hz), leg))| send_lavfi(&dir, &format!("p{i}"), codec, &sine(codec, hz, SECONDS), leg.rtp_port)).collect();
    senders.push(send_lavfi(&dir, "silent", PCMU, &format!("anullsrc=r=8000:cl=mono,atrim=duration={SECONDS},asetnsamples=160"), silent.rtp_port));
    let flood_stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood = {
        let stop = flood_stop.clone();
        let port = flooded.rtp_port;
        std::thread::spawn(move || flood_packets(port, &stop))
    };
    for s in &mut senders {
        assert!(s.wait_timeout(Duration::from_secs(SECONDS as u64 + 20)).is_some_and(|st| st.success()), "an ffmpeg sender failed");
    }
    flood_stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let flooded_packets = flood.join().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let silent_stats = c.leg_stats(silent.leg).unwrap();
    let flooded_stats = c.leg_stats(flooded.leg).unwrap();
    let daemon = c.daemon_stats().unwrap();
    let speaker_events: Vec<Event> = collect_events(&mut ev, Duration::from_millis(300), |_| false);
    let mut failures = Vec::new();
    for (i, rec) in recorders.into_iter().enumerate() {
        let (pcm, log) = rec.finish();
        // Judge the middle of the call: every sender has started and none has ended.
        let window = &pcm[pcm.len().min(RECORD_RATE as usize * 2)..pcm.len().saturating_sub(RECORD_RATE as usize)];
        assert!(window.len() >= RECORD_RATE as usize * 2, "phone {i} recorded {} samples\n{log}", pcm.len());
        for (j, &(_, hz)) in phones.iter().enumerate() {
            let share = tone_share(window, RECORD_RATE, hz as f32);
            if i == j && share > 0.02 {
                failures.push(format!("phone {i} ({}) hears its own {hz} Hz: share {share:.3}", phones[i].0.name));
            }
            if i != j && share < 0.08 {
                failures.push(format!("phone {i} ({}) misses {hz} Hz: share {share:.3}", phones[i].0.name));
            }
        }
    }
    let (pcm, log) = silent_rec.finish();
    let window = &pcm[pcm.len().min(RECORD_RATE as usize * 2)..pcm.len().saturating_sub(RECORD_RATE as usize)];
    for &(_, hz) in &phones {
        let share = tone_share(window, RECORD_RATE, hz as f32);
        if share < 0.08 {
            failures.push(format!("the silent phone misses {hz} Hz: {share:.3}\n{log}"));
        }
    }
    assert!(failures.is_empty(), "{}\nspeakers: {speaker_events:?}\n{daemon:?}", failures.join("\n"));
    let audio = silent_stats.audio.expect("audio stats");
    assert!(!audio.speaking && audio.level_dbov < -90.0, "silent leg: {audio:?}");
    for e in &speaker_events {
        if let Event::Speakers { speakers, .. } = e {
            assert!(speakers.iter().all(|s| s.leg != silent.leg && s.leg != flooded.leg), "{e:?}");
        }
    }
    assert!(flooded_packets > 1000);
    assert!(flooded_stats.malformed > 0, "garbage counted: {flooded_stats:?}");
    let fa = flooded_stats.audio.expect("flooded audio stats");
    assert!(fa.duplicate + fa.late > 0, "{fa:?}");
    assert!(daemon.workers[0].mix_ticks > 200, "the home core ran the mix: {daemon:?}");
}

/// Garbage, and PCMU silence packets duplicated, reordered and with jumps, until told.
fn flood_packets(port: u16, stop: &std::sync::atomic::AtomicBool) -> u64 {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut sent = 0u64;
    let mut rng = 0x1234_5678_9abc_def0u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut seq: u16 = 100;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        for _ in 0..20 {
            let r = next();
            let packet: Vec<u8> = match r % 4 {
                0 => (0..(r >> 8) % 200).map(|_| next() as u8).collect(),
                _ => {
                    let s = match r % 4 {
                        1 => seq.wrapping_sub((r >> 16) as u16 % 30),
                        2 => seq.wrapping_add(3000),
                        _ => seq,
                    };
                    seq = seq.wrapping_add(1);
                    let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9];
                    p[2..4].copy_from_slice(&s.to_be_bytes());
                    p[4..8].copy_from_slice(&(s as u32 * 160).to_be_bytes());
                    p.extend(std::iter::repeat_n(0xffu8, 160));
                    p
                }
            };
            let _ = s.send_to(&packet, ("127.0.0.1", port));
            sent += 1;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    sent
}

#[test]
fn rfc2833_digits_from_sipp_arrive_in_order() {
    let m = Mediad::start(1, "epoll", &[]);
    let mut c = m.client();
    let mut ev = m.client();
    let _: serde_json::Value = ev.call(Op::EventsSubscribe { events: vec!["leg.dtmf".into()] }).unwrap();
    let dir = TempDir::new("audio-dtmf");
    // A leg in no room: PIN entry happens before a caller joins its conference.
    let leg = c.leg_create(LegCreate { clock_rate: Some(8000), audio: Some(audio(PCMU, true)), ..Default::default() }).unwrap();
    let (mut uas, mut uac) = sipp_dtmf(&dir, leg.rtp_port, "1590#");
    let events = collect_events(&mut ev, Duration::from_secs(20), |e| e.len() >= 5);
    let uac_status = uac.wait_timeout(Duration::from_secs(20));
    uas.signal(libc::SIGKILL);
    uas.wait_timeout(Duration::from_secs(5));
    let digits: String = events
        .iter()
        .filter_map(|e| match e {
            Event::Dtmf { leg: l, digit, source: DtmfSource::Rfc4733, duration_ms, .. } if *l == leg.leg && *duration_ms > 0 => Some(digit.clone()),
            _ => None,
        })
        .collect();
    let log = std::fs::read_to_string(dir.path("sipp-uac.log")).unwrap_or_default();
    assert_eq!(digits, "1590#", "events: {events:?}\nsipp: {uac_status:?} {log}");
}

#[test]
fn inband_dtmf_in_g711_from_ffmpeg_is_detected() {
    let m = Mediad::start(1, "epoll", &[]);
    let mut c = m.client();
    let mut ev = m.client();
    let _: serde_json::Value = ev.call(Op::EventsSubscribe { events: vec!["leg.dtmf".into()] }).unwrap();
    let dir = TempDir::new("audio-inband");
    let leg = c.leg_create(LegCreate { clock_rate: Some(8000), audio: Some(audio(PCMA, false)), ..Default::default() }).unwrap();
    // Key presses of 120 ms with 120 ms gaps, made by ffmpeg's expression source.
    let keys = [('4', 770.0, 1209.0), ('2', 697.0, 1336.0), ('*', 941.0, 1209.0), ('8', 852.0, 1336.0)];
    let expr: Vec<String> = keys
        .iter()
        .enumerate()
        .map(|(k, (_, r, col))| {
            let t0 = 0.5 + k as f32 * 0.24;
            format!("between(t,{t0},{})*0.35*(sin(2*PI*{r}*t)+sin(2*PI*{col}*t))", t0 + 0.12)
        })
        .collect();
    let source = format!("aevalsrc='{}':s=8000:d=2:n=160", expr.join("+"));
    let mut tx = send_lavfi(&dir, "inband", PCMA, &source, leg.rtp_port);
    let events = collect_events(&mut ev, Duration::from_secs(10), |e| e.len() >= 4);
    tx.wait_timeout(Duration::from_secs(10));
    let digits: String = events
        .iter()
        .filter_map(|e| match e {
            Event::Dtmf { digit, source: DtmfSource::Inband, .. } => Some(digit.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(digits, "42*8", "{events:?}");
}

#[test]
fn prompt_plays_to_a_leg_and_reports_done() {
    let m = Mediad::start(1, "epoll", &[]);
    let mut c = m.client();
    let mut ev = m.client();
    let _: serde_json::Value = ev.call(Op::EventsSubscribe { events: vec!["prompt.".into()] }).unwrap();
    let dir = TempDir::new("audio-prompt");
    let wav = dir.path("prompt.wav");
    let st = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=500:sample_rate=16000:duration=1.5", "-c:a", "pcm_s16le", "-y"])
        .arg(&wav)
        .status()
        .unwrap();
    assert!(st.success());
    let port = free_udp_port();
    let rec = Recorder::start(&dir, "prompted", PCMU, port);
    let leg = c
        .leg_create(LegCreate { remote: Some(format!("127.0.0.1:{port}").parse().unwrap()), clock_rate: Some(8000), audio: Some(audio(PCMU, true)), ..Default::default() })
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let bad = c.call_value(Op::PromptPlay(PromptPlay { leg: Some(leg.leg), room: None, file: "/nonexistent.wav".into(), looping: false }));
    assert!(matches!(bad, Err(ClientError::Daemon(ref e)) if e.code == ErrorCode::BadRequest), "{bad:?}");
    let started = Instant::now();
    let r = c.call_value(Op::PromptPlay(PromptPlay { leg: Some(leg.leg), room: None, file: wav.display().to_string(), looping: false })).unwrap();
    let id = r["id"].as_u64().unwrap();
    let events = collect_events(&mut ev, Duration::from_secs(5), |e| !e.is_empty());
    let took = started.elapsed();
    assert_eq!(events, vec![Event::PromptDone { id }]);
    assert!(took >= Duration::from_millis(1300) && took < Duration::from_millis(2500), "done after {took:?}");
    let (pcm, log) = rec.finish();
    assert!(pcm.len() > RECORD_RATE as usize, "{log}");
    let share = tone_share(&pcm, RECORD_RATE, 500.0);
    assert!(share > 0.5, "prompt tone share {share:.3}, level {} dBFS\n{log}", rms_dbfs(&pcm));
}

#[test]
fn rfc4733_digits_sent_to_a_leg_are_read_by_tshark() {
    let m = Mediad::start(1, "epoll", &[]);
    let mut c = m.client();
    let port = free_udp_port();
    let dir = TempDir::new("audio-dtmf-out");
    let pcap = dir.path("out.pcap");
    let mut cap = system_tests::Proc::spawn(
        "tshark",
        std::process::Command::new("tshark")
            .args(["-q", "-i", "lo", "-f", &format!("udp dst port {port}"), "-a", "duration:6", "-w"])
            .arg(&pcap)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    let _sink = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    let leg = c
        .leg_create(LegCreate { remote: Some(format!("127.0.0.1:{port}").parse().unwrap()), clock_rate: Some(8000), audio: Some(audio(PCMU, true)), ..Default::default() })
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let bad = c.call_value(Op::LegDtmf(DtmfSend { leg: leg.leg, digits: "12x".into(), duration_ms: 100 }));
    assert!(matches!(bad, Err(ClientError::Daemon(ref e)) if e.code == ErrorCode::BadRequest), "{bad:?}");
    c.call_value(Op::LegDtmf(DtmfSend { leg: leg.leg, digits: "73#".into(), duration_ms: 100 })).unwrap();
    cap.wait_timeout(Duration::from_secs(15));
    let out = std::process::Command::new("tshark")
        .args(["-r"])
        .arg(&pcap)
        .args(["-d", &format!("udp.port=={port},rtp"), "-T", "fields", "-e", "rtpevent.event_id", "-e", "rtpevent.end_of_event"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // One digit per run of packets with the same event id; ends are marked.
    let mut digits = String::new();
    let mut ends = 0;
    let mut last = None;
    for line in text.lines() {
        let mut f = line.split('\t');
        let (Some(id), Some(end)) = (f.next(), f.next()) else { continue };
        let Ok(id) = id.parse::<u8>() else { continue };
        if last != Some(id) {
            digits.push(b"0123456789*#ABCD"[id as usize] as char);
            last = Some(id);
        }
        ends += usize::from(end == "1" || end == "True");
    }
    assert_eq!(digits, "73#", "tshark read:\n{text}");
    assert_eq!(ends, 9, "three end packets per digit:\n{text}");
}

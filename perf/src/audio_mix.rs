//! `perf audio-mix`: rooms of N participants all sending Opus every 20 ms (with RFC
//! 6464 levels, as browsers do), mixed with N loudest = 4 and sent back to each one.
//! For each room size the participant count doubles until the system misses its
//! deadline; the headline is the most participants one core mixes with zero late
//! ticks (mediad's own counter) and ≥ 99 % of the expected mix packets delivered (the
//! criterion Janus AudioBridge, the peer, is judged by too). Also: what 500 idle rooms
//! cost.

use crate::report::Row;
use crate::sut::{self, Sut};
use crate::sys;
use control::*;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

pub struct Opts {
    pub duration: Duration,
    pub room_sizes: Vec<usize>,
    pub max_participants: usize,
    pub systems: Vec<String>,
    pub gen_cpu: usize,
    pub sut_cpu: usize,
    pub mediad: std::path::PathBuf,
}

/// Opus payload of 20 ms of a 300 Hz tone (encoded once by libopus).
pub fn opus_frame() -> Vec<u8> {
    let mut enc = mediad::audio::codec::Encoder::new(mediad::audio::codec::Codec::Opus);
    let pcm: Vec<i16> = (0..960).map(|i| ((i as f32 * 300.0 * std::f32::consts::TAU / 48_000.0).sin() * 8000.0) as i16).collect();
    let mut out = vec![0u8; 400];
    // The first frames of an encoder carry its start-up; take a settled one.
    let mut n = 0;
    for _ in 0..5 {
        n = enc.encode(&pcm, &mut out);
    }
    out.truncate(n);
    out
}

/// Participant `i`'s packet: RFC 6464 level in extension id 1 (levels spread over
/// −20..−59 dBov, so some are below the speaking threshold as in a real room).
fn packet(i: usize, seq: u16, payload: &[u8]) -> Vec<u8> {
    let ts = seq as u32 * 960;
    let ssrc = 0x5000_0000 + i as u32;
    let mut p = vec![0x90, 111];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0xBE, 0xDE, 0, 1, 0x10, 20 + (i % 40) as u8, 0, 0]);
    p.extend_from_slice(payload);
    p
}

/// Every participant sends a packet each 20 ms for `duration`; returns the packets
/// received back on `rx` (the mixes) and the 20 ms rounds sent.
pub fn drive(tx: &UdpSocket, rx: &UdpSocket, dests: &[SocketAddr], duration: Duration, payload: &[u8], first_seq: u16) -> (u64, u64) {
    let addrs: Vec<_> = dests.iter().map(|d| sys::sockaddr(*d)).collect();
    let mut received = 0u64;
    let mut packets: Vec<Vec<u8>> = (0..dests.len()).map(|i| packet(i, 0, payload)).collect();
    let stamp = |packets: &mut [Vec<u8>], tick: u64| {
        let seq = first_seq.wrapping_add(tick as u16);
        for p in packets.iter_mut() {
            p[2..4].copy_from_slice(&seq.to_be_bytes());
            p[4..8].copy_from_slice(&(seq as u32 * 960).to_be_bytes());
        }
    };
    let tick = sys::paced_rounds(tx, rx, &mut packets, &addrs, duration, Duration::from_millis(200), stamp, |_, n| received += n as u64);
    (received, tick)
}

struct MediadMix {
    sut: Sut,
    client: Client,
    dests: Vec<SocketAddr>,
}

fn mediad_mix(o: &Opts, rx: SocketAddr, participants: usize, room_size: usize, send: bool) -> MediadMix {
    let dir = sut::scratch("mediad-mix");
    let sock = dir.join("c.sock");
    let child = sut::mediad_mcu(&o.mediad, &sock, 1, Some(o.sut_cpu));
    let (mut c, _) = Client::connect(&sock, "perf").unwrap();
    let opus = || AudioPayload { pt: 111, codec: "opus".into() };
    let mut dests = Vec::new();
    for i in 0..participants {
        let room = format!("r{}", i / room_size);
        if i % room_size == 0 {
            let _: RoomInfo = c.call(Op::RoomCreate { room: Some(room.clone()), mix: Some(MixSettings { speakers: 4 }), core: None, video: None }).unwrap();
        }
        let leg = c
            .leg_create(LegCreate {
                rtcp_mux: true,
                remote: Some(rx),
                room: Some(room),
                audio: Some(LegAudio {
                    receive: vec![opus()],
                    send: send.then(|| AudioSend { pt: 111, codec: "opus".into(), ptime: 20 }),
                    level_ext: Some(1),
                    inband_dtmf: false,
                    ..Default::default()
                }),
                ..Default::default()
            })
            .unwrap();
        dests.push(SocketAddr::new(leg.local_ip, leg.rtp_port));
    }
    MediadMix { sut: Sut::Process { child, dir }, client: c, dests }
}

/// (participants, delivered mix packets/s, CPU cores, late ticks, passed)
type Step = (usize, f64, f64, u64, bool);

fn measure_mediad(o: &Opts, room_size: usize, participants: usize, tx: &UdpSocket, rx: &UdpSocket, payload: &[u8]) -> Step {
    let mut m = mediad_mix(o, rx.local_addr().unwrap(), participants, room_size, true);
    // Warm up: jitter buffers fill, speakers are chosen, encoders exist.
    // Sequence numbers go on across the two phases, as a real sender's would.
    let (_, warm) = drive(tx, rx, &m.dests, Duration::from_millis(600), payload, 0);
    let before = m.client.daemon_stats().unwrap().workers[0].clone();
    let cpu0 = m.sut.cpu_seconds();
    let (got, rounds) = drive(tx, rx, &m.dests, o.duration, payload, warm as u16);
    let cpu = (m.sut.cpu_seconds() - cpu0) / o.duration.as_secs_f64();
    let after = m.client.daemon_stats().unwrap().workers[0].clone();
    let late = after.mix_late_ticks - before.mix_late_ticks;
    let expected = (participants as u64 * rounds) as f64;
    let pass = late == 0 && got as f64 >= 0.99 * expected;
    eprintln!(
        "  mediad rooms of {room_size}: {participants} participants, {:.1} % of mixes delivered, {late} late ticks of {}, max tick {} µs, {cpu:.2} cores, tx {} dropped {}",
        100.0 * got as f64 / expected,
        after.mix_ticks - before.mix_ticks,
        after.mix_max_us,
        after.tx_packets - before.tx_packets,
        after.tx_dropped - before.tx_dropped
    );
    (participants, got as f64 / o.duration.as_secs_f64(), cpu, late, pass)
}

/// Idle rooms: `rooms` mixing rooms of two participants that send nothing.
pub fn idle_cost(o: &Opts, rooms: usize, rx: SocketAddr) -> f64 {
    let m = mediad_mix(o, rx, rooms * 2, 2, true);
    let cpu0 = m.sut.cpu_seconds();
    std::thread::sleep(o.duration);
    (m.sut.cpu_seconds() - cpu0) / o.duration.as_secs_f64()
}

fn steps(room_size: usize, from: usize, max: usize) -> Vec<usize> {
    let mut v = Vec::new();
    let mut p = room_size.max(from);
    while p <= max {
        v.push(p / room_size * room_size);
        p *= 2;
    }
    v.dedup();
    v
}

/// Climb until the first failure, then try halfway between the last pass and it.
fn capacity(room_size: usize, from: usize, max: usize, mut measure: impl FnMut(usize) -> Step) -> Option<Step> {
    let mut best: Option<Step> = None;
    let mut failed_at = None;
    for p in steps(room_size, from, max) {
        let s = measure(p);
        if !s.4 {
            failed_at = Some(p);
            break;
        }
        best = Some(s);
    }
    if let (Some(b), Some(f)) = (best, failed_at) {
        let mid = (b.0 + f) / 2 / room_size * room_size;
        if mid > b.0 && mid < f {
            let s = measure(mid);
            if s.4 {
                best = Some(s);
            }
        }
    }
    best
}

fn row(case: &str, system: &str, s: Option<Step>, peer: Option<f64>) -> Row {
    let (p, pps, cpu) = s.map_or((0.0, 0.0, 0.0), |s| (s.0 as f64, s.1, s.2));
    Row {
        scenario: "audio-mix".into(),
        case: case.into(),
        system: system.into(),
        pps,
        cpu_cores: cpu,
        pps_per_core: if cpu > 0.0 { pps / cpu } else { 0.0 },
        loss: 0.0,
        p50_us: 0.0,
        p99_us: 0.0,
        p999_us: 0.0,
        headline: p,
        headline_unit: "participants per core (Opus 20 ms, N loudest = 4, zero late ticks)".into(),
        latency_load_pps: 0.0,
        capacity_loss: 0.0,
        generator_limited: false,
        vs_raw: None,
        vs_peer: peer.filter(|&x| x > 0.0).map(|x| p / x),
        peer: peer.map(|_| "janus-audiobridge".into()),
        allocations_per_s: None,
        rss_kb_per_allocation: None,
    }
}

pub fn run(o: &Opts) -> (Vec<Row>, Option<f64>) {
    sys::pin(o.gen_cpu);
    let tx = sys::udp("127.0.0.1:0", 16 << 20);
    let rx = sys::udp("127.0.0.1:0", 32 << 20);
    let payload = opus_frame();
    let mut rows = Vec::new();
    for &size in &o.room_sizes {
        let case = format!("rooms of {size}");
        let janus = if o.systems.iter().any(|s| s == "janus-audiobridge") {
            // AudioBridge runs a mixer thread per room: its ladder starts at one room.
            let j = capacity(size, size, o.max_participants, |p| match crate::janus_audio::measure(o, size, p, &rx, &payload) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("  janus-audiobridge rooms of {size}, {p}: {e}");
                    (p, 0.0, 0.0, 0, false)
                }
            });
            Some(j)
        } else {
            None
        };
        if o.systems.iter().any(|s| s == "mediad") {
            let m = capacity(size, 250, o.max_participants, |p| measure_mediad(o, size, p, &tx, &rx, &payload));
            rows.push(row(&case, "mediad", m, janus.map(|j| j.map_or(0.0, |s| s.0 as f64))));
        }
        if let Some(j) = janus {
            rows.push(row(&case, "janus-audiobridge", j, None));
        }
    }
    let idle = o.systems.iter().any(|s| s == "mediad").then(|| idle_cost(o, 500, rx.local_addr().unwrap()));
    (rows, idle)
}

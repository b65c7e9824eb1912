//! `perf sip-calls`: SIP call setup rate and concurrent G.711 calls against signal +
//! mediad (both pinned to the SUT core), with sipp as the load generator (pinned to
//! the generator core).
//!
//! - Setup: sipp places short calls (INVITE, 200, ACK, BYE; every call gets a mediad
//!   leg in a mixing room of 2) at increasing rates for `duration` each; the
//!   capacity is the highest rate with zero failed calls that sipp also achieved.
//!   The same ladder against sipp's own UAS (no media, no legs) is the generator's
//!   ceiling in the same run. While sipp loads, a probe here places 20 calls/s and
//!   records INVITE→200 in µs (hdrhistogram; sipp's own timings are whole ms).
//! - Hold: N calls held open in rooms of 2 while this side sends 20 ms G.711 frames
//!   to every leg and counts the mixes coming back: loss = 1 − received/expected.

use crate::report::Row;
use crate::sut::{scratch, wait_for};
use crate::sys;
use control::{Client, LegInfo, Op};
use hdrhistogram::Histogram;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SCENARIO: &str = include_str!("../sipp/uac_setup.xml");

pub struct Opts {
    pub duration: Duration,
    pub rates: Vec<u32>,
    pub concurrent: Vec<usize>,
    pub gen_cpu: usize,
    pub sut_cpu: usize,
    pub mediad: PathBuf,
    pub signal: PathBuf,
    /// mediad workers (1: pinned to the SUT core with signal; more: unpinned).
    pub workers: usize,
    /// Calls per conference in the hold phase (2: two-party calls, every
    /// participant a speaker with its own encode: the MCU's worst case).
    pub room_size: usize,
}

/// signal + mediad, or sipp's UAS as the reference.
struct Target {
    sip: SocketAddr,
    procs: Vec<Child>,
    control: Option<PathBuf>,
    dir: PathBuf,
}

impl Target {
    fn cpu(&self) -> f64 {
        self.procs.iter().map(|c| sys::process_cpu(c.id() as i32)).sum()
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        for c in self.procs.iter_mut().rev() {
            crate::sut::stop_child(c);
        }
        if std::env::var_os("PERF_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn free_udp() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn appliance(o: &Opts) -> Target {
    let dir = scratch("sip-calls");
    let sock = dir.join("c.sock");
    let cpu = o.sut_cpu.to_string();
    let mediad = crate::sut::mediad_mcu(&o.mediad, &sock, o.workers, (o.workers == 1).then_some(o.sut_cpu));
    let sip = SocketAddr::from(([127, 0, 0, 1], free_udp()));
    // Logs at warn: one info line per call event would measure the terminal.
    let signal = Command::new("taskset")
        .args(["-c", &cpu])
        .arg(&o.signal)
        .arg("--mediad-socket")
        .arg(&sock)
        .args(["--http", "127.0.0.1:0", "--sip", &sip.to_string()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start signal");
    let t = Target { sip, procs: vec![mediad, signal], control: Some(sock), dir };
    wait_for(|| probe_options(t.sip), "signal's SIP");
    t
}

fn sipp_uas(o: &Opts) -> Target {
    let dir = scratch("sipp-uas");
    let sip = SocketAddr::from(([127, 0, 0, 1], free_udp()));
    let c = Command::new("taskset")
        .args(["-c", &o.sut_cpu.to_string(), "sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", &sip.port().to_string(), "-nostdin", "-mp", &free_udp().to_string()])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sipp uas");
    std::thread::sleep(Duration::from_millis(500));
    Target { sip, procs: vec![c], control: None, dir }
}

fn probe_options(to: SocketAddr) -> bool {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let msg = format!(
        "OPTIONS sip:{to} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKp1;rport\r\nFrom: <sip:perf@127.0.0.1>;tag=1\r\nTo: <sip:{to}>\r\nCall-ID: perf-probe\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        s.local_addr().unwrap()
    );
    let _ = s.send_to(msg.as_bytes(), to);
    s.recv(&mut [0u8; 2048]).is_ok()
}

/// One sipp run against `sip`, files in `dir`: (successful, failed, seconds it took).
#[allow(clippy::too_many_arguments)]
fn sipp_load(gen_cpu: usize, sip: SocketAddr, dir: &Path, rate: u32, calls: usize, hold_ms: u64, media_port: u16, rooms_of: usize) -> (u64, u64, f64) {
    let xml = dir.join("uac.xml");
    std::fs::write(&xml, SCENARIO.replace("HOLD_MS", &hold_ms.max(1).to_string()).replace("MEDIA_PORT", &media_port.to_string())).unwrap();
    let inf = dir.join("rooms.csv");
    let mut csv = String::from("SEQUENTIAL\n");
    for i in 0..calls {
        csv.push_str(&format!("00p{}\n", i / rooms_of));
    }
    std::fs::write(&inf, csv).unwrap();
    let stats = dir.join(format!("stat-{rate}-{calls}.csv"));
    let start = Instant::now();
    let limit = (calls as u64 * hold_ms / 1000 + 60) as u32 * 3;
    let status = Command::new("taskset")
        .args(["-c", &gen_cpu.to_string(), "sipp"])
        .arg(sip.to_string())
        .arg("-sf")
        .arg(&xml)
        .arg("-inf")
        .arg(&inf)
        .args(["-i", "127.0.0.1", "-p", &free_udp().to_string(), "-r", &rate.to_string(), "-m", &calls.to_string(), "-l", &calls.to_string()])
        .args(["-nostdin", "-trace_stat", "-fd", "1", "-recv_timeout", "10000", "-timeout", &limit.to_string(), "-timeout_error"])
        .arg("-stf")
        .arg(&stats)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run sipp");
    let took = start.elapsed().as_secs_f64();
    let (ok, failed) = read_stats(&stats);
    let failed = if status.success() { failed } else { failed.max(1) };
    (ok, failed, took)
}

fn read_stats(p: &Path) -> (u64, u64) {
    let text = std::fs::read_to_string(p).unwrap_or_default();
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let head: Vec<&str> = lines.next().unwrap_or("").split(';').collect();
    let last: Vec<&str> = lines.next_back().unwrap_or("").split(';').collect();
    let get = |name: &str| head.iter().position(|h| *h == name).and_then(|i| last.get(i)).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    (get("SuccessfulCall(C)"), get("FailedCall(C)"))
}

/// INVITE→200 of probe calls placed every 50 ms while `busy` runs, in µs.
fn probe_calls(to: SocketAddr, until: Instant, hist: &mut Histogram<u64>) -> u64 {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let me = s.local_addr().unwrap();
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let mut failed = 0;
    let mut n = 0u64;
    while Instant::now() < until {
        n += 1;
        let call = format!("probe-{n}-{}", std::process::id());
        let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n";
        let head = |method: &str, cseq: u32, to_tag: &str, branch: &str| {
            format!("{method} sip:00probe@{to} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{branch};rport\r\nFrom: <sip:probe@{me}>;tag=pr\r\nTo: <sip:00probe@{to}>{to_tag}\r\nCall-ID: {call}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n")
        };
        let invite = format!("{}Contact: <sip:probe@{me}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}", head("INVITE", 1, "", &format!("{call}i")), sdp.len());
        let t0 = Instant::now();
        let _ = s.send_to(invite.as_bytes(), to);
        let mut tag = None;
        let mut buf = [0u8; 4096];
        while t0.elapsed() < Duration::from_secs(5) && tag.is_none() {
            if let Ok(k) = s.recv(&mut buf) {
                let m = String::from_utf8_lossy(&buf[..k]);
                if m.starts_with("SIP/2.0 200") && m.contains(&call) {
                    tag = m.lines().find(|l| l.starts_with("To:")).and_then(|l| l.split(";tag=").nth(1)).map(|t| format!(";tag={}", t.trim()));
                    let _ = hist.record(t0.elapsed().as_micros().max(1) as u64);
                }
            }
        }
        match tag {
            Some(tag) => {
                let _ = s.send_to(format!("{}Content-Length: 0\r\n\r\n", head("ACK", 1, &tag, &format!("{call}a"))).as_bytes(), to);
                let _ = s.send_to(format!("{}Content-Length: 0\r\n\r\n", head("BYE", 2, &tag, &format!("{call}b"))).as_bytes(), to);
            }
            None => failed += 1,
        }
        std::thread::sleep(Duration::from_millis(50).saturating_sub(t0.elapsed()));
    }
    failed
}

struct SetupStep {
    rate: u32,
    ok: u64,
    failed: u64,
    achieved: f64,
    cpu: f64,
    hist: Histogram<u64>,
    probe_failed: u64,
}

fn setup_ladder(o: &Opts, system: &str) -> Vec<SetupStep> {
    let mut steps = Vec::new();
    for &rate in &o.rates {
        let t = if system == "sipp-uas" { sipp_uas(o) } else { appliance(o) };
        let calls = (rate as f64 * o.duration.as_secs_f64()).round() as usize;
        let cpu0 = t.cpu();
        let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        let until = Instant::now() + o.duration;
        let sip = t.sip;
        let probe = std::thread::spawn(move || {
            let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
            let f = probe_calls(sip, until, &mut h);
            (h, f)
        });
        let (ok, failed, took) = sipp_load(o.gen_cpu, t.sip, &t.dir, rate, calls, 1, free_udp(), 2);
        let (h, probe_failed) = probe.join().unwrap();
        hist.add(h).unwrap();
        let cpu = (t.cpu() - cpu0) / took.max(0.001);
        let achieved = ok as f64 / took.max(0.001);
        eprintln!(
            "{system}: {rate} calls/s offered: {ok} ok, {failed} failed in {took:.1} s ({achieved:.0}/s), CPU {cpu:.2} cores, probe INVITE→200 p50 {} µs p99 {} µs ({probe_failed} probe failures)",
            hist.value_at_quantile(0.5),
            hist.value_at_quantile(0.99)
        );
        let stop = failed > 0 || probe_failed > 0 || achieved < rate as f64 * 0.8;
        steps.push(SetupStep { rate, ok, failed, achieved, cpu, hist, probe_failed });
        if stop {
            break;
        }
    }
    steps
}

struct HoldStep {
    calls: usize,
    established: usize,
    /// G.711 frames we sent, mediad received; mixes mediad sent, we received.
    sent: u64,
    rx_in: u64,
    tx_out: u64,
    received: u64,
    /// Mixes the streams' arrival spans call for, and how many streams came back.
    expected: u64,
    streams: usize,
    cpu: f64,
}

impl HoldStep {
    /// Of every frame on the way in and every 20 ms of mix on the way out (lost or
    /// never produced), the share missing; a leg that heard nothing counts whole.
    fn loss(&self) -> f64 {
        let in_ok = self.rx_in as f64 / self.sent.max(1) as f64;
        let out_ok = self.received as f64 / self.expected.max(1) as f64 * (self.streams as f64 / self.established.max(1) as f64);
        1.0 - in_ok.min(1.0) * out_ok.min(1.0)
    }
}

fn hold(o: &Opts, calls: usize) -> HoldStep {
    let t = appliance(o);
    let rx = sys::udp("127.0.0.1:0", 32 << 20);
    let tx = sys::udp("127.0.0.1:0", 32 << 20);
    let media_port = rx.local_addr().unwrap().port();
    let hold_ms = (calls as f64 / 200.0 * 1000.0) as u64 + o.duration.as_millis() as u64 + 8000;
    let (gen_cpu, sip, dir, room_size) = (o.gen_cpu, t.sip, t.dir.clone(), o.room_size);
    let gen = std::thread::spawn(move || sipp_load(gen_cpu, sip, &dir, 200, calls, hold_ms, media_port, room_size));
    // Wait until every call has its leg.
    let mut c = Client::connect(t.control.as_ref().unwrap(), "perf").unwrap().0;
    let end = Instant::now() + Duration::from_secs(calls as u64 / 100 + 30);
    let mut legs: Vec<LegInfo> = vec![];
    while Instant::now() < end {
        legs = c.call(Op::LegList).unwrap_or_default();
        if legs.len() >= calls {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let dests: Vec<SocketAddr> = legs.iter().map(|l| SocketAddr::new(l.local_ip, l.rtp_port)).collect();
    let cpu0 = t.cpu();
    let t0 = Instant::now();
    let (streams, rounds) = drive_g711(&tx, &rx, &dests, o.duration);
    let cpu = (t.cpu() - cpu0) / t0.elapsed().as_secs_f64();
    // Both directions from mediad's own counters once everything stopped: what it got
    // of what we sent, and what we got of what it sent.
    let (mut rx_in, mut tx_out, mut dropped, mut late, mut concealed) = (0u64, 0u64, 0u64, 0u64, 0u64);
    for l in &legs {
        if let Ok(st) = c.leg_stats(l.leg) {
            rx_in += st.rx_packets;
            tx_out += st.tx_packets;
            dropped += st.tx_dropped;
            if let Some(a) = &st.audio {
                late += a.late;
                concealed += a.concealed;
            }
        }
    }
    let d = c.daemon_stats().ok();
    let ticks: Vec<(u64, u64, u64)> = d.map(|d| d.workers.iter().map(|w| (w.mix_ticks, w.mix_late_ticks, w.mix_max_us)).collect()).unwrap_or_default();
    eprintln!("hold {calls}: mediad tx_dropped {dropped}, late {late}, concealed {concealed}, mix ticks/late/max µs per worker {ticks:?}");
    let _ = gen.join();
    let (received, expected) = (streams.received(), streams.expected());
    HoldStep { calls, established: dests.len(), sent: rounds * dests.len() as u64, rx_in, tx_out, received, expected, streams: streams.by_ssrc.len(), cpu }
}

/// A 20 ms G.711 µ-law frame of a 400 Hz tone to every leg each 20 ms; the mixes
/// coming back counted per stream. Returns (the mix streams, rounds sent).
fn drive_g711(tx: &UdpSocket, rx: &UdpSocket, dests: &[SocketAddr], duration: Duration) -> (Streams, u64) {
    let mut enc = mediad::audio::codec::Encoder::new(mediad::audio::codec::Codec::Pcmu);
    let pcm: Vec<i16> = (0..160).map(|i| ((i as f32 * 400.0 * std::f32::consts::TAU / 8000.0).sin() * 8000.0) as i16).collect();
    let mut payload = vec![0u8; 160];
    enc.encode(&pcm, &mut payload);
    let addrs: Vec<_> = dests.iter().map(|d| sys::sockaddr(*d)).collect();
    let mut packets: Vec<Vec<u8>> = (0..dests.len())
        .map(|i| {
            let mut p = vec![0x80, 0];
            p.extend_from_slice(&[0; 6]);
            p.extend_from_slice(&(0x6000_0000u32 + i as u32).to_be_bytes());
            p.extend_from_slice(&payload);
            p
        })
        .collect();
    let mut streams = Streams::default();
    let stamp = |packets: &mut [Vec<u8>], tick: u64| {
        for p in packets.iter_mut() {
            p[2..4].copy_from_slice(&(tick as u16).to_be_bytes());
            p[4..8].copy_from_slice(&(tick as u32 * 160).to_be_bytes());
        }
    };
    // After the last round the jitter buffers drain and the mixers fall silent:
    // everything sent has arrived 500 ms later.
    let tick = sys::paced_rounds(tx, rx, &mut packets, &addrs, duration, Duration::from_millis(500), stamp, |rb, n| streams.count(rb, n));
    (streams, tick)
}

/// Mix streams coming back, by SSRC: packets, and the time span they arrived over
/// (after each stream's first second).
/// A leg hears one mix every 20 ms; mixes mediad did not produce (a mix tick it
/// skipped) are missing from that count just as lost packets are. (RTP timestamps
/// would not tell: mediad stamps only the packets it makes.)
#[derive(Default)]
struct Streams {
    by_ssrc: std::collections::HashMap<u32, Stream>,
}

/// One mix stream after its warm-up: arrivals, and the span of its RTP timestamps
/// (relative to its first) — relayed audio carries the source's timestamp steps, so a
/// frame lost before or inside mediad leaves a gap there even when the arrival span
/// hides it.
#[derive(Default)]
struct Stream {
    first_ns: u64,
    counted: u64,
    from_ns: u64,
    to_ns: u64,
    ts0: Option<u32>,
    ts_lo: i64,
    ts_hi: i64,
}

/// A stream's first second is its jitter buffer settling: not counted.
const WARM_UP_NS: u64 = 1_000_000_000;

impl Streams {
    fn count(&mut self, rb: &sys::RecvBatch, n: usize) {
        let now = sys::now_ns();
        for i in 0..n {
            let b = &rb.bufs[i][..rb.lens[i]];
            if b.len() < 12 {
                continue;
            }
            let ts = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
            let ssrc = u32::from_be_bytes([b[8], b[9], b[10], b[11]]);
            let e = self.by_ssrc.entry(ssrc).or_insert(Stream { first_ns: now, ..Default::default() });
            if now - e.first_ns < WARM_UP_NS {
                continue;
            }
            if e.counted == 0 {
                e.from_ns = now;
            }
            e.to_ns = now;
            e.counted += 1;
            let off = ts.wrapping_sub(*e.ts0.get_or_insert(ts)) as i32 as i64;
            e.ts_lo = e.ts_lo.min(off);
            e.ts_hi = e.ts_hi.max(off);
        }
    }

    fn received(&self) -> u64 {
        self.by_ssrc.values().map(|e| e.counted).sum()
    }

    /// Mixes due per stream: one per 20 ms of its arrival span or of its timestamp
    /// span (8 kHz), whichever is more.
    fn expected(&self) -> u64 {
        self.by_ssrc
            .values()
            .filter(|e| e.counted > 0)
            .map(|e| {
                let by_time = ((e.to_ns - e.from_ns) as f64 / 20e6).round() as u64 + 1;
                let by_ts = ((e.ts_hi - e.ts_lo) / 160 + 1) as u64;
                by_time.max(by_ts)
            })
            .sum()
    }
}

pub fn run(o: &Opts) -> (Vec<Row>, String) {
    let mine = setup_ladder(o, "signal+mediad");
    let peer = setup_ladder(o, "sipp-uas");
    let capacity = |s: &[SetupStep]| s.iter().filter(|x| x.failed == 0 && x.probe_failed == 0 && x.achieved >= x.rate as f64 * 0.8).map(|x| x.rate).max().unwrap_or(0);
    let (cap_mine, cap_peer) = (capacity(&mine), capacity(&peer));
    let mut table = String::from("Setup (short calls, each with a mediad leg in a mixing room of 2):\n\n| system | offered calls/s | ok | failed | achieved/s | CPU cores | probe INVITE→200 p50 µs | p99 µs | p99.9 µs |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    let mut rows = Vec::new();
    for (system, steps, cap) in [("signal+mediad", &mine, cap_mine), ("sipp-uas", &peer, cap_peer)] {
        for s in steps.iter() {
            let q = |x: f64| s.hist.value_at_quantile(x);
            table.push_str(&format!("| {system} | {} | {} | {} | {:.0} | {:.2} | {} | {} | {} |\n", s.rate, s.ok, s.failed, s.achieved, s.cpu, q(0.5), q(0.99), q(0.999)));
        }
        let at = steps.iter().find(|s| s.rate == cap);
        rows.push(Row {
            scenario: "sip-calls".into(),
            case: "setup".into(),
            system: system.into(),
            pps: cap as f64,
            cpu_cores: at.map_or(0.0, |s| s.cpu),
            pps_per_core: at.map_or(0.0, |s| cap as f64 / s.cpu.max(0.01)),
            loss: 0.0,
            p50_us: at.map_or(0.0, |s| s.hist.value_at_quantile(0.5) as f64),
            p99_us: at.map_or(0.0, |s| s.hist.value_at_quantile(0.99) as f64),
            p999_us: at.map_or(0.0, |s| s.hist.value_at_quantile(0.999) as f64),
            headline: cap as f64,
            headline_unit: "calls/s set up with zero failures".into(),
            latency_load_pps: cap as f64,
            capacity_loss: 0.0,
            generator_limited: steps.last().is_some_and(|s| s.rate == *o.rates.last().unwrap() && s.failed == 0),
            vs_raw: None,
            vs_peer: (system == "signal+mediad" && cap_peer > 0).then(|| cap_mine as f64 / cap_peer as f64),
            peer: Some("sipp-uas".into()),
            allocations_per_s: None,
            rss_kb_per_allocation: None,
        });
    }
    table.push_str(&format!("\nHeld calls (rooms of {}, G.711 20 ms both ways; mediad {} worker(s)):", o.room_size, o.workers));
    table.push_str("\n\n| calls | established | frames sent | received by mediad | mixes sent by mediad | mixes due (20 ms of arrival or RTP span, 1st s excluded) | received | loss | CPU cores |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for &n in &o.concurrent {
        let h = hold(o, n);
        let loss = h.loss();
        eprintln!(
            "hold {n}: {} established, frames {}/{} in, mixes {} sent, {} received of {} due on {} streams (loss {:.4} %), CPU {:.2}",
            h.established, h.rx_in, h.sent, h.tx_out, h.received, h.expected, h.streams, loss * 100.0, h.cpu
        );
        table.push_str(&format!("| {} | {} | {} | {} | {} | {} | {} | {:.3} % | {:.2} |\n", h.calls, h.established, h.sent, h.rx_in, h.tx_out, h.expected, h.received, loss * 100.0, h.cpu));
        rows.push(Row {
            scenario: "sip-calls".into(),
            case: format!("hold-{n}-rooms-of-{}", o.room_size),
            system: "signal+mediad".into(),
            pps: h.received as f64 / o.duration.as_secs_f64(),
            cpu_cores: h.cpu,
            pps_per_core: h.received as f64 / o.duration.as_secs_f64() / h.cpu.max(0.01),
            loss,
            p50_us: 0.0,
            p99_us: 0.0,
            p999_us: 0.0,
            headline: h.established as f64,
            headline_unit: "concurrent G.711 calls held".into(),
            latency_load_pps: 0.0,
            capacity_loss: loss,
            generator_limited: false,
            vs_raw: None,
            vs_peer: None,
            peer: None,
            allocations_per_s: None,
            rss_kb_per_allocation: None,
        });
    }
    (rows, table)
}

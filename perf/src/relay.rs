//! Scenario `relay`: plain RTP forwarding, 1→1 and 1→N at two packet sizes, for the
//! raw socket ceiling, mediad (epoll and io_uring) and rtpengine, on the same load.
//! Each system runs twice per case: at saturation (the generator offers more than a
//! core can forward) for packets/s per core, then at half its own saturation rate for
//! latency and loss.

use crate::load::{self, Load};
use crate::report::Row;
use crate::sut::{self, Setup};
use crate::sys;
use std::time::Duration;

pub struct Opts {
    pub duration: Duration,
    pub flows: usize,
    pub fanout: usize,
    pub systems: Vec<String>,
    pub gen_cpu: usize,
    pub sut_cpu: usize,
    pub mediad: std::path::PathBuf,
    /// Extra mediad flags (e.g. `--no-gso` to measure what GSO brings).
    pub mediad_args: Vec<String>,
    pub sizes: Vec<usize>,
    /// Output packets/s the generator tries to offer at saturation.
    pub max_rate: f64,
    /// Consecutive packets each flow sends before the next flow's turn (1: interleaved
    /// as audio is; more: a video frame's packets leave back to back).
    pub burst: usize,
}

pub fn cases(o: &Opts) -> Vec<(usize, usize)> {
    let mut v = vec![];
    for &f in &[1, o.fanout] {
        for &s in &o.sizes {
            if !v.contains(&(f, s)) {
                v.push((f, s));
            }
        }
    }
    v
}

/// Loss below which a rate counts as carried.
const LOSS_OK: f64 = 0.005;

pub fn run(o: &Opts, progress: &indicatif::ProgressBar) -> Vec<Row> {
    sys::pin(o.gen_cpu);
    let rx = sys::udp("127.0.0.1:0", 64 << 20);
    let tx = sys::udp("127.0.0.1:0", 16 << 20);
    let rx_addr = rx.local_addr().unwrap();
    let mut rows = vec![];
    for (fanout, size) in cases(o) {
        let case = format!("1→{fanout} {size}B");
        // Same number of legs for every case: N-way fan-out uses flows/N sources.
        let flows = (o.flows / fanout).max(1);
        let setup_for = |system: &str| -> Result<Setup, String> {
            match system {
                "raw" => Ok(sut::raw(o.sut_cpu, rx_addr, fanout)),
                "mediad-epoll" => Ok(sut::mediad(&o.mediad, &o.mediad_args, "epoll", o.sut_cpu, rx_addr, flows, fanout)),
                "mediad-uring" => Ok(sut::mediad(&o.mediad, &o.mediad_args, "uring", o.sut_cpu, rx_addr, flows, fanout)),
                "rtpengine" if fanout == 1 => sut::rtpengine(o.sut_cpu, tx.local_addr().unwrap(), rx_addr, flows),
                "rtpengine" => Err("rtpengine relays 1:1 calls; no fan-out in its offer/answer model".into()),
                other => Err(format!("unknown system {other}")),
            }
        };
        let case = Case { scenario: "relay", name: &case, fanout, size, flows };
        rows.extend(measure_systems(o, &case, &tx, &rx, &setup_for, progress));
    }
    ratios(&mut rows, "rtpengine");
    rows
}

/// One case of a scenario: what every system is measured on.
pub struct Case<'a> {
    pub scenario: &'a str,
    pub name: &'a str,
    pub fanout: usize,
    pub size: usize,
    pub flows: usize,
}

/// Measure each system of `o` on `case` (raw first in the list, so the others'
/// latency load can follow the ceiling measured in this run); systems that cannot run
/// the case are reported and skipped.
pub fn measure_systems(
    o: &Opts,
    case: &Case,
    tx: &std::net::UdpSocket,
    rx: &std::net::UdpSocket,
    setup_for: &dyn Fn(&str) -> Result<Setup, String>,
    progress: &indicatif::ProgressBar,
) -> Vec<Row> {
    let mut rows = vec![];
    let mut raw_capacity = None;
    for system in &o.systems {
        progress.set_message(format!("{} {system}", case.name));
        let setup = || setup_for(system);
        match measure(o, case.scenario, &setup, tx, rx, system, case.name, case.fanout, case.size, case.flows, raw_capacity, progress) {
            Ok(r) => {
                if system == "raw" {
                    raw_capacity = Some(r.pps);
                }
                rows.push(r)
            }
            Err(e) => progress.suspend(|| eprintln!("skip {system} for {}: {e}", case.name)),
        }
    }
    rows
}

/// Ratios within the same run and case: against the raw ceiling and against `peer`.
pub fn ratios(rows: &mut [Row], peer: &str) {
    for i in 0..rows.len() {
        let base = |name: &str| rows.iter().find(|r| r.case == rows[i].case && r.system == name).map(|r| r.pps_per_core);
        let (raw, p) = (base("raw"), base(peer));
        rows[i].vs_raw = raw.filter(|_| rows[i].system != "raw").map(|b| rows[i].pps_per_core / b);
        rows[i].vs_peer = p.filter(|_| rows[i].system != peer).map(|b| rows[i].pps_per_core / b);
        rows[i].peer = Some(peer.to_string());
    }
}

struct Step {
    out: load::Outcome,
    cpu: f64,
    /// The generator could not send the offered rate (its core was the limit).
    generator_limited: bool,
}

/// One phase on a fresh setup (a relay that shed load earlier must not carry that
/// state into the next rate: rtpengine, for one, keeps discarding once its queue
/// guard tripped).
#[allow(clippy::too_many_arguments)]
fn step(
    setup: &dyn Fn() -> Result<Setup, String>,
    flows: usize,
    size: usize,
    rate_out: f64,
    fanout: usize,
    o: &Opts,
    tx: &std::net::UdpSocket,
    rx: &std::net::UdpSocket,
) -> Result<Step, String> {
    let s = setup()?;
    // raw echoes everything from one socket: one destination for all flows.
    let dests = if s.dests.len() == 1 { vec![s.dests[0]; flows] } else { s.dests.clone() };
    let flow_list: Vec<load::Flow> = match &s.flows {
        Some(f) => f.clone(),
        None => dests.iter().map(|&dest| load::Flow { sock: 0, dest, prefix: vec![] }).collect(),
    };
    let own: Vec<&std::net::UdpSocket> = s.senders.iter().collect();
    let socks: Vec<&std::net::UdpSocket> = if own.is_empty() { vec![tx] } else { own };
    let mk = |rate: f64, d: Duration| Load { flows: flow_list.clone(), socks: &socks, payload: size, rate_pps: rate / fanout as f64, duration: d, burst: o.burst, protect: s.protect.as_ref(), fixed_ssrc: s.fixed_ssrc };
    load::run(&mk(rate_out.min(20_000.0), Duration::from_millis(300)), rx);
    let cpu0 = s.sut.cpu_seconds();
    let out = load::run(&mk(rate_out, o.duration), rx);
    let cpu = (s.sut.cpu_seconds() - cpu0) / out.wall_s;
    let generator_limited = (out.sent as f64 / out.wall_s) < 0.95 * rate_out / fanout as f64;
    Ok(Step { out, cpu, generator_limited })
}

#[allow(clippy::too_many_arguments)]
pub fn measure(
    o: &Opts,
    scenario: &str,
    setup: &dyn Fn() -> Result<Setup, String>,
    tx: &std::net::UdpSocket,
    rx: &std::net::UdpSocket,
    system: &str,
    case: &str,
    fanout: usize,
    size: usize,
    flows: usize,
    raw_capacity: Option<f64>,
    progress: &indicatif::ProgressBar,
) -> Result<Row, String> {
    // Ramp ×1.5 until loss appears, then bisect twice: capacity is the highest
    // offered rate carried with < 0.5 % loss.
    let mut good: Option<(f64, Step)> = None;
    let mut bad: Option<f64> = None;
    let mut rate = 40_000.0f64.min(o.max_rate);
    for _ in 0..14 {
        let st = step(setup, flows, size, rate, fanout, o, tx, rx)?;
        progress.inc(1);
        let ok = st.out.loss(fanout) < LOSS_OK;
        let saturated_generator = st.generator_limited;
        if ok {
            good = Some((rate, st));
        } else {
            bad = Some(rate);
        }
        if ok && saturated_generator {
            break; // offering more would not send more
        }
        rate = match (good.as_ref().map(|g| g.0), bad) {
            (Some(g), None) if g >= o.max_rate => break,
            (Some(g), None) => (g * 1.5).min(o.max_rate),
            (Some(g), Some(b)) if b / g > 1.12 => (g * b).sqrt(),
            (None, Some(b)) if b > 2_000.0 => b / 2.0,
            _ => break,
        };
    }
    let (cap_rate, cap) = good.ok_or_else(|| format!("{system} lost > 0.5 % even at low load"))?;
    let generator_limited = cap.generator_limited || cap_rate >= o.max_rate;
    let pps = cap.out.delivered_pps();
    // Latency at one load for every system of a case: half the raw ceiling measured
    // in this run (or half the system's own capacity when that is lower), so "added
    // latency" compares like with like and the generator is never the bottleneck.
    let lat_rate = (raw_capacity.unwrap_or(pps).min(pps) * 0.5).max(1000.0);
    let lat = step(setup, flows, size, lat_rate, fanout, o, tx, rx)?;
    progress.inc(1);
    let pct = |q: f64| lat.out.hist.value_at_quantile(q) as f64 / 1000.0;
    let pps_per_core = if cap.cpu > 0.0 { pps / cap.cpu } else { 0.0 };
    if generator_limited {
        progress.println(format!("{system} {case}: carried all the generator could send ({pps:.0} pps); its own capacity is higher"));
    }
    Ok(Row {
        scenario: scenario.into(),
        case: case.into(),
        system: system.into(),
        pps,
        cpu_cores: cap.cpu,
        pps_per_core,
        loss: lat.out.loss(fanout),
        p50_us: pct(0.5),
        p99_us: pct(0.99),
        p999_us: pct(0.999),
        headline: pps_per_core,
        headline_unit: "forwarded packets/s per core".into(),
        latency_load_pps: lat_rate,
        capacity_loss: cap.out.loss(fanout),
        generator_limited,
        vs_raw: None,
        vs_peer: None,
        peer: None,
        allocations_per_s: None,
        rss_kb_per_allocation: None,
    })
}

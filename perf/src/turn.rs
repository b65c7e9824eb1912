//! Scenario `turn`: relayed packets through TURN allocations (ChannelData in, plain UDP
//! out to the peer), mediad against coturn with one relay thread, each pinned to the SUT
//! core, plus the raw socket ceiling; same capacity ramp and latency phase as `relay`.
//! Also reports allocations per second and memory per allocation.
//!
//! Each allocation has its own peer: the generator's receive socket listens on the
//! wildcard address and allocation i binds its channel to 127.0.x.y on that port, as
//! distinct callers talk to distinct peers (and as multiplexed mode needs to tell
//! peers apart).

use crate::load::Flow;
use crate::report::Row;
use crate::sut::{self, Setup, Sut};
use crate::{relay, sys, turn_client};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Instant;

pub const USER: &str = "perf";
pub const PASS: &str = "perfpass";

pub fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

pub struct AllocStats {
    pub per_s: f64,
    pub rss_kb_per_alloc: f64,
}

/// Start `system` (mediad in a mode, or coturn) on the SUT core with TURN on `port`
/// and relay ports `relay`; extra flags for mediad.
pub fn spawn(o: &relay::Opts, system: &str, port: u16, relay: (u16, u16), dir: &std::path::Path) -> Result<std::process::Child, String> {
    match system {
        "mediad" | "mediad-uring" | "mediad-mux" => Command::new(&o.mediad)
            .args(["--workers", "1", "--cpus", &o.sut_cpu.to_string(), "--metrics", "off", "--rtp-ports", "30000-30099"])
            .args(["--io", if system == "mediad-uring" { "uring" } else { "epoll" }])
            .args(if system == "mediad-mux" { &["--turn-relay-mode", "multiplexed", "--turn-mux-sockets", "1"][..] } else { &[] })
            .arg("--control-socket")
            .arg(dir.join("c.sock"))
            .args(["--turn-port", &port.to_string(), "--turn-user", &format!("{USER}:{PASS}"), "--turn-realm", "perf.local"])
            .args(["--turn-allow-loopback-peers", "--turn-relay-ports", &format!("{}-{}", relay.0, relay.1)])
            // Setup allocates as fast as it can from one address; coturn has no such
            // limit by default either.
            .args(["--turn-unauth-rate", "0", "--turn-no-tls"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn(),
        "coturn" => Command::new("taskset")
            .args(["-c", &o.sut_cpu.to_string(), "turnserver", "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1"])
            .arg(format!("--listening-port={port}"))
            .arg(format!("--min-port={}", relay.0))
            .arg(format!("--max-port={}", relay.1))
            .args(["--lt-cred-mech", "--realm=perf.local", "--allow-loopback-peers"])
            .arg(format!("--user={USER}:{PASS}"))
            .args(["--no-tls", "--no-dtls", "--no-cli", "--relay-threads=1", "--no-stdout-log", "--simple-log"])
            .arg(format!("--userdb={}", dir.join("turndb").display()))
            .arg(format!("--pidfile={}", dir.join("turn.pid").display()))
            .arg(format!("--log-file={}", dir.join("turn.log").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn(),
        other => return Err(format!("unknown TURN system {other}")),
    }
    .map_err(|e| format!("{system}: {e} (apt-get install coturn for the peer)"))
}

/// Start `system` on the SUT core, create `n` allocations, each bound to its own peer.
fn setup(o: &relay::Opts, system: &str, n: usize, size: usize, peer: SocketAddr, port: u16) -> Result<(Setup, AllocStats), String> {
    let dir = sut::scratch(&format!("turn-{system}"));
    let child = spawn(o, system, port, (40000, 49999), &dir)?;
    let pid = child.id();
    let sut = Sut::Process { child, dir };
    let server = SocketAddr::from(([127, 0, 0, 1], port));
    // Ready once a Binding is answered (a probe Allocate would leave an allocation whose
    // 5-tuple a later client socket may reuse: 437 instead of a challenge).
    sut::wait_for(|| turn_client::binding(server).is_ok(), system);
    let rss0 = rss_kb(pid);
    let t0 = Instant::now();
    let mut flows = vec![];
    let mut senders = vec![];
    let body = (12 + 16).max(size);
    for i in 0..n {
        let (sock, _relay) = turn_client::allocate(server, USER, PASS, peer_of(peer, i), 0x4000)?;
        let prefix = vec![0x40, 0x00, (body >> 8) as u8, body as u8];
        flows.push(Flow { sock: i, dest: server, prefix });
        senders.push(sock);
    }
    let per_s = n as f64 / t0.elapsed().as_secs_f64();
    let rss_kb_per_alloc = (rss_kb(pid).saturating_sub(rss0)) as f64 / n as f64;
    Ok((Setup { sut, dests: vec![server; n], flows: Some(flows), senders, protect: None, fixed_ssrc: None }, AllocStats { per_s, rss_kb_per_alloc }))
}

/// Allocation i's peer: a distinct loopback address on the generator's port.
fn peer_of(rx: SocketAddr, i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 1 + (i / 250) as u8, 1 + (i % 250) as u8], rx.port()))
}

pub fn run(o: &relay::Opts, allocations: usize, progress: &indicatif::ProgressBar) -> Vec<Row> {
    sys::pin(o.gen_cpu);
    assert!(allocations <= 250 * 250, "one peer address per allocation: at most 62500");
    // The wildcard only listens; every address sent to is a loopback one.
    let rx = sys::udp("0.0.0.0:0", 64 << 20);
    let tx = sys::udp("127.0.0.1:0", 16 << 20);
    let peer = SocketAddr::from(([127, 0, 0, 1], rx.local_addr().unwrap().port()));
    let mut rows = vec![];
    for &size in &o.sizes {
        let case = if o.burst > 1 { format!("{allocations} allocations {size}B, bursts of {}", o.burst) } else { format!("{allocations} allocations {size}B") };
        let port = 34000 + (std::process::id() % 500) as u16 * 2;
        // Allocation rate and memory, from each system's first setup.
        let alloc_stats = std::cell::RefCell::new(std::collections::HashMap::new());
        let setup_for = |system: &str| -> Result<Setup, String> {
            if system == "raw" {
                return Ok(sut::raw(o.sut_cpu, peer, 1));
            }
            let (s, a) = setup(o, system, allocations, size, peer, port)?;
            alloc_stats.borrow_mut().entry(system.to_string()).or_insert((a.per_s, a.rss_kb_per_alloc));
            Ok(s)
        };
        let c = relay::Case { scenario: "turn", name: &case, fanout: 1, size, flows: allocations };
        for mut r in relay::measure_systems(o, &c, &tx, &rx, &setup_for, progress) {
            if let Some(&(per_s, rss)) = alloc_stats.borrow().get(&r.system) {
                r.allocations_per_s = Some(per_s);
                r.rss_kb_per_allocation = Some(rss);
            }
            r.headline_unit = "relayed packets/s per core".into();
            rows.push(r);
        }
    }
    relay::ratios(&mut rows, "coturn");
    rows
}

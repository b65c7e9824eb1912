//! mediad: the thread-per-core media daemon. See ARCHITECTURE.md for the packet path.

pub mod audio;
pub mod compute;
pub mod config;
pub mod control;
pub mod dtls;
pub mod engine;
pub mod ice;
pub mod io;
pub mod metrics;
pub mod rtp;
pub mod srtp;
pub mod stun;
pub mod tls;
pub mod turn;
pub mod video;
pub mod worker;

use crate::control::registry::WorkerHandle;
use crate::control::Daemon;
use crate::engine::counters::WorkerCounters;
use crate::engine::mesh::{Mesh, Wake};
use crate::engine::Engine;
use config::Config;
use io::IoKind;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

/// A running daemon: its registry and worker threads.
pub struct Running {
    pub daemon: Arc<Daemon>,
    pub workers: Vec<JoinHandle<()>>,
}

/// Per-core backend prepared on the main thread: epoll's poller is built here (its
/// waker must exist before the mesh), io_uring's ring in its own thread (a
/// single-issuer ring belongs to the thread that submits).
#[allow(clippy::large_enum_variant)] // built once per core at start-up
enum Prepared {
    Epoll(io::epoll::Epoll),
    Uring(io::uring::EventFd),
}

pub fn start(cfg: Config) -> Result<Running, String> {
    let cfg = Arc::new(cfg);
    let n = cfg.workers;
    let mut prepared = Vec::with_capacity(n);
    let mut wakers: Vec<Arc<dyn Wake>> = Vec::with_capacity(n);
    for _ in 0..n {
        match cfg.io {
            IoKind::Epoll => {
                let (b, w) = io::epoll::Epoll::new(cfg.gso).map_err(|e| format!("epoll: {e}"))?;
                prepared.push(Prepared::Epoll(b));
                wakers.push(w);
            }
            IoKind::Uring => {
                io::uring::probe().map_err(|e| format!("io_uring unavailable ({e}); use --io epoll"))?;
                let efd = Arc::new(io::uring::EventFd::new().map_err(|e| format!("eventfd: {e}"))?);
                wakers.push(efd.clone());
                prepared.push(Prepared::Uring(io::uring::EventFd::dup(&efd).map_err(|e| e.to_string())?));
            }
        }
    }
    let mesh = Mesh::new(wakers);
    let video = if cfg.video.threads > 0 { compute::VideoPool::start(&cfg.video, mesh.clone())? } else { compute::VideoPool::none() };
    // One nonce secret for all cores, so a nonce minted by one verifies on any; one
    // quota table for the node.
    let nonce_secret = random_bytes();
    let quotas = Arc::new(turn::Quotas::default());
    let reservations = Arc::new(engine::reservations::Reservations::default());
    // One TLS context for the node (certificate loaded or generated once).
    let turn_tls = match cfg.turn.as_ref() {
        Some(t) if !t.no_tls => Some(tls::acceptor(t.cert.as_deref(), t.pkey.as_deref()).map_err(|e| format!("TURN TLS: {e}"))?),
        _ => None,
    };
    let (ev_tx, ev_rx) = crossbeam_channel::bounded(65536);
    let epoch = Instant::now();
    let mut handles = Vec::new();
    let mut threads = Vec::new();
    for (core, prep) in prepared.into_iter().enumerate() {
        let (cmd_tx, cmd_rx) = crossbeam_channel::unbounded();
        let counters = Arc::new(WorkerCounters::default());
        let (cfg_w, mesh_w, counters_w, ev_w) = (cfg.clone(), mesh.clone(), counters.clone(), ev_tx.clone());
        let quotas_w = quotas.clone();
        let tls_w = turn_tls.clone();
        let reservations_w = reservations.clone();
        let video_w = video.clone();
        let cpu = if cfg.cpus.is_empty() { Some(core) } else { Some(cfg.cpus[core % cfg.cpus.len()]) };
        let pin = cfg.pin;
        let gso = cfg.gso;
        let t = std::thread::Builder::new()
            .name(format!("core-{core}"))
            .spawn(move || {
                if pin {
                    if let Some(cpu) = cpu {
                        pin_to(cpu);
                    }
                }
                // Built on its own thread: the engine's outbox holds raw pointers into
                // buffers of this thread only.
                let turn = cfg_w.turn.as_ref().map(|t| {
                    let mut s = turn::TurnServer::new(t.server_config(), nonce_secret, quotas_w);
                    s.set_core(core);
                    s
                });
                let mut engine = Engine::new(core, cfg_w, mesh_w, counters_w, ev_w);
                engine.epoch = epoch;
                engine.reservations = reservations_w;
                engine.video = video_w;
                if turn.is_some() {
                    match engine::streams::Streams::new(tls_w) {
                        Ok(s) => engine.streams = Some(s),
                        Err(e) => tracing::error!(core, "TURN streams: {e}"),
                    }
                }
                engine.turn = turn;
                if let Err(e) = engine.open_turn_listeners() {
                    tracing::error!(core, "TURN listener: {e}");
                }
                match prep {
                    Prepared::Epoll(b) => worker::run(b, engine, cmd_rx),
                    Prepared::Uring(efd) => match io::uring::Uring::new(efd, gso) {
                        Ok(b) => worker::run(b, engine, cmd_rx),
                        Err(e) => tracing::error!(core, "io_uring setup failed: {e}"),
                    },
                }
            })
            .map_err(|e| e.to_string())?;
        threads.push(t);
        handles.push(WorkerHandle { commands: cmd_tx, counters });
    }
    drop(ev_tx);
    let io_name = cfg.io.as_str();
    let daemon = Arc::new(Daemon::new(cfg.clone(), io_name, handles, mesh, video, epoch));
    let d = daemon.clone();
    std::thread::Builder::new().name("events".into()).spawn(move || d.pump_events(ev_rx)).map_err(|e| e.to_string())?;
    let d = daemon.clone();
    std::thread::Builder::new().name("speakers".into()).spawn(move || d.watch_speakers()).map_err(|e| e.to_string())?;
    let listener = control::server::bind(&cfg.control_socket).map_err(|e| format!("control socket {}: {e}", cfg.control_socket.display()))?;
    let d = daemon.clone();
    std::thread::Builder::new().name("control".into()).spawn(move || control::server::serve(listener, d)).map_err(|e| e.to_string())?;
    if !cfg.metrics.is_empty() {
        metrics::serve(&cfg.metrics, daemon.clone())?;
    }
    Ok(Running { daemon, workers: threads })
}

fn random_bytes() -> [u8; 32] {
    let mut b = [0u8; 32];
    // SAFETY: getrandom fills the buffer it is given.
    let n = unsafe { libc::getrandom(b.as_mut_ptr() as *mut libc::c_void, b.len(), 0) };
    assert_eq!(n, 32, "getrandom failed");
    b
}

pub(crate) fn pin_to(cpu: usize) {
    // SAFETY: cpu_set_t is plain data; sched_setaffinity(0) targets this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            tracing::warn!(cpu, "could not pin worker: {}", std::io::Error::last_os_error());
        }
    }
}

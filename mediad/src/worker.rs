//! One worker thread per core: owns an engine and an I/O backend, applies control
//! commands between batches, drains hand-offs from other cores, runs the coarse tick.

use crate::engine::counters::{add, get, set, LegCounters};
use crate::engine::mesh::Mesh;
use crate::engine::Engine;
use crate::io::Backend;
use control::{ErrorBody, ErrorCode, LegCreate, LegId, LegUpdate};
use crossbeam_channel::{Receiver, Sender};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Granularity of RTCP scheduling and inactivity checks.
const TICK: Duration = Duration::from_millis(100);
/// The audio MCU's media tick: run only while the core has mixer participants.
const MIX_TICK: Duration = Duration::from_millis(20);

pub struct CreatedLeg {
    pub rtp_port: u16,
    pub rtcp_port: u16,
    pub local_ip: IpAddr,
    pub out_ssrcs: Vec<u32>,
    pub webrtc: Option<control::WebrtcLocal>,
}

pub type Reply<T> = Sender<Result<T, ErrorBody>>;

pub enum Command {
    CreateLeg { id: LegId, spec: LegCreate, counters: Arc<LegCounters>, reply: Reply<CreatedLeg> },
    UpdateLeg { update: LegUpdate, reply: Reply<()> },
    DeleteLeg { id: LegId, reply: Reply<()> },
    JoinRoom { leg: LegId, room: u32, reply: Reply<()> },
    LeaveRoom { leg: LegId, reply: Reply<()> },
    /// Which cores hold legs of the room (sent to every core involved); acknowledged,
    /// so an attach completes only once every core forwards with the new view.
    RoomCores { room: u32, mask: u64, reply: Reply<()> },
    TurnSnapshot { reply: Reply<Vec<control::AllocationInfo>> },
    Mix { cmd: crate::engine::mix::MixCommand, reply: Reply<()> },
    /// Where the leg's video is composed from now on (a video thread and room).
    VideoRoute { leg: LegId, at: Option<crate::compute::VideoAt>, reply: Reply<()> },
    Shutdown,
}

pub fn run<B: Backend>(mut backend: B, mut engine: Engine, commands: Receiver<Command>) {
    let core = engine.core;
    let mesh: Arc<Mesh> = engine.mesh.clone();
    let mut next_tick = Instant::now() + TICK;
    let mut next_mix: Option<Instant> = None;
    sync_sockets(&mut backend, &mut engine);
    if let Some(fd) = engine.streams_fd() {
        if let Err(e) = backend.watch_streams(fd) {
            tracing::error!(core, "TURN over TCP/TLS disabled: {e}");
        }
    }
    loop {
        engine.now = Instant::now();
        while let Ok(cmd) = commands.try_recv() {
            if !apply(&mut backend, &mut engine, cmd) {
                backend.flush(&mut engine);
                return;
            }
        }
        engine.drain_mesh();
        if engine.now >= next_tick {
            engine.on_tick();
            next_tick = engine.now + TICK;
            sync_sockets(&mut backend, &mut engine);
            let took = engine.now.elapsed().as_micros() as u64;
            if took > get(&engine.counters.max_tick_us) {
                set(&engine.counters.max_tick_us, took);
            }
        }
        next_mix = mix_tick(&mut engine, next_mix);
        backend.flush(&mut engine);
        engine.wake_peers();
        add(&engine.counters.loops, 1);

        // How long this turn kept the core from the sockets (wake-up to next wait).
        let turn_us = engine.woke.elapsed().as_micros() as u64;
        if turn_us > 1000 {
            add(&engine.counters.slow_turns, 1);
        }
        if turn_us > get(&engine.counters.max_turn_us) {
            set(&engine.counters.max_turn_us, turn_us);
        }

        // Announce we may block, then re-check the queues so a hand-off pushed just
        // before the flag was set is not slept on.
        mesh.set_sleeping(core, true);
        let busy = mesh.has_pending(core) || !commands.is_empty();
        let wake_at = next_mix.map_or(next_tick, |m| m.min(next_tick));
        let timeout = if busy { Duration::ZERO } else { wake_at.saturating_duration_since(Instant::now()) };
        if let Err(e) = backend.poll(&mut engine, Some(timeout)) {
            tracing::error!(core, "poll failed: {e}");
            std::thread::sleep(Duration::from_millis(10));
        }
        mesh.set_sleeping(core, false);
        sync_sockets(&mut backend, &mut engine);
        engine.wake_peers();
    }
}

/// Run the 20 ms mix when due. Ticks keep a fixed cadence; one that ends after the
/// next one was due is late (counted), and missed periods are skipped, not bunched.
fn mix_tick(engine: &mut Engine, next: Option<Instant>) -> Option<Instant> {
    if !engine.mix_active() {
        return None;
    }
    let now = engine.now;
    let due = next.unwrap_or(now);
    if now < due {
        return Some(due);
    }
    engine.mix_tick();
    let mut following = due + MIX_TICK;
    let done = Instant::now();
    if done > following {
        add(&engine.counters.mix_late_ticks, 1);
        while following <= done {
            following += MIX_TICK;
        }
    }
    Some(following)
}

/// Register sockets the engine opened (TURN listeners and relays) and close the ones
/// it released.
fn sync_sockets<B: Backend>(backend: &mut B, engine: &mut Engine) {
    let (opened, closed) = engine.take_socket_changes();
    for t in opened {
        if let Some(sock) = engine.socket_of(t) {
            if let Err(e) = backend.register(sock, t) {
                tracing::error!(token = t, "register: {e}");
            }
        }
    }
    if !closed.is_empty() {
        // Queued sends may point at these sockets: send them first.
        backend.flush(engine);
        for (s, t) in closed {
            backend.deregister(s, t);
        }
    }
}

/// Apply one command; false means shut down.
fn apply<B: Backend>(backend: &mut B, engine: &mut Engine, cmd: Command) -> bool {
    match cmd {
        Command::CreateLeg { id, spec, counters, reply } => {
            let r = engine.create_leg(id, &spec, counters).and_then(|c| {
                for &t in &c.tokens {
                    let sock = engine.socket_of(t).expect("just created");
                    if let Err(e) = backend.register(sock, t) {
                        let _ = engine.delete_leg(id).map(|socks| socks.into_iter().for_each(|(s, t)| backend.deregister(s, t)));
                        return Err(ErrorBody::new(ErrorCode::Internal, format!("register socket: {e}")));
                    }
                }
                Ok(CreatedLeg { rtp_port: c.rtp_port, rtcp_port: c.rtcp_port, local_ip: c.local_ip, out_ssrcs: c.out_ssrcs, webrtc: c.webrtc })
            });
            let _ = reply.send(r);
        }
        Command::UpdateLeg { update, reply } => {
            let _ = reply.send(engine.update_leg(&update));
        }
        Command::DeleteLeg { id, reply } => {
            // Sends queued for this leg point at its socket: flush before closing it.
            backend.flush(engine);
            let r = engine.delete_leg(id).map(|socks| {
                for (s, t) in socks {
                    backend.deregister(s, t);
                }
            });
            let _ = reply.send(r);
        }
        Command::JoinRoom { leg, room, reply } => {
            let _ = reply.send(engine.join_room(leg, room));
        }
        Command::LeaveRoom { leg, reply } => {
            engine.leave_room(leg);
            let _ = reply.send(Ok(()));
        }
        Command::RoomCores { room, mask, reply } => {
            engine.set_room_cores(room, mask);
            let _ = reply.send(Ok(()));
        }
        Command::Mix { cmd, reply } => {
            let _ = reply.send(engine.mix_command(cmd));
        }
        Command::VideoRoute { leg, at, reply } => {
            let r = engine.leg_slot(leg).map(|s| engine.leg_mut(s).expect("indexed").video_at = at).ok_or_else(|| crate::engine::no_leg(leg));
            let _ = reply.send(r);
        }
        Command::TurnSnapshot { reply } => {
            let _ = reply.send(Ok(engine.turn_snapshot()));
        }
        Command::Shutdown => return false,
    }
    true
}

//! The daemon's registry: which legs and rooms exist, on which cores. It is the
//! single writer of room membership, so each core's view of a room (its local legs
//! and the other cores to hand packets to) is always derived from one place.

use super::events::Hub;
use crate::config::Config;
use crate::engine::counters::{LegCounters, WorkerCounters};
use crate::engine::mesh::Mesh;
use crate::worker::{Command, CreatedLeg};
use control::*;
use crossbeam_channel::{bounded, Receiver, Sender};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod mix;
mod video;
pub use mix::mix_ssrc;

const WORKER_REPLY_TIMEOUT: Duration = Duration::from_secs(5);

pub struct WorkerHandle {
    pub commands: Sender<Command>,
    pub counters: Arc<WorkerCounters>,
}

pub struct LegRecord {
    pub info: LegInfo,
    pub counters: Arc<LegCounters>,
    /// Codec names of the leg's streams, for stats.
    pub codecs: Vec<String>,
    /// The leg's part in the audio MCU, and the mixer it is in now.
    audio: Option<LegAudio>,
    mix_at: Option<crate::engine::mix::MixAt>,
    /// The leg's part in its room's video MCU.
    video: Option<Box<LegVideo>>,
}

struct RoomRecord {
    num: u32,
    legs: Vec<LegId>,
    /// A mixing room, and the core its mixer runs on.
    mix: Option<MixSettings>,
    home: usize,
    /// A room that composes video, and the video thread it runs on.
    video: Option<VideoMixSettings>,
    video_thread: usize,
    /// Whether its video thread composes now (kept by the thread, read by the cores).
    video_composing: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

#[derive(Default)]
struct State {
    legs: BTreeMap<LegId, LegRecord>,
    rooms: BTreeMap<String, RoomRecord>,
    next_leg: u64,
    next_room: u32,
    /// Playing prompts: the mixer and the leg (None: the whole room) they play to.
    prompts: std::collections::HashMap<u64, (crate::engine::mix::MixAt, Option<LegId>)>,
    next_prompt: u64,
}

pub struct Daemon {
    pub cfg: Arc<Config>,
    pub io: &'static str,
    pub workers: Vec<WorkerHandle>,
    pub mesh: Arc<Mesh>,
    pub video: Arc<crate::compute::VideoPool>,
    pub hub: Hub,
    pub started: Instant,
    /// Epoch of the engines' microsecond clocks (for idle times).
    pub epoch: Instant,
    state: Mutex<State>,
}

type OpResult = Result<Value, ErrorBody>;

fn to_value<T: serde::Serialize>(v: T) -> OpResult {
    serde_json::to_value(v).map_err(|e| ErrorBody::new(ErrorCode::Internal, e.to_string()))
}

impl Daemon {
    pub fn new(cfg: Arc<Config>, io: &'static str, workers: Vec<WorkerHandle>, mesh: Arc<Mesh>, video: Arc<crate::compute::VideoPool>, epoch: Instant) -> Self {
        Daemon { cfg, io, workers, mesh, video, hub: Hub::default(), started: Instant::now(), epoch, state: Mutex::new(State::default()) }
    }

    fn ask<T>(&self, core: usize, make: impl FnOnce(Sender<Result<T, ErrorBody>>) -> Command) -> Result<T, ErrorBody> {
        let (tx, rx) = bounded(1);
        self.workers[core]
            .commands
            .send(make(tx))
            .map_err(|_| ErrorBody::new(ErrorCode::Unavailable, format!("worker {core} is gone")))?;
        self.mesh.wake(core);
        rx.recv_timeout(WORKER_REPLY_TIMEOUT)
            .map_err(|_| ErrorBody::new(ErrorCode::Unavailable, format!("worker {core} did not answer")))?
    }

    fn tell(&self, core: usize, cmd: Command) {
        let _ = self.workers[core].commands.send(cmd);
        self.mesh.wake(core);
    }

    pub fn handle(&self, op: &Op) -> OpResult {
        let mut st = self.state.lock().unwrap();
        match op {
            Op::Hello { version, .. } => {
                if *version != PROTOCOL_VERSION {
                    return Err(ErrorBody::new(
                        ErrorCode::VersionMismatch,
                        format!("this daemon speaks protocol {PROTOCOL_VERSION}, client asked for {version}"),
                    ));
                }
                to_value(HelloOk {
                    version: PROTOCOL_VERSION,
                    daemon: format!("mediad {}", env!("CARGO_PKG_VERSION")),
                    workers: self.workers.len(),
                    io: self.io.to_string(),
                })
            }
            Op::LegCreate(spec) => self.leg_create(&mut st, spec),
            Op::LegUpdate(upd) => {
                let rec = st.legs.get(&upd.leg).ok_or_else(|| crate::engine::no_leg(upd.leg))?;
                if let Some(w) = &upd.webrtc {
                    check_webrtc_remote(w)?;
                }
                if let Some(a) = &upd.audio {
                    if rec.audio.as_ref().map(|r| r.send.is_some()) != Some(a.send.is_some()) {
                        return Err(ErrorBody::new(ErrorCode::BadRequest, "audio may change a participant's codecs, not whether it is one or takes the mix"));
                    }
                    mix::participant(upd.leg, a, rec.info.muted)?;
                }
                let core = rec.info.core;
                self.mix_update(&st, upd.leg, upd.muted, upd.gain_db)?;
                self.ask(core, |reply| Command::UpdateLeg { update: upd.clone(), reply })?;
                let rec = st.legs.get_mut(&upd.leg).expect("checked");
                if let Some(r) = upd.remote {
                    rec.info.remote = Some(r);
                }
                if let Some(l) = &upd.label {
                    rec.info.label = Some(l.clone());
                }
                if let Some(m) = upd.muted {
                    rec.info.muted = m;
                }
                if let Some(a) = &upd.audio {
                    // The mixer builds a participant's codecs when it joins: leave and
                    // join again where it was.
                    let at = rec.mix_at;
                    self.mix_move(&mut st, upd.leg, None)?;
                    st.legs.get_mut(&upd.leg).expect("checked").audio = Some(a.clone());
                    self.mix_move(&mut st, upd.leg, at)?;
                }
                let rec = st.legs.get(&upd.leg).expect("checked");
                to_value(&rec.info)
            }
            Op::LegDelete { leg } => {
                if !st.legs.contains_key(leg) {
                    return Err(crate::engine::no_leg(*leg));
                }
                self.detach(&mut st, *leg)?;
                self.mix_move(&mut st, *leg, None)?;
                let core = leg_core(*leg);
                self.ask(core, |reply| Command::DeleteLeg { id: *leg, reply })?;
                st.legs.remove(leg);
                self.hub.publish(&Event::LegDeleted { leg: *leg });
                Ok(json!({ "leg": leg }))
            }
            Op::LegList => to_value(st.legs.values().map(|r| &r.info).collect::<Vec<_>>()),
            Op::RoomCreate { room, mix, core, video } => {
                if st.rooms.len() >= self.cfg.max_rooms {
                    return Err(ErrorBody::new(ErrorCode::QuotaExceeded, format!("max_rooms ({}) reached", self.cfg.max_rooms)));
                }
                st.next_room += 1;
                let num = st.next_room;
                let name = match room {
                    Some(r) if r.is_empty() || r.len() > 128 => {
                        return Err(ErrorBody::new(ErrorCode::BadRequest, "room names are 1-128 characters"))
                    }
                    Some(r) => r.clone(),
                    None => format!("room-{num}"),
                };
                if st.rooms.contains_key(&name) {
                    return Err(ErrorBody::new(ErrorCode::RoomExists, format!("room `{name}` exists")));
                }
                let home = match core {
                    Some(c) if *c >= self.workers.len() => {
                        return Err(ErrorBody::new(ErrorCode::Unsupported, format!("core {c} does not exist (workers: {})", self.workers.len())))
                    }
                    Some(c) => *c,
                    None if mix.is_some() => self.least_mixing_core(&st),
                    None => self.least_loaded_core(),
                };
                let composing = std::sync::Arc::<std::sync::atomic::AtomicBool>::default();
                let video_thread = match video {
                    Some(v) => self.video_room(num, &name, v, composing.clone())?,
                    None => 0,
                };
                if let Some(m) = mix {
                    if let Err(e) = self.mix_room(num, &name, m, home) {
                        if video.is_some() {
                            let _ = self.video.control(video_thread, crate::compute::VideoCtl::DropRoom { room: num });
                        }
                        return Err(e);
                    }
                }
                st.rooms.insert(name.clone(), RoomRecord { num, legs: vec![], mix: mix.clone(), home, video: video.clone(), video_thread, video_composing: composing });
                self.hub.publish(&Event::RoomCreated { room: name.clone() });
                self.room_info(&st, &name)
            }
            Op::RoomDelete { room, if_empty } => {
                let legs = st.rooms.get(room).ok_or_else(|| no_room(room))?.legs.clone();
                if *if_empty && !legs.is_empty() {
                    return Ok(json!({ "room": room, "deleted": false }));
                }
                for l in legs {
                    self.detach(&mut st, l)?;
                }
                if let Some(r) = st.rooms.remove(room) {
                    st.prompts.retain(|_, (at, _)| *at != (r.home, Some(r.num)));
                    if r.mix.is_some() {
                        let _ = self.mix(r.home, crate::engine::mix::MixCommand::DropRoom { room: r.num });
                    }
                    if r.video.is_some() {
                        let _ = self.video.control(r.video_thread, crate::compute::VideoCtl::DropRoom { room: r.num });
                    }
                }
                self.hub.publish(&Event::RoomDeleted { room: room.clone() });
                Ok(json!({ "room": room, "deleted": true }))
            }
            Op::RoomList => to_value(st.rooms.keys().map(|k| self.room_record(&st, k)).collect::<Vec<_>>()),
            Op::RoomAttach { room, leg } => self.attach(&mut st, room, *leg),
            Op::RoomDetach { leg } => {
                if !st.legs.contains_key(leg) {
                    return Err(crate::engine::no_leg(*leg));
                }
                self.detach(&mut st, *leg)?;
                Ok(json!({ "leg": leg }))
            }
            Op::StatsLeg { leg } => to_value(self.leg_stats(st.legs.get(leg).ok_or_else(|| crate::engine::no_leg(*leg))?)),
            Op::StatsRoom { room } => {
                let r = st.rooms.get(room).ok_or_else(|| no_room(room))?;
                let legs = r.legs.iter().filter_map(|l| st.legs.get(l)).map(|rec| self.leg_stats(rec)).collect();
                to_value(RoomStats { room: room.clone(), legs })
            }
            Op::StatsDaemon => to_value(DaemonStats {
                version: env!("CARGO_PKG_VERSION").into(),
                io: self.io.into(),
                uptime_s: self.started.elapsed().as_secs_f64(),
                legs: st.legs.len(),
                rooms: st.rooms.len(),
                workers: self.workers.iter().enumerate().map(|(i, w)| w.counters.snapshot(i)).collect(),
            }),
            Op::TurnAllocations => to_value(self.turn_allocations()?),
            Op::TurnUsers => to_value(self.turn_users()?),
            Op::LegDtmf(d) => self.leg_dtmf(&st, d),
            Op::PromptPlay(p) => self.prompt_play(&mut st, p),
            Op::PromptStop { id } => self.prompt_stop(&mut st, *id),
            Op::VideoLayout(_) | Op::VideoMode { .. } | Op::VideoPodium { .. } | Op::VideoPin(_) | Op::VideoKeyframe { .. } | Op::StatsVideo { .. } => self.video_op(&mut st, op),
            Op::EventsSubscribe { .. } | Op::EventsUnsubscribe => {
                Err(ErrorBody::new(ErrorCode::Internal, "subscriptions are handled by the connection"))
            }
        }
    }

    fn leg_create(&self, st: &mut State, spec: &LegCreate) -> OpResult {
        if st.legs.len() >= self.cfg.max_legs {
            return Err(ErrorBody::new(ErrorCode::QuotaExceeded, format!("max_legs ({}) reached", self.cfg.max_legs)));
        }
        if let Some(room) = &spec.room {
            if !st.rooms.contains_key(room) {
                return Err(no_room(room));
            }
        }
        if let Some(c) = spec.clock_rate {
            if c == 0 || c > 1_000_000 {
                return Err(ErrorBody::new(ErrorCode::BadRequest, "clock_rate must be 1..=1000000"));
            }
        }
        // Each simulcast layer is a receive stream of its own.
        let receive_streams: usize = spec.streams.iter().map(|s| s.rids.len().max(1)).sum();
        if receive_streams > crate::rtp::rewrite::MAX_STREAMS {
            return Err(ErrorBody::new(
                ErrorCode::BadRequest,
                format!("at most {} streams per leg (each simulcast layer counts)", crate::rtp::rewrite::MAX_STREAMS),
            ));
        }
        for s in &spec.streams {
            if s.rids.len() > crate::rtp::simulcast::MAX_LAYERS {
                return Err(ErrorBody::new(ErrorCode::BadRequest, format!("at most {} simulcast layers per stream", crate::rtp::simulcast::MAX_LAYERS)));
            }
            if s.rids.len() > 1 && !s.rid_ext.is_some_and(|id| (1..=14).contains(&id)) {
                return Err(ErrorBody::new(ErrorCode::BadRequest, "simulcast (rids) needs rid_ext, a one-byte extension id 1..=14"));
            }
            if s.rids.iter().any(|r| r.is_empty() || r.len() > 16 || !r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')) {
                return Err(ErrorBody::new(ErrorCode::BadRequest, "a rid is 1-16 letters, digits, '-' or '_'"));
            }
        }
        if spec.twcc_ext.is_some_and(|id| !(1..=14).contains(&id)) {
            return Err(ErrorBody::new(ErrorCode::BadRequest, "twcc_ext must be a one-byte extension id 1..=14"));
        }
        if spec.streams.iter().any(|s| s.clock_rate == 0 || s.clock_rate > 1_000_000) {
            return Err(ErrorBody::new(ErrorCode::BadRequest, "stream clock_rate must be 1..=1000000"));
        }
        if let Some(w) = &spec.webrtc {
            check_webrtc_remote(w)?;
        }
        let core = match spec.core {
            Some(c) if c >= self.workers.len() => {
                return Err(ErrorBody::new(ErrorCode::Unsupported, format!("core {c} does not exist (workers: {})", self.workers.len())))
            }
            Some(c) => c,
            None => self.least_loaded_core(),
        };
        // Refuse a bad `audio` before any socket is opened.
        if let Some(a) = &spec.audio {
            mix::participant(0, a, false)?;
        }
        if let Some(v) = &spec.video {
            crate::compute::room::check(v).map_err(|e| ErrorBody::new(ErrorCode::BadRequest, e))?;
            // The composite's SSRC takes a stream slot of the leg.
            if v.send.is_some() && receive_streams > crate::rtp::rewrite::MAX_STREAMS - 2 {
                return Err(ErrorBody::new(ErrorCode::BadRequest, format!("a leg that takes a composite has at most {} streams", crate::rtp::rewrite::MAX_STREAMS - 2)));
            }
        }
        st.next_leg += 1;
        if st.next_leg << 8 >= crate::rtp::rewrite::LEG_ID_LIMIT {
            // Leg ids double as SSRC seeds: with the stream index above them they
            // must stay below 2^32.
            st.next_leg = 1;
        }
        let id: LegId = (st.next_leg << 8) | core as u64;
        let counters = Arc::new(LegCounters::new());
        let created: CreatedLeg =
            self.ask(core, |reply| Command::CreateLeg { id, spec: spec.clone(), counters: counters.clone(), reply })?;
        let v6 = spec.family == Family::Ipv6;
        let info = LegInfo {
            leg: id,
            core,
            media: spec.media,
            pool: if spec.webrtc.is_some() { control::PortPool::Webrtc } else { spec.pool },
            rtcp_mux: spec.rtcp_mux || spec.webrtc.is_some(),
            local_ip: created.local_ip,
            rtp_port: created.rtp_port,
            rtcp_port: created.rtcp_port,
            advertised_ip: self.cfg.advertised(v6).unwrap_or(created.local_ip),
            remote: spec.remote,
            room: None,
            label: spec.label.clone(),
            muted: false,
            out_ssrcs: created.out_ssrcs,
            webrtc: created.webrtc,
            mix_ssrc: spec.audio.as_ref().and_then(|a| a.send.as_ref()).map(|_| mix_ssrc(id)),
            video_ssrc: spec.video.as_ref().and_then(|v| v.send.as_ref()).map(|_| crate::compute::video_ssrc(id)),
        };
        let codecs = spec.streams.iter().filter_map(|s| s.codec.clone()).collect();
        st.legs.insert(id, LegRecord { info, counters, codecs, audio: spec.audio.clone(), mix_at: None, video: spec.video.clone() });
        self.hub.publish(&Event::LegCreated { leg: id, core });
        if spec.audio.is_some() {
            if let Err(e) = self.mix_move(st, id, Some((core, None))) {
                let _ = self.ask(core, |reply| Command::DeleteLeg { id, reply });
                st.legs.remove(&id);
                return Err(e);
            }
        }
        if let Some(room) = &spec.room {
            st.legs.get_mut(&id).expect("inserted").info.room = None;
            if let Err(e) = self.attach(st, room, id) {
                let _ = self.ask(core, |reply| Command::DeleteLeg { id, reply });
                st.legs.remove(&id);
                return Err(e);
            }
        }
        to_value(&st.legs[&id].info)
    }

    fn attach(&self, st: &mut State, room: &str, leg: LegId) -> OpResult {
        let rec = st.legs.get(&leg).ok_or_else(|| crate::engine::no_leg(leg))?;
        let num = st.rooms.get(room).ok_or_else(|| no_room(room))?.num;
        match &rec.info.room {
            Some(r) if r == room => return self.room_info(st, room),
            Some(r) => {
                return Err(ErrorBody::new(ErrorCode::AlreadyAttached, format!("leg {leg} is in room `{r}`; detach it first")))
            }
            None => {}
        }
        let core = rec.info.core;
        let before = self.room_mask(st, room);
        self.video_join(st, leg, room)?;
        if let Err(e) = self.ask(core, |reply| Command::JoinRoom { leg, room: num, reply }) {
            self.video_leave(st, leg, room);
            return Err(e);
        }
        st.rooms.get_mut(room).expect("checked").legs.push(leg);
        st.legs.get_mut(&leg).expect("checked").info.room = Some(room.to_string());
        self.publish_mask(st, room, num, before);
        let at = self.mix_place(st, leg, Some(room));
        self.mix_move(st, leg, Some(at))?;
        self.room_info(st, room)
    }

    fn room_record(&self, st: &State, room: &str) -> RoomInfo {
        let r = st.rooms.get(room);
        RoomInfo {
            room: room.to_string(),
            legs: r.map(|r| r.legs.clone()).unwrap_or_default(),
            mix: r.and_then(|r| r.mix.clone()),
            home_core: r.and_then(|r| r.mix.as_ref().map(|_| r.home)),
            video: r.and_then(|r| r.video.clone()),
        }
    }

    fn room_info(&self, st: &State, room: &str) -> OpResult {
        to_value(self.room_record(st, room))
    }

    /// Where a new mixing room's mixer runs: the core whose mixers have the fewest
    /// participants, then the fewest rooms. (Leg counts tie after every pair of legs,
    /// which put every room of a run of two-party calls on core 0.)
    fn least_mixing_core(&self, st: &State) -> usize {
        let mut load = vec![(0usize, 0usize); self.workers.len()];
        for r in st.rooms.values().filter(|r| r.mix.is_some()) {
            if let Some(l) = load.get_mut(r.home) {
                l.0 += r.legs.len();
                l.1 += 1;
            }
        }
        (0..load.len()).min_by_key(|&c| load[c]).unwrap_or(0)
    }

    fn least_loaded_core(&self) -> usize {
        (0..self.workers.len()).min_by_key(|&c| self.workers[c].counters.legs.load(std::sync::atomic::Ordering::Relaxed)).unwrap_or(0)
    }

    fn detach(&self, st: &mut State, leg: LegId) -> Result<(), ErrorBody> {
        let Some(room) = st.legs.get(&leg).and_then(|r| r.info.room.clone()) else { return Ok(()) };
        let num = st.rooms[&room].num;
        let before = self.room_mask(st, &room);
        self.video_leave(st, leg, &room);
        self.ask(leg_core(leg), |reply| Command::LeaveRoom { leg, reply })?;
        st.rooms.get_mut(&room).expect("leg's room exists").legs.retain(|&l| l != leg);
        st.legs.get_mut(&leg).expect("checked").info.room = None;
        self.publish_mask(st, &room, num, before);
        let at = self.mix_place(st, leg, None);
        self.mix_move(st, leg, Some(at))
    }

    fn room_mask(&self, st: &State, room: &str) -> u64 {
        st.rooms.get(room).map_or(0, |r| r.legs.iter().fold(0u64, |m, &l| m | 1 << leg_core(l)))
    }

    /// Tell every core that was or is in the room which cores now hold its legs, and
    /// wait until each has applied it: when attach/detach returns, media sent a moment
    /// later already follows the new membership on every core.
    fn publish_mask(&self, st: &State, room: &str, num: u32, before: u64) {
        let after = self.room_mask(st, room);
        if after == before {
            return;
        }
        let mut m = before | after;
        while m != 0 {
            let c = m.trailing_zeros() as usize;
            m &= m - 1;
            if let Err(e) = self.ask(c, |reply| Command::RoomCores { room: num, mask: after, reply }) {
                tracing::error!(core = c, room, "room view not applied: {e}");
            }
        }
    }

    fn leg_stats(&self, rec: &LegRecord) -> LegStats {
        let now_us = self.epoch.elapsed().as_micros() as u64;
        let mut s = LegStats {
            leg: rec.info.leg,
            core: rec.info.core,
            room: rec.info.room.clone(),
            label: rec.info.label.clone(),
            remote: rec.info.remote,
            codecs: rec.codecs.clone(),
            ..Default::default()
        };
        rec.counters.fill(&mut s, now_us);
        s
    }

    pub fn turn_allocations(&self) -> Result<Vec<AllocationInfo>, ErrorBody> {
        if self.cfg.turn.is_none() {
            return Err(ErrorBody::new(ErrorCode::Unsupported, "TURN is not enabled (--turn or [turn])"));
        }
        let mut all = vec![];
        for core in 0..self.workers.len() {
            all.extend(self.ask(core, |reply| Command::TurnSnapshot { reply })?);
        }
        Ok(all)
    }

    pub fn turn_users(&self) -> Result<Vec<TurnUserStats>, ErrorBody> {
        let mut by_user: BTreeMap<String, TurnUserStats> = BTreeMap::new();
        for a in self.turn_allocations()? {
            let u = by_user.entry(a.user.clone()).or_insert_with(|| TurnUserStats { user: a.user.clone(), ..Default::default() });
            u.allocations += 1;
            u.to_peer_bytes += a.to_peer_bytes;
            u.from_peer_bytes += a.from_peer_bytes;
            u.packets += a.to_peer_packets + a.from_peer_packets;
        }
        Ok(by_user.into_values().collect())
    }

    /// Every leg with its counters, for /metrics.
    pub fn snapshot(&self) -> Vec<LegStats> {
        let st = self.state.lock().unwrap();
        st.legs.values().map(|r| self.leg_stats(r)).collect()
    }

    pub fn room_count(&self) -> usize {
        self.state.lock().unwrap().rooms.len()
    }

    /// Keep the registry in step with what workers report, then publish.
    pub fn pump_events(self: Arc<Self>, rx: Receiver<Event>) {
        for e in rx {
            if let Event::RemoteLearned { leg, remote } = &e {
                if let Some(r) = self.state.lock().unwrap().legs.get_mut(leg) {
                    r.info.remote = Some(*remote);
                }
            }
            if let Event::PromptDone { id } = &e {
                self.state.lock().unwrap().prompts.remove(id);
            }
            if matches!(e, Event::Dtmf { .. } | Event::Speakers { .. }) {
                self.video_event(&e);
            }
            self.hub.publish(&e);
        }
    }

    /// Choose each room's active speaker once per `speakers::INTERVAL`, forever.
    pub fn watch_speakers(self: Arc<Self>) {
        let mut tracker = super::speakers::SpeakerTracker::default();
        loop {
            std::thread::sleep(super::speakers::INTERVAL);
            let mut changes = Vec::new();
            {
                let st = self.state.lock().unwrap();
                for (name, room) in &st.rooms {
                    let levels: Vec<(LegId, u64)> = room
                        .legs
                        .iter()
                        .filter_map(|l| st.legs.get(l).map(|r| (*l, r.counters.loudness.load(std::sync::atomic::Ordering::Relaxed))))
                        .collect();
                    if let Some(leg) = tracker.update(name, &levels) {
                        changes.push(Event::ActiveSpeaker { room: name.clone(), leg });
                    }
                }
                tracker.retain(|r| st.rooms.contains_key(r));
            }
            for e in changes {
                self.hub.publish(&e);
            }
        }
    }

    pub fn shutdown(&self) {
        for c in 0..self.workers.len() {
            self.tell(c, Command::Shutdown);
        }
    }
}

fn no_room(room: &str) -> ErrorBody {
    ErrorBody::new(ErrorCode::NoSuchRoom, format!("room `{room}` does not exist"))
}

/// Remote WebRTC parameters are either both absent (mediad offers; `leg.update`
/// brings them) or a ufrag with a `sha-256` fingerprint.
fn check_webrtc_remote(w: &control::WebrtcRemote) -> Result<(), ErrorBody> {
    let empty = w.ice_ufrag.is_empty() && w.fingerprint.is_empty();
    if empty || (!w.ice_ufrag.is_empty() && w.fingerprint.to_ascii_lowercase().starts_with("sha-256 ")) {
        return Ok(());
    }
    Err(ErrorBody::new(ErrorCode::BadRequest, "webrtc needs ice_ufrag and a `sha-256 AB:CD:..` fingerprint"))
}

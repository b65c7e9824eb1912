//! The compute pool: threads beside the packet cores that run the video MCU. A room
//! that composes video lives on one video thread (its `video::mixer::Mixer`: decode
//! each input once, compose all outputs in one call, encode each once). Cores copy
//! the video RTP of participating legs into the room's thread queue while the room has
//! a composite to make (bounded; a full queue drops, counted); the thread hands
//! composed packets and key-frame requests back to the core that owns each leg
//! (`Mesh::push_video`), which sends them through the leg's socket (SRTP for WebRTC
//! and SDES legs) like any packet.
//!
//! Video runs here, not on the packet cores: a frame time of decoding and encoding
//! takes milliseconds, which would stall every socket of a core.

pub mod room;
pub mod settings;
mod thread;

pub use settings::VideoSettings;

use control::{ErrorBody, ErrorCode, LegId, LegVideo, OutputClass, VideoMixSettings, VideoMode, VideoRoomStats};
use crossbeam_channel::{bounded, Sender, TrySendError};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use crate::engine::buffers::Buf;

/// What a video thread hands back to a leg's core.
pub enum VideoOut {
    /// A composed RTP packet for the leg.
    Packet { leg: LegId, rtp: Vec<u8> },
    /// Ask the leg's sender for a key frame (PLI).
    Keyframe { leg: LegId },
}

pub type Reply<T> = Sender<Result<T, ErrorBody>>;

/// Where a leg's video is composed: its room on a video thread, and whether that room
/// composes now (someone takes a composite). Cores copy a leg's video there only then:
/// an SFU room of a daemon with video threads pays nothing while nobody takes one.
#[derive(Debug, Clone)]
pub struct VideoAt {
    pub thread: usize,
    pub room: u32,
    pub composing: Arc<AtomicBool>,
}

/// Control of a room's video MCU, from the registry.
pub enum VideoCtl {
    /// `composing` is the room's flag that its thread keeps (see `VideoAt`).
    Room { room: u32, name: String, settings: VideoMixSettings, composing: Arc<AtomicBool> },
    DropRoom { room: u32 },
    Join { room: u32, leg: LegId, label: Option<String>, video: Box<LegVideo> },
    Leave { room: u32, leg: LegId },
    Layout { room: u32, leg: Option<LegId>, class: Option<OutputClass>, layout: String },
    Mode { room: u32, mode: VideoMode },
    Podium { room: u32, leg: LegId, on: bool },
    Pin { room: u32, leg: LegId, tile: usize, source: Option<LegId> },
    /// Loudest first, from the audio MCU.
    Speakers { room: u32, legs: Vec<LegId> },
}

pub(crate) enum VideoIn {
    /// A pooled buffer of the sending core: given back to it once pushed.
    Packet { room: u32, leg: LegId, at: Instant, buf: Box<Buf> },
    /// The receiver of `leg`'s composite lost its picture (PLI/FIR).
    Keyframe { room: u32, leg: LegId },
    /// A change; `reply` when the registry waits for its outcome.
    Ctl { ctl: VideoCtl, reply: Option<Reply<()>> },
    Stats { room: u32, reply: Reply<VideoRoomStats> },
}

/// Counters of one video thread.
#[derive(Default)]
pub struct ThreadCounters {
    pub rooms: AtomicUsize,
    pub dropped_in: AtomicU64,
}

/// The handle every core and the registry hold.
pub struct VideoPool {
    queues: Vec<Sender<VideoIn>>,
    pub counters: Vec<Arc<ThreadCounters>>,
}

const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

fn unavailable(msg: impl Into<String>) -> ErrorBody {
    ErrorBody::new(ErrorCode::Unavailable, msg)
}

impl VideoPool {
    /// Start `settings.threads` video threads handing output to `mesh`.
    pub fn start(settings: &VideoSettings, mesh: Arc<crate::engine::mesh::Mesh>) -> Result<Arc<VideoPool>, String> {
        let mut queues = Vec::new();
        let mut counters = Vec::new();
        for i in 0..settings.threads {
            let (tx, rx) = bounded(settings.queue);
            let c = Arc::new(ThreadCounters::default());
            let ctx = thread::Context::new(i, settings.clone(), mesh.clone(), c.clone())?;
            let cpu = (!settings.cpus.is_empty()).then(|| settings.cpus[i % settings.cpus.len()]);
            std::thread::Builder::new()
                .name(format!("video-{i}"))
                .spawn(move || {
                    if let Some(cpu) = cpu {
                        crate::pin_to(cpu);
                    }
                    thread::run(ctx, rx)
                })
                .map_err(|e| e.to_string())?;
            queues.push(tx);
            counters.push(c);
        }
        Ok(Arc::new(VideoPool { queues, counters }))
    }

    /// A pool without threads (video MCU off).
    pub fn none() -> Arc<VideoPool> {
        Arc::new(VideoPool { queues: vec![], counters: vec![] })
    }

    pub fn threads(&self) -> usize {
        self.queues.len()
    }

    /// The thread with the fewest rooms.
    pub fn least_loaded(&self) -> Option<usize> {
        (0..self.counters.len()).min_by_key(|&i| self.counters[i].rooms.load(Ordering::Relaxed))
    }

    /// A participant's video RTP as received (decrypted), in a pooled buffer the
    /// thread gives back to its core. Never blocks: a full queue drops the packet
    /// (counted; the assembler sees a loss and asks for a key frame) and hands the
    /// buffer back to the caller.
    pub fn push_packet(&self, thread: usize, room: u32, leg: LegId, at: Instant, buf: Box<Buf>) -> Result<(), Box<Buf>> {
        let Some(q) = self.queues.get(thread) else { return Err(buf) };
        match q.try_send(VideoIn::Packet { room, leg, at, buf }) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(VideoIn::Packet { buf, .. }) | TrySendError::Disconnected(VideoIn::Packet { buf, .. })) => {
                self.counters[thread].dropped_in.fetch_add(1, Ordering::Relaxed);
                Err(buf)
            }
            Err(_) => unreachable!("a packet was sent"),
        }
    }

    /// A change that needs no answer (speaker order, DTMF 1/2): queued, not waited for.
    pub fn tell(&self, thread: usize, ctl: VideoCtl) {
        if let Some(q) = self.queues.get(thread) {
            let _ = q.try_send(VideoIn::Ctl { ctl, reply: None });
        }
    }

    pub fn push_keyframe_request(&self, thread: usize, room: u32, leg: LegId) {
        if let Some(q) = self.queues.get(thread) {
            let _ = q.try_send(VideoIn::Keyframe { room, leg });
        }
    }

    /// Apply a control change on `thread` and wait for its answer.
    pub fn control(&self, thread: usize, ctl: VideoCtl) -> Result<(), ErrorBody> {
        let q = self.queues.get(thread).ok_or_else(|| unavailable("no video thread"))?;
        let (tx, rx) = bounded(1);
        q.send(VideoIn::Ctl { ctl, reply: Some(tx) }).map_err(|_| unavailable("the video thread is gone"))?;
        rx.recv_timeout(REPLY_TIMEOUT).map_err(|_| unavailable("the video thread did not answer"))?
    }

    pub fn stats(&self, thread: usize, room: u32) -> Result<VideoRoomStats, ErrorBody> {
        let q = self.queues.get(thread).ok_or_else(|| unavailable("no video thread"))?;
        let (tx, rx) = bounded(1);
        q.send(VideoIn::Stats { room, reply: tx }).map_err(|_| unavailable("the video thread is gone"))?;
        rx.recv_timeout(REPLY_TIMEOUT).map_err(|_| unavailable("the video thread did not answer"))?
    }
}

/// The SSRC of the composite toward `leg`: from the leg's id like its stream SSRCs,
/// in a stream slot feedback routing never matches (the mix uses the last one).
pub fn video_ssrc(leg: LegId) -> u32 {
    crate::rtp::rewrite::ssrc_for_stream(leg, crate::rtp::rewrite::MAX_STREAMS - 2)
}

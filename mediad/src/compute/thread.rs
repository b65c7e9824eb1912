//! One video thread: its rooms, their frame times, and the queue cores and the
//! registry feed. It sleeps until the next room's frame is due or a message comes.

use super::room::VideoRoom;
use super::{ThreadCounters, VideoCtl, VideoIn, VideoOut, VideoSettings};
use crate::engine::mesh::Mesh;
use crate::video::mixer::Mixer;
use control::{leg_core, ErrorBody, ErrorCode};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use gpu::layout::Library;
use gpu::{Choice, Compositor, Font};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Holes in a stream are given up and key frames asked again at least this often.
const IDLE_WAIT: Duration = Duration::from_millis(20);
/// Messages taken between two looks at the clock.
const BATCH: usize = 512;

fn no_room() -> ErrorBody {
    ErrorBody::new(ErrorCode::NoSuchRoom, "the room composes no video here")
}

pub struct Context {
    index: usize,
    settings: VideoSettings,
    mesh: Arc<Mesh>,
    counters: Arc<ThreadCounters>,
    compositor: Arc<Compositor>,
    /// Loaded once at start; each room gets a copy.
    library: Library,
    /// None: the font package is missing and names are not drawn (logged at start).
    font: Option<Font>,
    rooms: HashMap<u32, VideoRoom>,
    out: Vec<VideoOut>,
}

impl Context {
    pub fn new(index: usize, settings: VideoSettings, mesh: Arc<Mesh>, counters: Arc<ThreadCounters>) -> Result<Context, String> {
        let choice: Choice = settings.compositor.parse()?;
        // Layouts are read and checked once at start: a broken file stops the daemon
        // here, not at the first room.
        let library = Library::load(&settings.layouts_dir()).map_err(|e| format!("layouts {}: {e}", settings.layouts_dir().display()))?;
        let font = Font::system().map_err(|e| tracing::warn!(thread = index, "video names off: {e}")).ok();
        let (compositor, why) = Compositor::start(choice);
        match why {
            Some(w) => tracing::info!(thread = index, compositor = %compositor.device(), "video compositor ({w})"),
            None => tracing::info!(thread = index, compositor = %compositor.device(), "video compositor"),
        }
        Ok(Context { index, settings, mesh, counters, compositor: Arc::new(compositor), library, font, rooms: HashMap::new(), out: Vec::new() })
    }

    fn room(&mut self, room: u32) -> Result<&mut VideoRoom, ErrorBody> {
        self.rooms.get_mut(&room).ok_or_else(no_room)
    }

    fn control(&mut self, ctl: VideoCtl) -> Result<(), ErrorBody> {
        let bad = |e: String| ErrorBody::new(ErrorCode::BadRequest, e);
        match ctl {
            VideoCtl::Room { room, name, settings, composing } => {
                let mixer = Mixer::new(self.library.clone(), self.compositor.clone(), self.font.clone());
                let mut r = VideoRoom::new(name, settings, mixer).map_err(bad)?;
                r.composing = composing;
                self.rooms.insert(room, r);
                self.counters.rooms.store(self.rooms.len(), Ordering::Relaxed);
            }
            VideoCtl::DropRoom { room } => {
                self.rooms.remove(&room);
                self.counters.rooms.store(self.rooms.len(), Ordering::Relaxed);
            }
            VideoCtl::Join { room, leg, label, video } => {
                let r = self.rooms.get_mut(&room).ok_or_else(no_room)?;
                r.join(leg, label, &video, &self.settings).map_err(bad)?;
            }
            VideoCtl::Leave { room, leg } => self.room(room)?.leave(leg),
            VideoCtl::Layout { room, leg, class, layout } => self.room(room)?.set_layout(leg, class, &layout).map_err(bad)?,
            VideoCtl::Mode { room, mode } => self.room(room)?.set_mode(&mode).map_err(bad)?,
            VideoCtl::Podium { room, leg, on } => self.room(room)?.set_podium(leg, on).map_err(bad)?,
            VideoCtl::Pin { room, leg, tile, source } => self.room(room)?.pin(leg, tile, source).map_err(bad)?,
            VideoCtl::Speakers { room, legs } => self.room(room)?.set_speakers(&legs),
        }
        Ok(())
    }

    fn handle(&mut self, m: VideoIn) {
        match m {
            VideoIn::Packet { room, leg, at, buf } => {
                if let Some(r) = self.rooms.get_mut(&room) {
                    r.push(leg, at, buf.bytes(), &mut self.out);
                }
                self.mesh.give_back(buf);
            }
            VideoIn::Keyframe { room, leg } => {
                if let Some(r) = self.rooms.get_mut(&room) {
                    r.request_keyframe(leg);
                }
            }
            VideoIn::Ctl { ctl, reply } => {
                let r = self.control(ctl);
                if let Some(reply) = reply {
                    let _ = reply.send(r);
                }
            }
            VideoIn::Stats { room, reply } => {
                let (index, dropped) = (self.index, self.counters.dropped_in.load(Ordering::Relaxed));
                let _ = reply.send(self.room(room).map(|r| control::VideoRoomStats { thread: index, dropped_in: dropped, ..r.stats() }));
            }
        }
    }

    /// Hand what the rooms made to the legs' cores, waking each once.
    fn flush(&mut self) {
        let mut woken = 0u64;
        for o in self.out.drain(..) {
            let leg = match &o {
                VideoOut::Packet { leg, .. } | VideoOut::Keyframe { leg } => *leg,
            };
            let core = leg_core(leg);
            if self.mesh.push_video(core, o).is_ok() {
                woken |= 1 << core;
            }
        }
        while woken != 0 {
            let core = woken.trailing_zeros() as usize;
            woken &= woken - 1;
            self.mesh.nudge(core);
        }
    }
}

pub fn run(mut ctx: Context, rx: Receiver<VideoIn>) {
    loop {
        let now = Instant::now();
        let next = ctx.rooms.values().filter_map(|r| r.next_tick).min();
        let wait = next.map_or(IDLE_WAIT, |t| t.saturating_duration_since(now).min(IDLE_WAIT));
        match rx.recv_timeout(wait) {
            Ok(m) => ctx.handle(m),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        for m in rx.try_iter().take(BATCH) {
            ctx.handle(m);
        }
        let now = Instant::now();
        for r in ctx.rooms.values_mut() {
            r.run(now, &mut ctx.out);
        }
        ctx.flush();
    }
}

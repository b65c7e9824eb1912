//! Lock-free hand-off between cores. Every ordered pair of cores has a bounded
//! queue; a packet for a room whose legs sit on several cores crosses to each remote
//! core once, and that core fans it out to its own legs. Buffers go back to the core
//! that allocated them through a per-core return queue. A core that is about to block
//! marks itself sleeping; a sender wakes it only then, so a busy core is never sent a
//! wake-up syscall.

use super::buffers::Buf;
use control::LegId;
use crossbeam_queue::ArrayQueue;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub const RING_CAPACITY: usize = 8192;
/// Composed packets waiting for one core: a few frames of every composite it sends.
pub const VIDEO_CAPACITY: usize = 16384;

pub enum Handoff {
    /// Rewritten RTP for the legs of `room` on the receiving core.
    Media { room: u32, src_leg: LegId, clock_rate: u32, layer: Option<crate::rtp::simulcast::LayerTag>, buf: Box<Buf> },
    /// Feedback from a receiver for stream `stream` of source leg `to_leg` (owned by
    /// the receiving core).
    Feedback { to_leg: LegId, stream: u8, item: FeedbackMsg },
    /// Audio from `leg` (as received) for a mixer on the receiving core (`room` None:
    /// its lobby).
    MixIn { room: Option<u32>, leg: LegId, buf: Box<Buf> },
    /// A packet a mixer made for `leg` (owned by the receiving core).
    ToLeg { leg: LegId, buf: Box<Buf> },
}

/// A feedback request crossing cores; NACK sequence numbers are in outgoing numbering.
#[derive(Debug, Clone)]
pub enum FeedbackMsg {
    Pli,
    Fir,
    Nack(Vec<u16>),
}

pub trait Wake: Send + Sync {
    fn wake(&self);
}

pub struct Mesh {
    pub cores: usize,
    rings: Vec<ArrayQueue<Handoff>>,
    /// TURN data connections moving to the core that owns their peer connection.
    moved_streams: Vec<ArrayQueue<super::tcp_relay::MovedStream>>,
    returns: Vec<ArrayQueue<Box<Buf>>>,
    /// What video threads made for each core's legs (many producers).
    video: Vec<ArrayQueue<crate::compute::VideoOut>>,
    sleeping: Vec<AtomicBool>,
    wakers: Vec<Arc<dyn Wake>>,
}

impl Mesh {
    pub fn new(wakers: Vec<Arc<dyn Wake>>) -> Arc<Mesh> {
        let cores = wakers.len();
        Arc::new(Mesh {
            cores,
            rings: (0..cores * cores).map(|_| ArrayQueue::new(RING_CAPACITY)).collect(),
            moved_streams: (0..cores).map(|_| ArrayQueue::new(1024)).collect(),
            returns: (0..cores).map(|_| ArrayQueue::new(RING_CAPACITY * cores.max(1))).collect(),
            video: (0..cores).map(|_| ArrayQueue::new(VIDEO_CAPACITY)).collect(),
            sleeping: (0..cores).map(|_| AtomicBool::new(false)).collect(),
            wakers,
        })
    }

    fn ring(&self, from: usize, to: usize) -> &ArrayQueue<Handoff> {
        &self.rings[from * self.cores + to]
    }

    /// Queue for `to`; gives the message back when the ring is full.
    pub fn push(&self, from: usize, to: usize, h: Handoff) -> Result<(), Handoff> {
        self.ring(from, to).push(h)
    }

    pub fn pop(&self, from: usize, to: usize) -> Option<Handoff> {
        self.ring(from, to).pop()
    }

    pub fn has_pending(&self, to: usize) -> bool {
        (0..self.cores).any(|from| from != to && !self.ring(from, to).is_empty()) || !self.moved_streams[to].is_empty() || !self.video[to].is_empty()
    }

    /// Queue composed video for a leg of `core`; the caller wakes it (`nudge`).
    pub fn push_video(&self, core: usize, v: crate::compute::VideoOut) -> Result<(), crate::compute::VideoOut> {
        match self.video.get(core) {
            Some(q) => q.push(v),
            None => Err(v),
        }
    }

    pub fn take_video(&self, core: usize) -> Option<crate::compute::VideoOut> {
        self.video[core].pop()
    }

    /// Queue a connection for `to` and wake it.
    pub fn move_stream(&self, to: usize, s: super::tcp_relay::MovedStream) -> Result<(), super::tcp_relay::MovedStream> {
        self.moved_streams[to].push(s)?;
        self.nudge(to);
        Ok(())
    }

    pub fn take_moved_stream(&self, core: usize) -> Option<super::tcp_relay::MovedStream> {
        self.moved_streams[core].pop()
    }

    pub fn give_back(&self, buf: Box<Buf>) {
        let owner = buf.owner as usize;
        // A full return queue only means the owner is far behind; dropping the buffer
        // then is correct (its pool allocates a new one later).
        let _ = self.returns[owner].push(buf);
    }

    pub fn take_returned(&self, core: usize) -> Option<Box<Buf>> {
        self.returns[core].pop()
    }

    pub fn set_sleeping(&self, core: usize, v: bool) {
        self.sleeping[core].store(v, Ordering::SeqCst);
    }

    /// Wake `core` if it is (about to be) blocked.
    pub fn nudge(&self, core: usize) {
        if self.sleeping[core].swap(false, Ordering::SeqCst) {
            self.wakers[core].wake();
        }
    }

    pub fn wake(&self, core: usize) {
        self.wakers[core].wake();
    }
}

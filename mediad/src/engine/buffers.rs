//! Packet buffers that outlive one receive batch (hand-offs between cores, RTCP we
//! generate) and the hold table that keeps any buffer alive until every send that
//! points into it has completed (at once for epoll, at completion for io_uring).

/// Large enough for any datagram on a 1500-byte path; larger ones arrive truncated
/// and are dropped as malformed.
pub const BUF_SIZE: usize = 2048;

pub struct Buf {
    /// The core whose pool this buffer returns to.
    pub owner: u16,
    pub len: u16,
    pub data: [u8; BUF_SIZE],
}

impl Buf {
    pub fn new(owner: usize) -> Box<Buf> {
        Box::new(Buf { owner: owner as u16, len: 0, data: [0; BUF_SIZE] })
    }
    pub fn bytes(&self) -> &[u8] {
        &self.data[..self.len as usize]
    }
}

/// What keeps a payload alive.
pub enum HoldKind {
    /// Nothing to free: a buffer the backend reuses only after flushing.
    Transient,
    /// An io_uring provided buffer, returned to the ring on release.
    Ring(u16),
    /// A pooled buffer, returned to its owner's pool on release.
    Pooled(Box<Buf>),
}

pub type HoldId = u32;

/// Reference-counted holds in a slab: no allocation once warmed up.
#[derive(Default)]
pub struct Holds {
    entries: Vec<(Option<HoldKind>, u32)>,
    free: Vec<u32>,
}

impl Holds {
    pub fn hold(&mut self, kind: HoldKind) -> HoldId {
        match self.free.pop() {
            Some(i) => {
                self.entries[i as usize] = (Some(kind), 1);
                i
            }
            None => {
                self.entries.push((Some(kind), 1));
                (self.entries.len() - 1) as u32
            }
        }
    }

    #[inline]
    pub fn retain(&mut self, id: HoldId) {
        self.entries[id as usize].1 += 1;
    }

    /// Drop one reference; returns the kind when it was the last one.
    #[inline]
    pub fn release(&mut self, id: HoldId) -> Option<HoldKind> {
        let e = &mut self.entries[id as usize];
        e.1 -= 1;
        if e.1 == 0 {
            self.free.push(id);
            e.0.take()
        } else {
            None
        }
    }

    pub fn live(&self) -> usize {
        self.entries.len() - self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_release_on_last_reference() {
        let mut h = Holds::default();
        let a = h.hold(HoldKind::Ring(3));
        h.retain(a);
        assert!(h.release(a).is_none());
        assert!(matches!(h.release(a), Some(HoldKind::Ring(3))));
        let b = h.hold(HoldKind::Transient);
        assert_eq!(a, b, "slots are reused");
        assert_eq!(h.live(), 1);
    }
}

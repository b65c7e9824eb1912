//! Recently forwarded video packets per outgoing SSRC, so a receiver's NACK is
//! answered by the core that serves that receiver, at once, instead of travelling to
//! the publisher and back (which doubles the repair time and multiplies the
//! publisher's retransmissions by the number of receivers that lost the packet).
//!
//! Each core keeps its own cache of what it forwarded: the packet's bytes after the
//! SSRC/sequence rewrite, before per-receiver SRTP, which every receiver on the core
//! shares. Slots are indexed by sequence number modulo the depth and reuse their
//! buffers, so a warm cache does not allocate.

use std::collections::HashMap;

/// Packets kept per stream: about a second of 2-3 Mbit/s video, longer than any
/// NACK worth answering.
pub const DEPTH: usize = 512;
/// Streams one core caches at most (36 speakers × video, with room to spare); past
/// it the stream that was idle longest is dropped.
const MAX_STREAMS: usize = 256;

struct Slot {
    seq: u16,
    valid: bool,
    data: Vec<u8>,
}

struct Stream {
    slots: Vec<Slot>,
    /// Insertions into this cache when this stream last got a packet (for eviction).
    last_used: u64,
}

#[derive(Default)]
pub struct PacketCache {
    streams: HashMap<u32, Stream>,
    clock: u64,
}

impl PacketCache {
    /// Keep a copy of `packet` (plain RTP) under `ssrc`/`seq`.
    pub fn insert(&mut self, ssrc: u32, seq: u16, packet: &[u8]) {
        let data = &mut self.slot(ssrc, seq).data;
        data.clear();
        data.extend_from_slice(packet);
    }

    /// Keep `packet` itself (one made for this core, a composite's): no copy; the
    /// buffer it replaces is dropped.
    pub fn keep(&mut self, ssrc: u32, seq: u16, packet: Vec<u8>) {
        self.slot(ssrc, seq).data = packet;
    }

    /// The slot `ssrc`/`seq` goes in, marked as holding it.
    fn slot(&mut self, ssrc: u32, seq: u16) -> &mut Slot {
        self.clock += 1;
        if !self.streams.contains_key(&ssrc) && self.streams.len() >= MAX_STREAMS {
            if let Some((&old, _)) = self.streams.iter().min_by_key(|(_, s)| s.last_used) {
                self.streams.remove(&old);
            }
        }
        let clock = self.clock;
        let s = self.streams.entry(ssrc).or_insert_with(|| Stream {
            slots: (0..DEPTH).map(|_| Slot { seq: 0, valid: false, data: Vec::new() }).collect(),
            last_used: clock,
        });
        s.last_used = clock;
        let slot = &mut s.slots[seq as usize % DEPTH];
        slot.seq = seq;
        slot.valid = true;
        slot
    }

    /// The packet sent as `ssrc`/`seq`, if still held.
    pub fn get(&self, ssrc: u32, seq: u16) -> Option<&[u8]> {
        let slot = &self.streams.get(&ssrc)?.slots[seq as usize % DEPTH];
        (slot.valid && slot.seq == seq).then_some(slot.data.as_slice())
    }

    pub fn forget(&mut self, ssrc: u32) {
        self.streams.remove(&ssrc);
    }

    pub fn streams(&self) -> usize {
        self.streams.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_recent_sequence_numbers_only() {
        let mut c = PacketCache::default();
        for seq in 65_000u16..=65_535 {
            c.insert(7, seq, &seq.to_be_bytes());
        }
        for seq in 0u16..100 {
            c.insert(7, seq, &seq.to_be_bytes());
        }
        assert_eq!(c.get(7, 99), Some(&99u16.to_be_bytes()[..]));
        assert_eq!(c.get(7, 65_535), Some(&65_535u16.to_be_bytes()[..]), "across the wrap");
        assert_eq!(c.get(7, 65_000), None, "overwritten by a newer packet in its slot");
        assert_eq!(c.get(8, 99), None);
        c.keep(7, 99, b"kept".to_vec());
        assert_eq!(c.get(7, 99), Some(&b"kept"[..]), "an owned packet replaces the copy");
    }

    #[test]
    fn stream_count_is_bounded() {
        let mut c = PacketCache::default();
        for ssrc in 0..(MAX_STREAMS as u32 + 10) {
            c.insert(ssrc, 1, b"x");
        }
        assert_eq!(c.streams(), MAX_STREAMS);
        assert!(c.get(0, 1).is_none() && c.get(MAX_STREAMS as u32 + 9, 1).is_some(), "the oldest went");
    }
}

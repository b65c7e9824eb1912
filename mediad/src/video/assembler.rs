//! One video stream's packets into decodable frames (sans-IO: fed packets and time).
//!
//! Packets are put back in sequence order in a small reorder buffer (only packets
//! behind a hole are copied into it; the first packet received starts the sequence: any
//! before it count as late); a hole is waited for `max_wait` (a retransmission or a
//! late packet may still fill it), then counted lost and skipped. A frame is complete
//! at its marker bit (or when the timestamp moves on), goes through the codec's
//! depacketizer, and is handed out only if nothing of it or before it was lost since
//! the last key frame: a decoder fed a frame that references missing data shows
//! corruption until the next key frame, so instead frames are dropped until one
//! arrives, and a key frame is requested (the runtime turns `Output::RequestKeyframe`
//! into RTCP PLI, or FIR for peers that want it), again every `request_interval` while
//! none comes.

use super::{Depacketizer, Unit, VideoCodec};
use rtp_types::RtpPacket;
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct AssemblerConfig {
    /// How long a hole in the sequence is waited for before it counts as loss.
    pub max_wait: Duration,
    /// Packets held behind a hole at most (a burst past it gives up on the hole).
    pub max_packets: usize,
    /// Largest coded frame taken (bigger ones are dropped, like loss).
    pub max_frame_bytes: usize,
    /// Time between repeated key frame requests while waiting for one.
    pub request_interval: Duration,
}

impl Default for AssemblerConfig {
    fn default() -> Self {
        AssemblerConfig { max_wait: Duration::from_millis(80), max_packets: 1024, max_frame_bytes: 4 << 20, request_interval: Duration::from_millis(500) }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Frame { rtp_timestamp: u32, unit: Unit },
    /// Ask the sender for a key frame (PLI/FIR).
    RequestKeyframe,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AssemblerStats {
    pub packets: u64,
    pub frames: u64,
    pub keyframes: u64,
    /// Frames not handed out: incomplete, malformed, too big, or waiting for a key frame.
    pub dropped_frames: u64,
    pub lost_packets: u64,
    /// Duplicates and packets that came after their hole was given up.
    pub late_packets: u64,
    pub malformed_packets: u64,
    pub oversize_frames: u64,
    pub keyframe_requests: u64,
}

struct Held {
    timestamp: u32,
    marker: bool,
    payload: Vec<u8>,
}

struct Building {
    timestamp: u32,
    unit: Unit,
    broken: bool,
}

/// A jump this far ahead or behind is a restarted sender, not loss or a late packet.
const RESTART_JUMP: u64 = 3000;

pub struct Assembler {
    config: AssemblerConfig,
    depacketizer: Depacketizer,
    held: BTreeMap<u64, Held>,
    highest: Option<u64>,
    next: u64,
    hole_since: Option<Instant>,
    frame: Option<Building>,
    waiting_for_key: bool,
    /// A frame was lost or refused since the last key frame: ask for one.
    need_request: bool,
    last_request: Option<Instant>,
    out: VecDeque<Output>,
    pub stats: AssemblerStats,
}

impl Assembler {
    /// None for codecs the MCU does not decode.
    pub fn new(codec: VideoCodec, config: AssemblerConfig) -> Option<Assembler> {
        Some(Assembler {
            config,
            depacketizer: Depacketizer::new(codec)?,
            held: BTreeMap::new(),
            highest: None,
            next: 0,
            hole_since: None,
            frame: None,
            waiting_for_key: true,
            need_request: false,
            last_request: None,
            out: VecDeque::new(),
            stats: AssemblerStats::default(),
        })
    }

    /// One (decrypted) RTP packet of the stream.
    pub fn push(&mut self, now: Instant, packet: &[u8]) {
        self.stats.packets += 1;
        let Ok(rtp) = RtpPacket::parse(packet) else {
            self.stats.malformed_packets += 1;
            return;
        };
        let seq = rtp.sequence_number();
        let ext = match self.highest {
            None => (1u64 << 32) + seq as u64,
            Some(h) => h.saturating_add_signed(seq.wrapping_sub(h as u16) as i16 as i64),
        };
        match self.highest {
            None => self.next = ext,
            Some(h) if ext > h + RESTART_JUMP || ext + RESTART_JUMP < self.next => self.restart(ext),
            _ => {}
        }
        if ext < self.next || self.held.contains_key(&ext) {
            self.stats.late_packets += 1;
            return;
        }
        self.highest = Some(self.highest.map_or(ext, |h| h.max(ext)));
        if ext == self.next && self.held.is_empty() {
            // In order, nothing waiting: straight into the frame, no copy.
            self.next += 1;
            self.hole_since = None;
            self.take(rtp.timestamp(), rtp.marker_bit(), rtp.payload());
        } else {
            self.held.insert(ext, Held { timestamp: rtp.timestamp(), marker: rtp.marker_bit(), payload: rtp.payload().to_vec() });
        }
        self.drain(now);
    }

    /// Time passed: give up on holes waited for long enough, repeat key frame requests.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.drain(now);
    }

    /// When `handle_timeout` has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let hole = self.hole_since.map(|t| t + self.config.max_wait);
        let request = (self.waiting_for_key && self.need_request).then(|| self.last_request.map(|t| t + self.config.request_interval)).flatten();
        hole.into_iter().chain(request).min()
    }

    pub fn poll(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    fn restart(&mut self, ext: u64) {
        self.lose_frame();
        self.held.clear();
        self.hole_since = None;
        self.next = ext;
        self.highest = Some(ext);
    }

    fn drain(&mut self, now: Instant) {
        loop {
            if let Some(p) = self.held.remove(&self.next) {
                self.next += 1;
                self.hole_since = None;
                self.take(p.timestamp, p.marker, &p.payload);
                continue;
            }
            let Some(&first) = self.held.keys().next() else { break };
            let since = *self.hole_since.get_or_insert(now);
            if now.duration_since(since) < self.config.max_wait && self.held.len() <= self.config.max_packets {
                break;
            }
            self.stats.lost_packets += first - self.next;
            self.next = first;
            self.hole_since = None;
            self.lose_frame();
        }
        if self.waiting_for_key && self.need_request && self.last_request.is_none_or(|t| now.duration_since(t) >= self.config.request_interval) {
            self.last_request = Some(now);
            self.stats.keyframe_requests += 1;
            self.out.push_back(Output::RequestKeyframe);
        }
    }

    /// Packets were lost: the frame being built is incomplete and what follows may
    /// reference what is gone.
    fn lose_frame(&mut self) {
        if let Some(f) = &mut self.frame {
            f.broken = true;
        }
        self.waiting_for_key = true;
        self.need_request = true;
    }

    fn take(&mut self, timestamp: u32, marker: bool, payload: &[u8]) {
        if self.frame.as_ref().is_some_and(|f| f.timestamp != timestamp) {
            self.close(); // its marker packet never came
        }
        let f = self.frame.get_or_insert_with(|| Building { timestamp, unit: Unit::default(), broken: false });
        if !f.broken {
            if self.depacketizer.push(payload, &mut f.unit).is_err() {
                self.stats.malformed_packets += 1;
                f.broken = true;
            } else if f.unit.data.len() > self.config.max_frame_bytes {
                self.stats.oversize_frames += 1;
                f.broken = true;
            }
        }
        if marker {
            self.close();
        }
    }

    fn close(&mut self) {
        let Some(f) = self.frame.take() else { return };
        let finished = self.depacketizer.finish();
        if f.broken || finished.is_err() {
            self.stats.malformed_packets += (!f.broken && finished.is_err()) as u64;
            self.stats.dropped_frames += 1;
            self.waiting_for_key = true;
            self.need_request = true;
            return;
        }
        if self.waiting_for_key && !f.unit.keyframe {
            self.stats.dropped_frames += 1;
            self.need_request = true;
            return;
        }
        if f.unit.keyframe {
            self.waiting_for_key = false;
            self.need_request = false;
            self.last_request = None;
            self.stats.keyframes += 1;
        }
        self.stats.frames += 1;
        self.out.push_back(Output::Frame { rtp_timestamp: f.timestamp, unit: f.unit });
    }
}

#[cfg(test)]
#[path = "assembler_tests.rs"]
mod tests;

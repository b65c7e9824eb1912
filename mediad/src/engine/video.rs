//! The engine side of the video MCU: composites from the video threads sent to this
//! core's legs (and kept in the core's packet cache, so NACKs are answered here),
//! key-frame requests to the legs whose pictures are composed, and receivers' PLI/FIR
//! about a composite passed to its room's thread.

use super::counters::add;
use super::mesh::FeedbackMsg;
use super::media::VIDEO_CLOCK;
use super::Engine;
use crate::compute::VideoOut;

/// Composed packets taken per turn: the sockets are not starved by a burst of frames.
const VIDEO_PER_TURN: usize = 4096;

impl Engine {
    pub(super) fn drain_video(&mut self) {
        for _ in 0..VIDEO_PER_TURN {
            let Some(v) = self.mesh.take_video(self.core) else { break };
            match v {
                VideoOut::Packet { leg, rtp } => {
                    let Some(slot) = self.leg_slot(leg) else { continue };
                    let now = self.now;
                    let l = &mut self.legs[slot as usize];
                    if l.remote.is_none() || rtp.len() < 12 {
                        add(&l.counters.tx_dropped, 1);
                        continue;
                    }
                    let (ssrc, ts) = (u32::from_be_bytes(rtp[8..12].try_into().unwrap()), u32::from_be_bytes(rtp[4..8].try_into().unwrap()));
                    let seq = u16::from_be_bytes([rtp[2], rtp[3]]);
                    l.note_sent(ssrc, ts, rtp.len(), now, VIDEO_CLOCK);
                    self.resend(slot, &rtp, None);
                    // The thread's buffer becomes the cached copy NACKs are answered from.
                    self.sent_cache.keep(ssrc, seq, rtp);
                }
                VideoOut::Keyframe { leg } => {
                    let Some(slot) = self.leg_slot(leg) else { continue };
                    // The video stream of the leg (a plain leg has one stream).
                    let l = &self.legs[slot as usize];
                    if let Some(k) = l.streams.iter().position(|s| s.clock_rate == VIDEO_CLOCK) {
                        self.send_feedback(slot, k, &FeedbackMsg::Pli);
                    }
                }
            }
        }
    }

    /// Feedback about the composite a leg takes: NACKs are answered from the core's
    /// cache; PLI/FIR, and NACKs for packets the cache no longer holds (the picture
    /// cannot be repaired), go to its room's video thread (the next frame of that
    /// composite is a key frame). Feedback about anything else is handed back.
    pub(super) fn composite_feedback(&mut self, slot: u32, media_ssrc: u32, msg: FeedbackMsg) -> Option<FeedbackMsg> {
        if self.legs[slot as usize].video_ssrc != Some(media_ssrc) {
            return Some(msg);
        }
        let unrepaired = match msg {
            FeedbackMsg::Nack(seqs) => self.answer_nack(slot, media_ssrc, seqs).is_some(),
            FeedbackMsg::Pli | FeedbackMsg::Fir => true,
        };
        let l = &self.legs[slot as usize];
        if let (Some(at), true) = (&l.video_at, unrepaired) {
            self.video.push_keyframe_request(at.thread, at.room, l.id);
        }
        None
    }
}

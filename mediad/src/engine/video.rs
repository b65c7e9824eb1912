//! The engine side of the video MCU: composites from the video threads sent to this
//! core's legs, key-frame requests to the legs whose pictures are composed, and
//! receivers' PLI/FIR about a composite passed to its room's thread.

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
                    l.note_sent(ssrc, ts, rtp.len(), now, VIDEO_CLOCK);
                    self.resend(slot, &rtp, None);
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

    /// PLI/FIR about the composite a leg takes go to its room's video thread (the
    /// next frame of that composite is a key frame); NACKs are not answered (the
    /// composite is not cached). True when the feedback was about a composite.
    pub(super) fn composite_feedback(&mut self, slot: u32, media_ssrc: u32, msg: &FeedbackMsg) -> bool {
        let l = &self.legs[slot as usize];
        if l.video_ssrc != Some(media_ssrc) {
            return false;
        }
        if let (Some((thread, room)), FeedbackMsg::Pli | FeedbackMsg::Fir) = (l.video_at, msg) {
            self.video.push_keyframe_request(thread, room, l.id);
        }
        true
    }
}

//! mediad stand-in for the unit tests of the WebRTC hub and the SIP endpoint: records
//! every op and hands out legs whose numbers encode the leg id (WebRTC legs: ports
//! 53000 + leg, out SSRCs leg·100 + k; plain legs: RTP port 50000 + 2·leg; a leg
//! that takes the mix: mix SSRC 7000 + leg).

use crate::webrtc::conference::MediaOps;
use control::{LegCreate, LegId, LegInfo, LegUpdate};
use serde_json::json;

#[derive(Default)]
pub struct FakeMedia {
    pub next: LegId,
    pub created: Vec<LegCreate>,
    pub updated: Vec<LegUpdate>,
    pub deleted: Vec<LegId>,
    pub rooms_deleted: Vec<String>,
    pub attached: Vec<(String, LegId)>,
    /// Prompts played (leg, file name) and stopped (prompt id = index + 1).
    pub prompts: Vec<(LegId, String)>,
    pub prompts_stopped: Vec<u64>,
    /// Legs whose composite was asked for a key frame.
    pub keyframes: Vec<LegId>,
    /// Rooms compose no video (a mediad without video threads).
    pub no_video: bool,
}

impl MediaOps for FakeMedia {
    fn ensure_room(&mut self, _: &str) -> Result<bool, String> {
        Ok(!self.no_video)
    }
    fn delete_room(&mut self, room: &str) {
        self.rooms_deleted.push(room.into());
    }
    fn create_leg(&mut self, spec: LegCreate) -> Result<LegInfo, String> {
        self.next += 1;
        let leg = self.next;
        let mut info = if spec.webrtc.is_some() {
            let n = spec.streams.len().max(1) as u32;
            json!({
                "leg": leg, "core": 0, "media": "audio", "pool": "webrtc", "rtcp_mux": true,
                "local_ip": "127.0.0.1", "rtp_port": 53000 + leg, "rtcp_port": 53000 + leg, "advertised_ip": "127.0.0.1",
                "out_ssrcs": (0..n).map(|k| leg as u32 * 100 + k).collect::<Vec<_>>(),
                "webrtc": {"ice_ufrag": format!("u{leg}"), "ice_pwd": "p".repeat(24), "fingerprint": "sha-256 AA:BB", "candidates": [format!("127.0.0.1:{}", 53000 + leg)]}
            })
        } else {
            json!({"leg": leg, "core": 0, "media": "audio", "pool": "rtp", "rtcp_mux": false,
                "local_ip": "127.0.0.1", "rtp_port": 50000 + 2 * leg, "rtcp_port": 50001 + 2 * leg, "advertised_ip": "127.0.0.1"})
        };
        info["mix_ssrc"] = json!(spec.audio.as_ref().and_then(|a| a.send.as_ref()).map(|_| 7000 + leg as u32));
        info["video_ssrc"] = json!(spec.video.as_ref().and_then(|v| v.send.as_ref()).map(|_| 9000 + leg as u32));
        self.created.push(spec);
        Ok(serde_json::from_value(info).unwrap())
    }
    fn update_leg(&mut self, upd: LegUpdate) -> Result<(), String> {
        self.updated.push(upd);
        Ok(())
    }
    fn delete_leg(&mut self, leg: LegId) {
        self.deleted.push(leg);
    }
    fn attach(&mut self, room: &str, leg: LegId) -> Result<(), String> {
        self.attached.push((room.into(), leg));
        Ok(())
    }
    fn play_prompt(&mut self, leg: LegId, file: &str) -> Result<u64, String> {
        let name = std::path::Path::new(file).file_stem().unwrap().to_string_lossy().into_owned();
        self.prompts.push((leg, name));
        Ok(self.prompts.len() as u64)
    }
    fn stop_prompt(&mut self, id: u64) {
        self.prompts_stopped.push(id);
    }
    fn request_keyframe(&mut self, leg: LegId) {
        self.keyframes.push(leg);
    }
    fn leg_stats(&mut self, leg: LegId) -> Option<control::LegStats> {
        serde_json::from_value(json!({"leg": leg, "core": 0, "rx_packets": 100, "rx_bytes": 17200, "tx_packets": 99, "tx_bytes": 17028,
            "rtcp_rx": 0, "rtcp_tx": 0, "malformed": 0, "tx_dropped": 0, "lost": 1, "expected": 101, "jitter_us": 2500, "feedback_relayed": 0}))
        .ok()
    }
}

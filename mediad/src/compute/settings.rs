//! The `[video]` section of mediad's configuration: the compute pool that runs the
//! video MCU beside the packet cores.

use control::OutputClass;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VideoSettings {
    /// Threads composing video (each runs whole rooms: decode, compose, encode).
    /// 0: none, and rooms with `video` are refused.
    pub threads: usize,
    /// Pin video thread i to CPU `cpus[i % len]`; empty: not pinned (the scheduler
    /// places them beside the packet cores).
    pub cpus: Vec<usize>,
    /// `gpu` (a GPU, else the CPU code), `auto` (a GPU, else lavapipe, else the CPU),
    /// `lavapipe` or `cpu`.
    pub compositor: String,
    /// The layout files (`presets/`, `groups/`); empty: `/usr/share/mediad/layouts`
    /// when it exists, else the source tree's `layouts/`.
    pub layouts: PathBuf,
    /// Frame-rate caps per output class.
    pub fps_sip: u32,
    pub fps_webrtc: u32,
    pub fps_rtsp: u32,
    pub fps_recording: u32,
    /// A key frame in every composite at least this often, seconds (0: only when a
    /// receiver asks): receivers that never send PLI/FIR still recover from loss.
    pub keyframe_interval_s: u32,
    /// Most composites (outputs) one room may have.
    pub max_outputs: usize,
    /// Packets queued for one video thread before more are dropped (counted).
    pub queue: usize,
}

impl Default for VideoSettings {
    fn default() -> Self {
        VideoSettings {
            threads: 1,
            cpus: vec![],
            compositor: "gpu".into(),
            layouts: PathBuf::new(),
            fps_sip: 30,
            fps_webrtc: 30,
            fps_rtsp: 30,
            fps_recording: 25,
            keyframe_interval_s: 4,
            max_outputs: 64,
            queue: 8192,
        }
    }
}

impl VideoSettings {
    pub fn fps_cap(&self, class: OutputClass) -> u32 {
        match class {
            OutputClass::Sip => self.fps_sip,
            OutputClass::Webrtc => self.fps_webrtc,
            OutputClass::Rtsp => self.fps_rtsp,
            OutputClass::Recording => self.fps_recording,
        }
    }

    pub fn layouts_dir(&self) -> PathBuf {
        if !self.layouts.as_os_str().is_empty() {
            return self.layouts.clone();
        }
        let installed = PathBuf::from("/usr/share/mediad/layouts");
        if installed.is_dir() {
            return installed;
        }
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../layouts"))
    }

    pub fn validate(&self) -> Result<(), String> {
        self.compositor.parse::<gpu::Choice>().map_err(|e| format!("[video] {e}"))?;
        if self.threads > 64 {
            return Err("[video] threads must be 0..=64".into());
        }
        for (k, v) in [("fps_sip", self.fps_sip), ("fps_webrtc", self.fps_webrtc), ("fps_rtsp", self.fps_rtsp), ("fps_recording", self.fps_recording)] {
            if !(1..=60).contains(&v) {
                return Err(format!("[video] {k} must be 1..=60"));
            }
        }
        if self.queue < 64 || self.max_outputs == 0 {
            return Err("[video] queue must be at least 64 and max_outputs at least 1".into());
        }
        Ok(())
    }
}

//! One room's video MCU as its video thread runs it: which leg is which input and
//! output of the mixer, layout scopes (common, per class, individual), modes by leg,
//! and the mixer's events turned into work for the legs' cores. No sockets, no
//! threads: fed packets and time, it returns `VideoOut`s.

use super::{VideoOut, VideoSettings};
use crate::video::mixer::{Event, Mixer, OutputSpec};
use crate::video::selection::Mode;
use crate::video::VideoCodec;
use control::{LegId, LegVideo, OutputClass, VideoMixSettings, VideoModeName, VideoRoomStats};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct InputSlot {
    input: usize,
    codec: VideoCodec,
    /// Payload type -> codec, from the leg's `video.receive`.
    payloads: Vec<(u8, VideoCodec)>,
}

struct OutputSlot {
    output: usize,
    class: OutputClass,
    /// Its own layout: room-wide changes leave it alone.
    individual: bool,
    fps: u32,
    /// The leg carrying this participant's picture when it is another leg, left out
    /// ("exclude self"), also once it joins after this one.
    own_picture: Option<LegId>,
}

pub struct VideoRoom {
    pub name: String,
    settings: VideoMixSettings,
    mixer: Mixer,
    inputs: HashMap<LegId, InputSlot>,
    outputs: HashMap<LegId, OutputSlot>,
    input_legs: Vec<LegId>,
    output_legs: Vec<LegId>,
    content: Option<LegId>,
    /// A participant's audio leg -> its video leg (speaker order and DTMF come by the
    /// audio leg).
    video_of: HashMap<LegId, LegId>,
    /// The room ticks at its fastest output's rate.
    pub next_tick: Option<Instant>,
    pub late_ticks: u64,
    pub max_tick_us: u64,
    /// Packets of other payload types than the leg declared (dropped).
    pub unknown_payload: u64,
    /// Participants' packets taken in.
    pub received: u64,
    /// Set while some leg takes a composite: the cores copy pictures here only then.
    pub composing: Arc<AtomicBool>,
}

/// A leg's `video` as far as it can be checked without its room (before its sockets
/// are opened).
pub fn check(v: &LegVideo) -> Result<(), String> {
    for p in &v.receive {
        let codec = VideoCodec::from_name(Some(&p.codec));
        if !matches!(codec, VideoCodec::H264 | VideoCodec::Vp8 | VideoCodec::Av1) || p.pt > 127 {
            return Err(format!("video.receive: `{}` pt {} (decoded: H264, VP8, AV1; pt 0-127)", p.codec, p.pt));
        }
    }
    if v.content && v.receive.is_empty() {
        return Err("video.content needs video.receive".into());
    }
    if let Some(s) = &v.send {
        let codec = VideoCodec::from_name(Some(&s.codec));
        if !matches!(codec, VideoCodec::H264 | VideoCodec::Vp8) || s.pt > 127 {
            return Err(format!("video.send: `{}` pt {} (encoded: H264, VP8; pt 0-127)", s.codec, s.pt));
        }
        if !(64..=3840).contains(&s.width) || !(64..=2160).contains(&s.height) || !s.width.is_multiple_of(8) || !s.height.is_multiple_of(2) {
            return Err("video.send: 64x64 to 3840x2160, width a multiple of 8, height even".into());
        }
        if !(50_000..=20_000_000).contains(&s.bitrate) || s.fps == Some(0) {
            return Err("video.send: bitrate 50 kbit/s to 20 Mbit/s, fps at least 1".into());
        }
    }
    Ok(())
}

impl VideoRoom {
    pub fn new(name: String, settings: VideoMixSettings, mixer: Mixer) -> Result<VideoRoom, String> {
        for l in [Some(&settings.layout), settings.sip_layout.as_ref(), settings.webrtc_layout.as_ref()].into_iter().flatten() {
            mixer.layout_choice(l)?;
        }
        let mut r = VideoRoom {
            name,
            settings: settings.clone(),
            mixer,
            inputs: HashMap::new(),
            outputs: HashMap::new(),
            input_legs: vec![],
            output_legs: vec![],
            content: None,
            video_of: HashMap::new(),
            next_tick: None,
            late_ticks: 0,
            max_tick_us: 0,
            unknown_payload: 0,
            received: 0,
            composing: Arc::default(),
        };
        r.set_mode(&settings.mode)?;
        Ok(r)
    }

    fn class_layout(&self, class: OutputClass) -> &str {
        let s = &self.settings;
        match class {
            OutputClass::Sip => s.sip_layout.as_deref(),
            OutputClass::Webrtc => s.webrtc_layout.as_deref(),
            _ => None,
        }
        .unwrap_or(&s.layout)
    }

    /// A leg joins: its picture becomes an input (or the content), its composite an
    /// output. Checked whole before anything changes.
    pub fn join(&mut self, leg: LegId, label: Option<String>, v: &LegVideo, caps: &VideoSettings) -> Result<(), String> {
        if self.inputs.contains_key(&leg) || self.outputs.contains_key(&leg) {
            return Err("the leg is in the room's video already".into());
        }
        check(v)?;
        let payloads: Vec<(u8, VideoCodec)> = v.receive.iter().map(|p| (p.pt, VideoCodec::from_name(Some(&p.codec)))).collect();
        if v.content && self.content.is_some() {
            return Err("the room shows a content stream already".into());
        }
        let output = match &v.send {
            Some(s) => {
                if self.outputs.len() >= caps.max_outputs {
                    return Err(format!("the room has max_outputs ({}) composites", caps.max_outputs));
                }
                let codec = VideoCodec::from_name(Some(&s.codec));
                let layout = self.mixer.layout_choice(s.layout.as_deref().unwrap_or(self.class_layout(s.class)))?;
                let fps = s.fps.unwrap_or(u32::MAX).min(caps.fps_cap(s.class)).max(1);
                let max_payload = s.max_payload.unwrap_or(1200).clamp(200, 1400);
                let spec = OutputSpec { layout, exclude: None, width: s.width, height: s.height, codec, bitrate_bps: s.bitrate, fps, payload_type: s.pt, ssrc: super::video_ssrc(leg), max_payload, key_interval: (caps.keyframe_interval_s > 0).then(|| Duration::from_secs(caps.keyframe_interval_s as u64)) };
                Some((spec, s.class, s.layout.is_some(), s.exclude_self, fps))
            }
            None => None,
        };
        let name = v.name.clone().or(label).unwrap_or_else(|| format!("{leg}"));
        let mut input = None;
        if let Some(&(_, codec)) = payloads.first() {
            let n = self.mixer.add_input(&name, codec)?;
            self.input_legs.push(leg);
            debug_assert_eq!(self.input_legs.len(), n + 1);
            self.inputs.insert(leg, InputSlot { input: n, codec, payloads });
            if v.content {
                self.content = Some(leg);
                self.mixer.set_content(Some(n));
            }
            input = Some(n);
            if let Some(a) = v.audio_leg {
                self.video_of.insert(a, leg);
            }
            for o in self.outputs.values().filter(|o| o.own_picture == Some(leg)) {
                let _ = self.mixer.set_exclude(o.output, Some(n));
            }
        }
        if let Some((mut spec, class, individual, exclude_self, fps)) = output {
            let own = v.own_picture.filter(|_| exclude_self);
            spec.exclude = if exclude_self { input.or_else(|| own.and_then(|p| self.inputs.get(&p)).map(|i| i.input)) } else { None };
            let n = match self.mixer.add_output(spec) {
                Ok(n) => n,
                Err(e) => {
                    self.leave(leg);
                    return Err(e);
                }
            };
            self.output_legs.push(leg);
            debug_assert_eq!(self.output_legs.len(), n + 1);
            self.outputs.insert(leg, OutputSlot { output: n, class, individual, fps, own_picture: own });
            self.composing.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    pub fn leave(&mut self, leg: LegId) {
        if let Some(i) = self.inputs.remove(&leg) {
            self.mixer.remove_input(i.input);
        }
        if let Some(o) = self.outputs.remove(&leg) {
            self.mixer.remove_output(o.output);
        }
        if self.content == Some(leg) {
            self.content = None;
        }
        self.video_of.retain(|_, v| *v != leg);
        if self.outputs.is_empty() {
            self.next_tick = None;
            self.composing.store(false, Ordering::Relaxed);
        }
    }

    /// Change a layout live: one leg's (it becomes individual), a class's, or the
    /// common one (every output without a layout of its own or of its class).
    pub fn set_layout(&mut self, leg: Option<LegId>, class: Option<OutputClass>, name: &str) -> Result<(), String> {
        let choice = self.mixer.layout_choice(name)?;
        if let Some(leg) = leg {
            let o = self.outputs.get_mut(&leg).ok_or("the leg takes no composite in this room")?;
            o.individual = true;
            return self.mixer.set_layout(o.output, choice);
        }
        match class {
            Some(OutputClass::Sip) => self.settings.sip_layout = Some(name.to_string()),
            Some(OutputClass::Webrtc) => self.settings.webrtc_layout = Some(name.to_string()),
            Some(_) => return Err("rtsp and recording outputs follow the common layout".into()),
            None => self.settings.layout = name.to_string(),
        }
        let follow: Vec<(usize, OutputClass)> = self.outputs.values().filter(|o| !o.individual).map(|o| (o.output, o.class)).collect();
        for (output, c) in follow {
            let l = self.mixer.layout_choice(self.class_layout(c))?;
            self.mixer.set_layout(output, l)?;
        }
        Ok(())
    }

    /// The input of a video leg, or of the video leg of an audio leg.
    fn input_of(&self, leg: LegId) -> Result<usize, String> {
        let video = self.video_of.get(&leg).copied().unwrap_or(leg);
        self.inputs.get(&video).map(|i| i.input).ok_or_else(|| format!("leg {leg} sends no video to this room"))
    }

    pub fn set_mode(&mut self, m: &control::VideoMode) -> Result<(), String> {
        let mode = match m.mode {
            VideoModeName::All => Mode::AllOnScreen,
            VideoModeName::Auto => {
                if !(1..=crate::video::selection::MAX_SHOWN).contains(&m.shown) {
                    return Err("shown must be 1..=36".into());
                }
                Mode::AutoSelector { shown: m.shown }
            }
            VideoModeName::Managed => Mode::Managed,
            VideoModeName::Lesson => Mode::Lesson { presenter: self.input_of(m.presenter.ok_or("lesson mode needs a presenter")?)? },
        };
        self.mixer.set_mode(mode);
        self.settings.mode = m.clone();
        Ok(())
    }

    pub fn mode(&self) -> VideoModeName {
        self.settings.mode.mode
    }

    pub fn set_podium(&mut self, leg: LegId, on: bool) -> Result<(), String> {
        let i = self.input_of(leg)?;
        self.mixer.set_podium(i, on);
        Ok(())
    }

    pub fn pin(&mut self, leg: LegId, tile: usize, source: Option<LegId>) -> Result<(), String> {
        let o = self.outputs.get(&leg).ok_or("the leg takes no composite in this room")?.output;
        let s = source.map(|s| self.input_of(s)).transpose()?;
        self.mixer.pin(o, tile, s)
    }

    pub fn set_speakers(&mut self, legs: &[LegId]) {
        let order = legs.iter().filter_map(|&l| self.input_of(l).ok()).collect();
        self.mixer.set_speakers(order);
    }

    /// A packet of `leg`'s video as received.
    pub fn push(&mut self, leg: LegId, at: Instant, rtp: &[u8], out: &mut Vec<VideoOut>) {
        let Some(slot) = self.inputs.get_mut(&leg) else { return };
        self.received += 1;
        let pt = rtp.get(1).map_or(255, |b| b & 0x7f);
        let Some(&(_, codec)) = slot.payloads.iter().find(|(p, _)| *p == pt) else {
            self.unknown_payload += 1;
            return;
        };
        if codec != slot.codec {
            slot.codec = codec;
            if self.mixer.set_codec(slot.input, codec).is_err() {
                return;
            }
        }
        let input = slot.input;
        self.mixer.push(input, at, rtp);
        self.drain(out);
    }

    /// The receiver of `leg`'s composite asked for a key frame.
    pub fn request_keyframe(&mut self, leg: LegId) {
        if let Some(o) = self.outputs.get(&leg) {
            self.mixer.request_keyframe(o.output);
        }
    }

    /// Frames per second the room ticks at (its fastest output), None without outputs.
    fn rate(&self) -> Option<u32> {
        self.outputs.values().map(|o| o.fps).max()
    }

    /// Run what is due at `now`: holes given up, and a frame time when one is due.
    pub fn run(&mut self, now: Instant, out: &mut Vec<VideoOut>) {
        self.mixer.handle_timeout(now);
        if let Some(fps) = self.rate() {
            let due = *self.next_tick.get_or_insert(now);
            if now >= due {
                let started = Instant::now();
                if let Err(e) = self.mixer.tick(now) {
                    tracing::warn!(room = %self.name, "video tick: {e}");
                }
                let took = started.elapsed();
                self.max_tick_us = self.max_tick_us.max(took.as_micros() as u64);
                let interval = Duration::from_micros(1_000_000 / fps as u64);
                let mut next = due + interval;
                if next <= Instant::now() {
                    // Late: skip the missed frame times rather than bunch them.
                    self.late_ticks += 1;
                    while next <= Instant::now() {
                        next += interval;
                    }
                }
                self.next_tick = Some(next);
            }
        }
        self.drain(out);
    }

    fn drain(&mut self, out: &mut Vec<VideoOut>) {
        while let Some(e) = self.mixer.poll() {
            match e {
                Event::Packet { output, rtp } => out.push(VideoOut::Packet { leg: self.output_legs[output], rtp }),
                Event::RequestKeyframe { input } => out.push(VideoOut::Keyframe { leg: self.input_legs[input] }),
            }
        }
    }

    pub fn stats(&self) -> VideoRoomStats {
        let s = self.mixer.stats;
        VideoRoomStats {
            room: self.name.clone(),
            compositor: self.mixer.compositor(),
            inputs: self.mixer.inputs(),
            outputs: self.mixer.outputs(),
            decoded: s.decoded,
            decode_errors: s.decode_errors,
            composed: s.composed,
            encoded: s.encoded,
            packets: s.packets,
            late_ticks: self.late_ticks,
            max_tick_us: self.max_tick_us,
            podium: self.mixer.podium().iter().map(|&i| self.input_legs[i]).collect(),
            unknown_payload: self.unknown_payload,
            received: self.received,
            ..Default::default()
        }
    }
}

#[cfg(test)]
#[path = "room_tests.rs"]
mod tests;

//! One conference's video MCU, sans-IO: participants' RTP in, composed RTP out.
//!
//! Each input is reassembled (`assembler`) and decoded once, whatever uses it; its
//! latest picture stays until a newer one. At every `tick` (the output frame rate) all
//! outputs are composed in one call (`gpu::Compositor`: the GPU, lavapipe or the CPU;
//! pictures shared between layouts scaled once), each encoded once and packetized.
//! Who an output shows follows the conference mode (`selection`: all on screen,
//! auto-selector, managed podium, lesson), optionally without one input ("exclude
//! self"), with pinned tiles, in a preset or a group that picks a preset by count; the
//! loudest speaker is framed. `set_layout` and mode changes take effect at the next
//! tick. Only inputs some output shows are decoded (an auto-selector among 1000
//! participants decodes its 36); one coming into view asks its sender for a key frame
//! and waits for it. Decoders that lose data or meet a damaged frame ask too
//! (`Event::RequestKeyframe`); an output asked for one by its receiver
//! (`request_keyframe`) encodes one next.

use super::assembler::{Assembler, AssemblerConfig, Output as Assembled};
use super::codec::{Decoded, Decoder, Encoder, EncoderConfig};
use super::selection::{self, Mode, Selection};
use super::{packetize, VideoCodec};
use gpu::layout::Library;
use gpu::{Compositor, Font, Frame, Scene, TileContent};
use std::collections::VecDeque;
use std::time::Instant;

/// How an output picks its layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutChoice {
    Preset(String),
    /// A group of `layouts/groups/` (by the number of pictures shown).
    Group(String),
}

#[derive(Debug, Clone)]
pub struct OutputSpec {
    pub layout: LayoutChoice,
    /// The input this output is for, left out of its picture.
    pub exclude: Option<usize>,
    pub width: usize,
    pub height: usize,
    pub codec: VideoCodec,
    pub bitrate_bps: u32,
    pub fps: u32,
    pub payload_type: u8,
    pub ssrc: u32,
    pub max_payload: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An RTP packet of output `output`.
    Packet { output: usize, rtp: Vec<u8> },
    /// Ask input `input`'s sender for a key frame (PLI/FIR).
    RequestKeyframe { input: usize },
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MixerStats {
    pub decoded: u64,
    pub decode_errors: u64,
    pub composed: u64,
    pub encoded: u64,
    pub packets: u64,
}

struct Input {
    name: String,
    assembler: Assembler,
    decoder: Decoder,
    latest: Option<Frame>,
    /// Some output shows it: decode its frames.
    wanted: bool,
    /// Frames were skipped while nobody showed it: the decoder needs a key frame.
    stale: bool,
    skipped: u32,
    present: bool,
}

struct Output {
    spec: OutputSpec,
    /// Manual placement: (tile, input).
    pins: Vec<(usize, usize)>,
    encoder: Encoder,
    seq: u16,
    frames: u32,
    key_wanted: bool,
}

pub struct Mixer {
    library: Library,
    font: Option<Font>,
    compositor: Compositor,
    inputs: Vec<Input>,
    outputs: Vec<Output>,
    selection: Selection,
    events: VecDeque<Event>,
    pub stats: MixerStats,
}

impl Mixer {
    /// `font`: None draws no names.
    pub fn new(library: Library, compositor: Compositor, font: Option<Font>) -> Mixer {
        Mixer { library, font, compositor, inputs: Vec::new(), outputs: Vec::new(), selection: Selection::default(), events: VecDeque::new(), stats: MixerStats::default() }
    }

    pub fn add_input(&mut self, name: &str, codec: VideoCodec) -> Result<usize, String> {
        let assembler = Assembler::new(codec, AssemblerConfig::default()).ok_or_else(|| format!("{codec:?} is not decoded"))?;
        let decoder = Decoder::new(codec)?;
        self.inputs.push(Input { name: name.to_string(), assembler, decoder, latest: None, wanted: true, stale: false, skipped: 0, present: true });
        Ok(self.inputs.len() - 1)
    }

    /// A participant left: never shown again (its number is not reused).
    pub fn remove_input(&mut self, input: usize) {
        if let Some(i) = self.inputs.get_mut(input) {
            (i.present, i.latest) = (false, None);
            self.selection.remove(input);
        }
    }

    pub fn set_mode(&mut self, mode: Mode) {
        self.selection.mode = mode;
    }

    /// Inputs by loudness, loudest first (from the audio MCU's levels).
    pub fn set_speakers(&mut self, loudest_first: Vec<usize>) {
        self.selection.speakers = loudest_first;
    }

    /// Put an input on the podium or take it off (managed selector; DTMF 1 and 2).
    pub fn set_podium(&mut self, input: usize, on: bool) {
        self.selection.set_podium(input, on);
    }

    /// Show `input` in `tile` of `output` whatever the mode (None: unpin the tile).
    pub fn pin(&mut self, output: usize, tile: usize, input: Option<usize>) -> Result<(), String> {
        let o = self.outputs.get_mut(output).ok_or("no such output")?;
        o.pins.retain(|&(t, _)| t != tile);
        if let Some(i) = input {
            o.pins.push((tile, i));
        }
        Ok(())
    }

    pub fn add_output(&mut self, spec: OutputSpec) -> Result<usize, String> {
        self.check_layout(&spec.layout)?;
        if !spec.width.is_multiple_of(8) || !spec.height.is_multiple_of(2) {
            return Err(format!("output {}x{}: width a multiple of 8, height even", spec.width, spec.height));
        }
        let config = EncoderConfig { width: spec.width, height: spec.height, bitrate_bps: spec.bitrate_bps, max_fps: spec.fps };
        let encoder = Encoder::new(spec.codec, config)?;
        self.outputs.push(Output { spec, pins: Vec::new(), encoder, seq: 0, frames: 0, key_wanted: true });
        Ok(self.outputs.len() - 1)
    }

    fn check_layout(&self, l: &LayoutChoice) -> Result<(), String> {
        let known = match l {
            LayoutChoice::Preset(p) => self.library.layouts.contains_key(p),
            LayoutChoice::Group(g) => self.library.groups.contains_key(g),
        };
        known.then_some(()).ok_or_else(|| format!("no layout {l:?}"))
    }

    /// Change an output's layout: the next tick draws it.
    pub fn set_layout(&mut self, output: usize, layout: LayoutChoice) -> Result<(), String> {
        self.check_layout(&layout)?;
        self.outputs.get_mut(output).ok_or("no such output")?.spec.layout = layout;
        Ok(())
    }

    /// The receiver of `output` lost its picture: the next frame is a key frame.
    pub fn request_keyframe(&mut self, output: usize) {
        if let Some(o) = self.outputs.get_mut(output) {
            o.key_wanted = true;
        }
    }

    /// One RTP packet (decrypted) of input `input`.
    pub fn push(&mut self, input: usize, now: Instant, packet: &[u8]) {
        let Some(i) = self.inputs.get_mut(input) else { return };
        i.assembler.push(now, packet);
        self.drain(input);
    }

    fn drain(&mut self, input: usize) {
        let i = &mut self.inputs[input];
        while let Some(o) = i.assembler.poll() {
            match o {
                Assembled::RequestKeyframe => self.events.push_back(Event::RequestKeyframe { input }),
                Assembled::Frame { unit, .. } => {
                    if !i.wanted || (i.stale && !unit.keyframe) {
                        // Nobody shows it, or it is coming into view and its decoder
                        // needs a key frame: asked for when it came into view, again
                        // about every half second of frames.
                        i.stale = true;
                        i.skipped += 1;
                        if i.wanted && i.skipped.is_multiple_of(15) {
                            self.events.push_back(Event::RequestKeyframe { input });
                        }
                        continue;
                    }
                    i.stale = false;
                    match i.decoder.decode(&unit.data) {
                        Decoded::Picture(f) => {
                            i.latest = Some(f);
                            self.stats.decoded += 1;
                        }
                        Decoded::Nothing => {}
                        Decoded::Corrupt(_) => {
                            self.stats.decode_errors += 1;
                            i.stale = true;
                            self.events.push_back(Event::RequestKeyframe { input });
                        }
                    }
                }
            }
        }
    }

    /// Time passed without packets: holes given up, key frame requests repeated.
    pub fn handle_timeout(&mut self, now: Instant) {
        for n in 0..self.inputs.len() {
            self.inputs[n].assembler.handle_timeout(now);
            self.drain(n);
        }
    }

    /// The layout output `o` uses now and the input in each of its tiles.
    fn tiles(&self, o: &Output) -> (&gpu::Layout, Vec<Option<usize>>) {
        let present: Vec<bool> = self.inputs.iter().map(|i| i.present).collect();
        let order = self.selection.order(&present, o.spec.exclude);
        let layout = match &o.spec.layout {
            LayoutChoice::Preset(p) => &self.library.layouts[p],
            LayoutChoice::Group(g) => self.library.pick(g, (order.len() + o.pins.len()).max(1)).expect("checked group"),
        };
        let tiles = selection::assign(layout, &order, &o.pins);
        (layout, tiles)
    }

    fn scene(&self, out: &Output, layout: &gpu::Layout, tiles: &[Option<usize>], sizes: &[(usize, usize)], font: Option<&mut Font>) -> Scene {
        let loudest = self.selection.speakers.first().copied();
        let content: Vec<TileContent> = tiles
            .iter()
            .map(|t| match t.filter(|&i| self.inputs[i].present) {
                Some(i) => TileContent {
                    source: self.inputs[i].latest.is_some().then_some(i),
                    speaker: Some(i) == loudest,
                    name: Some(self.inputs[i].name.as_str()),
                },
                None => TileContent::default(),
            })
            .collect();
        Scene::from_layout(layout, out.spec.width, out.spec.height, &content, sizes, font)
    }

    /// Decode only what some output shows (`wanted`); an input coming into view asks
    /// for a key frame.
    fn update_wanted(&mut self, wanted: Vec<bool>) {
        for (n, (i, w)) in self.inputs.iter_mut().zip(wanted).enumerate() {
            if w && !i.wanted && i.stale {
                self.events.push_back(Event::RequestKeyframe { input: n });
            }
            if !w {
                i.latest = None; // its next picture comes after a key frame
            }
            i.wanted = w;
        }
    }

    /// Compose, encode and packetize every output's next frame.
    pub fn tick(&mut self) -> Result<(), String> {
        if self.outputs.is_empty() {
            return Ok(());
        }
        let mut font = self.font.take();
        // Who each output shows, worked out once: it decides what is decoded from now on
        // and what is drawn.
        let placed: Vec<(&gpu::Layout, Vec<Option<usize>>)> = self.outputs.iter().map(|o| self.tiles(o)).collect();
        let mut wanted = vec![false; self.inputs.len()];
        for i in placed.iter().flat_map(|(_, tiles)| tiles.iter().flatten()) {
            if let Some(w) = wanted.get_mut(*i) {
                *w = true;
            }
        }
        let sizes: Vec<(usize, usize)> = self.inputs.iter().map(|i| i.latest.as_ref().map_or((2, 2), |f| (f.width(), f.height()))).collect();
        let scenes: Vec<Scene> = self.outputs.iter().zip(&placed).map(|(o, (layout, tiles))| self.scene(o, layout, tiles, &sizes, font.as_mut())).collect();
        drop(placed);
        self.font = font;
        self.update_wanted(wanted);
        let blank = Frame::solid(2, 2, (16, 128, 128));
        let sources: Vec<&Frame> = self.inputs.iter().map(|i| i.latest.as_ref().unwrap_or(&blank)).collect();
        let canvases = self.compositor.render(&scenes, &sources)?;
        self.stats.composed += canvases.len() as u64;
        for (n, (o, canvas)) in self.outputs.iter_mut().zip(&canvases).enumerate() {
            let ts = o.frames.wrapping_mul(90_000 / o.spec.fps.max(1));
            let key = std::mem::take(&mut o.key_wanted);
            o.frames += 1;
            let Some(e) = o.encoder.encode(canvas, ts as u64, key)? else { continue };
            self.stats.encoded += 1;
            let payloads = match o.spec.codec {
                VideoCodec::H264 => packetize::h264(&e.data, o.spec.max_payload),
                _ => packetize::vp8(&e.data, o.frames as u16, o.spec.max_payload),
            }
            .map_err(|m| format!("packetize: {}", m.0))?;
            let last = payloads.len().saturating_sub(1);
            for (k, p) in payloads.into_iter().enumerate() {
                let mut rtp = Vec::with_capacity(12 + p.len());
                rtp.extend_from_slice(&[0x80, o.spec.payload_type | if k == last { 0x80 } else { 0 }]);
                rtp.extend_from_slice(&o.seq.to_be_bytes());
                rtp.extend_from_slice(&ts.to_be_bytes());
                rtp.extend_from_slice(&o.spec.ssrc.to_be_bytes());
                rtp.extend_from_slice(&p);
                o.seq = o.seq.wrapping_add(1);
                self.stats.packets += 1;
                self.events.push_back(Event::Packet { output: n, rtp });
            }
        }
        Ok(())
    }

    pub fn poll(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}

#[cfg(test)]
#[path = "mixer_tests.rs"]
mod tests;

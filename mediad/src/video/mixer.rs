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
//! tick. Each output keeps its own frame rate (a cap per output class): at a tick it
//! is drawn only when its next frame is due. A content input (a shared screen) fills
//! the layout's content tile. Only inputs some output shows are decoded (an auto-selector among 1000
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
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An output is drawn at a tick this close before its frame is due (ticks of a room
/// come at its fastest output's rate; slower outputs take every n-th).
const DUE_SLACK: Duration = Duration::from_millis(5);

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
    /// A key frame at least this often (None: only at start and on request):
    /// receivers that never ask (a recorder, a phone without PLI/FIR) still recover.
    /// Counted in time, so an output running below its rate keeps the promise.
    pub key_interval: Option<Duration>,
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
    /// RTP timestamps count from here (90 kHz, wall clock), on top of a random offset
    /// (RFC 3550 §5.1: sequence numbers and timestamps start at random values).
    started: Option<Instant>,
    ts_offset: u32,
    last_key: Option<Instant>,
    next_due: Option<Instant>,
}

impl Output {
    /// Whether its next frame is due at `now`; if so, when the one after is.
    fn take_due(&mut self, now: Instant) -> bool {
        let due = self.next_due.unwrap_or(now);
        if now + DUE_SLACK < due {
            return false;
        }
        let interval = Duration::from_micros(1_000_000 / self.spec.fps.max(1) as u64);
        // Behind by more than a frame (a slow tick): skip, do not bunch frames.
        self.next_due = Some(if due + interval < now { now + interval } else { due + interval });
        true
    }
}

/// An output's layout now and the input in each of its tiles.
type Placed<'a> = (&'a gpu::Layout, Vec<Option<usize>>);

pub struct Mixer {
    library: Library,
    font: Option<Font>,
    compositor: Arc<Compositor>,
    inputs: Vec<Input>,
    /// None: removed (numbers are not reused).
    outputs: Vec<Option<Output>>,
    selection: Selection,
    events: VecDeque<Event>,
    pub stats: MixerStats,
}

impl Mixer {
    /// `font`: None draws no names.
    pub fn new(library: Library, compositor: Arc<Compositor>, font: Option<Font>) -> Mixer {
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

    /// The input whose pictures fill the content tile (a shared screen), or none.
    pub fn set_content(&mut self, input: Option<usize>) {
        self.selection.content = input;
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

    /// The podium, in the order people were put on it.
    pub fn podium(&self) -> &[usize] {
        &self.selection.podium
    }

    /// Show `input` in `tile` of `output` whatever the mode (None: unpin the tile).
    pub fn pin(&mut self, output: usize, tile: usize, input: Option<usize>) -> Result<(), String> {
        let o = self.output_mut(output)?;
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
        let mut random = [0u8; 6];
        openssl::rand::rand_bytes(&mut random).map_err(|e| format!("random RTP start: {e}"))?;
        let seq = u16::from_be_bytes([random[0], random[1]]);
        let ts_offset = u32::from_be_bytes([random[2], random[3], random[4], random[5]]);
        self.outputs.push(Some(Output { spec, pins: Vec::new(), encoder, seq, frames: 0, key_wanted: true, started: None, ts_offset, last_key: None, next_due: None }));
        Ok(self.outputs.len() - 1)
    }

    /// Its receiver left: nothing is drawn or encoded for it any more.
    pub fn remove_output(&mut self, output: usize) {
        if let Some(o) = self.outputs.get_mut(output) {
            *o = None;
        }
    }

    fn output_mut(&mut self, output: usize) -> Result<&mut Output, String> {
        self.outputs.get_mut(output).and_then(Option::as_mut).ok_or_else(|| "no such output".to_string())
    }

    /// The input `output` leaves out, if any.
    pub fn excluded(&self, output: usize) -> Option<usize> {
        self.outputs.get(output).and_then(Option::as_ref).and_then(|o| o.spec.exclude)
    }

    pub fn inputs(&self) -> usize {
        self.inputs.iter().filter(|i| i.present).count()
    }

    pub fn outputs(&self) -> usize {
        self.outputs.iter().flatten().count()
    }

    pub fn compositor(&self) -> String {
        self.compositor.device()
    }

    /// A layout by name: a preset, else a group.
    pub fn layout_choice(&self, name: &str) -> Result<LayoutChoice, String> {
        if self.library.layouts.contains_key(name) {
            Ok(LayoutChoice::Preset(name.to_string()))
        } else if self.library.groups.contains_key(name) {
            Ok(LayoutChoice::Group(name.to_string()))
        } else {
            Err(format!("no layout or group `{name}`"))
        }
    }

    /// The sender changed codec (a re-negotiation): the input keeps its number, its
    /// tiles and pins, and waits for a key frame in the new codec.
    pub fn set_codec(&mut self, input: usize, codec: VideoCodec) -> Result<(), String> {
        let assembler = Assembler::new(codec, AssemblerConfig::default()).ok_or_else(|| format!("{codec:?} is not decoded"))?;
        let decoder = Decoder::new(codec)?;
        let i = self.inputs.get_mut(input).ok_or("no such input")?;
        (i.assembler, i.decoder, i.latest, i.stale) = (assembler, decoder, None, true);
        self.events.push_back(Event::RequestKeyframe { input });
        Ok(())
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
        self.output_mut(output)?.spec.layout = layout;
        Ok(())
    }

    /// Leave `input` out of `output` ("exclude self" of a participant whose picture
    /// arrived after its composite was set up).
    pub fn set_exclude(&mut self, output: usize, input: Option<usize>) -> Result<(), String> {
        self.output_mut(output)?.spec.exclude = input;
        Ok(())
    }

    /// The receiver of `output` lost its picture: the next frame is a key frame.
    pub fn request_keyframe(&mut self, output: usize) {
        if let Ok(o) = self.output_mut(output) {
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
    fn tiles(&self, o: &Output) -> Placed<'_> {
        let present: Vec<bool> = self.inputs.iter().map(|i| i.present).collect();
        let order = self.selection.order(&present, o.spec.exclude);
        let content = self.selection.content.filter(|&c| present.get(c) == Some(&true));
        let layout = match &o.spec.layout {
            LayoutChoice::Preset(p) => &self.library.layouts[p],
            LayoutChoice::Group(g) => self.library.pick(g, (order.len() + o.pins.len()).max(1), content.is_some()).expect("checked group"),
        };
        let tiles = selection::assign(layout, &order, &o.pins, content);
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

    /// Compose, encode and packetize the next frame of every output due at `now`.
    pub fn tick(&mut self, now: Instant) -> Result<(), String> {
        if self.outputs() == 0 {
            // Nobody takes a composite: decode nothing.
            let n = self.inputs.len();
            self.update_wanted(vec![false; n]);
            return Ok(());
        }
        let due: Vec<usize> = (0..self.outputs.len()).filter(|&n| self.outputs[n].as_mut().is_some_and(|o| o.take_due(now))).collect();
        if due.is_empty() {
            return Ok(());
        }
        let mut font = self.font.take();
        // Who each output shows, worked out once: it decides what is decoded from now on
        // (for every output, due or not) and what is drawn.
        let placed: Vec<Option<Placed>> = self.outputs.iter().map(|o| o.as_ref().map(|o| self.tiles(o))).collect();
        let mut wanted = vec![false; self.inputs.len()];
        for i in placed.iter().flatten().flat_map(|(_, tiles)| tiles.iter().flatten()) {
            if let Some(w) = wanted.get_mut(*i) {
                *w = true;
            }
        }
        let sizes: Vec<(usize, usize)> = self.inputs.iter().map(|i| i.latest.as_ref().map_or((2, 2), |f| (f.width(), f.height()))).collect();
        let scenes: Vec<Scene> = due
            .iter()
            .map(|&n| {
                let (layout, tiles) = placed[n].as_ref().expect("due outputs exist");
                self.scene(self.outputs[n].as_ref().expect("due outputs exist"), layout, tiles, &sizes, font.as_mut())
            })
            .collect();
        drop(placed);
        self.font = font;
        self.update_wanted(wanted);
        let blank = Frame::solid(2, 2, (16, 128, 128));
        let sources: Vec<&Frame> = self.inputs.iter().map(|i| i.latest.as_ref().unwrap_or(&blank)).collect();
        let canvases = self.compositor.render(&scenes, &sources)?;
        self.stats.composed += canvases.len() as u64;
        for (&n, canvas) in due.iter().zip(&canvases) {
            let o = self.outputs[n].as_mut().expect("due outputs exist");
            let started = *o.started.get_or_insert(now);
            let ts = ((now.saturating_duration_since(started).as_micros() as u64 * 9 / 100) as u32).wrapping_add(o.ts_offset);
            let periodic = matches!((o.spec.key_interval, o.last_key), (Some(every), Some(last)) if now.saturating_duration_since(last) >= every);
            // The first two frames are key frames: receivers that follow RFC 3550 A.1
            // (ffmpeg's among them) hold a new source on probation and drop its first
            // packet, which is often the whole first key frame at small sizes; without
            // PLI they would wait for the periodic one.
            let key = std::mem::take(&mut o.key_wanted) || periodic || o.frames == 1;
            if key {
                o.last_key = Some(now);
            }
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

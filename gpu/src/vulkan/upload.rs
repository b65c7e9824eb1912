//! Scenes and pictures as the words the compose shader reads (`shaders/compose.comp`),
//! and the canvases back out of the words it writes. Plain data, no Vulkan: the
//! layouts are checked here without a device.
//!
//! Scene words: `[n_canvases]`, then 8 words per canvas (width, height, byte offsets
//! of its Y, U and V planes in the output, first op word, op count, its bins), then
//! ops of `OP_WORDS` words, then tap tables (`[stride, entries..]`), glyph runs and
//! bins (`bins`).
//! Ops: Fill `[0, x, y, w, h, yuv]`; Picture `[1, x, y, w, h, y_off, u_off, v_off,
//! luma stride, luma x taps, luma y taps, chroma x taps, chroma y taps, chroma
//! stride]` (planes of the pyramid level it reads); Text
//! `[2, x, y, w, h, yuv, run, glyph count, cell width, cell height, atlas byte offset]`.
//!
//! Source bytes: per input, per pyramid level, its Y, U and V planes, rows padded to a
//! multiple of 4 bytes (so the pyramid shader writes whole words). Level 0 is
//! uploaded; the levels below are made on the device by `pyramid.comp`, one dispatch
//! per level, from `jobs` of `JOB_WORDS` words: `[from, from stride, to, to stride,
//! to width in words, to height, 0, 0]`.

use crate::filter::Taps;
use crate::pyramid;
use crate::scene::{Op, Scene};
use crate::text::Atlas;
use crate::{Frame, Plane, Yuv};
use std::sync::Arc;

#[cfg(not(target_endian = "little"))]
compile_error!("the compose shader's byte order is the host's only on little-endian machines");

pub const OP_WORDS: usize = 16;
pub const JOB_WORDS: usize = 8;
/// Bin size in luma samples (the shader's `BIN`).
pub const BIN: usize = 32;

/// Everything one dispatch needs.
#[derive(Debug, Default)]
pub struct Packed {
    /// Level 0 of every input (what is uploaded).
    pub sources: Vec<u32>,
    /// Words of the whole source buffer, pyramid levels included.
    pub source_words: usize,
    /// Pyramid jobs, level after level.
    pub jobs: Vec<u32>,
    /// Per level from 1: first job, job count, widest job in words, tallest in rows.
    pub levels: Vec<[u32; 4]>,
    pub scene: Vec<u32>,
    pub atlases: Vec<u32>,
    /// Words of output (all canvases' planes).
    pub output_words: usize,
    /// Byte offset of each canvas's Y plane in the output.
    pub canvas_offsets: Vec<usize>,
    /// Dispatch size: the widest canvas's words per row, the tallest canvas's rows.
    pub max_words: usize,
    pub max_rows: usize,
}

/// Bytes packed little-endian into words (the shader reads byte `i` of word `i / 4`;
/// on a little-endian host that is the bytes' own order, so they are copied whole).
struct Bytes(Vec<u32>, usize);

impl Bytes {
    fn push(&mut self, bytes: &[u8]) -> usize {
        let at = self.1;
        self.1 += bytes.len();
        self.0.resize(self.1.div_ceil(4), 0);
        bytemuck::cast_slice_mut::<u32, u8>(&mut self.0)[at..self.1].copy_from_slice(bytes);
        at
    }

    fn pad(&mut self, n: usize) {
        self.1 += n;
        self.0.resize(self.1.div_ceil(4), 0);
    }
}

fn yuv(c: Yuv) -> u32 {
    c.0 as u32 | (c.1 as u32) << 8 | (c.2 as u32) << 16
}

/// Pack `scenes` drawn from `sources`. Each source is uploaded once, however many
/// canvases show it; each atlas once, however many names use it.
pub fn pack(scenes: &[Scene], sources: &[&Frame]) -> Packed {
    let mut out = Packed::default();
    let mut depth = vec![0u32; sources.len()];
    for op in scenes.iter().flat_map(|s| &s.ops) {
        if let Op::Picture { source, src, dst } = op {
            depth[*source] = depth[*source].max(pyramid::level_for(*src, *dst));
        }
    }
    // Planes of every level of every input: (byte offset, stride); level 0 copied in.
    let mut src = Bytes(Vec::new(), 0);
    let mut planes: Vec<Vec<[(u32, u32); 3]>> = Vec::new();
    for f in sources {
        planes.push(vec![[&f.y, &f.u, &f.v].map(|p: &Plane| {
            let stride = p.width.next_multiple_of(4);
            let at = src.1;
            for row in p.data.chunks_exact(p.width) {
                src.push(row);
                src.pad(stride - p.width);
            }
            (at as u32, stride as u32)
        })]);
    }
    let uploaded = src.0.len();
    for level in 1..=depth.iter().copied().max().unwrap_or(0) {
        let first = out.jobs.len() / JOB_WORDS;
        let (mut widest, mut tallest) = (0, 0);
        for (f, frame) in sources.iter().enumerate().filter(|(f, _)| depth[*f] >= level) {
            let above = planes[f][level as usize - 1];
            let next = [frame.width(), frame.width() / 2].map(|w| (w >> level).next_multiple_of(4));
            let heights = [frame.height() >> level, (frame.height() / 2) >> level];
            let mut here = [(0, 0); 3];
            for p in 0..3 {
                let (stride, rows) = (next[p.min(1)], heights[p.min(1)]);
                let at = src.1;
                src.pad(stride * rows);
                here[p] = (at as u32, stride as u32);
                let words = ((if p == 0 { frame.width() } else { frame.width() / 2 }) >> level).div_ceil(4);
                out.jobs.extend_from_slice(&[above[p].0, above[p].1, at as u32, stride as u32, words as u32, rows as u32, 0, 0]);
                (widest, tallest) = (widest.max(words as u32), tallest.max(rows as u32));
            }
            planes[f].push(here);
        }
        out.levels.push([first as u32, (out.jobs.len() / JOB_WORDS - first) as u32, widest, tallest]);
    }
    out.source_words = src.0.len();
    src.0.truncate(uploaded);
    out.sources = src.0;
    let mut atlas_bytes = Bytes(Vec::new(), 0);
    let mut atlases: Vec<(Arc<Atlas>, u32)> = Vec::new();
    let n_ops: usize = scenes.iter().map(|s| s.ops.len()).sum();
    let ops_start = 1 + 8 * scenes.len();
    let mut scene = vec![0u32; ops_start + OP_WORDS * n_ops];
    scene[0] = scenes.len() as u32;
    let (mut next_op, mut out_bytes) = (ops_start, 0usize);
    for (c, s) in scenes.iter().enumerate() {
        assert!(s.width.is_multiple_of(8) && s.height.is_multiple_of(2), "canvas {}x{}", s.width, s.height);
        let (luma, chroma) = (s.width * s.height, s.width * s.height / 4);
        let rec = [s.width, s.height, out_bytes, out_bytes + luma, out_bytes + luma + chroma, next_op, s.ops.len(), 0];
        scene[1 + 8 * c..9 + 8 * c].copy_from_slice(&rec.map(|v| v as u32));
        out.canvas_offsets.push(out_bytes);
        out_bytes += luma + 2 * chroma;
        out.max_words = out.max_words.max(s.width / 4);
        out.max_rows = out.max_rows.max(s.height);
        for op in &s.ops {
            let r = op.rect();
            let mut w = vec![0u32; OP_WORDS];
            w[1..5].copy_from_slice(&[r.x, r.y, r.w, r.h].map(|v| v as u32));
            match op {
                Op::Fill { colour, .. } => w[5] = yuv(*colour),
                Op::Picture { source, src: sr, dst } => {
                    let (k, sl, sc) = pyramid::source_rects(*sr, *dst);
                    let [(y, ys), (u, cs), (v, _)] = planes[*source][k as usize];
                    w[0] = 1;
                    w[5..9].copy_from_slice(&[y, u, v, ys]);
                    w[13] = cs;
                    let dc = dst.half();
                    for (slot, taps) in [
                        Taps::new(sl.x, sl.w, dst.w),
                        Taps::new(sl.y, sl.h, dst.h),
                        Taps::new(sc.x, sc.w, dc.w),
                        Taps::new(sc.y, sc.h, dc.h),
                    ]
                    .into_iter()
                    .enumerate()
                    {
                        w[9 + slot] = scene.len() as u32;
                        scene.push(taps.stride as u32);
                        scene.extend_from_slice(&taps.words);
                    }
                }
                Op::Text { colour, atlas, glyphs, .. } => {
                    let at = match atlases.iter().find(|(a, _)| Arc::ptr_eq(a, atlas)) {
                        Some((_, at)) => *at,
                        None => {
                            let at = atlas_bytes.push(&atlas.bitmaps) as u32;
                            atlases.push((atlas.clone(), at));
                            at
                        }
                    };
                    w[0] = 2;
                    w[5] = yuv(*colour);
                    w[6] = scene.len() as u32;
                    scene.extend(glyphs.iter().map(|&g| g as u32));
                    w[7..11].copy_from_slice(&[glyphs.len() as u32, atlas.cell_w as u32, atlas.cell_h as u32, at]);
                }
            }
            scene[next_op..next_op + OP_WORDS].copy_from_slice(&w);
            next_op += OP_WORDS;
        }
        scene[8 + 8 * c] = scene.len() as u32;
        bins(&mut scene, s, rec[5]);
    }
    // Vulkan refuses empty buffers.
    for v in [&mut out.sources, &mut atlas_bytes.0] {
        if v.is_empty() {
            v.push(0);
        }
    }
    out.atlases = atlas_bytes.0;
    out.scene = scene;
    out.output_words = out_bytes / 4;
    out
}

/// Bins of `BIN` x `BIN` luma samples, each listing (in drawing order) the ops that
/// touch it, so the shader walks the few ops under a sample instead of all of them
/// (a 6x6 layout with names has over 100). Appended to `scene`: per bin, row-major,
/// `[list start, list length]`, then the lists of op word offsets.
fn bins(scene: &mut Vec<u32>, s: &Scene, first_op: usize) {
    let (bx, by) = (s.width.div_ceil(BIN), s.height.div_ceil(BIN));
    let mut lists: Vec<Vec<u32>> = vec![Vec::new(); bx * by];
    for (i, op) in s.ops.iter().enumerate() {
        let r = op.rect();
        if r.w == 0 || r.h == 0 {
            continue;
        }
        for y in r.y / BIN..=(r.y + r.h - 1) / BIN {
            for x in r.x / BIN..=(r.x + r.w - 1) / BIN {
                lists[y * bx + x].push((first_op + i * OP_WORDS) as u32);
            }
        }
    }
    let mut at = scene.len() + 2 * lists.len();
    for l in &lists {
        scene.extend_from_slice(&[at as u32, l.len() as u32]);
        at += l.len();
    }
    for l in lists {
        scene.extend(l);
    }
}

/// The canvases out of the output words.
pub fn unpack(scenes: &[Scene], packed: &Packed, words: &[u32]) -> Vec<Frame> {
    let bytes: &[u8] = bytemuck::cast_slice(words);
    let plane = |at: usize, w: usize, h: usize| Plane { width: w, height: h, data: bytes[at..at + w * h].to_vec() };
    scenes
        .iter()
        .zip(&packed.canvas_offsets)
        .map(|(s, &at)| {
            let (w, h) = (s.width, s.height);
            let luma = w * h;
            Frame { y: plane(at, w, h), u: plane(at + luma, w / 2, h / 2), v: plane(at + luma + luma / 4, w / 2, h / 2) }
        })
        .collect()
}

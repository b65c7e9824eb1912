//! What one output canvas shows, as a list of drawing operations: the layout turned
//! into pixels (background, each tile's picture fitted by letterbox or crop, name
//! boxes, the speaker's frame). Both compositors draw a scene: the CPU in list order,
//! the GPU per pixel from the top of the list down; every operation is opaque but
//! text, which is blended over what lies under it, so both get the same picture.

use crate::layout::{Fit, Layout, NamePosition};
use crate::text::{Atlas, Font};
use crate::{Rect, Yuv};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Paint `rect` with one colour.
    Fill { rect: Rect, colour: Yuv },
    /// Scale rectangle `src` of input `source` into `dst`.
    Picture { source: usize, src: Rect, dst: Rect },
    /// Blend `glyphs` of `atlas` in `colour` over what is under `rect` (its top-left
    /// corner is the first glyph's; `rect` is the run's extent rounded up to even).
    Text { rect: Rect, colour: Yuv, atlas: Arc<Atlas>, glyphs: Vec<u16> },
}

impl Op {
    pub fn rect(&self) -> Rect {
        match self {
            Op::Fill { rect, .. } | Op::Text { rect, .. } => *rect,
            Op::Picture { dst, .. } => *dst,
        }
    }
}

/// One canvas: its size (width a multiple of 8, height even) and what is drawn on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Scene {
    pub width: usize,
    pub height: usize,
    pub ops: Vec<Op>,
}

/// What one tile of a layout shows (in the layout's tile order).
#[derive(Debug, Clone, Copy, Default)]
pub struct TileContent<'a> {
    /// Index of the participant's decoded picture in the inputs; none: background.
    pub source: Option<usize>,
    /// The active speaker: framed in the layout's `speaker_border` colour.
    pub speaker: bool,
    /// The name shown in the tile (where the layout puts names).
    pub name: Option<&'a str>,
}

/// Text and box colours of name overlays.
const NAME_BOX: Yuv = Yuv(20, 128, 128);
const NAME_TEXT: Yuv = Yuv(235, 128, 128);

/// Where a `sw`x`sh` picture goes in tile `t` and which part of it is shown:
/// (source rectangle, destination rectangle), both even.
pub fn fit(sw: usize, sh: usize, t: Rect, how: Fit) -> (Rect, Rect) {
    let even = |v: usize| v & !1;
    let whole = Rect { x: 0, y: 0, w: sw, h: sh };
    // Compare aspect ratios by cross-multiplication: no rounding decides the branch.
    let wider = sw * t.h > t.w * sh;
    match how {
        Fit::Letterbox => {
            let (w, h) = if wider { (t.w, even(sh * t.w / sw).max(2)) } else { (even(sw * t.h / sh).max(2), t.h) };
            (whole, Rect { x: t.x + even((t.w - w) / 2), y: t.y + even((t.h - h) / 2), w, h })
        }
        Fit::Crop => {
            let (w, h) = if wider { (even(t.w * sh / t.h).clamp(2, sw), sh) } else { (sw, even(t.h * sw / t.w).clamp(2, sh)) };
            (Rect { x: even((sw - w) / 2), y: even((sh - h) / 2), w, h }, t)
        }
    }
}

impl Scene {
    /// `layout` on a `width`x`height` canvas with `tiles[i]` in its tile `i` (missing
    /// entries: empty); `sizes[k]` is input `k`'s picture size. Names need `font`.
    pub fn from_layout(layout: &Layout, width: usize, height: usize, tiles: &[TileContent], sizes: &[(usize, usize)], mut font: Option<&mut Font>) -> Scene {
        assert!(width.is_multiple_of(8) && height.is_multiple_of(2) && width > 0 && height > 0, "canvas {width}x{height}: width a multiple of 8, height even");
        let whole = Rect { x: 0, y: 0, w: width, h: height };
        let mut ops = vec![Op::Fill { rect: whole, colour: layout.background }];
        let rects = layout.tile_rects(width, height);
        let border = layout.gap_px(height).max(2);
        let base = layout.tiles.iter().map(|t| t.z).min().unwrap_or(0);
        for i in layout.draw_order() {
            let (t, content) = (rects[i], tiles.get(i).copied().unwrap_or_default());
            // A tile drawn over others (a higher z) hides what is under it, bars included;
            // tiles on the lowest level lie on background already.
            if layout.tiles[i].z > base {
                ops.push(Op::Fill { rect: t, colour: layout.background });
            }
            if let Some((k, &(sw, sh))) = content.source.and_then(|k| sizes.get(k).map(|s| (k, s))) {
                let (src, dst) = fit(sw, sh, t, layout.fit);
                ops.push(Op::Picture { source: k, src, dst });
            }
            let b = border.min(t.w / 2).min(t.h / 2) & !1;
            let place = layout.tiles[i].names.unwrap_or(layout.names);
            if let (Some(name), Some(font)) = (content.name, font.as_deref_mut()) {
                name_ops(&mut ops, font, name, t, b, height, place);
            }
            if content.speaker {
                let c = layout.speaker_border;
                for edge in [
                    Rect { x: t.x, y: t.y, w: t.w, h: b },
                    Rect { x: t.x, y: t.y + t.h - b, w: t.w, h: b },
                    Rect { x: t.x, y: t.y, w: b, h: t.h },
                    Rect { x: t.x + t.w - b, y: t.y, w: b, h: t.h },
                ] {
                    if edge.w > 0 && edge.h > 0 {
                        ops.push(Op::Fill { rect: edge, colour: c });
                    }
                }
            }
        }
        Scene { width, height, ops }
    }
}

/// A name box inside tile `t`, clear of the speaker frame (`inset`): one line of text
/// about 1/36 of the canvas high (at least 10 pixels, at most a third of the tile),
/// cut to the tile's width.
fn name_ops(ops: &mut Vec<Op>, font: &mut Font, name: &str, t: Rect, inset: usize, canvas_h: usize, place: NamePosition) {
    let even = |v: usize| v & !1;
    let px = even((canvas_h / 36).max(10).min(t.h / 3));
    if place == NamePosition::Off || px < 8 || t.w < 2 * inset + 16 {
        return;
    }
    let atlas = font.atlas(px);
    let pad = even(px / 4).max(2);
    let glyphs = atlas.glyphs(name, (t.w - 2 * inset - 2 * pad) / atlas.cell_w);
    if glyphs.is_empty() {
        return;
    }
    let text_w = (glyphs.len() * atlas.cell_w).next_multiple_of(2);
    let (box_w, box_h) = (text_w + 2 * pad, px + pad);
    let x = match place {
        NamePosition::BottomCenter => t.x + even((t.w - box_w) / 2),
        _ => t.x + inset,
    };
    let y = match place {
        NamePosition::TopLeft => t.y + inset,
        _ => t.y + t.h - inset - box_h,
    };
    ops.push(Op::Fill { rect: Rect { x, y, w: box_w, h: box_h }, colour: NAME_BOX });
    let rect = Rect { x: x + pad, y: y + even(pad / 2), w: text_w, h: px };
    ops.push(Op::Text { rect, colour: NAME_TEXT, atlas, glyphs });
}

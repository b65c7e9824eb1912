//! One layout drawn on the CPU: background, each tile's picture scaled to fit
//! (letterbox or crop) in drawing order, the active speaker's border. The GPU path
//! runs the same steps with the same arithmetic (`plane::scale_rect_into`).

use crate::layout::{Fit, Layout};
use crate::{Frame, Rect};

/// What one tile of the layout shows (in the layout's tile order).
#[derive(Debug, Clone, Copy, Default)]
pub struct TileContent<'a> {
    /// The participant's decoded picture; none: the tile stays background.
    pub frame: Option<&'a Frame>,
    /// The active speaker: framed in the layout's `speaker_border` colour.
    pub speaker: bool,
}

/// Where a `sw`×`sh` picture goes in tile `t` and which part of it is shown:
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

/// Draw `layout` on `canvas` with `tiles[i]` in its tile `i` (missing entries: empty).
pub fn compose(canvas: &mut Frame, layout: &Layout, tiles: &[TileContent]) {
    let (w, h) = (canvas.width(), canvas.height());
    canvas.fill(Rect { x: 0, y: 0, w, h }, layout.background);
    let rects = layout.tile_rects(w, h);
    let border = layout.gap_px(h).max(2);
    let base = layout.tiles.iter().map(|t| t.z).min().unwrap_or(0);
    for i in layout.draw_order() {
        let (t, content) = (rects[i], tiles.get(i).copied().unwrap_or_default());
        // A tile drawn over others (a higher z) hides what is under it, bars included;
        // tiles on the lowest level lie on background already.
        if layout.tiles[i].z > base {
            canvas.fill(t, layout.background);
        }
        if let Some(f) = content.frame {
            let (src, dst) = fit(f.width(), f.height(), t, layout.fit);
            canvas.place_rect(f, src, dst);
        }
        if content.speaker {
            let b = border.min(t.w / 2).min(t.h / 2) & !1;
            let c = layout.speaker_border;
            for edge in [
                Rect { x: t.x, y: t.y, w: t.w, h: b },
                Rect { x: t.x, y: t.y + t.h - b, w: t.w, h: b },
                Rect { x: t.x, y: t.y, w: b, h: t.h },
                Rect { x: t.x + t.w - b, y: t.y, w: b, h: t.h },
            ] {
                if edge.w > 0 && edge.h > 0 {
                    canvas.fill(edge, c);
                }
            }
        }
    }
}

//! The CPU compositor: a scene's operations in list order (the painter's algorithm),
//! pictures read from their pyramid level (`pyramid`),
//! with the integer arithmetic the GPU shader reproduces (`filter`, `Atlas::coverage`
//! and `blend` below).

use crate::filter::Taps;
use crate::pyramid::{self, Pyramid};
use crate::scene::{Op, Scene};
use crate::text::Atlas;
use crate::{Frame, Plane, Rect, Yuv};
use std::collections::HashMap;

/// Draw `scene` with `sources[k]` as input `k`.
pub fn render(scene: &Scene, sources: &[&Frame]) -> Frame {
    render_all(std::slice::from_ref(scene), sources).remove(0)
}

/// A picture scaled once for every canvas that shows it at that size: the key is
/// (input, source rectangle, destination size). Scaling depends on nothing else, so
/// copying the cached tile gives exactly the samples scaling in place would.
type TileKey = (usize, Rect, usize, usize);

/// Draw every scene; each input's pyramid is built once for all of them, and each
/// picture shown at the same size in several canvases (individual layouts of one
/// conference show the same participants) is scaled once.
pub fn render_all(scenes: &[Scene], sources: &[&Frame]) -> Vec<Frame> {
    let mut pyramids: Vec<Pyramid> = sources.iter().map(|_| Pyramid::default()).collect();
    let mut uses: HashMap<TileKey, usize> = HashMap::new();
    for op in scenes.iter().flat_map(|s| &s.ops) {
        if let Op::Picture { source, src, dst } = op {
            pyramids[*source].build(sources[*source], pyramid::level_for(*src, *dst));
            *uses.entry((*source, *src, dst.w, dst.h)).or_default() += 1;
        }
    }
    let mut tiles: HashMap<TileKey, Frame> = HashMap::new();
    for (&(source, src, w, h), _) in uses.iter().filter(|(_, &n)| n > 1) {
        let mut tile = Frame::solid(w, h, (16, 128, 128));
        scale(&mut tile, source, src, Rect { x: 0, y: 0, w, h }, sources, &pyramids);
        tiles.insert((source, src, w, h), tile);
    }
    scenes
        .iter()
        .map(|scene| {
            let mut canvas = Frame::solid(scene.width, scene.height, (16, 128, 128));
            draw(&mut canvas, scene, sources, &pyramids, &tiles);
            canvas
        })
        .collect()
}

/// Scale rectangle `src` of input `source` (from its pyramid level) into `dst`.
fn scale(canvas: &mut Frame, source: usize, src: Rect, dst: Rect, sources: &[&Frame], pyramids: &[Pyramid]) {
    let (k, s, sc) = pyramid::source_rects(src, dst);
    let [y, u, v] = pyramids[source].planes(sources[source], k);
    canvas.y.scale_with(y, dst, &Taps::new(s.x, s.w, dst.w), &Taps::new(s.y, s.h, dst.h));
    let d = dst.half();
    let (xs, ys) = (Taps::new(sc.x, sc.w, d.w), Taps::new(sc.y, sc.h, d.h));
    canvas.u.scale_with(u, d, &xs, &ys);
    canvas.v.scale_with(v, d, &xs, &ys);
}

fn draw(canvas: &mut Frame, scene: &Scene, sources: &[&Frame], pyramids: &[Pyramid], tiles: &HashMap<TileKey, Frame>) {
    for op in &scene.ops {
        match op {
            Op::Fill { rect, colour } => canvas.fill(*rect, *colour),
            Op::Picture { source, src, dst } => match tiles.get(&(*source, *src, dst.w, dst.h)) {
                Some(tile) => {
                    canvas.y.copy_from(&tile.y, dst.x, dst.y);
                    canvas.u.copy_from(&tile.u, dst.x / 2, dst.y / 2);
                    canvas.v.copy_from(&tile.v, dst.x / 2, dst.y / 2);
                }
                None => scale(canvas, *source, *src, *dst, sources, pyramids),
            },
            Op::Text { rect, colour, atlas, glyphs } => text(canvas, *rect, *colour, atlas, glyphs),
        }
    }
}

/// `c` over `under` at coverage `a` (0..=255), rounded.
#[inline]
pub fn blend(c: u32, under: u32, a: u32) -> u8 {
    ((c * a + under * (255 - a) + 127) / 255) as u8
}

fn text(canvas: &mut Frame, r: Rect, c: Yuv, atlas: &Atlas, glyphs: &[u16]) {
    let cov = |x: usize, y: usize| atlas.coverage(glyphs, x, y);
    blend_plane(&mut canvas.y, r, cov, c.0);
    // A chroma sample covers 2x2 luma samples: their mean coverage.
    let chroma = |x: usize, y: usize| (cov(2 * x, 2 * y) + cov(2 * x + 1, 2 * y) + cov(2 * x, 2 * y + 1) + cov(2 * x + 1, 2 * y + 1) + 2) >> 2;
    blend_plane(&mut canvas.u, r.half(), chroma, c.1);
    blend_plane(&mut canvas.v, r.half(), chroma, c.2);
}

fn blend_plane(p: &mut Plane, r: Rect, cov: impl Fn(usize, usize) -> u32, c: u8) {
    for y in 0..r.h {
        for x in 0..r.w {
            let a = cov(x, y);
            if a > 0 {
                let i = (r.y + y) * p.width + r.x + x;
                p.data[i] = blend(c as u32, p.data[i] as u32, a);
            }
        }
    }
}

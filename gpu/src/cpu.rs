//! The CPU compositor: a scene's operations in list order (the painter's algorithm),
//! pictures read from their pyramid level (`pyramid`),
//! with the integer arithmetic the GPU shader reproduces (`filter`, `Atlas::coverage`
//! and `blend` below).

use crate::filter::Taps;
use crate::pyramid::{self, Pyramid};
use crate::scene::{Op, Scene};
use crate::text::Atlas;
use crate::{Frame, Plane, Rect, Yuv};

/// Draw `scene` with `sources[k]` as input `k`.
pub fn render(scene: &Scene, sources: &[&Frame]) -> Frame {
    render_all(std::slice::from_ref(scene), sources).remove(0)
}

/// Draw every scene; each input's pyramid is built once for all of them.
pub fn render_all(scenes: &[Scene], sources: &[&Frame]) -> Vec<Frame> {
    let mut pyramids: Vec<Pyramid> = sources.iter().map(|_| Pyramid::default()).collect();
    for op in scenes.iter().flat_map(|s| &s.ops) {
        if let Op::Picture { source, src, dst } = op {
            pyramids[*source].build(sources[*source], pyramid::level_for(*src, *dst));
        }
    }
    scenes
        .iter()
        .map(|scene| {
            let mut canvas = Frame::solid(scene.width, scene.height, (16, 128, 128));
            draw(&mut canvas, scene, sources, &pyramids);
            canvas
        })
        .collect()
}

fn draw(canvas: &mut Frame, scene: &Scene, sources: &[&Frame], pyramids: &[Pyramid]) {
    for op in &scene.ops {
        match op {
            Op::Fill { rect, colour } => canvas.fill(*rect, *colour),
            Op::Picture { source, src, dst } => {
                let (k, s, sc) = pyramid::source_rects(*src, *dst);
                let [y, u, v] = pyramids[*source].planes(sources[*source], k);
                let d = *dst;
                canvas.y.scale_with(y, d, &Taps::new(s.x, s.w, d.w), &Taps::new(s.y, s.h, d.h));
                let d = dst.half();
                let (xs, ys) = (Taps::new(sc.x, sc.w, d.w), Taps::new(sc.y, sc.h, d.h));
                canvas.u.scale_with(u, d, &xs, &ys);
                canvas.v.scale_with(v, d, &xs, &ys);
            }
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

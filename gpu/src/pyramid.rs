//! Halved copies of a picture (a mip pyramid), so that no tile filters more than 2:1.
//!
//! A 6x6 layout shrinks a 1080p picture about 9:1; filtering that from full resolution
//! costs ~19x19 taps per output sample (a 2-D filter on the GPU) and reads every row
//! of the source. Instead each level halves the one above with a rounded 2x2 mean,
//! once per input frame however many canvases show it, and a tile reads the smallest
//! level still at least its own size, where the tent filter spans at most 5x5 taps.
//! Both compositors build the same levels (`halve` here; `pyramid.comp` on the GPU).

use crate::{Frame, Plane, Rect};

/// The level a `s`-sized picture rectangle is read from to fill `d`: the smallest
/// halving that is still at least `d` in both directions (0 when enlarging).
pub fn level_for(s: Rect, d: Rect) -> u32 {
    let mut k = 0;
    while k < 30 && (s.w >> (k + 1)) >= d.w.max(1) && (s.h >> (k + 1)) >= d.h.max(1) {
        k += 1;
    }
    k
}

/// `r` in the coordinates of level `k` (never empty, inside the level when `r` is
/// inside level 0).
pub fn at_level(r: Rect, k: u32) -> Rect {
    Rect { x: r.x >> k, y: r.y >> k, w: (r.w >> k).max(1), h: (r.h >> k).max(1) }
}

/// Where a picture op reads: the level, and its luma and chroma source rectangles
/// there (for `src` of level 0 scaled into `dst`).
pub fn source_rects(src: Rect, dst: Rect) -> (u32, Rect, Rect) {
    let k = level_for(src, dst);
    (k, at_level(src, k), at_level(src.half(), k))
}

/// One sample per 2x2 block: their mean, rounded half up; an odd last row or column
/// is dropped.
pub fn halve(p: &Plane) -> Plane {
    let (w, h) = (p.width / 2, p.height / 2);
    let mut data = Vec::with_capacity(w * h);
    for y in 0..h {
        let (a, b) = (&p.data[2 * y * p.width..], &p.data[(2 * y + 1) * p.width..]);
        data.extend((0..w).map(|x| ((a[2 * x] as u32 + a[2 * x + 1] as u32 + b[2 * x] as u32 + b[2 * x + 1] as u32 + 2) >> 2) as u8));
    }
    Plane { width: w, height: h, data }
}

/// Levels 1.. of one picture's three planes (level 0 is the picture itself).
#[derive(Debug, Default)]
pub struct Pyramid {
    levels: Vec<[Plane; 3]>,
}

impl Pyramid {
    /// Make sure levels up to `k` exist.
    pub fn build(&mut self, f: &Frame, k: u32) {
        while self.levels.len() < k as usize {
            let next = match self.levels.last() {
                None => [halve(&f.y), halve(&f.u), halve(&f.v)],
                Some([y, u, v]) => [halve(y), halve(u), halve(v)],
            };
            self.levels.push(next);
        }
    }

    /// Level `k`'s planes (built before), or the picture's at level 0.
    pub fn planes<'a>(&'a self, f: &'a Frame, k: u32) -> [&'a Plane; 3] {
        match k {
            0 => [&f.y, &f.u, &f.v],
            k => {
                let [y, u, v] = &self.levels[k as usize - 1];
                [y, u, v]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_picked_so_the_filter_never_shrinks_more_than_two_to_one() {
        let tile = |w, h| Rect { x: 0, y: 0, w, h };
        assert_eq!(level_for(tile(1920, 1080), tile(212, 118)), 3, "240x135 for a 6x6 tile at 720p");
        assert_eq!(level_for(tile(1280, 720), tile(1280, 720)), 0);
        assert_eq!(level_for(tile(640, 360), tile(1280, 720)), 0, "enlarging");
        assert_eq!(level_for(tile(1280, 720), tile(640, 200)), 1, "the narrower ratio decides");
        assert_eq!(at_level(Rect { x: 6, y: 2, w: 7, h: 1 }, 2), Rect { x: 1, y: 0, w: 1, h: 1 });
    }

    #[test]
    fn halving_rounds_the_mean_and_drops_an_odd_edge() {
        let p = Plane { width: 5, height: 3, data: vec![0, 1, 10, 20, 99, 1, 1, 30, 40, 99, 99, 99, 99, 99, 99] };
        assert_eq!(halve(&p), Plane { width: 2, height: 1, data: vec![1, 25] });
    }
}

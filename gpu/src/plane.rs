//! One 8-bit image plane and the filtered scale-and-place operation.

use crate::filter::{self, Taps};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: usize,
    pub y: usize,
    pub w: usize,
    pub h: usize,
}

impl Rect {
    pub fn is_even(&self) -> bool {
        (self.x | self.y | self.w | self.h) & 1 == 0
    }

    /// The same rectangle on a half-resolution (chroma) plane.
    pub fn half(&self) -> Rect {
        Rect { x: self.x / 2, y: self.y / 2, w: self.w / 2, h: self.h / 2 }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plane {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl Plane {
    pub fn filled(width: usize, height: usize, v: u8) -> Plane {
        Plane { width, height, data: vec![v; width * height] }
    }

    pub fn get(&self, x: usize, y: usize) -> u8 {
        self.data[y * self.width + x]
    }

    /// Scale all of `src` into rectangle `r` of this plane.
    pub fn scale_into(&mut self, src: &Plane, r: Rect) {
        self.scale_rect_into(src, Rect { x: 0, y: 0, w: src.width, h: src.height }, r);
    }

    /// Scale rectangle `s` of `src` (a crop) into rectangle `r` of this plane with the
    /// tent filter of `filter`; samples outside `s` are never read.
    pub fn scale_rect_into(&mut self, src: &Plane, s: Rect, r: Rect) {
        assert!(s.w > 0 && s.h > 0 && s.x + s.w <= src.width && s.y + s.h <= src.height, "source {s:?} outside the picture");
        self.scale_with(src, r, &Taps::new(s.x, s.w, r.w), &Taps::new(s.y, s.h, r.h));
    }

    /// Scale with prepared tap tables (`xs` over `r.w` columns, `ys` over `r.h` rows):
    /// separable, each source row's horizontal pass computed once.
    pub fn scale_with(&mut self, src: &Plane, r: Rect, xs: &Taps, ys: &Taps) {
        assert!(r.x + r.w <= self.width && r.y + r.h <= self.height, "tile {r:?} outside the plane");
        let (y_first, _) = ys.entry(0);
        let (y_last, w_last) = ys.entry(r.h - 1);
        let rows = y_last + w_last.len() - y_first;
        // The horizontal pass of every source row the tile reads, row-major.
        let mut mid = vec![0u32; rows * r.w];
        for (k, out) in mid.chunks_exact_mut(r.w).enumerate() {
            let row = &src.data[(y_first + k) * src.width..(y_first + k + 1) * src.width];
            for (dx, m) in out.iter_mut().enumerate() {
                let (first, w) = xs.entry(dx);
                *m = filter::horizontal(row, first, w);
            }
        }
        for dy in 0..r.h {
            let (first, w) = ys.entry(dy);
            let base = (first - y_first) * r.w;
            let row = (r.y + dy) * self.width + r.x;
            for dx in 0..r.w {
                let mids = (0..w.len()).map(|k| mid[base + k * r.w + dx]);
                self.data[row + dx] = filter::vertical(mids, w);
            }
        }
    }

    /// Set every sample of `r` to `v`.
    pub fn fill(&mut self, r: Rect, v: u8) {
        for y in r.y..r.y + r.h {
            self.data[y * self.width + r.x..y * self.width + r.x + r.w].fill(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_scale_copies_exactly() {
        let src = Plane { width: 7, height: 5, data: (0..35).map(|i| (i * 7) as u8).collect() };
        let mut dst = Plane::filled(7, 5, 0);
        dst.scale_into(&src, Rect { x: 0, y: 0, w: 7, h: 5 });
        assert_eq!(dst, src);
    }

    #[test]
    fn downscale_of_a_gradient_stays_monotonic_and_in_range() {
        let src = Plane { width: 256, height: 2, data: (0..512).map(|i| (i % 256) as u8).collect() };
        let mut dst = Plane::filled(64, 2, 0);
        dst.scale_into(&src, Rect { x: 0, y: 0, w: 64, h: 2 });
        let row: Vec<u8> = dst.data[..64].to_vec();
        assert!(row.windows(2).all(|w| w[1] >= w[0]), "{row:?}");
        assert!(row[0] <= 3 && row[63] >= 252, "{row:?}");
    }

    #[test]
    #[should_panic(expected = "outside the plane")]
    fn tile_outside_is_refused() {
        let mut dst = Plane::filled(10, 10, 0);
        dst.scale_into(&Plane::filled(2, 2, 1), Rect { x: 8, y: 8, w: 4, h: 4 });
    }
}

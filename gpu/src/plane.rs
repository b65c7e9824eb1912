//! One 8-bit image plane and the filtered scale-and-place operation.

use crate::filter::{self, Taps};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

/// The x taps with every entry padded to the same `k` weights (zeros added, the first
/// index moved left where the row ends): the same sums, in a fixed-length loop the
/// compiler unrolls (the horizontal pass is most of the CPU compositor's time).
fn padded(xs: &Taps, n: usize, row: usize) -> (Vec<u32>, Vec<u32>, usize) {
    let k = (0..n).map(|d| xs.entry(d).1.len()).max().unwrap_or(1).min(row);
    let (mut firsts, mut weights) = (Vec::with_capacity(n), vec![0u32; n * k]);
    for d in 0..n {
        let (first, w) = xs.entry(d);
        let start = first.min(row - k);
        let at = d * k + (first - start);
        weights[at..at + w.len()].copy_from_slice(w);
        firsts.push(start as u32);
    }
    (firsts, weights, k)
}

#[inline]
fn horizontal_pass<const K: usize>(row: &[u8], firsts: &[u32], weights: &[u32], out: &mut [u16]) {
    for ((m, &first), w) in out.iter_mut().zip(firsts).zip(weights.chunks_exact(K)) {
        let p: &[u8; K] = row[first as usize..first as usize + K].try_into().expect("K samples");
        let w: &[u32; K] = w.try_into().expect("K weights");
        let mut sum = 0u32;
        for i in 0..K {
            sum += w[i] * p[i] as u32;
        }
        *m = filter::round_mid(sum) as u16;
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
    /// separable, each source row's horizontal pass computed once, the vertical pass
    /// accumulated a whole row at a time (integer sums: the order does not change
    /// them, so this is still exactly the shader's arithmetic).
    pub fn scale_with(&mut self, src: &Plane, r: Rect, xs: &Taps, ys: &Taps) {
        assert!(r.x + r.w <= self.width && r.y + r.h <= self.height, "tile {r:?} outside the plane");
        let (y_first, _) = ys.entry(0);
        let (y_last, w_last) = ys.entry(r.h - 1);
        let rows = y_last + w_last.len() - y_first;
        let (firsts, weights, k) = padded(xs, r.w, src.width);
        // The horizontal pass of every source row the tile reads, row-major; at most
        // 255 << MID_BITS, so u16.
        let mut mid = vec![0u16; rows * r.w];
        for (n, out) in mid.chunks_exact_mut(r.w).enumerate() {
            let row = &src.data[(y_first + n) * src.width..(y_first + n + 1) * src.width];
            match k {
                1 => horizontal_pass::<1>(row, &firsts, &weights, out),
                2 => horizontal_pass::<2>(row, &firsts, &weights, out),
                3 => horizontal_pass::<3>(row, &firsts, &weights, out),
                4 => horizontal_pass::<4>(row, &firsts, &weights, out),
                5 => horizontal_pass::<5>(row, &firsts, &weights, out),
                _ => {
                    for ((m, &first), w) in out.iter_mut().zip(&firsts).zip(weights.chunks_exact(k)) {
                        *m = filter::horizontal(row, first as usize, w) as u16;
                    }
                }
            }
        }
        let mut acc = vec![0u32; r.w];
        for dy in 0..r.h {
            let (first, w) = ys.entry(dy);
            acc.fill(0);
            for (k, &wk) in w.iter().enumerate() {
                let m = &mid[(first - y_first + k) * r.w..(first - y_first + k + 1) * r.w];
                for (a, &v) in acc.iter_mut().zip(m) {
                    *a += wk * v as u32;
                }
            }
            let out = &mut self.data[(r.y + dy) * self.width + r.x..(r.y + dy) * self.width + r.x + r.w];
            for (o, &a) in out.iter_mut().zip(&acc) {
                *o = filter::finish(a);
            }
        }
    }

    /// Copy all of `src` with its top-left corner at (`x`, `y`).
    pub fn copy_from(&mut self, src: &Plane, x: usize, y: usize) {
        assert!(x + src.width <= self.width && y + src.height <= self.height, "copy outside the plane");
        for (row, line) in src.data.chunks_exact(src.width.max(1)).enumerate() {
            let at = (y + row) * self.width + x;
            self.data[at..at + src.width].copy_from_slice(line);
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

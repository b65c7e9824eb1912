//! One 8-bit image plane and the bilinear scale-and-place operation.

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

/// Fractional bits of the sampling positions: 8 bits keeps every product in u32 and
/// is exactly what the compute shader uses.
const FRAC: u32 = 8;
const ONE: u32 = 1 << FRAC;

impl Plane {
    pub fn filled(width: usize, height: usize, v: u8) -> Plane {
        Plane { width, height, data: vec![v; width * height] }
    }

    pub fn get(&self, x: usize, y: usize) -> u8 {
        self.data[y * self.width + x]
    }

    /// Source position (fixed point) of destination pixel `d` when `src` samples map
    /// onto `dst` samples, pixel centres aligned.
    fn source_pos(d: usize, src: usize, dst: usize) -> u32 {
        // ((d + 0.5) * src / dst - 0.5) in FRAC fixed point, clamped at 0.
        let num = ((2 * d + 1) * src) as i64 * ONE as i64;
        let v = num / (2 * dst) as i64 - (ONE / 2) as i64;
        v.clamp(0, ((src - 1) as i64) * ONE as i64) as u32
    }

    /// Bilinear scale of all of `src` into rectangle `r` of this plane.
    pub fn scale_into(&mut self, src: &Plane, r: Rect) {
        self.scale_rect_into(src, Rect { x: 0, y: 0, w: src.width, h: src.height }, r);
    }

    /// Bilinear scale of rectangle `s` of `src` (a crop) into rectangle `r` of this
    /// plane; samples outside `s` are never read.
    pub fn scale_rect_into(&mut self, src: &Plane, s: Rect, r: Rect) {
        assert!(r.x + r.w <= self.width && r.y + r.h <= self.height, "tile {r:?} outside the plane");
        assert!(s.w > 0 && s.h > 0 && s.x + s.w <= src.width && s.y + s.h <= src.height, "source {s:?} outside the picture");
        for dy in 0..r.h {
            let sy = Self::source_pos(dy, s.h, r.h);
            let (y0, fy) = ((sy >> FRAC) as usize, sy & (ONE - 1));
            let (y0, y1) = (s.y + y0, s.y + (y0 + 1).min(s.h - 1));
            let row = (r.y + dy) * self.width + r.x;
            for dx in 0..r.w {
                let sx = Self::source_pos(dx, s.w, r.w);
                let (x0, fx) = ((sx >> FRAC) as usize, sx & (ONE - 1));
                let (x0, x1) = (s.x + x0, s.x + (x0 + 1).min(s.w - 1));
                let p = |x: usize, y: usize| src.data[y * src.width + x] as u32;
                let top = p(x0, y0) * (ONE - fx) + p(x1, y0) * fx;
                let bottom = p(x0, y1) * (ONE - fx) + p(x1, y1) * fx;
                let v = (top * (ONE - fy) + bottom * fy + (1 << (2 * FRAC - 1))) >> (2 * FRAC);
                self.data[row + dx] = v as u8;
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

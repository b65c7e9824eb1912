//! Composition of YUV 4:2:0 frames into layouts. This is the CPU reference: the
//! arithmetic a GPU compute shader must reproduce within one code value per sample
//! (fixed-point bilinear with 8 fractional bits, round half up). The Vulkan path and
//! layouts-as-data arrive with the video MCU; tests will compare both on random frames.

pub mod plane;

pub use plane::{Plane, Rect};

/// A frame in I420 layout: full-resolution luma, half-resolution chroma.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub y: Plane,
    pub u: Plane,
    pub v: Plane,
}

impl Frame {
    /// A frame filled with one colour; `width` and `height` must be even.
    pub fn solid(width: usize, height: usize, (y, u, v): (u8, u8, u8)) -> Frame {
        assert!(width.is_multiple_of(2) && height.is_multiple_of(2), "4:2:0 needs even dimensions");
        Frame { y: Plane::filled(width, height, y), u: Plane::filled(width / 2, height / 2, u), v: Plane::filled(width / 2, height / 2, v) }
    }

    pub fn width(&self) -> usize {
        self.y.width
    }
    pub fn height(&self) -> usize {
        self.y.height
    }

    /// Scale `src` into `dst_rect` of this frame (luma rect; chroma uses half of it).
    pub fn place(&mut self, src: &Frame, r: Rect) {
        assert!(r.x.is_multiple_of(2) && r.y.is_multiple_of(2) && r.w.is_multiple_of(2) && r.h.is_multiple_of(2), "tiles sit on even coordinates");
        self.y.scale_into(&src.y, r);
        let c = Rect { x: r.x / 2, y: r.y / 2, w: r.w / 2, h: r.h / 2 };
        self.u.scale_into(&src.u, c);
        self.v.scale_into(&src.v, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_by_two_grid_puts_each_colour_in_its_quadrant() {
        let colours = [(81, 90, 240), (145, 54, 34), (41, 240, 110), (210, 16, 146)];
        let mut canvas = Frame::solid(640, 360, (16, 128, 128));
        for (i, c) in colours.iter().enumerate() {
            let src = Frame::solid(320, 240, *c);
            canvas.place(&src, Rect { x: (i % 2) * 320, y: (i / 2) * 180, w: 320, h: 180 });
        }
        for (i, c) in colours.iter().enumerate() {
            let (cx, cy) = ((i % 2) * 320 + 160, (i / 2) * 180 + 90);
            assert_eq!(canvas.y.get(cx, cy), c.0);
            assert_eq!(canvas.u.get(cx / 2, cy / 2), c.1);
            assert_eq!(canvas.v.get(cx / 2, cy / 2), c.2);
        }
    }
}

//! Composition of YUV 4:2:0 frames into layouts. Layouts are data (`layout`: TOML
//! files in `layouts/`); a layout on a canvas becomes a `Scene` (a list of drawing
//! operations); a scene is drawn by the CPU (`cpu`) or by Vulkan compute (`vulkan`)
//! with the same integer arithmetic (`filter`: the resampling tap tables; `text`: the
//! glyph atlas of name overlays), so both give the same picture.

pub mod compositor;
pub mod cpu;
pub mod filter;
pub mod layout;
pub mod plane;
pub mod pyramid;
pub mod scene;
pub mod text;
pub mod vulkan;

pub use layout::{Fit, Layout, Library};
pub use plane::{Plane, Rect};
pub use scene::{fit, Op, Scene, TileContent};
pub use compositor::{Choice, Compositor};
pub use text::Font;

/// One colour as 8-bit Y'CbCr (BT.601, limited range: what the codecs carry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Yuv(pub u8, pub u8, pub u8);

impl Yuv {
    /// BT.601 limited-range conversion in integers (the usual 8-bit approximation).
    pub fn from_rgb(r: u8, g: u8, b: u8) -> Yuv {
        let (r, g, b) = (r as i32, g as i32, b as i32);
        let y = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16;
        let u = ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128;
        let v = ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128;
        Yuv(y as u8, u as u8, v as u8)
    }
}

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
        self.place_rect(src, Rect { x: 0, y: 0, w: src.width(), h: src.height() }, r);
    }

    /// Scale rectangle `s` of `src` (a crop) into rectangle `r` of this frame; both
    /// on even coordinates so that chroma takes exactly half.
    pub fn place_rect(&mut self, src: &Frame, s: Rect, r: Rect) {
        assert!(r.is_even() && s.is_even(), "tiles sit on even coordinates");
        self.y.scale_rect_into(&src.y, s, r);
        self.u.scale_rect_into(&src.u, s.half(), r.half());
        self.v.scale_rect_into(&src.v, s.half(), r.half());
    }

    /// Paint `r` (even coordinates) with one colour.
    pub fn fill(&mut self, r: Rect, c: Yuv) {
        assert!(r.is_even(), "fills sit on even coordinates");
        self.y.fill(r, c.0);
        self.u.fill(r.half(), c.1);
        self.v.fill(r.half(), c.2);
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

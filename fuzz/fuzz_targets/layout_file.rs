//! Layout files are operator input, loaded at start and on a live change: parsing any
//! bytes never panics, and a layout that parses yields even, in-canvas tiles that the
//! compositor draws at any canvas size (no out-of-bounds write, no division by zero).
#![no_main]
use gpu::{compose, Frame, Layout, TileContent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(layout) = Layout::parse("fuzz", text) else { return };
    let picture = Frame::solid(64, 48, (100, 110, 120));
    for (w, h) in [(1280, 720), (96, 64), (2, 2)] {
        for r in layout.tile_rects(w, h) {
            assert!(r.is_even() && r.x + r.w <= w && r.y + r.h <= h, "{r:?} on {w}x{h}");
        }
        let tiles: Vec<TileContent> = (0..layout.tiles.len()).map(|i| TileContent { frame: Some(&picture), speaker: i == 0 }).collect();
        let mut canvas = Frame::solid(w, h, (0, 128, 128));
        compose(&mut canvas, &layout, &tiles);
    }
});

//! Layout files are operator input, loaded at start and on a live change: parsing any
//! bytes never panics, and a layout that parses yields even, in-canvas tiles that the
//! compositor draws (names included) at any canvas size (no out-of-bounds write, no division by zero).
#![no_main]
use gpu::{cpu, Font, Frame, Layout, Scene, TileContent};
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;

thread_local! {
    static FONT: RefCell<Font> = RefCell::new(Font::system().expect("fonts-dejavu-core"));
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(layout) = Layout::parse("fuzz", text) else { return };
    let picture = Frame::solid(64, 48, (100, 110, 120));
    for (w, h) in [(2, 2), (1280, 720), (96, 64), (8, 2)] {
        for r in layout.tile_rects(w, h) {
            assert!(r.is_even() && r.x + r.w <= w && r.y + r.h <= h, "{r:?} on {w}x{h}");
        }
        if w % 8 != 0 {
            continue; // canvases are a multiple of 8 wide
        }
        let tiles: Vec<TileContent> = (0..layout.tiles.len()).map(|i| TileContent { source: Some(0), speaker: i == 0, name: Some("Имя name") }).collect();
        let scene = FONT.with(|f| Scene::from_layout(&layout, w, h, &tiles, &[(64, 48)], Some(&mut f.borrow_mut())));
        for op in &scene.ops {
            let r = op.rect();
            assert!(r.x + r.w <= w && r.y + r.h <= h, "{op:?} on {w}x{h}");
        }
        cpu::render(&scene, &[&picture]);
    }
});

//! The shipped layouts (`layouts/`): every preset the product promises is there and
//! well formed at common canvas sizes, groups pick by count, hostile files are refused
//! with the file and field named, and the CPU compositor puts each picture where its
//! tile is (letterboxed or cropped) with the speaker framed.

use gpu::layout::{Layout, Library, Step};
use gpu::{cpu, fit, Fit, Frame, Rect, Scene, TileContent, Yuv};
use std::path::Path;

fn library() -> Library {
    Library::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../layouts")).expect("shipped layouts load")
}

#[test]
fn every_promised_preset_is_shipped_with_its_tiles() {
    let lib = library();
    for n in 1..=6 {
        let l = &lib.layouts[&format!("{n}x{n}")];
        assert_eq!((l.tiles.len(), l.tiles.iter().filter(|t| t.priority).count()), (n * n, 0), "{n}x{n}");
    }
    for (name, tiles, priority) in [("1+5", 6, 1), ("1+7", 8, 1), ("1+12", 13, 1), ("2+8", 10, 2)] {
        let l = &lib.layouts[name];
        assert_eq!((l.tiles.len(), l.tiles.iter().filter(|t| t.priority).count()), (tiles, priority), "{name}");
    }
    let content: Vec<&str> = lib.layouts.values().filter(|l| l.tiles.iter().any(|t| t.content)).map(|l| l.name.as_str()).collect();
    assert!(content.len() >= 2, "content+N presets: {content:?}");
    assert_eq!(lib.layouts["content+1"].draw_order(), [0, 1], "the picture-in-picture is drawn last");
}

#[test]
fn tiles_are_even_inside_the_canvas_apart_and_cover_it() {
    for l in library().layouts.values() {
        for (w, h) in [(1280, 720), (1920, 1080), (640, 360), (352, 288)] {
            let rects = l.tile_rects(w, h);
            for (i, r) in rects.iter().enumerate() {
                assert!(r.is_even() && r.w >= 2 && r.h >= 2 && r.x + r.w <= w && r.y + r.h <= h, "{} {w}x{h} tile {i}: {r:?}", l.name);
                // Tiles on one level never overlap (a higher z is a picture-in-picture).
                for (j, o) in rects.iter().enumerate().skip(i + 1).filter(|(j, _)| l.tiles[*j].z == l.tiles[i].z) {
                    let apart = r.x + r.w <= o.x || o.x + o.w <= r.x || r.y + r.h <= o.y || o.y + o.h <= r.y;
                    assert!(apart, "{} {w}x{h}: tiles {i} and {j} overlap: {r:?} {o:?}", l.name);
                }
            }
            let area: usize = rects.iter().map(|r| r.w * r.h).sum();
            assert!(area * 100 >= w * h * 85, "{} {w}x{h}: tiles cover {}% of the canvas", l.name, area * 100 / (w * h));
        }
    }
}

#[test]
fn groups_pick_by_participant_count() {
    let lib = library();
    let pick = |n| lib.pick("auto", n, false).map(|l| l.name.as_str());
    assert_eq!([pick(1), pick(3), pick(5), pick(9), pick(36), pick(1000)], [Some("1x1"), Some("2x2"), Some("1+5"), Some("3x3"), Some("6x6"), Some("6x6")]);
    assert_eq!(lib.pick("speaker", 4, false).map(|l| l.name.as_str()), Some("1+5"));
    assert!(lib.pick("nope", 1, false).is_none());
    // With a shared screen shown, the groups' content steps.
    let with_screen = |g, n| lib.pick(g, n, true).map(|l| l.name.as_str());
    assert_eq!([with_screen("auto", 1), with_screen("auto", 3), with_screen("speaker", 8), with_screen("auto", 30)], [Some("content+1"), Some("content+4"), Some("content+8"), Some("content+8")]);
    let mut lib = lib;
    let too_small = lib.add_group("g", vec![Step { up_to: 5, layout: "2x2".into() }]).unwrap_err();
    assert!(too_small.contains("fewer than 5"), "{too_small}");
    assert!(lib.add_group("g", vec![Step { up_to: 4, layout: "2x2".into() }, Step { up_to: 4, layout: "3x3".into() }]).is_err());
    assert!(lib.add_group("g", vec![Step { up_to: 1, layout: "9x9".into() }]).unwrap_err().contains("no layout"));
    let no_tile = lib.add_content_steps("auto", vec![Step { up_to: 4, layout: "2x2".into() }]).unwrap_err();
    assert!(no_tile.contains("no content tile"), "{no_tile}");
    assert!(lib.add_content_steps("nope", vec![Step { up_to: 1, layout: "content+1".into() }]).is_err());
    // A group without content steps keeps its steps while a screen is shown.
    lib.add_group("plain", vec![Step { up_to: 4, layout: "2x2".into() }]).unwrap();
    assert_eq!(lib.pick("plain", 3, true).map(|l| l.name.as_str()), Some("2x2"));
}

#[test]
fn hostile_layout_files_are_refused_with_the_reason() {
    for (text, want) in [
        ("columns = 2\nrows = 2\n[[tile]]\nat = [1, 1]\nsize = [2, 1]\n", "not inside"),
        ("columns = 2\nrows = 2\n[[tile]]\nat = [0, 0]\nsize = [0, 1]\n", "not inside"),
        ("columns = 0\nrows = 2\n[[tile]]\nat = [0, 0]\n", "columns and rows"),
        ("columns = 2\nrows = 2\ntile = []\n", "tiles"),
        ("columns = 2\nrows = 2\nbackground = \"red\"\n[[tile]]\nat = [0, 0]\n", "#rrggbb"),
        ("columns = 2\nrows = 2\n[[tile]]\nat = [0, 0]\nwobble = 1\n", "unknown field"),
        ("columns = 2\nrows = 2\n[[tile]]\nat = [0, 0]\ncontent = true\n[[tile]]\nat = [1, 0]\ncontent = true\n", "one content"),
        ("columns = 4294967295\nrows = 1\n[[tile]]\nat = [4294967295, 0]\n", "columns and rows"),
        ("not toml at all [[", "layout `x`"),
    ] {
        let e = Layout::parse("x", text).unwrap_err();
        assert!(e.contains("layout `x`") && e.contains(want), "{text:?}: {e}");
    }
    let many: String = (0..65).map(|i| format!("[[tile]]\nat = [{}, {}]\n", i % 9, i / 9)).collect();
    assert!(Layout::parse("x", &format!("columns = 9\nrows = 9\n{many}")).unwrap_err().contains("tiles"));
}

#[test]
fn fit_letterboxes_or_crops_around_the_centre() {
    let t = Rect { x: 100, y: 50, w: 640, h: 360 };
    // 4:3 into 16:9: full height, bars left and right.
    assert_eq!(fit(640, 480, t, Fit::Letterbox), (Rect { x: 0, y: 0, w: 640, h: 480 }, Rect { x: 180, y: 50, w: 480, h: 360 }));
    // The same cropped: the middle 640x360 of the picture, the whole tile.
    assert_eq!(fit(640, 480, t, Fit::Crop), (Rect { x: 0, y: 60, w: 640, h: 360 }, t));
    // Portrait into landscape, and an exact match.
    let (_, d) = fit(360, 640, t, Fit::Letterbox);
    assert_eq!((d.w, d.h, d.y), (202, 360, 50));
    assert_eq!(fit(1280, 720, t, Fit::Letterbox).1, t);
}

const COLOURS: [(u8, u8, u8); 4] = [(255, 0, 0), (0, 200, 0), (0, 0, 255), (240, 240, 0)];

fn solid(w: usize, h: usize, (r, g, b): (u8, u8, u8)) -> Frame {
    let c = Yuv::from_rgb(r, g, b);
    Frame::solid(w, h, (c.0, c.1, c.2))
}

/// `layout` on the CPU with picture `i` (if any) in tile `i`.
fn draw(l: &Layout, w: usize, h: usize, pictures: &[Option<&Frame>], speaker: Option<usize>) -> Frame {
    let sources: Vec<&Frame> = pictures.iter().flatten().copied().collect();
    let sizes: Vec<(usize, usize)> = sources.iter().map(|f| (f.width(), f.height())).collect();
    let mut next = 0;
    let tiles: Vec<TileContent> = pictures
        .iter()
        .enumerate()
        .map(|(i, p)| TileContent { source: p.map(|_| (next, next += 1).0), speaker: speaker == Some(i), name: None })
        .collect();
    cpu::render(&Scene::from_layout(l, w, h, &tiles, &sizes, None), &sources)
}

fn at(f: &Frame, x: usize, y: usize) -> Yuv {
    Yuv(f.y.get(x, y), f.u.get(x / 2, y / 2), f.v.get(x / 2, y / 2))
}

#[test]
fn a_2x2_composite_has_each_picture_in_its_tile_and_the_speaker_framed() {
    let lib = library();
    let l = &lib.layouts["2x2"];
    let pictures: Vec<Frame> = COLOURS.iter().map(|&c| solid(640, 360, c)).collect();
    let canvas = draw(l, 1280, 720, &pictures.iter().map(Some).collect::<Vec<_>>(), Some(2));
    let rects = l.tile_rects(1280, 720);
    for (i, (r, &(cr, cg, cb))) in rects.iter().zip(&COLOURS).enumerate() {
        assert_eq!(at(&canvas, r.x + r.w / 2, r.y + r.h / 2), Yuv::from_rgb(cr, cg, cb), "tile {i} centre");
    }
    let s = rects[2];
    assert_eq!(at(&canvas, s.x + 1, s.y + s.h / 2), l.speaker_border, "the speaker's left edge");
    assert_eq!(at(&canvas, s.x + s.w / 2, s.y + s.h - 1), l.speaker_border, "and bottom edge");
    assert_eq!(at(&canvas, rects[0].x + 1, rects[0].y + rects[0].h / 2), Yuv::from_rgb(255, 0, 0), "no frame on the others");
    // The gap between tiles is background.
    assert_eq!(at(&canvas, 640, 100), l.background);
}

#[test]
fn letterbox_bars_are_background_and_an_empty_tile_stays_background() {
    let mut l = library().layouts["1x1"].clone();
    l.background = Yuv::from_rgb(32, 64, 96);
    let four_three = solid(640, 480, COLOURS[1]);
    let canvas = draw(&l, 1280, 720, &[Some(&four_three)], None);
    assert_eq!(at(&canvas, 20, 360), l.background, "bar left of a 4:3 picture");
    assert_eq!(at(&canvas, 640, 360), Yuv::from_rgb(0, 200, 0));
    l.fit = Fit::Crop;
    let canvas = draw(&l, 1280, 720, &[Some(&four_three)], None);
    assert_eq!(at(&canvas, 20, 360), Yuv::from_rgb(0, 200, 0), "cropped: no bars");
    let canvas = draw(&l, 1280, 720, &[None], None);
    assert_eq!(at(&canvas, 640, 360), l.background);
}

#[test]
fn a_picture_in_picture_is_drawn_over_the_content() {
    let lib = library();
    let l = &lib.layouts["content+1"];
    let (screen, speaker) = (solid(1920, 1080, COLOURS[3]), solid(640, 360, COLOURS[0]));
    let canvas = draw(l, 1280, 720, &[Some(&screen), Some(&speaker)], None);
    let pip = l.tile_rects(1280, 720)[1];
    assert_eq!(at(&canvas, pip.x + pip.w / 2, pip.y + pip.h / 2), Yuv::from_rgb(255, 0, 0), "the speaker on top");
    assert_eq!(at(&canvas, 200, 200), Yuv::from_rgb(240, 240, 0), "the screen elsewhere");
}

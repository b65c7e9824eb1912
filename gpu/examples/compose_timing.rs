//! Where the CPU compositor's time goes on a 720p 2x2 layout of 640x360 pictures:
//! `cargo run --release -p gpu --example compose_timing`.
use gpu::filter::Taps;
use gpu::layout::Library;
use gpu::{cpu, Font, Frame, Scene, TileContent};
use std::path::Path;
use std::time::Instant;

fn main() {
    let lib = Library::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../layouts")).unwrap();
    let mut font = Font::system().unwrap();
    let frames: Vec<Frame> = (0..4).map(|i| Frame::solid(640, 360, (40 * i as u8 + 20, 100, 150))).collect();
    let sources: Vec<&Frame> = frames.iter().collect();
    let time = |what: &str, f: &mut dyn FnMut()| {
        let start = Instant::now();
        for _ in 0..100 {
            f();
        }
        println!("{what}: {:.3} ms", start.elapsed().as_secs_f64() * 10.0);
    };
    for names in [false, true] {
        let tiles: Vec<TileContent> = (0..3).map(|i| TileContent { source: Some(i), speaker: i == 0, name: names.then_some("Анна Петрова") }).collect();
        let scene = Scene::from_layout(&lib.layouts["2x2"], 1280, 720, &tiles, &[(640, 360); 4], Some(&mut font));
        time(&format!("2x2 720p render, names {names}"), &mut || {
            cpu::render(&scene, &sources);
        });
    }
    time("taps for one tile (4 tables)", &mut || {
        for (s, d) in [(640, 636), (360, 356), (320, 318), (180, 178)] {
            std::hint::black_box(Taps::new(0, s, d));
        }
    });
    let mut canvas = Frame::solid(1280, 720, (0, 0, 0));
    let r = gpu::Rect { x: 0, y: 0, w: 636, h: 356 };
    let (xs, ys) = (Taps::new(0, 640, 636), Taps::new(0, 360, 356));
    time("one luma tile scale_with", &mut || canvas.y.scale_with(&frames[0].y, r, &xs, &ys));
}


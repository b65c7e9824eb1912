//! Where the Vulkan compositor's time goes (lavapipe or a GPU): a batch of 720p
//! canvases with only a background fill, then with pictures, then with names:
//! `cargo run --release -p gpu --example vulkan_timing`.
use gpu::layout::Library;
use gpu::vulkan::{Vulkan, Want};
use gpu::{Font, Frame, Op, Rect, Scene, TileContent, Yuv};
use std::path::Path;
use std::time::Instant;

fn main() {
    let want = if std::env::args().any(|a| a == "--software") { Want::Software } else { Want::Best };
    let vk = Vulkan::new(want).expect("vulkan");
    let lib = Library::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../layouts")).unwrap();
    let mut font = Font::system().unwrap();
    let frames: Vec<Frame> = (0..4).map(|i| Frame::solid(640, 360, (40 * i as u8 + 20, 100, 150))).collect();
    let sources: Vec<&Frame> = frames.iter().collect();
    let batch = 16;
    let run = |what: &str, scenes: &[Scene]| {
        vk.render(scenes, &sources).unwrap();
        let start = Instant::now();
        for _ in 0..3 {
            vk.render(scenes, &sources).unwrap();
        }
        let per = start.elapsed().as_secs_f64() / 3.0;
        println!("{}: {what}: {:.1} ms per call of {}, {:.1} layouts/s", vk.name, per * 1e3, scenes.len(), scenes.len() as f64 / per);
    };
    let fill = Scene { width: 1280, height: 720, ops: vec![Op::Fill { rect: Rect { x: 0, y: 0, w: 1280, h: 720 }, colour: Yuv(16, 128, 128) }] };
    host_side(&vec![fill.clone(); batch], &sources);
    let tiny = Scene { width: 64, height: 16, ops: vec![Op::Fill { rect: Rect { x: 0, y: 0, w: 64, h: 16 }, colour: Yuv(16, 128, 128) }] };
    run("tiny fill (fixed costs)", &vec![tiny; batch]);
    run("fill only", &vec![fill; batch]);
    for names in [false, true] {
        let tiles: Vec<TileContent> = (0..3).map(|i| TileContent { source: Some(i), speaker: i == 0, name: names.then_some("Анна Петрова") }).collect();
        let scene = Scene::from_layout(&lib.layouts["2x2"], 1280, 720, &tiles, &[(640, 360); 4], Some(&mut font));
        run(&format!("2x2, names {names}"), &vec![scene; batch]);
    }
}

#[allow(dead_code)]
fn host_side(scenes: &[Scene], sources: &[&Frame]) {
    let start = Instant::now();
    let packed = gpu::vulkan::upload::pack(scenes, sources);
    let packed_at = start.elapsed();
    let words = vec![0u32; packed.output_words];
    let frames = gpu::vulkan::upload::unpack(scenes, &packed, &words);
    println!("host: pack {:.1} ms, unpack {:.1} ms ({} canvases)", packed_at.as_secs_f64() * 1e3, (start.elapsed() - packed_at).as_secs_f64() * 1e3, frames.len());
}

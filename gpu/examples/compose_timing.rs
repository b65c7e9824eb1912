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
    parts();
}

#[allow(dead_code)]
fn parts() {
    let src = Frame::solid(640, 360, (1, 2, 3));
    let xs = Taps::new(0, 640, 636);
    let x_taps: Vec<(usize, &[u32])> = (0..636).map(|dx| xs.entry(dx)).collect();
    let start = Instant::now();
    let mut mid = vec![0u16; 360 * 636];
    for _ in 0..100 {
        for (k, out) in mid.chunks_exact_mut(636).enumerate() {
            let row = &src.y.data[k * 640..(k + 1) * 640];
            for (m, &(first, w)) in out.iter_mut().zip(&x_taps) {
                *m = gpu::filter::horizontal(row, first, w) as u16;
            }
        }
        std::hint::black_box(&mid);
    }
    println!("horizontal pass of a tile: {:.3} ms", start.elapsed().as_secs_f64() * 10.0);
    let ys = Taps::new(0, 360, 356);
    let mut out = vec![0u8; 356 * 636];
    let start = Instant::now();
    let mut acc = vec![0u32; 636];
    for _ in 0..100 {
        for dy in 0..356 {
            let (first, w) = ys.entry(dy);
            acc.fill(0);
            for (k, &wk) in w.iter().enumerate() {
                let m = &mid[(first + k) * 636..(first + k + 1) * 636];
                for (a, &v) in acc.iter_mut().zip(m) {
                    *a += wk * v as u32;
                }
            }
            for (o, &a) in out[dy * 636..(dy + 1) * 636].iter_mut().zip(&acc) {
                *o = gpu::filter::finish(a);
            }
        }
        std::hint::black_box(&out);
    }
    println!("vertical pass of a tile: {:.3} ms", start.elapsed().as_secs_f64() * 10.0);
}

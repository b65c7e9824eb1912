//! The Vulkan compositor draws what the CPU compositor draws: every shipped layout, on
//! random pictures of several sizes (letterboxed and cropped, enlarged and shrunk up to
//! 1920x1080 into a 6x6 tile), with names (Latin and Cyrillic) and the speaker's
//! frame, all canvases of one size in one dispatch, agree (exactly: see `compare`).
//! Runs on Mesa's lavapipe (installed by scripts/setup.sh), which CI has; with no
//! Vulkan device at all the test fails rather than passing without comparing.

use gpu::layout::{Fit, Library};
use gpu::vulkan::{Vulkan, Want};
use gpu::{cpu, Font, Frame, Plane, Scene, TileContent};
use std::path::Path;

/// A small deterministic generator (xorshift): the same pictures on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Noise over gradients: every sample different, edges everywhere.
fn random_frame(rng: &mut Rng, w: usize, h: usize) -> Frame {
    let mut plane = |w: usize, h: usize| Plane {
        width: w,
        height: h,
        data: (0..w * h).map(|i| ((i % w) * 255 / w + (i / w) * 97 / h + (rng.next() % 64) as usize) as u8).collect(),
    };
    let y = plane(w, h);
    Frame { y, u: plane(w / 2, h / 2), v: plane(w / 2, h / 2) }
}

/// The contract is "within 1 per sample"; both paths do the same integer arithmetic,
/// so anything but equality is a bug and fails here (a rounding constant changed in
/// the shader shows up as off-by-one samples).
fn compare(gpu: &Frame, cpu: &Frame, what: &str) {
    for (name, g, c) in [("Y", &gpu.y, &cpu.y), ("U", &gpu.u, &cpu.u), ("V", &gpu.v, &cpu.v)] {
        assert_eq!((g.width, g.height), (c.width, c.height), "{what} {name}");
        let diff: Vec<(usize, u8, u8)> = g.data.iter().zip(&c.data).enumerate().filter(|(_, (a, b))| a != b).map(|(i, (&a, &b))| (i, a, b)).collect();
        if let Some(&(i, a, b)) = diff.first() {
            let worst = diff.iter().map(|&(_, a, b)| a.abs_diff(b)).max().unwrap_or(0);
            panic!("{what}: {name} differs in {} samples (worst by {worst}), first at ({}, {}): GPU {a} CPU {b}", diff.len(), i % g.width, i / g.width);
        }
    }
}

#[test]
fn lavapipe_and_the_cpu_agree_on_every_layout() {
    let vk = Vulkan::new(Want::Software).expect("lavapipe: apt-get install mesa-vulkan-drivers libvulkan1 (scripts/setup.sh)");
    let lib = Library::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../layouts")).expect("shipped layouts");
    let mut font = Font::system().expect("fonts-dejavu-core (scripts/setup.sh)");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let sizes = [(1920, 1080), (1280, 720), (640, 480), (352, 288), (176, 144), (360, 640)];
    let frames: Vec<Frame> = sizes.iter().map(|&(w, h)| random_frame(&mut rng, w, h)).collect();
    let sources: Vec<&Frame> = frames.iter().collect();
    let names = ["Анна Петрова", "Room 4.12 (Zürich)", "x", "Переговорная на третьем этаже"];
    let mut compared = 0;
    for (cw, ch) in [(1280, 720), (352, 288)] {
        let mut scenes = Vec::new();
        for (n, layout) in lib.layouts.values().enumerate() {
            for fit in [Fit::Letterbox, Fit::Crop] {
                let mut l = layout.clone();
                l.fit = fit;
                // Every tile shows something but one (left empty), names on all.
                let tiles: Vec<TileContent> = (0..l.tiles.len())
                    .map(|i| TileContent {
                        source: (i != 1).then_some((i + n) % sources.len()),
                        speaker: i == n % l.tiles.len(),
                        name: Some(names[(i + n) % names.len()]),
                    })
                    .collect();
                let dims: Vec<(usize, usize)> = sizes.to_vec();
                scenes.push((format!("{} {:?} {cw}x{ch}", l.name, fit), Scene::from_layout(&l, cw, ch, &tiles, &dims, Some(&mut font))));
            }
        }
        let drawn: Vec<Scene> = scenes.iter().map(|(_, s)| s.clone()).collect();
        let t = std::time::Instant::now();
        let gpu = vk.render(&drawn, &sources).expect("vulkan render");
        eprintln!("{} canvases of {cw}x{ch} on {} in {:?}", drawn.len(), vk.name, t.elapsed());
        assert_eq!(gpu.len(), scenes.len());
        // The CPU both ways: each canvas alone, and all together (pictures shown at
        // one size in several canvases scaled once and copied).
        let together = cpu::render_all(&drawn, &sources);
        for (((what, scene), g), t) in scenes.iter().zip(&gpu).zip(&together) {
            assert!(scene.ops.iter().any(|o| matches!(o, gpu::Op::Text { .. })), "{what}: names drawn");
            compare(g, &cpu::render(scene, &sources), what);
            compare(g, t, &format!("{what} (CPU batch)"));
            compared += 1;
        }
    }
    assert_eq!(compared, 2 * 2 * lib.layouts.len());
    eprintln!("{compared} canvases on {}: GPU = CPU", vk.name);
}

//! The device a compositor draws with, chosen once at start: a GPU through Vulkan, else
//! Mesa's lavapipe (Vulkan on the CPU), else the CPU code. Which one it got is a
//! string for logs and stats.

use crate::vulkan::{Vulkan, Want};
use crate::{cpu, Frame, Scene};

/// What the operator asked for (`auto` unless configured).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// A GPU, else lavapipe, else the CPU code.
    Auto,
    /// A GPU, else the CPU code: lavapipe draws a 720p layout in ~100 ms where the CPU
    /// code takes ~1 ms (perf/RESULTS.md), so a daemon without a GPU is better off
    /// without it.
    Gpu,
    /// Vulkan on the CPU (lavapipe) only, else the CPU code.
    Lavapipe,
    /// The CPU code only.
    Cpu,
}

impl std::str::FromStr for Choice {
    type Err = String;
    fn from_str(s: &str) -> Result<Choice, String> {
        match s {
            "auto" => Ok(Choice::Auto),
            "gpu" => Ok(Choice::Gpu),
            "lavapipe" => Ok(Choice::Lavapipe),
            "cpu" => Ok(Choice::Cpu),
            _ => Err(format!("compositor `{s}`: expected gpu, auto, lavapipe or cpu")),
        }
    }
}

#[derive(Debug)]
pub enum Compositor {
    Vulkan(Vulkan),
    Cpu,
}

impl Compositor {
    /// The compositor `choice` allows, and why a better one was not taken (if any).
    pub fn start(choice: Choice) -> (Compositor, Option<String>) {
        let want = match choice {
            Choice::Auto | Choice::Gpu => Want::Best,
            Choice::Lavapipe => Want::Software,
            Choice::Cpu => return (Compositor::Cpu, None),
        };
        match Vulkan::new(want) {
            Ok(v) if choice == Choice::Gpu && v.software => (Compositor::Cpu, Some(format!("no GPU ({} only: the CPU code is faster)", v.name))),
            Ok(v) => (Compositor::Vulkan(v), None),
            Err(e) => (Compositor::Cpu, Some(e)),
        }
    }

    /// "vulkan gpu: <name>", "vulkan cpu: <name>" (lavapipe) or "cpu".
    pub fn device(&self) -> String {
        match self {
            Compositor::Vulkan(v) => format!("vulkan {}: {}", if v.software { "cpu" } else { "gpu" }, v.name),
            Compositor::Cpu => "cpu".into(),
        }
    }

    /// Draw every scene from `sources` (all canvases of one frame time together).
    pub fn render(&self, scenes: &[Scene], sources: &[&Frame]) -> Result<Vec<Frame>, String> {
        match self {
            Compositor::Vulkan(v) => v.render(scenes, sources),
            Compositor::Cpu => Ok(cpu::render_all(scenes, sources)),
        }
    }
}

//! Layouts as data (docs/layouts.md): a canvas in grid units with tiles, read from TOML
//! files (`layouts/presets/*.toml`), and groups that pick a preset by how many
//! participants are shown (`layouts/groups/*.toml`). A layout becomes pixel rectangles
//! for a canvas size in [`Layout::tile_rects`]; what goes into each tile (speaker order,
//! join order, manual placement) is the MCU's business, not the file's.

use crate::{Rect, Yuv};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Most tiles a layout may have (6x6 is 36; room for content and overlays).
pub const MAX_TILES: usize = 64;
/// Largest grid side: finer grids are not layouts but pixel maps.
pub const MAX_GRID: u32 = 48;

/// How a picture of another shape fills its tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Fit {
    /// Whole picture, bars of the background colour around it.
    #[default]
    Letterbox,
    /// The tile filled, the picture's overhang cut off (centred).
    Crop,
}

/// Where a participant's name is written in its tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum NamePosition {
    #[default]
    BottomLeft,
    BottomCenter,
    TopLeft,
    Off,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tile {
    /// Top-left corner, in grid units.
    pub at: [u32; 2],
    /// Width and height in grid units.
    #[serde(default = "one_by_one")]
    pub size: [u32; 2],
    /// Drawing order: higher on top (picture-in-picture); ties keep file order.
    #[serde(default)]
    pub z: i32,
    /// A priority window: filled first (the speaker, a podium participant).
    #[serde(default)]
    pub priority: bool,
    /// The content tile (a shared screen), never a participant's camera.
    #[serde(default)]
    pub content: bool,
    /// Overrides the layout's name position for this tile.
    #[serde(default)]
    pub names: Option<NamePosition>,
}

fn one_by_one() -> [u32; 2] {
    [1, 1]
}

/// One layout as its file says, with the style defaults filled in.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    #[serde(skip)]
    pub name: String,
    pub columns: u32,
    pub rows: u32,
    #[serde(rename = "tile")]
    pub tiles: Vec<Tile>,
    /// Canvas colour where no picture is, `#rrggbb`.
    #[serde(default = "black", deserialize_with = "colour")]
    pub background: Yuv,
    #[serde(default)]
    pub fit: Fit,
    /// Tile gap and border width in pixels at 720 lines (scaled with the canvas).
    #[serde(default = "default_gap")]
    pub gap: u32,
    #[serde(default)]
    pub names: NamePosition,
    /// Frame around the active speaker's tile, `#rrggbb`, as wide as the gap (at
    /// least 2 px).
    #[serde(default = "amber", deserialize_with = "colour")]
    pub speaker_border: Yuv,
}

fn black() -> Yuv {
    Yuv::from_rgb(0, 0, 0)
}
fn amber() -> Yuv {
    Yuv::from_rgb(0xff, 0xb0, 0x00)
}
fn default_gap() -> u32 {
    4
}

fn colour<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Yuv, D::Error> {
    let s = String::deserialize(d)?;
    parse_rgb(&s).map(|(r, g, b)| Yuv::from_rgb(r, g, b)).ok_or_else(|| serde::de::Error::custom(format!("colour `{s}`: expected #rrggbb")))
}

fn parse_rgb(s: &str) -> Option<(u8, u8, u8)> {
    let h = s.strip_prefix('#').filter(|h| h.len() == 6 && h.is_ascii())?;
    let byte = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).ok();
    Some((byte(0)?, byte(2)?, byte(4)?))
}

impl Layout {
    /// Parse and check one layout file's text.
    pub fn parse(name: &str, text: &str) -> Result<Layout, String> {
        let mut l: Layout = toml::from_str(text).map_err(|e| format!("layout `{name}`: {e}"))?;
        l.name = name.to_string();
        l.check().map_err(|e| format!("layout `{name}`: {e}"))?;
        Ok(l)
    }

    fn check(&self) -> Result<(), String> {
        if !(1..=MAX_GRID).contains(&self.columns) || !(1..=MAX_GRID).contains(&self.rows) {
            return Err(format!("columns and rows must be 1..={MAX_GRID}"));
        }
        if self.tiles.is_empty() || self.tiles.len() > MAX_TILES {
            return Err(format!("1..={MAX_TILES} tiles, not {}", self.tiles.len()));
        }
        if self.gap > 64 {
            return Err("gap must be at most 64".into());
        }
        for (i, t) in self.tiles.iter().enumerate() {
            let fits = t.size[0] >= 1 && t.size[1] >= 1 && t.at[0] + t.size[0] <= self.columns && t.at[1] + t.size[1] <= self.rows;
            if !fits {
                return Err(format!("tile {} at {:?} size {:?} is not inside the {}x{} grid", i + 1, t.at, t.size, self.columns, self.rows));
            }
        }
        if self.tiles.iter().filter(|t| t.content).count() > 1 {
            return Err("at most one content tile".into());
        }
        Ok(())
    }

    /// Tiles that show participants (not the content tile).
    pub fn participant_tiles(&self) -> usize {
        self.tiles.iter().filter(|t| !t.content).count()
    }

    /// Pixel rectangles of the tiles on a `width`×`height` canvas, in file order: grid
    /// lines rounded to even pixels (4:2:0), then shrunk by half the gap on each side
    /// (the gap scaled from 720 lines, even, and none on a 1x1).
    pub fn tile_rects(&self, width: usize, height: usize) -> Vec<Rect> {
        let line = |i: u32, n: u32, total: usize| -> usize { (total * i as usize / n as usize) & !1 };
        let gap = if self.tiles.len() == 1 { 0 } else { self.gap_px(height) };
        self.tiles
            .iter()
            .map(|t| {
                let (x0, x1) = (line(t.at[0], self.columns, width), line(t.at[0] + t.size[0], self.columns, width));
                let (y0, y1) = (line(t.at[1], self.rows, height), line(t.at[1] + t.size[1], self.rows, height));
                // Half the gap inside each shared edge; none at the canvas edge.
                let (l, r) = (if x0 == 0 { 0 } else { gap / 2 }, if x1 >= width & !1 { 0 } else { gap / 2 });
                let (top, b) = (if y0 == 0 { 0 } else { gap / 2 }, if y1 >= height & !1 { 0 } else { gap / 2 });
                let even = |v: usize| v & !1;
                let (x, y) = (even(x0 + l), even(y0 + top));
                Rect { x, y, w: even((x1 - r).saturating_sub(x)).max(2), h: even((y1 - b).saturating_sub(y)).max(2) }
            })
            .collect()
    }

    /// The gap (and speaker border) in pixels on a canvas `height` lines high: scaled
    /// from 720 lines, even.
    pub fn gap_px(&self, height: usize) -> usize {
        ((self.gap as usize * height / 720) / 2) * 2
    }

    /// Tile indices in drawing order (z, then file order).
    pub fn draw_order(&self) -> Vec<usize> {
        let mut o: Vec<usize> = (0..self.tiles.len()).collect();
        o.sort_by_key(|&i| self.tiles[i].z);
        o
    }
}

/// Steps of a group: up to `up_to` participants shown, use `layout`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub up_to: usize,
    pub layout: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupFile {
    #[serde(rename = "step")]
    steps: Vec<Step>,
    /// While a shared screen is shown: layouts with a content tile.
    #[serde(default, rename = "content_step")]
    content_steps: Vec<Step>,
}

/// Presets and groups, by name, as read from a layouts folder.
#[derive(Debug, Clone, Default)]
pub struct Library {
    pub layouts: BTreeMap<String, Layout>,
    pub groups: BTreeMap<String, Vec<Step>>,
    /// A group's steps while a shared screen is shown (groups without them keep their
    /// steps, and the screen shows only in a layout that has a content tile).
    pub content_groups: BTreeMap<String, Vec<Step>>,
}

impl Library {
    /// `dir/presets/*.toml` and `dir/groups/*.toml`; errors name the file.
    pub fn load(dir: &Path) -> Result<Library, String> {
        let mut lib = Library::default();
        for (name, text) in read_toml_files(&dir.join("presets"))? {
            let l = Layout::parse(&name, &text)?;
            lib.layouts.insert(name, l);
        }
        for (name, text) in read_toml_files(&dir.join("groups"))? {
            let g: GroupFile = toml::from_str(&text).map_err(|e| format!("group `{name}`: {e}"))?;
            lib.add_group(&name, g.steps)?;
            if !g.content_steps.is_empty() {
                lib.add_content_steps(&name, g.content_steps)?;
            }
        }
        Ok(lib)
    }

    /// Check and add a group: steps rising, every layout known and big enough.
    pub fn add_group(&mut self, name: &str, steps: Vec<Step>) -> Result<(), String> {
        self.check_steps(name, &steps, false)?;
        self.groups.insert(name.to_string(), steps);
        Ok(())
    }

    /// Check and add a group's steps for while a screen is shared: as `add_group`, and
    /// every layout has a content tile.
    pub fn add_content_steps(&mut self, name: &str, steps: Vec<Step>) -> Result<(), String> {
        if !self.groups.contains_key(name) {
            return Err(format!("group `{name}`: content steps without steps"));
        }
        self.check_steps(name, &steps, true)?;
        self.content_groups.insert(name.to_string(), steps);
        Ok(())
    }

    fn check_steps(&self, name: &str, steps: &[Step], content: bool) -> Result<(), String> {
        if steps.is_empty() || steps.windows(2).any(|w| w[1].up_to <= w[0].up_to) {
            return Err(format!("group `{name}`: steps must rise in up_to"));
        }
        for s in steps {
            let l = self.layouts.get(&s.layout).ok_or_else(|| format!("group `{name}`: no layout `{}`", s.layout))?;
            if l.participant_tiles() < s.up_to {
                return Err(format!("group `{name}`: `{}` has {} participant tiles, fewer than {}", s.layout, l.participant_tiles(), s.up_to));
            }
            if content && !l.tiles.iter().any(|t| t.content) {
                return Err(format!("group `{name}`: content step `{}` has no content tile", s.layout));
            }
        }
        Ok(())
    }

    /// The layout a group uses for `shown` participants, with a shared screen or not.
    pub fn pick(&self, group: &str, shown: usize, content: bool) -> Option<&Layout> {
        let steps = content.then(|| self.content_groups.get(group)).flatten().or_else(|| self.groups.get(group))?;
        let step = steps.iter().find(|s| s.up_to >= shown).or(steps.last())?;
        self.layouts.get(&step.layout)
    }
}

fn read_toml_files(dir: &Path) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for e in entries {
        let path = e.map_err(|e| e.to_string())?.path();
        if path.extension().and_then(|x| x.to_str()) != Some("toml") {
            continue;
        }
        let name = path.file_stem().and_then(|s| s.to_str()).ok_or_else(|| format!("{}: not a UTF-8 name", path.display()))?.to_string();
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        out.push((name, text));
    }
    out.sort();
    Ok(out)
}

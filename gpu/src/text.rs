//! Name overlays: a monospaced font rasterised once per pixel size into a glyph atlas
//! (8-bit coverage per cell), which both compositors read the same way. The font comes
//! from a Debian package (`fonts-dejavu-core`, installed by the setup command), not
//! from a binary bundled here; a name in a script the font lacks shows `?` per letter.

use ab_glyph::{Font as _, FontArc, GlyphId, PxScale, ScaleFont};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where Debian's `fonts-dejavu-core` puts its monospaced face.
pub const DEFAULT_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf";

/// Characters an atlas holds: printable ASCII, Latin-1, Cyrillic (index 0 is `?`).
fn charset() -> impl Iterator<Item = char> {
    std::iter::once('?').chain((0x20u32..0x7f).chain(0xa0..0x180).chain(0x400..0x460).filter_map(char::from_u32))
}

/// One pixel size of the font: `cells` glyph bitmaps of `cell_w` x `cell_h` coverage
/// bytes each (0 transparent, 255 solid), glyph after glyph.
#[derive(Debug, PartialEq, Eq)]
pub struct Atlas {
    pub cell_w: usize,
    pub cell_h: usize,
    pub bitmaps: Vec<u8>,
    index: HashMap<char, u16>,
}

impl Atlas {
    /// The glyph numbers of `text`, cut to at most `max` cells.
    pub fn glyphs(&self, text: &str, max: usize) -> Vec<u16> {
        text.chars().filter(|c| !c.is_control()).take(max).map(|c| self.index.get(&c).copied().unwrap_or(0)).collect()
    }

    /// Coverage at (`x`, `y`) of a run of `glyphs` set from its top-left corner; zero
    /// outside the run. The GPU shader computes exactly this (`compose.comp`).
    pub fn coverage(&self, glyphs: &[u16], x: usize, y: usize) -> u32 {
        let (col, cx) = (x / self.cell_w, x % self.cell_w);
        match glyphs.get(col) {
            Some(&g) if y < self.cell_h => self.bitmaps[(g as usize * self.cell_h + y) * self.cell_w + cx] as u32,
            _ => 0,
        }
    }
}

/// The loaded font and its atlases by pixel size. A clone shares the face and the
/// atlases made so far (one load serves every conference of a thread).
#[derive(Clone)]
pub struct Font {
    path: PathBuf,
    face: FontArc,
    atlases: HashMap<usize, Arc<Atlas>>,
}

impl std::fmt::Debug for Font {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Font").field("path", &self.path).field("sizes", &self.atlases.keys().collect::<Vec<_>>()).finish()
    }
}

impl Font {
    pub fn load(path: &Path) -> Result<Font, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("font {}: {e} (Debian: apt-get install fonts-dejavu-core)", path.display()))?;
        let face = FontArc::try_from_vec(bytes).map_err(|e| format!("font {}: {e}", path.display()))?;
        Ok(Font { path: path.to_path_buf(), face, atlases: HashMap::new() })
    }

    /// The packaged default font.
    pub fn system() -> Result<Font, String> {
        Font::load(Path::new(DEFAULT_FONT))
    }

    /// The atlas for lines `px` pixels high (made on first use, then shared).
    pub fn atlas(&mut self, px: usize) -> Arc<Atlas> {
        let face = &self.face;
        self.atlases.entry(px).or_insert_with(|| Arc::new(rasterise(face, px))).clone()
    }
}

fn rasterise(face: &FontArc, px: usize) -> Atlas {
    let scaled = face.as_scaled(PxScale::from(px as f32));
    let cell_w = (scaled.h_advance(face.glyph_id('M')).round() as usize).max(1);
    let cell_h = px;
    // Glyphs hang from a baseline at the ascent, scaled to fit the cell height.
    let baseline = scaled.ascent() * px as f32 / (scaled.ascent() - scaled.descent());
    let chars: Vec<char> = charset().collect();
    let mut bitmaps = vec![0u8; chars.len() * cell_w * cell_h];
    let mut index = HashMap::new();
    for (n, &c) in chars.iter().enumerate() {
        let id = face.glyph_id(c);
        if id == GlyphId(0) && c != '?' {
            continue; // the font lacks it: stays `?` through `glyphs`
        }
        index.entry(c).or_insert(n as u16);
        let glyph = id.with_scale_and_position(PxScale::from(px as f32), ab_glyph::point(0.0, baseline));
        let Some(outline) = face.outline_glyph(glyph) else { continue }; // a space
        let b = outline.px_bounds();
        let cell = &mut bitmaps[n * cell_w * cell_h..(n + 1) * cell_w * cell_h];
        outline.draw(|x, y, cov| {
            let (x, y) = (x as i64 + b.min.x as i64, y as i64 + b.min.y as i64);
            if (0..cell_w as i64).contains(&x) && (0..cell_h as i64).contains(&y) {
                cell[y as usize * cell_w + x as usize] = (cov.clamp(0.0, 1.0) * 255.0).round() as u8;
            }
        });
    }
    Atlas { cell_w, cell_h, bitmaps, index }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_have_ink_spaces_do_not_and_unknown_is_a_question_mark() {
        let mut font = Font::system().expect("fonts-dejavu-core is installed by scripts/setup.sh");
        let a = font.atlas(20);
        assert_eq!(a.cell_h, 20);
        assert!((10..=14).contains(&a.cell_w), "DejaVu Sans Mono advances 0.6 em: {}", a.cell_w);
        let ink = |g: &[u16]| (0..a.cell_h).flat_map(|y| (0..a.cell_w).map(move |x| (x, y))).map(|(x, y)| a.coverage(g, x, y)).sum::<u32>();
        for text in ["W", "Ж", "é", "?"] {
            assert!(ink(&a.glyphs(text, 8)) > 255 * 10, "{text} has ink");
        }
        assert_eq!(ink(&a.glyphs(" ", 8)), 0);
        assert_eq!(a.glyphs("中", 8), a.glyphs("?", 8), "a script the atlas lacks");
        assert_eq!(a.glyphs("abcdef", 3).len(), 3);
        assert!(Arc::ptr_eq(&a, &font.atlas(20)), "one atlas per size");
    }
}

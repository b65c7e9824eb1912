//! Who is shown, and in which tile: the conference modes that drive tile filling.
//!
//! - all on screen: everyone in join order (as many as the layout has tiles, 36 with
//!   6x6);
//! - auto-selector: the N loudest (speaker order from the audio MCU, up to 36 among any
//!   number of participants), filled up in join order while fewer have spoken;
//! - managed selector: only those on the podium, in the order they were put there (the
//!   moderator, or SIP/H.323 participants with DTMF 1 to ask and 2 to leave);
//! - lesson: the presenter in the priority tile, everyone else after.
//!
//! Priority tiles are filled first; a pinned input (manual placement) keeps its tile
//! and is not placed twice; content tiles wait for a content stream.

use gpu::Layout;

/// The most pictures an auto-selector shows (the product's 36 speakers).
pub const MAX_SHOWN: usize = 36;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    AllOnScreen,
    AutoSelector { shown: usize },
    Managed,
    Lesson { presenter: usize },
}

#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub mode: Mode,
    /// Inputs by loudness, loudest first (those who spoke recently).
    pub speakers: Vec<usize>,
    /// The managed selector's podium, in the order people were put on it.
    pub podium: Vec<usize>,
    /// The input that fills content tiles (a shared screen); not a participant tile.
    pub content: Option<usize>,
}

impl Selection {
    /// DTMF 1 (ask for the podium) or 2 (leave it), or the moderator's decision.
    pub fn set_podium(&mut self, input: usize, on: bool) {
        self.podium.retain(|&i| i != input);
        if on {
            self.podium.push(input);
        }
    }

    /// An input left the conference: forget it (inputs after it keep their numbers).
    pub fn remove(&mut self, input: usize) {
        self.podium.retain(|&i| i != input);
        self.speakers.retain(|&i| i != input);
        if self.content == Some(input) {
            self.content = None;
        }
    }

    /// The inputs a viewer sees, in fill order; `present` says which inputs exist.
    pub fn order(&self, present: &[bool], exclude: Option<usize>) -> Vec<usize> {
        let ok = |i: &usize| present.get(*i).copied().unwrap_or(false) && Some(*i) != exclude && Some(*i) != self.content;
        let joined = (0..present.len()).filter(ok);
        match self.mode {
            Mode::AllOnScreen => joined.collect(),
            Mode::AutoSelector { shown } => {
                let n = shown.min(MAX_SHOWN);
                let mut out: Vec<usize> = self.speakers.iter().copied().filter(ok).take(n).collect();
                for i in joined {
                    if out.len() >= n {
                        break;
                    }
                    if !out.contains(&i) {
                        out.push(i);
                    }
                }
                out
            }
            Mode::Managed => self.podium.iter().copied().filter(ok).collect(),
            Mode::Lesson { presenter } => std::iter::once(presenter).filter(ok).chain(joined.filter(|&i| i != presenter)).collect(),
        }
    }
}

/// Which input each tile of `layout` shows: `content` in the content tile, `pins`
/// (tile, input) next, then `order` into the remaining participant tiles, priority
/// tiles first.
pub fn assign(layout: &Layout, order: &[usize], pins: &[(usize, usize)], content: Option<usize>) -> Vec<Option<usize>> {
    let mut tiles: Vec<Option<usize>> = layout.tiles.iter().map(|t| if t.content { content } else { None }).collect();
    for &(t, i) in pins {
        if t < tiles.len() && !layout.tiles[t].content {
            tiles[t] = Some(i);
        }
    }
    let mut free: Vec<usize> = (0..tiles.len()).filter(|&t| tiles[t].is_none() && !layout.tiles[t].content).collect();
    free.sort_by_key(|&t| !layout.tiles[t].priority);
    let rest = order.iter().filter(|i| !pins.iter().any(|(_, p)| p == *i));
    for (t, &i) in free.into_iter().zip(rest) {
        tiles[t] = Some(i);
    }
    tiles
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpu::Layout;

    fn layout(text: &str) -> Layout {
        Layout::parse("t", text).unwrap()
    }

    #[test]
    fn modes_order_who_is_shown() {
        let present = vec![true; 6];
        let mut s = Selection::default();
        assert_eq!(s.order(&present, Some(2)), [0, 1, 3, 4, 5], "all on screen, without the viewer");
        s.mode = Mode::AutoSelector { shown: 3 };
        s.speakers = vec![4, 2, 5];
        assert_eq!(s.order(&present, None), [4, 2, 5], "the three loudest");
        assert_eq!(s.order(&present, Some(2)), [4, 5, 0], "without the viewer, filled up in join order");
        s.speakers.clear();
        assert_eq!(s.order(&present, None), [0, 1, 2], "nobody spoke yet");
        s.mode = Mode::Managed;
        s.set_podium(3, true);
        s.set_podium(1, true);
        s.set_podium(3, true); // asked twice: moves to the end
        assert_eq!(s.order(&present, None), [1, 3]);
        s.set_podium(1, false);
        assert_eq!(s.order(&present, None), [3], "DTMF 2 leaves the podium");
        s.mode = Mode::Lesson { presenter: 4 };
        assert_eq!(s.order(&present, None), [4, 0, 1, 2, 3, 5]);
        assert_eq!(s.order(&present, Some(4)), [0, 1, 2, 3, 5], "the presenter's own view");
        s.remove(3);
        s.mode = Mode::Managed;
        assert!(s.order(&present, None).is_empty());
        let mut gone = present.clone();
        gone[0] = false;
        s.mode = Mode::AllOnScreen;
        assert_eq!(s.order(&gone, None), [1, 2, 3, 4, 5], "an input that left");
    }

    #[test]
    fn auto_selector_shows_at_most_36_of_a_thousand() {
        let present = vec![true; 1000];
        let s = Selection { mode: Mode::AutoSelector { shown: 100 }, speakers: (500..600).collect(), ..Default::default() };
        let o = s.order(&present, None);
        assert_eq!((o.len(), o[0], o[35]), (36, 500, 535));
    }

    #[test]
    fn priority_tiles_fill_first_pins_stay_and_content_waits() {
        let l = layout("columns = 3\nrows = 3\n[[tile]]\nat = [2, 0]\n[[tile]]\nat = [0, 0]\nsize = [2, 2]\npriority = true\n[[tile]]\nat = [0, 2]\n[[tile]]\nat = [1, 2]\ncontent = true\n");
        assert_eq!(assign(&l, &[7, 8, 9], &[], None), [Some(8), Some(7), Some(9), None]);
        assert_eq!(assign(&l, &[7, 8, 9], &[(2, 8)], None), [Some(9), Some(7), Some(8), None], "8 pinned bottom-left, not shown twice");
        assert_eq!(assign(&l, &[1], &[(3, 5)], None), [None, Some(1), None, None], "no pin on the content tile");
        assert_eq!(assign(&l, &[1], &[], Some(4)), [None, Some(1), None, Some(4)], "the shared screen in the content tile");
        let s = Selection { content: Some(4), ..Default::default() };
        assert_eq!(s.order(&[true; 6], None), [0, 1, 2, 3, 5], "the screen is not a participant tile");
    }
}

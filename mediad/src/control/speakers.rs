//! Active speaker per room, from each leg's smoothed RFC 6464 loudness (the cores keep
//! it in the leg counters). A control-plane thread looks every 300 ms; a new speaker
//! must be audible and clearly louder than the current one, so two voices at similar
//! levels do not make the choice flap.

use std::collections::HashMap;

/// Loudness (127 − dBov) below which a leg counts as silent: -80 dBov and quieter.
pub const AUDIBLE: u64 = 47;
/// How much louder a challenger must be than an audible current speaker.
pub const MARGIN: u64 = 6;
/// How often the choice is made.
pub const INTERVAL: std::time::Duration = std::time::Duration::from_millis(300);

#[derive(Default)]
pub struct SpeakerTracker {
    current: HashMap<String, u64>,
}

impl SpeakerTracker {
    /// The room's legs with their loudness; returns the new speaker when it changes.
    pub fn update(&mut self, room: &str, levels: &[(u64, u64)]) -> Option<u64> {
        let &(loudest, level) = levels.iter().max_by_key(|(leg, l)| (*l, std::cmp::Reverse(*leg)))?;
        if level < AUDIBLE {
            return None;
        }
        let current = self.current.get(room).copied();
        if current == Some(loudest) {
            return None;
        }
        let current_level = current.and_then(|c| levels.iter().find(|(l, _)| *l == c)).map(|(_, l)| *l).unwrap_or(0);
        if current_level >= AUDIBLE && level < current_level + MARGIN {
            return None;
        }
        self.current.insert(room.to_string(), loudest);
        Some(loudest)
    }

    /// Forget rooms that no longer exist.
    pub fn retain(&mut self, exists: impl Fn(&str) -> bool) {
        self.current.retain(|r, _| exists(r));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_only_to_a_clearly_louder_audible_leg() {
        let mut t = SpeakerTracker::default();
        assert_eq!(t.update("r", &[(1, 10), (2, 20)]), None, "nobody audible");
        assert_eq!(t.update("r", &[(1, 80), (2, 20)]), Some(1));
        assert_eq!(t.update("r", &[(1, 80), (2, 84)]), None, "within the margin");
        assert_eq!(t.update("r", &[(1, 80), (2, 90)]), Some(2));
        assert_eq!(t.update("r", &[(1, 50), (2, 0)]), Some(1), "the speaker went quiet");
        assert_eq!(t.update("r", &[(1, 0), (2, 0)]), None, "silence keeps the last speaker");
        assert_eq!(t.update("other", &[(7, 60)]), Some(7), "rooms are independent");
        assert_eq!(t.update("r", &[]), None);
        t.retain(|r| r == "other");
        assert_eq!(t.update("r", &[(1, 60)]), Some(1), "a forgotten room starts over");
    }
}

//! PIN entry by DTMF for a caller who dialled a PIN-protected conference without the
//! PIN in the dial string: digits collected until `#`, until as many digits as the
//! PIN has, or until the caller pauses; three wrong tries end the call. Sans-IO:
//! fed digits and time, it says what happened; the endpoint plays the prompts.

use std::time::{Duration, Instant};

/// Tries before the call is ended.
pub const TRIES: u8 = 3;
/// Silence after a prompt starts before the try counts as failed (the prompt itself
/// lasts about 4 s).
const FIRST_DIGIT: Duration = Duration::from_secs(15);
/// A pause after some digits submits them.
const INTER_DIGIT: Duration = Duration::from_secs(5);
/// Digits kept at most (PINs have 4-10; more is a caller leaning on the keypad).
const MAX_DIGITS: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Still collecting (the first digit of a try interrupts a prompt).
    Collecting { first: bool },
    Accepted,
    /// A wrong PIN (or none in time); `left` tries remain.
    Wrong { left: u8 },
    /// The last try was wrong.
    Failed,
}

#[derive(Debug)]
pub struct PinEntry {
    want: String,
    digits: String,
    failures: u8,
    /// When the current try times out.
    deadline: Instant,
}

impl PinEntry {
    pub fn new(want: &str, now: Instant) -> Self {
        PinEntry { want: want.to_string(), digits: String::new(), failures: 0, deadline: now + FIRST_DIGIT }
    }

    pub fn failures(&self) -> u8 {
        self.failures
    }

    /// One key press. `*` clears what was typed in this try.
    pub fn digit(&mut self, d: char, now: Instant) -> Step {
        match d {
            '#' => return self.submit(now),
            '*' => {
                self.digits.clear();
                self.deadline = now + FIRST_DIGIT;
                return Step::Collecting { first: false };
            }
            _ => {}
        }
        let first = self.digits.is_empty();
        if self.digits.len() < MAX_DIGITS {
            self.digits.push(d);
        }
        self.deadline = now + INTER_DIGIT;
        if self.digits.len() == self.want.len() && openssl::memcmp::eq(self.digits.as_bytes(), self.want.as_bytes()) {
            // Callers who forget the `#` still get in as soon as the PIN is complete.
            return Step::Accepted;
        }
        Step::Collecting { first }
    }

    /// Timeouts: a pause after digits submits them, silence counts as a wrong try.
    pub fn tick(&mut self, now: Instant) -> Option<Step> {
        (now >= self.deadline).then(|| self.submit(now))
    }

    pub fn next_due(&self) -> Instant {
        self.deadline
    }

    fn submit(&mut self, now: Instant) -> Step {
        let typed = std::mem::take(&mut self.digits);
        self.deadline = now + FIRST_DIGIT;
        // Same-length comparison in constant time: the PIN is a secret.
        let right = typed.len() == self.want.len() && openssl::memcmp::eq(typed.as_bytes(), self.want.as_bytes());
        if right {
            return Step::Accepted;
        }
        self.failures += 1;
        if self.failures >= TRIES {
            Step::Failed
        } else {
            Step::Wrong { left: TRIES - self.failures }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(p: &mut PinEntry, s: &str, now: Instant) -> Step {
        let mut last = Step::Collecting { first: true };
        for c in s.chars() {
            last = p.digit(c, now);
        }
        last
    }

    #[test]
    fn right_pin_with_or_without_pound() {
        let now = Instant::now();
        let mut p = PinEntry::new("4711", now);
        assert_eq!(p.digit('4', now), Step::Collecting { first: true });
        assert_eq!(keys(&mut p, "71", now), Step::Collecting { first: false });
        assert_eq!(p.digit('1', now), Step::Accepted);
        let mut p = PinEntry::new("4711", now);
        assert_eq!(keys(&mut p, "4711#", now), Step::Accepted);
    }

    #[test]
    fn three_wrong_tries_fail_and_star_clears() {
        let now = Instant::now();
        let mut p = PinEntry::new("4711", now);
        assert_eq!(keys(&mut p, "12#", now), Step::Wrong { left: 2 });
        assert_eq!(keys(&mut p, "9*4711", now), Step::Accepted);
        let mut p = PinEntry::new("4711", now);
        assert_eq!(keys(&mut p, "1234#", now), Step::Wrong { left: 2 });
        assert_eq!(keys(&mut p, "47111#", now), Step::Wrong { left: 1 });
        assert_eq!(keys(&mut p, "#", now), Step::Failed);
        assert_eq!(p.failures(), 3);
    }

    #[test]
    fn pauses_submit_and_silence_counts_as_a_try() {
        let t0 = Instant::now();
        let mut p = PinEntry::new("4711", t0);
        assert_eq!(p.tick(t0 + Duration::from_secs(14)), None);
        assert_eq!(p.tick(t0 + FIRST_DIGIT), Some(Step::Wrong { left: 2 }));
        let t1 = t0 + FIRST_DIGIT;
        keys(&mut p, "47", t1);
        assert_eq!(p.next_due(), t1 + INTER_DIGIT);
        assert_eq!(p.tick(t1 + INTER_DIGIT), Some(Step::Wrong { left: 1 }));
        // A flood of digits is bounded and still just one wrong try.
        let t2 = t1 + INTER_DIGIT;
        keys(&mut p, &"1".repeat(10_000), t2);
        assert_eq!(p.digit('#', t2), Step::Failed);
    }
}

//! DTMF: RFC 4733 telephone-events in and out, and in-band tones found by Goertzel
//! filters on 8 kHz audio (G.711 legs whose phones send tones in the audio).

/// Event codes 0-15 as digits (RFC 4733 3.2).
pub const DIGITS: &[u8; 16] = b"0123456789*#ABCD";

pub fn digit_of(event: u8) -> Option<char> {
    DIGITS.get(event as usize).map(|&d| d as char)
}

pub fn event_of(digit: char) -> Option<u8> {
    DIGITS.iter().position(|&d| d as char == digit.to_ascii_uppercase()).map(|i| i as u8)
}

/// A telephone-event payload shorter than its 4 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// A finished key press.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digit {
    pub digit: char,
    pub duration_ms: u32,
}

/// RFC 4733 receiver: one event per RTP timestamp, reported once, at its end (or when
/// a new event starts without the end having arrived: end packets can all be lost).
#[derive(Default)]
pub struct EventReceiver {
    current: Option<(u32, u8, u16)>,
    reported: Option<u32>,
    clock_rate: u32,
}

impl EventReceiver {
    pub fn new(clock_rate: u32) -> Self {
        EventReceiver { clock_rate: clock_rate.max(1), ..Default::default() }
    }

    /// One telephone-event payload with its RTP timestamp; digits that finished are
    /// pushed to `out`. Malformed payloads return Err and change nothing.
    pub fn on_payload(&mut self, ts: u32, payload: &[u8], out: &mut Vec<Digit>) -> Result<(), Malformed> {
        if payload.len() < 4 {
            return Err(Malformed);
        }
        let (event, end, duration) = (payload[0], payload[1] & 0x80 != 0, u16::from_be_bytes([payload[2], payload[3]]));
        if event > 15 {
            // Valid RFC 4733 events that are not keys (flash, tones): not reported.
            return Ok(());
        }
        if let Some((cur_ts, cur_event, cur_dur)) = self.current {
            if cur_ts != ts && self.reported != Some(cur_ts) {
                out.extend(self.digit(cur_ts, cur_event, cur_dur));
            }
        }
        if self.reported == Some(ts) {
            return Ok(()); // retransmitted end packets
        }
        self.current = Some((ts, event, duration));
        if end {
            self.current = None;
            out.extend(self.digit(ts, event, duration));
        }
        Ok(())
    }

    fn digit(&mut self, ts: u32, event: u8, duration: u16) -> Option<Digit> {
        self.reported = Some(ts);
        Some(Digit { digit: digit_of(event)?, duration_ms: duration as u32 * 1000 / self.clock_rate })
    }
}

/// RFC 4733 sender: the packets of one key press, every 20 ms, end sent three times.
pub struct EventSender {
    pub event: u8,
    pub duration: u16,
    step: u16,
    total: u16,
    ends_left: u8,
    pub first: bool,
}

pub const VOLUME: u8 = 10;

impl EventSender {
    pub fn new(digit: char, duration_ms: u32, clock_rate: u32) -> Option<Self> {
        let step = (clock_rate / 50) as u16;
        let total = (duration_ms.clamp(40, 5000) * clock_rate / 1000).min(u16::MAX as u32) as u16;
        Some(EventSender { event: event_of(digit)?, duration: 0, step, total, ends_left: 3, first: true })
    }

    /// The next 20 ms packet's payload; None when the event is over.
    pub fn next_payload(&mut self) -> Option<[u8; 4]> {
        if self.ends_left == 0 {
            return None;
        }
        self.duration = (self.duration.saturating_add(self.step)).min(self.total);
        let end = self.duration >= self.total;
        if end {
            self.ends_left -= 1;
        }
        let d = self.duration.to_be_bytes();
        Some([self.event, if end { 0x80 | VOLUME } else { VOLUME }, d[0], d[1]])
    }
}

const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYPAD: [[char; 4]; 4] = [['1', '2', '3', 'A'], ['4', '5', '6', 'B'], ['7', '8', '9', 'C'], ['*', '0', '#', 'D']];
/// Block of 8 kHz samples per decision (13.3 ms; fine enough for 40 ms presses).
const BLOCK: usize = 106;

/// In-band DTMF detector (Goertzel per row/column frequency, ITU Q.24 style checks:
/// both tones present, twist within 8 dB, tones dominate the block's energy; a digit
/// needs two consecutive blocks and ends after two blocks without it).
pub struct ToneDetector {
    coeffs: [f32; 8],
    block: Vec<f32>,
    candidate: Option<char>,
    hits: u32,
    misses: u32,
    active: Option<(char, u32)>,
}

impl Default for ToneDetector {
    fn default() -> Self {
        let coeffs = std::array::from_fn(|i| {
            let f = if i < 4 { ROWS[i] } else { COLS[i - 4] };
            2.0 * (std::f32::consts::TAU * f / 8000.0).cos()
        });
        ToneDetector { coeffs, block: Vec::with_capacity(BLOCK), candidate: None, hits: 0, misses: 0, active: None }
    }
}

impl ToneDetector {
    /// Feed 8 kHz samples; finished digits are pushed to `out`.
    pub fn feed(&mut self, pcm: &[i16], out: &mut Vec<Digit>) {
        for &s in pcm {
            self.block.push(s as f32);
            if self.block.len() == BLOCK {
                let d = self.classify();
                self.block.clear();
                self.decide(d, out);
            }
        }
    }

    fn classify(&self) -> Option<char> {
        let energy: f32 = self.block.iter().map(|x| x * x).sum();
        if energy < 1e6 * BLOCK as f32 / 8.0 {
            return None; // below about -40 dBov
        }
        let power: [f32; 8] = std::array::from_fn(|i| {
            let (mut s1, mut s2) = (0f32, 0f32);
            for &x in &self.block {
                let s0 = x + self.coeffs[i] * s1 - s2;
                s2 = s1;
                s1 = s0;
            }
            s1 * s1 + s2 * s2 - self.coeffs[i] * s1 * s2
        });
        let best = |r: std::ops::Range<usize>| r.max_by(|&a, &b| power[a].total_cmp(&power[b])).expect("non-empty");
        let (row, col) = (best(0..4), best(4..8));
        let (pr, pc) = (power[row], power[col]);
        // Twist: neither tone more than 8 dB (×6.3 in power) below the other.
        if pr > 6.3 * pc || pc > 6.3 * pr {
            return None;
        }
        // The two tones hold most of the block's energy (Goertzel power is ~N/2·E).
        let tone_energy = (pr + pc) * 2.0 / BLOCK as f32;
        if tone_energy < 0.6 * energy {
            return None;
        }
        // Each tone clearly above the others of its group.
        let others = |r: std::ops::Range<usize>, skip: usize| r.filter(|&i| i != skip).map(|i| power[i]).fold(0f32, f32::max);
        if others(0..4, row) * 6.3 > pr || others(4..8, col) * 6.3 > pc {
            return None;
        }
        Some(KEYPAD[row][col - 4])
    }

    fn decide(&mut self, d: Option<char>, out: &mut Vec<Digit>) {
        let block_ms = (BLOCK * 1000 / 8000) as u32;
        match (d, self.active) {
            (Some(c), Some((a, ms))) if c == a => {
                self.active = Some((a, ms + block_ms));
                self.misses = 0;
            }
            (_, Some((a, ms))) => {
                self.misses += 1;
                if self.misses >= 2 {
                    out.push(Digit { digit: a, duration_ms: ms });
                    self.active = None;
                    self.misses = 0;
                    self.candidate = None;
                }
            }
            (Some(c), None) => {
                if self.candidate == Some(c) {
                    self.hits += 1;
                } else {
                    self.candidate = Some(c);
                    self.hits = 1;
                }
                if self.hits >= 2 {
                    self.active = Some((c, 2 * block_ms));
                    self.misses = 0;
                }
            }
            (None, None) => self.candidate = None,
        }
    }
}

/// A DTMF tone pair at 8 kHz (for tests and for in-band generation).
pub fn tone_pair(digit: char, ms: u32, out: &mut Vec<i16>) {
    let Some((r, c)) = KEYPAD.iter().enumerate().find_map(|(r, row)| row.iter().position(|&k| k == digit.to_ascii_uppercase()).map(|c| (r, c))) else {
        return;
    };
    let n = (ms * 8) as usize;
    let start = out.len();
    out.extend((0..n).map(|i| {
        let t = (start + i) as f32 / 8000.0;
        (((std::f32::consts::TAU * ROWS[r] * t).sin() + (std::f32::consts::TAU * COLS[c] * t).sin()) * 7000.0) as i16
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4733_digits_once_each_even_with_repeated_ends_and_lost_ends() {
        let mut rx = EventReceiver::new(8000);
        let mut got = Vec::new();
        let mut feed = |ts: u32, p: [u8; 4]| rx.on_payload(ts, &p, &mut got).unwrap();
        for d in [160u16, 320, 480] {
            feed(1000, [1, 10, (d >> 8) as u8, d as u8]);
        }
        for _ in 0..3 {
            feed(1000, [1, 0x8a, 0x02, 0x80]);
        }
        // '#' whose end packets were all lost, then '5'.
        feed(5000, [11, 10, 0, 160]);
        feed(9000, [5, 0x8a, 0x03, 0x20]);
        assert_eq!(got.iter().map(|d| d.digit).collect::<String>(), "1#5");
        assert!(rx.on_payload(1, &[1, 2], &mut got).is_err());
    }

    #[test]
    fn sender_makes_what_the_receiver_reads() {
        let mut tx = EventSender::new('7', 100, 8000).unwrap();
        let mut rx = EventReceiver::new(8000);
        let mut digits = Vec::new();
        let mut packets = 0;
        while let Some(p) = tx.next_payload() {
            packets += 1;
            rx.on_payload(4242, &p, &mut digits).unwrap();
        }
        assert_eq!(packets, 5 + 2, "4 ongoing + first end + 2 repeats");
        assert_eq!(digits, vec![Digit { digit: '7', duration_ms: 100 }]);
    }

    #[test]
    fn goertzel_finds_digits_in_order_and_not_in_speech_like_tones() {
        let mut pcm = Vec::new();
        for d in "159#*0D".chars() {
            tone_pair(d, 80, &mut pcm);
            pcm.extend(std::iter::repeat_n(0i16, 480));
        }
        // A single 440 Hz tone and a chord outside the DTMF grid are no digits.
        pcm.extend((0..8000).map(|i| ((i as f32 * 440.0 * std::f32::consts::TAU / 8000.0).sin() * 8000.0) as i16));
        pcm.extend((0..8000).map(|i| {
            let t = i as f32 / 8000.0;
            (((std::f32::consts::TAU * 500.0 * t).sin() + (std::f32::consts::TAU * 1100.0 * t).sin()) * 6000.0) as i16
        }));
        let mut det = ToneDetector::default();
        let mut got = Vec::new();
        det.feed(&pcm, &mut got);
        let digits: String = got.iter().map(|d| d.digit).collect();
        assert_eq!(digits, "159#*0D");
    }

    #[test]
    fn goertzel_survives_g711() {
        let mut pcm = Vec::new();
        tone_pair('3', 100, &mut pcm);
        pcm.extend(std::iter::repeat_n(0i16, 400));
        let coded: Vec<i16> = pcm.iter().map(|&s| super::super::codec::g711::ulaw_decode(super::super::codec::g711::ulaw_encode(s))).collect();
        let mut det = ToneDetector::default();
        let mut got = Vec::new();
        det.feed(&coded, &mut got);
        assert_eq!(got.iter().map(|d| d.digit).collect::<String>(), "3");
    }
}

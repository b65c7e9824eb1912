//! Rate conversion between a codec's rate and the mixer's 48 kHz, 20 ms at a time,
//! with rubato's FFT resampler (integer ratios 3 and 6 here: exact, and cheap).

use audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler as _};

/// The mixer's rate and frame.
pub const MIX_RATE: u32 = 48_000;
pub const FRAME: usize = 960;

pub struct Resampler {
    fft: Option<Fft<f32>>,
    input: Vec<f32>,
    output: Vec<f32>,
    in_frame: usize,
}

impl Resampler {
    /// Converts 20 ms chunks from `from` Hz to `to` Hz; equal rates pass through.
    pub fn new(from: u32, to: u32) -> Self {
        let in_frame = from as usize / 50;
        let out_frame = to as usize / 50;
        let fft = (from != to).then(|| Fft::new(from as usize, to as usize, in_frame, 1, FixedSync::Both).expect("valid resampler rates"));
        Resampler { fft, input: vec![0.0; in_frame], output: vec![0.0; out_frame], in_frame }
    }

    /// Samples one call takes.
    pub fn input_frame(&self) -> usize {
        self.in_frame
    }

    /// Resample one 20 ms chunk (`input_frame` samples) into `out` (appended, as f32
    /// full scale ±1).
    pub fn process(&mut self, pcm: &[i16], out: &mut Vec<f32>) {
        debug_assert_eq!(pcm.len(), self.in_frame);
        for (d, &s) in self.input.iter_mut().zip(pcm) {
            *d = s as f32 / 32768.0;
        }
        self.run(out);
    }

    /// As `process`, from f32 samples.
    pub fn process_f32(&mut self, pcm: &[f32], out: &mut Vec<f32>) {
        self.input.copy_from_slice(&pcm[..self.in_frame]);
        self.run(out);
    }

    fn run(&mut self, out: &mut Vec<f32>) {
        let Some(fft) = self.fft.as_mut() else {
            out.extend_from_slice(&self.input);
            return;
        };
        let n_in = self.input.len();
        let n_out = self.output.len();
        let input = InterleavedSlice::new(&self.input[..], 1, n_in).expect("sized");
        let mut output = InterleavedSlice::new_mut(&mut self.output[..], 1, n_out).expect("sized");
        match fft.process_into_buffer(&input, &mut output, None) {
            Ok((_, written)) => out.extend_from_slice(&self.output[..written]),
            Err(_) => out.extend(std::iter::repeat_n(0.0, n_out)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tone_keeps_its_frequency_both_ways() {
        let mut up = Resampler::new(8_000, MIX_RATE);
        let mut down = Resampler::new(MIX_RATE, 8_000);
        let tone: Vec<i16> = (0..8000).map(|i| ((i as f32 * 440.0 * std::f32::consts::TAU / 8000.0).sin() * 10000.0) as i16).collect();
        let mut wide = Vec::new();
        for chunk in tone.chunks(160) {
            up.process(chunk, &mut wide);
        }
        assert_eq!(wide.len(), 48_000);
        // Zero crossings over the last half second: 440 Hz gives 440 of them.
        let crossings = wide[24_000..].windows(2).filter(|w| (w[0] < 0.0) != (w[1] < 0.0)).count();
        assert!((430..=450).contains(&crossings), "{crossings}");
        let mut narrow = Vec::new();
        for chunk in wide.chunks(FRAME) {
            down.process_f32(chunk, &mut narrow);
        }
        assert_eq!(narrow.len(), 8000);
        let peak = narrow[4000..].iter().fold(0f32, |m, &s| m.max(s.abs()));
        assert!((0.28..0.33).contains(&peak), "amplitude kept: {peak}");
    }
}

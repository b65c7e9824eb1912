//! Prompts: a WAV (PCM 16-bit, any rate divisible by 50) or Ogg Opus file, loaded
//! once into 48 kHz mono, played 20 ms per mixer tick to one leg or a whole room.

use super::resample::{Resampler, FRAME, MIX_RATE};
use std::path::Path;
use std::sync::Arc;

#[derive(Debug)]
pub struct PromptError(pub String);

impl std::fmt::Display for PromptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Longest prompt accepted (hold music loops; it need not be long).
const MAX_SECONDS: usize = 600;

/// Load a prompt file: `.ogg`/`.opus` as Ogg Opus (RFC 7845), anything else as WAV.
pub fn load(path: &Path) -> Result<Arc<Vec<f32>>, PromptError> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let samples = if ext == "ogg" || ext == "opus" { load_ogg_opus(path)? } else { load_wav(path)? };
    if samples.is_empty() {
        return Err(PromptError(format!("{}: no audio", path.display())));
    }
    Ok(Arc::new(samples))
}

fn load_wav(path: &Path) -> Result<Vec<f32>, PromptError> {
    let err = |e: hound::Error| PromptError(format!("{}: {e}", path.display()));
    let mut reader = hound::WavReader::open(path).map_err(err)?;
    let spec = reader.spec();
    if spec.sample_format != hound::SampleFormat::Int || spec.bits_per_sample != 16 {
        return Err(PromptError(format!("{}: only 16-bit PCM WAV is read", path.display())));
    }
    if spec.sample_rate % 50 != 0 || spec.sample_rate == 0 || spec.sample_rate > 192_000 {
        return Err(PromptError(format!("{}: sample rate {} is not a multiple of 50 Hz", path.display(), spec.sample_rate)));
    }
    if reader.duration() as usize > MAX_SECONDS * spec.sample_rate as usize {
        return Err(PromptError(format!("{}: longer than {MAX_SECONDS} s", path.display())));
    }
    let channels = spec.channels.max(1) as usize;
    let interleaved: Vec<i16> = reader.samples::<i16>().collect::<Result<_, _>>().map_err(err)?;
    let mono: Vec<i16> = interleaved.chunks(channels).map(|c| (c.iter().map(|&s| s as i32).sum::<i32>() / channels as i32) as i16).collect();
    let mut rs = Resampler::new(spec.sample_rate, MIX_RATE);
    let chunk = rs.input_frame();
    let mut out = Vec::with_capacity(mono.len() * MIX_RATE as usize / spec.sample_rate as usize + FRAME);
    for c in mono.chunks(chunk) {
        let mut padded = c.to_vec();
        padded.resize(chunk, 0);
        rs.process(&padded, &mut out);
    }
    Ok(out)
}

fn load_ogg_opus(path: &Path) -> Result<Vec<f32>, PromptError> {
    let file = std::fs::File::open(path).map_err(|e| PromptError(format!("{}: {e}", path.display())))?;
    let mut reader = ogg::PacketReader::new(std::io::BufReader::new(file));
    let mut decoder = opus::Decoder::new(48_000, opus::Channels::Mono).map_err(|e| PromptError(e.to_string()))?;
    let mut out = Vec::new();
    let mut pcm = vec![0i16; 5760];
    let mut index = 0;
    let mut pre_skip = 0usize;
    while let Some(packet) = reader.read_packet().map_err(|e| PromptError(format!("{}: {e}", path.display())))? {
        let data = &packet.data;
        match index {
            0 => {
                if data.len() < 19 || &data[..8] != b"OpusHead" {
                    return Err(PromptError(format!("{}: not an Ogg Opus file", path.display())));
                }
                pre_skip = u16::from_le_bytes([data[10], data[11]]) as usize;
            }
            1 => {} // OpusTags
            _ => {
                let n = decoder.decode(data, &mut pcm, false).map_err(|e| PromptError(format!("{}: {e}", path.display())))?;
                out.extend(pcm[..n].iter().map(|&s| s as f32 / 32768.0));
                if out.len() > MAX_SECONDS * 48_000 {
                    return Err(PromptError(format!("{}: longer than {MAX_SECONDS} s", path.display())));
                }
            }
        }
        index += 1;
    }
    Ok(out.split_off(pre_skip.min(out.len())))
}

/// One playing prompt.
pub struct Player {
    pub id: u64,
    samples: Arc<Vec<f32>>,
    pos: usize,
    pub looping: bool,
    pub gain: f32,
}

impl Player {
    pub fn new(id: u64, samples: Arc<Vec<f32>>, looping: bool) -> Self {
        Player { id, samples, pos: 0, looping, gain: 1.0 }
    }

    /// Add the next 20 ms into `frame`; false once a non-looping prompt has ended.
    pub fn mix_into(&mut self, frame: &mut [f32; FRAME]) -> bool {
        let mut filled = 0;
        while filled < FRAME {
            if self.pos >= self.samples.len() {
                if !self.looping {
                    return filled > 0;
                }
                self.pos = 0;
            }
            let take = (FRAME - filled).min(self.samples.len() - self.pos);
            for (d, s) in frame[filled..filled + take].iter_mut().zip(&self.samples[self.pos..self.pos + take]) {
                *d += s * self.gain;
            }
            filled += take;
            self.pos += take;
        }
        self.looping || self.pos < self.samples.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_wav(path: &Path, rate: u32, seconds: f32) {
        let spec = hound::WavSpec { channels: 1, sample_rate: rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for i in 0..(rate as f32 * seconds) as usize {
            w.write_sample(((i as f32 * 400.0 * std::f32::consts::TAU / rate as f32).sin() * 10_000.0) as i16).unwrap();
        }
        w.finalize().unwrap();
    }

    #[test]
    fn wav_at_8k_becomes_48k_and_plays_once_or_loops() {
        let dir = std::env::temp_dir().join(format!("mediad-prompt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("p.wav");
        write_wav(&path, 8000, 0.1);
        let samples = load(&path).unwrap();
        assert_eq!(samples.len(), 4800);
        let mut once = Player::new(1, samples.clone(), false);
        let mut frame = [0f32; FRAME];
        let plays: Vec<bool> = (0..6).map(|_| once.mix_into(&mut frame)).collect();
        assert_eq!(plays, vec![true, true, true, true, false, false]);
        let mut looped = Player::new(2, samples, true);
        assert!((0..50).all(|_| looped.mix_into(&mut frame)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_files_are_errors() {
        let dir = std::env::temp_dir().join(format!("mediad-prompt-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let junk = dir.join("junk.wav");
        std::fs::write(&junk, b"RIFF\x00\x00not a wav at all").unwrap();
        assert!(load(&junk).is_err());
        let ogg = dir.join("junk.ogg");
        std::fs::write(&ogg, b"OggS garbage").unwrap();
        assert!(load(&ogg).is_err());
        assert!(load(&dir.join("missing.wav")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

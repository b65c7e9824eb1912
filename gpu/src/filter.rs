//! The resampling filter, as integer tap tables shared by the CPU and the GPU path.
//!
//! A tent (triangle) filter whose half-width is one source sample when enlarging (that
//! is bilinear interpolation) and `source/destination` samples when shrinking, so a
//! downscale averages every sample under the destination pixel instead of skipping
//! most of them (plain bilinear aliases badly past 2:1, and a 6x6 layout shrinks 6:1).
//! The support is capped at `MAX_RADIUS` source samples: beyond 16:1 the pictures
//! are a few dozen pixels wide and the cap only costs some aliasing there.
//!
//! Weights are computed once per tile on the CPU in exact integer arithmetic and
//! uploaded as they are; both paths then do the same integer multiply-adds
//! (`WEIGHT_BITS` weights, a horizontal pass rounded to `MID_BITS` fractional bits,
//! then a vertical pass rounded to 8-bit samples), so they agree bit for bit.

/// Weights of one output sample sum to exactly `1 << WEIGHT_BITS`.
pub const WEIGHT_BITS: u32 = 14;
/// Fractional bits kept between the horizontal and the vertical pass.
pub const MID_BITS: u32 = 6;
/// Largest filter half-width in source samples.
pub const MAX_RADIUS: usize = 16;

/// The taps of one axis of one scaled rectangle: for destination sample `d` (relative
/// to the rectangle), `entry(d)` holds the first source index (absolute in the source
/// plane), the tap count, then `stride - 2` weight slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taps {
    /// Words per destination sample: 2 + the most taps any sample has.
    pub stride: usize,
    pub words: Vec<u32>,
}

impl Taps {
    /// Map source samples `start..start + src` onto `dst` destination samples, centres
    /// aligned (the usual `(d + 0.5) * src / dst - 0.5`); taps falling outside the
    /// source range are folded onto its edge samples (clamp to edge).
    pub fn new(start: usize, src: usize, dst: usize) -> Taps {
        assert!(src > 0 && dst > 0, "empty axis");
        // Everything in units of 1 / (2 * dst) source samples: exact integers.
        let unit = 2 * dst as i64;
        let radius = (src.max(dst).min(MAX_RADIUS * dst)) as i64 * 2; // half-width, in units
        let support = |d: i64| {
            let centre = (2 * d + 1) * src as i64 - dst as i64;
            let first = (centre - radius).div_euclid(unit) + 1; // strictly inside the support
            let last = (centre + radius - 1).div_euclid(unit);
            (centre, first, last, first.clamp(0, src as i64 - 1), last.clamp(0, src as i64 - 1))
        };
        let taps = (0..dst as i64).map(&support).map(|(_, _, _, lo, hi)| (hi - lo + 1) as usize).max().unwrap_or(1);
        let stride = 2 + taps;
        let mut words = vec![0u32; stride * dst];
        let mut raw = Vec::with_capacity(taps);
        for (d, entry) in words.chunks_exact_mut(stride).enumerate() {
            let (centre, first, last, lo, hi) = support(d as i64);
            raw.clear();
            raw.resize((hi - lo + 1) as usize, 0i64);
            for i in first..=last {
                let w = radius - (i * unit - centre).abs();
                if w > 0 {
                    raw[(i.clamp(lo, hi) - lo) as usize] += w;
                }
            }
            entry[0] = (start + lo as usize) as u32;
            entry[1] = raw.len() as u32;
            normalise(&raw, &mut entry[2..2 + raw.len()]);
        }
        Taps { stride, words }
    }

    /// First source index, then the weights, of destination sample `d`.
    pub fn entry(&self, d: usize) -> (usize, &[u32]) {
        let e = &self.words[d * self.stride..(d + 1) * self.stride];
        (e[0] as usize, &e[2..2 + e[1] as usize])
    }
}

/// Scale raw weights to sum to exactly `1 << WEIGHT_BITS` (the rounding remainder goes
/// to the largest weight, so a flat picture stays exactly flat).
fn normalise(raw: &[i64], out: &mut [u32]) {
    let total: i64 = raw.iter().sum();
    let one = 1i64 << WEIGHT_BITS;
    let mut sum = 0;
    let mut biggest = 0;
    for (i, (&r, o)) in raw.iter().zip(out.iter_mut()).enumerate() {
        let w = (r * one + total / 2) / total;
        *o = w as u32;
        sum += w;
        if r > raw[biggest] {
            biggest = i;
        }
    }
    out[biggest] = (out[biggest] as i64 + one - sum) as u32;
}

/// The horizontal pass of one source row: weights times samples, rounded to
/// `MID_BITS` fractional bits (at most 255 << 6, a u16).
#[inline]
pub fn horizontal(row: &[u8], first: usize, weights: &[u32]) -> u32 {
    round_mid(weights.iter().zip(&row[first..first + weights.len()]).map(|(&w, &v)| w * v as u32).sum())
}

/// A horizontal pass's sum rounded to `MID_BITS` fractional bits.
#[inline]
pub fn round_mid(sum: u32) -> u32 {
    (sum + (1 << (WEIGHT_BITS - MID_BITS - 1))) >> (WEIGHT_BITS - MID_BITS)
}

/// A vertical pass's sum rounded to an 8-bit sample.
#[inline]
pub fn finish(sum: u32) -> u8 {
    ((sum + (1 << (WEIGHT_BITS + MID_BITS - 1))) >> (WEIGHT_BITS + MID_BITS)) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums_to_one(t: &Taps, n: usize) {
        for d in 0..n {
            let (_, w) = t.entry(d);
            assert_eq!(w.iter().sum::<u32>(), 1 << WEIGHT_BITS, "sample {d}");
        }
    }

    #[test]
    fn identity_is_one_tap_each() {
        let t = Taps::new(3, 10, 10);
        for d in 0..10 {
            assert_eq!(t.entry(d), (3 + d, &[1u32 << WEIGHT_BITS][..]));
        }
    }

    #[test]
    fn enlarging_is_bilinear() {
        // 2 -> 4: centres at -0.25, 0.25, 0.75, 1.25 of the source.
        let t = Taps::new(0, 2, 4);
        sums_to_one(&t, 4);
        let q = 1u32 << (WEIGHT_BITS - 2);
        assert_eq!(t.entry(0), (0, &[4 * q][..]), "clamped at the edge");
        assert_eq!(t.entry(1), (0, &[3 * q, q][..]));
        assert_eq!(t.entry(2), (0, &[q, 3 * q][..]));
        assert_eq!(t.entry(3), (1, &[4 * q][..]));
    }

    #[test]
    fn shrinking_averages_every_sample_underneath() {
        // 6:1 touches about 12 source samples per output, not 2.
        let t = Taps::new(0, 600, 100);
        sums_to_one(&t, 100);
        let (first, w) = t.entry(50);
        assert!(w.len() >= 11 && first <= 300 && first + w.len() >= 306, "{first} {}", w.len());
        // An alternating line (the worst case for a point sampler) comes out flat grey.
        let row: Vec<u8> = (0..600).map(|i| if i % 2 == 0 { 0 } else { 255 }).collect();
        for d in 1..99 {
            let (first, w) = t.entry(d);
            let v = finish(horizontal(&row, first, w) << WEIGHT_BITS);
            assert!((124..=131).contains(&v), "sample {d}: {v}");
        }
    }

    #[test]
    fn support_is_capped_for_extreme_shrinking() {
        let t = Taps::new(0, 1920, 2);
        sums_to_one(&t, 2);
        assert!(t.stride <= 2 + 2 * MAX_RADIUS + 2, "{}", t.stride);
    }
}

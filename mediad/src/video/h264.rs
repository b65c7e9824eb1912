//! H.264 RTP payloads (RFC 6184, packetization-mode 1: single NAL units, STAP-A and
//! FU-A) back into an Annex B access unit (start code before every NAL unit), what
//! openh264 decodes. Modes 0 and 1 are what browsers and room systems send; STAP-B,
//! MTAP and FU-B belong to the interleaved mode and are refused.

use super::{Malformed, Unit};

const START: [u8; 4] = [0, 0, 0, 1];

#[derive(Debug, Default)]
pub struct H264 {
    /// An FU-A is open: its start arrived, its end not yet.
    in_fragment: bool,
}

impl H264 {
    pub fn push(&mut self, p: &[u8], unit: &mut Unit) -> Result<(), Malformed> {
        let &b0 = p.first().ok_or(Malformed("empty payload"))?;
        if b0 & 0x80 != 0 {
            return Err(Malformed("forbidden_zero_bit set"));
        }
        match b0 & 0x1f {
            1..=23 => {
                self.no_open_fragment()?;
                nal(unit, p);
            }
            24 => {
                self.no_open_fragment()?;
                let mut rest = &p[1..];
                if rest.is_empty() {
                    return Err(Malformed("empty STAP-A"));
                }
                while !rest.is_empty() {
                    let len = rest.get(..2).map(|l| u16::from_be_bytes([l[0], l[1]]) as usize).ok_or(Malformed("STAP-A size cut"))?;
                    let n = rest.get(2..2 + len).filter(|n| !n.is_empty()).ok_or(Malformed("STAP-A unit past the payload"))?;
                    nal(unit, n);
                    rest = &rest[2 + len..];
                }
            }
            28 => {
                let &fu = p.get(1).ok_or(Malformed("FU-A without its header"))?;
                let (start, end) = (fu & 0x80 != 0, fu & 0x40 != 0);
                if start && end {
                    return Err(Malformed("FU-A both start and end"));
                }
                if start {
                    self.no_open_fragment()?;
                    let header = (b0 & 0xe0) | (fu & 0x1f);
                    unit.data.extend_from_slice(&START);
                    unit.data.push(header);
                    note(unit, header);
                    self.in_fragment = true;
                } else if !self.in_fragment {
                    return Err(Malformed("FU-A continues a fragment whose start was lost"));
                }
                unit.data.extend_from_slice(&p[2..]);
                if end {
                    self.in_fragment = false;
                }
            }
            _ => return Err(Malformed("STAP-B, MTAP, FU-B or reserved NAL type (interleaved mode is not offered)")),
        }
        Ok(())
    }

    fn no_open_fragment(&self) -> Result<(), Malformed> {
        if self.in_fragment {
            return Err(Malformed("a NAL unit inside an unfinished FU-A"));
        }
        Ok(())
    }

    /// The frame ended: it must not stop inside a fragment.
    pub fn finish(&mut self) -> Result<(), Malformed> {
        std::mem::take(&mut self.in_fragment).then_some(()).map_or(Ok(()), |_| Err(Malformed("frame ends inside an FU-A")))
    }
}

fn nal(unit: &mut Unit, n: &[u8]) {
    unit.data.extend_from_slice(&START);
    unit.data.extend_from_slice(n);
    note(unit, n[0]);
}

/// An IDR slice makes the unit a keyframe.
fn note(unit: &mut Unit, header: u8) {
    if header & 0x1f == 5 {
        unit.keyframe = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(packets: &[&[u8]]) -> Result<Unit, Malformed> {
        let (mut d, mut u) = (H264::default(), Unit::default());
        for p in packets {
            d.push(p, &mut u)?;
        }
        d.finish()?;
        Ok(u)
    }

    #[test]
    fn single_stap_a_and_fu_a_become_annex_b() {
        let u = run(&[&[0x78, 0, 2, 0x67, 0x42, 0, 1, 0x68], &[0x7c, 0x85, 1, 2], &[0x7c, 0x05, 3], &[0x7c, 0x45, 4], &[0x06, 9]]).unwrap();
        assert_eq!(u.data, [0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68, 0, 0, 0, 1, 0x65, 1, 2, 3, 4, 0, 0, 0, 1, 0x06, 9]);
        assert!(u.keyframe);
        assert!(!run(&[&[0x41, 0x9a]]).unwrap().keyframe, "a P slice");
    }

    #[test]
    fn broken_fragments_and_hostile_payloads_are_refused() {
        for (packets, why) in [
            (&[&[0x7c, 0x05, 3][..]][..], "start lost"),
            (&[&[0x7c, 0x85, 1], &[0x41, 1]], "NAL inside"),
            (&[&[0x7c, 0x85, 1]], "ends inside"),
            (&[&[0x7c, 0xc5, 1]], "start and end"),
            (&[&[0x78, 0, 9, 0x68]], "STAP-A past"),
            (&[&[0x78, 0]], "size cut"),
            (&[&[0x78, 0, 0]], "zero-length unit"),
            (&[&[0x78]], "empty STAP-A"),
            (&[&[0x79, 0, 1]], "STAP-B"),
            (&[&[0x7c]], "FU-A header"),
            (&[&[0xe1, 0]], "forbidden bit"),
            (&[&[]], "empty"),
        ] {
            assert!(run(packets).is_err(), "{why}");
        }
    }
}

//! AV1 RTP payloads (the AOM "RTP Payload Format for AV1") back into a temporal unit
//! in the low-overhead bitstream format (every OBU with its size field), what dav1d
//! decodes. Packets carry OBU elements behind a one-byte aggregation header (Z: the
//! first element continues the previous packet's last; Y: the last continues in the
//! next; W: element count, 0 meaning every element has a length; N: a new coded video
//! sequence starts, a key frame). OBUs usually come without size fields, so each gets
//! its size written back; temporal delimiters, tile lists and padding are dropped by
//! senders and receivers alike, and one temporal delimiter opens each unit.

use super::{Malformed, Unit};

/// Temporal delimiter OBU with an empty payload (type 2, size field set).
const TEMPORAL_DELIMITER: [u8; 2] = [0x12, 0x00];

#[derive(Debug, Default)]
pub struct Av1 {
    started: bool,
    /// An OBU split across packets, waiting for its rest.
    fragment: Option<Vec<u8>>,
}

/// LEB128 as AV1 uses it (at most 8 bytes): (value, bytes read).
fn leb128(p: &[u8]) -> Result<(usize, usize), Malformed> {
    let mut v: u64 = 0;
    for (i, &b) in p.iter().take(8).enumerate() {
        v |= ((b & 0x7f) as u64) << (7 * i);
        if b & 0x80 == 0 {
            return usize::try_from(v).map(|v| (v, i + 1)).map_err(|_| Malformed("leb128 too large"));
        }
    }
    Err(Malformed("leb128 cut short or longer than 8 bytes"))
}

fn put_leb128(out: &mut Vec<u8>, mut v: usize) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Append one whole OBU with its size field set.
fn obu(unit: &mut Unit, o: &[u8]) -> Result<(), Malformed> {
    let &h = o.first().ok_or(Malformed("empty OBU"))?;
    if h & 0x80 != 0 {
        return Err(Malformed("OBU forbidden bit set"));
    }
    let kind = (h >> 3) & 0x0f;
    let header = if h & 0x04 != 0 { 2 } else { 1 };
    let ext = o.get(..header).ok_or(Malformed("OBU extension header cut"))?;
    let body = if h & 0x02 != 0 {
        let (size, n) = leb128(&o[header..])?;
        o.get(header + n..header + n + size).ok_or(Malformed("OBU size past its element"))?
    } else {
        &o[header..]
    };
    if matches!(kind, 2 | 8 | 15) {
        return Ok(()); // temporal delimiter, tile list, padding
    }
    unit.data.push(ext[0] | 0x02);
    unit.data.extend_from_slice(&ext[1..]);
    put_leb128(&mut unit.data, body.len());
    unit.data.extend_from_slice(body);
    Ok(())
}

impl Av1 {
    pub fn push(&mut self, p: &[u8], unit: &mut Unit) -> Result<(), Malformed> {
        let &agg = p.first().ok_or(Malformed("empty payload"))?;
        let (z, y, w, n) = (agg & 0x80 != 0, agg & 0x40 != 0, ((agg >> 4) & 0x03) as usize, agg & 0x08 != 0);
        if !self.started {
            if z {
                return Err(Malformed("AV1 frame whose first packet was lost"));
            }
            unit.keyframe = n;
            unit.data.extend_from_slice(&TEMPORAL_DELIMITER);
            self.started = true;
        }
        if z != self.fragment.is_some() {
            return Err(Malformed("AV1 continuation flag disagrees with the previous packet"));
        }
        let mut rest = &p[1..];
        let mut index = 0;
        while !rest.is_empty() {
            index += 1;
            let last = w != 0 && index == w;
            let element = if last {
                std::mem::take(&mut rest)
            } else {
                let (len, at) = leb128(rest)?;
                let e = rest.get(at..at + len).ok_or(Malformed("OBU element past the payload"))?;
                rest = &rest[at + len..];
                e
            };
            let whole = match self.fragment.take() {
                Some(mut f) if index == 1 => {
                    f.extend_from_slice(element);
                    f
                }
                _ => element.to_vec(),
            };
            if rest.is_empty() && y {
                self.fragment = Some(whole);
            } else {
                obu(unit, &whole)?;
            }
            if last {
                break;
            }
        }
        if w != 0 && index != w {
            return Err(Malformed("fewer OBU elements than the aggregation header says"));
        }
        Ok(())
    }

    pub fn finish(&mut self) -> Result<(), Malformed> {
        self.started = false;
        self.fragment.take().map_or(Ok(()), |_| Err(Malformed("frame ends inside a fragmented OBU")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(packets: &[&[u8]]) -> Result<Unit, Malformed> {
        let (mut d, mut u) = (Av1::default(), Unit::default());
        for p in packets {
            d.push(p, &mut u)?;
        }
        d.finish()?;
        Ok(u)
    }

    #[test]
    fn elements_get_size_fields_and_fragments_are_joined() {
        // N=1, W=2: a sequence header (type 1, 2 bytes, length-prefixed) and the first
        // part of a frame OBU (type 6, the last element: no length), Y=1; then the rest.
        let u = run(&[&[0x68, 3, 0x08, 0xaa, 0xbb, 0x30, 1, 2], &[0x90, 3, 4]]).unwrap();
        assert_eq!(u.data, [0x12, 0x00, 0x0a, 2, 0xaa, 0xbb, 0x32, 4, 1, 2, 3, 4]);
        assert!(u.keyframe);
        // W=0: every element has a length; a temporal delimiter in it is dropped; an
        // OBU that already has its size field is kept as it is.
        let u = run(&[&[0x00, 1, 0x10, 4, 0x32, 2, 7, 8]]).unwrap();
        assert_eq!(u.data, [0x12, 0x00, 0x32, 2, 7, 8]);
        assert!(!u.keyframe);
    }

    #[test]
    fn lost_starts_and_hostile_payloads_are_refused() {
        for (packets, why) in [
            (&[&[0x90, 1][..]][..], "Z on the first packet"),
            (&[&[0x50, 0x30, 1]], "ends inside a fragment"),
            (&[&[0x50, 0x30], &[0x10, 0x30]], "Z missing after Y"),
            (&[&[0x10, 0x30], &[0x90, 0x30]], "Z without a fragment before"),
            (&[&[0x00, 5, 0x30]], "element past the payload"),
            (&[&[0x00, 0x80]], "leb128 cut"),
            (&[&[0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]], "leb128 too long"),
            (&[&[0x20, 1, 0x30]], "W=2 with one element"),
            (&[&[0x10, 0xb0]], "forbidden bit"),
            (&[&[0x10, 0x34]], "extension cut"),
            (&[&[0x10, 0x32, 9, 1]], "size field past the element"),
            (&[&[]], "empty"),
        ] {
            assert!(run(packets).is_err(), "{why}");
        }
    }
}

//! VP8 RTP payloads (RFC 7741) back into a VP8 frame, what libvpx decodes: the payload
//! descriptor of every packet is dropped and the partitions are concatenated. A frame
//! must start with the start of partition 0 (S=1, PID=0), or its beginning was lost.

use super::{Malformed, Unit};

#[derive(Debug, Default)]
pub struct Vp8 {
    started: bool,
}

/// What the VP8 payload descriptor (RFC 7741 §4.2) of a packet says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Descriptor {
    /// Bytes before the VP8 payload.
    pub len: usize,
    /// S: the packet starts a partition.
    pub start: bool,
    pub partition: u8,
    /// The temporal layer index, when the T bit says there is one.
    pub tid: Option<u8>,
}

/// Read a packet's payload descriptor; there must be payload behind it. Shared by the
/// depacketizer here and the SFU's keyframe and layer checks (`rtp::keyframe`).
pub fn descriptor(p: &[u8]) -> Result<Descriptor, Malformed> {
    let cut = Malformed("VP8 payload descriptor cut short");
    let &b0 = p.first().ok_or(Malformed("empty payload"))?;
    let (mut at, mut tid_at) = (1, None);
    if b0 & 0x80 != 0 {
        let &x = p.get(1).ok_or(cut)?;
        at = 2;
        if x & 0x80 != 0 {
            at += if *p.get(at).ok_or(cut)? & 0x80 != 0 { 2 } else { 1 }; // PictureID, 7 or 15 bits
        }
        if x & 0x40 != 0 {
            at += 1; // TL0PICIDX
        }
        if x & 0x30 != 0 {
            tid_at = (x & 0x20 != 0).then_some(at);
            at += 1; // TID / KEYIDX
        }
    }
    if at >= p.len() {
        return Err(Malformed("VP8 packet without payload"));
    }
    Ok(Descriptor { len: at, start: b0 & 0x10 != 0, partition: b0 & 0x07, tid: tid_at.map(|i| p[i] >> 6) })
}

impl Vp8 {
    pub fn push(&mut self, p: &[u8], unit: &mut Unit) -> Result<(), Malformed> {
        let d = descriptor(p)?;
        let payload = &p[d.len..];
        if !self.started {
            if !(d.start && d.partition == 0) {
                return Err(Malformed("VP8 frame whose first packet was lost"));
            }
            // The frame tag's P bit: 0 is a key frame.
            unit.keyframe = payload[0] & 0x01 == 0;
            self.started = true;
        }
        unit.data.extend_from_slice(payload);
        Ok(())
    }

    pub fn finish(&mut self) -> Result<(), Malformed> {
        self.started = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_are_dropped_and_partitions_joined() {
        let (mut d, mut u) = (Vp8::default(), Unit::default());
        // X, I with a 15-bit picture id, S=1 PID=0, key frame tag; then a continuation.
        d.push(&[0x90, 0x80, 0x81, 0x23, 0x50, 0x01, 0x02], &mut u).unwrap();
        d.push(&[0x80, 0x80, 0x81, 0x23, 0x03, 0x04], &mut u).unwrap();
        d.finish().unwrap();
        assert_eq!(u.data, [0x50, 0x01, 0x02, 0x03, 0x04]);
        assert!(u.keyframe);
        let mut u = Unit::default();
        d.push(&[0x10, 0x51, 0x00], &mut u).unwrap();
        assert!(!u.keyframe, "P bit set: an inter frame");
    }

    #[test]
    fn a_frame_without_its_start_and_cut_descriptors_are_refused() {
        let mut d = Vp8::default();
        assert!(d.push(&[0x00, 0x50], &mut Unit::default()).is_err(), "S=0 first");
        assert!(d.push(&[0x11, 0x50], &mut Unit::default()).is_err(), "partition 1 first");
        for p in [&[][..], &[0x90], &[0x90, 0x80], &[0x90, 0x80, 0x81, 0x23], &[0x10]] {
            assert!(Vp8::default().push(p, &mut Unit::default()).is_err(), "{p:?}");
        }
    }
}

//! The video MCU's output side, sans-IO: one encoded frame into RTP payloads of at
//! most `max_payload` bytes (the caller adds RTP headers; the last payload carries the
//! marker bit). H.264 per RFC 6184 packetization-mode 1: small NAL units aggregated in
//! STAP-A (the parameter sets ahead of an IDR travel in one packet), NAL units that fit
//! sent alone, larger ones split in FU-A. VP8 per RFC 7741: a payload descriptor with a
//! 15-bit picture ID on every packet, S=1 on the first.

use super::Malformed;

/// The NAL units of an Annex B access unit (start codes of 3 or 4 bytes dropped).
pub fn nal_units(annex_b: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= annex_b.len() {
        if annex_b[i..i + 3] == [0, 0, 1] {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut units = Vec::with_capacity(starts.len());
    for (n, &s) in starts.iter().enumerate() {
        let mut end = starts.get(n + 1).map_or(annex_b.len(), |&next| next - 3);
        // A 4-byte start code leaves its leading zero (and trailing zeros) behind.
        while end > s && annex_b[end - 1] == 0 {
            end -= 1;
        }
        if end > s {
            units.push(&annex_b[s..end]);
        }
    }
    units
}

/// H.264 payloads of one access unit.
pub fn h264(annex_b: &[u8], max_payload: usize) -> Result<Vec<Vec<u8>>, Malformed> {
    if max_payload < 16 {
        return Err(Malformed("payload size below 16 bytes"));
    }
    let units = nal_units(annex_b);
    if units.is_empty() {
        return Err(Malformed("no NAL unit in the access unit"));
    }
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut stap: Vec<&[u8]> = Vec::new();
    let flush = |stap: &mut Vec<&[u8]>, out: &mut Vec<Vec<u8>>| {
        match stap.len() {
            0 => {}
            1 => out.push(stap[0].to_vec()),
            _ => {
                // STAP-A header: F and the highest NRI of its units, type 24.
                let nri = stap.iter().map(|n| n[0] & 0x60).max().unwrap_or(0);
                let mut p = vec![nri | 24];
                for n in stap.iter() {
                    p.extend_from_slice(&(n.len() as u16).to_be_bytes());
                    p.extend_from_slice(n);
                }
                out.push(p);
            }
        }
        stap.clear();
    };
    for n in units {
        if n[0] & 0x80 != 0 {
            return Err(Malformed("forbidden_zero_bit set in a NAL unit"));
        }
        if !(1..=23).contains(&(n[0] & 0x1f)) {
            return Err(Malformed("NAL type 0 or 24-31: unspecified, or the payload format's own"));
        }
        let stap_len = 1 + stap.iter().map(|u| 2 + u.len()).sum::<usize>();
        if !stap.is_empty() && stap_len + 2 + n.len() > max_payload {
            flush(&mut stap, &mut out);
        }
        if 1 + 2 + n.len() <= max_payload {
            stap.push(n);
            continue;
        }
        flush(&mut stap, &mut out);
        if n.len() <= max_payload {
            out.push(n.to_vec());
            continue;
        }
        // FU-A: indicator (F, NRI, type 28), header (S, E, the unit's type).
        let (indicator, kind) = ((n[0] & 0xe0) | 28, n[0] & 0x1f);
        let body = &n[1..];
        let chunks: Vec<&[u8]> = body.chunks(max_payload - 2).collect();
        for (i, c) in chunks.iter().enumerate() {
            let mut header = kind;
            if i == 0 {
                header |= 0x80;
            }
            if i + 1 == chunks.len() {
                header |= 0x40;
            }
            let mut p = Vec::with_capacity(2 + c.len());
            p.extend_from_slice(&[indicator, header]);
            p.extend_from_slice(c);
            out.push(p);
        }
    }
    flush(&mut stap, &mut out);
    Ok(out)
}

/// VP8 payloads of one frame, with picture ID `picture_id` (15 bits).
pub fn vp8(frame: &[u8], picture_id: u16, max_payload: usize) -> Result<Vec<Vec<u8>>, Malformed> {
    const DESCRIPTOR: usize = 4;
    if max_payload <= DESCRIPTOR {
        return Err(Malformed("payload size too small for the VP8 descriptor"));
    }
    if frame.is_empty() {
        return Err(Malformed("empty VP8 frame"));
    }
    let id = picture_id & 0x7fff;
    Ok(frame
        .chunks(max_payload - DESCRIPTOR)
        .enumerate()
        .map(|(i, c)| {
            // X=1, S on the first packet, PID 0; I=1; M=1 and the 15-bit picture ID.
            let mut p = vec![0x80 | if i == 0 { 0x10 } else { 0 }, 0x80, 0x80 | (id >> 8) as u8, id as u8];
            p.extend_from_slice(c);
            p
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::video::{h264::H264, vp8::Vp8, Unit};

    #[test]
    fn h264_parameter_sets_aggregate_and_big_slices_fragment_and_read_back() {
        let mut au = vec![0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80, 0, 0, 0, 1, 0x65];
        au.extend((0..3000).map(|i| (i % 251) as u8 | 1));
        let payloads = h264(&au, 1200).unwrap();
        assert_eq!(payloads[0][0] & 0x1f, 24, "SPS + PPS in a STAP-A");
        assert!(payloads[1..].iter().all(|p| p[0] & 0x1f == 28 && p.len() <= 1200), "the IDR in FU-A");
        assert_eq!(payloads.len(), 1 + 3001usize.div_ceil(1198));
        let (mut d, mut u) = (H264::default(), Unit::default());
        for p in &payloads {
            d.push(p, &mut u).unwrap();
        }
        d.finish().unwrap();
        assert_eq!(u.data, au, "depacketized: the same access unit");
        assert!(u.keyframe);
    }

    #[test]
    fn h264_single_units_and_refusals() {
        let au = [0, 0, 1, 0x41, 1, 2, 3];
        assert_eq!(h264(&au, 1200).unwrap(), vec![vec![0x41, 1, 2, 3]]);
        assert!(h264(&[1, 2, 3], 1200).is_err(), "no start code");
        assert!(h264(&[0, 0, 1, 0xc1, 1], 1200).is_err(), "forbidden bit");
        assert!(h264(&[0, 0, 1, 0x7c, 1], 1200).is_err(), "an FU-A inside an access unit");
        assert!(h264(&au, 8).is_err(), "payload size");
        assert_eq!(nal_units(&[0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2, 0, 0]), vec![&[0x67, 1][..], &[0x68, 2][..]]);
    }

    #[test]
    fn vp8_frames_split_with_descriptors_and_read_back() {
        let frame: Vec<u8> = std::iter::once(0x50).chain((0..2500).map(|i| i as u8)).collect();
        let payloads = vp8(&frame, 0x1234, 1000).unwrap();
        assert_eq!(payloads.len(), 3);
        assert_eq!(&payloads[0][..4], &[0x90, 0x80, 0x92, 0x34]);
        assert_eq!(&payloads[1][..4], &[0x80, 0x80, 0x92, 0x34]);
        let (mut d, mut u) = (Vp8::default(), Unit::default());
        for p in &payloads {
            d.push(p, &mut u).unwrap();
        }
        assert_eq!(u.data, frame);
        assert!(u.keyframe);
        assert!(vp8(&[], 1, 1000).is_err() && vp8(&frame, 1, 4).is_err());
    }
}

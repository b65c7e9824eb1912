//! Is this RTP packet the first packet of a keyframe? Read from the payload format of
//! each codec we forward, so a simulcast subscriber switches layers only where the
//! decoder can start (a switch anywhere else shows garbage until the next keyframe).

use crate::video::vp8::descriptor;

/// Codecs whose payload formats we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    Vp8,
    Vp9,
    H264,
    Av1,
    /// Anything else: every packet counts as a possible start (no switch gating).
    Other,
}

impl VideoCodec {
    pub fn from_name(name: Option<&str>) -> VideoCodec {
        match name.map(str::to_ascii_uppercase).as_deref() {
            Some("VP8") => VideoCodec::Vp8,
            Some("VP9") => VideoCodec::Vp9,
            Some("H264") => VideoCodec::H264,
            Some("AV1") => VideoCodec::Av1,
            _ => VideoCodec::Other,
        }
    }
}

/// The RTP payload of a packet (after CSRCs, extension and before padding).
pub fn payload(packet: &[u8]) -> Option<&[u8]> {
    let first = *packet.first()?;
    let mut at = 12 + 4 * (first & 0x0f) as usize;
    if first & 0x10 != 0 {
        let words = packet.get(at + 2..at + 4)?;
        at += 4 + 4 * u16::from_be_bytes([words[0], words[1]]) as usize;
    }
    let mut end = packet.len();
    if first & 0x20 != 0 {
        end = end.checked_sub(*packet.last()? as usize)?;
    }
    packet.get(at..end)
}

/// Whether `packet` starts a keyframe of `codec`.
pub fn starts_keyframe(codec: VideoCodec, packet: &[u8]) -> bool {
    let Some(p) = payload(packet) else { return false };
    match codec {
        VideoCodec::Vp8 => vp8(p),
        VideoCodec::Vp9 => p.first().is_some_and(|b| b & 0x40 == 0 && b & 0x08 != 0),
        VideoCodec::H264 => h264(p),
        // Aggregation header N bit: first packet of a new coded video sequence.
        VideoCodec::Av1 => p.first().is_some_and(|b| b & 0x08 != 0 && b & 0x80 == 0),
        VideoCodec::Other => true,
    }
}

/// RFC 7741: start of partition 0 (S=1, PID=0) and the VP8 frame tag's P bit clear.
fn vp8(p: &[u8]) -> bool {
    descriptor(p).is_ok_and(|d| d.start && d.partition == 0 && p[d.len] & 0x01 == 0)
}

/// RFC 7741 §4.2: the temporal layer index (TID) of a VP8 packet, when its payload
/// descriptor carries one (T bit).
pub fn vp8_tid(packet: &[u8]) -> Option<u8> {
    descriptor(payload(packet)?).ok()?.tid
}

/// RFC 6184: an SPS or IDR slice as a single NAL, inside a STAP-A, or at the start
/// of an FU-A (browsers send SPS+PPS in a STAP-A ahead of the IDR).
fn h264(p: &[u8]) -> bool {
    let key = |t: u8| t == 5 || t == 7;
    let Some(&b0) = p.first() else { return false };
    match b0 & 0x1f {
        t @ 1..=23 => key(t),
        24 => {
            let mut at = 1;
            while let Some(len) = p.get(at..at + 2).map(|l| u16::from_be_bytes([l[0], l[1]]) as usize) {
                match p.get(at + 2) {
                    Some(nal) if key(nal & 0x1f) => return true,
                    Some(_) => at += 2 + len,
                    None => return false,
                }
            }
            false
        }
        28 => p.get(1).is_some_and(|fu| fu & 0x80 != 0 && key(fu & 0x1f)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn vp8_keyframes_and_not() {
        // X=1 S=1 PID=0; I=1 with a 15-bit picture id; frame tag P=0.
        assert!(starts_keyframe(VideoCodec::Vp8, &rtp(&[0x90, 0x80, 0x81, 0x23, 0x50, 0x01, 0x00])));
        // Same, P=1 (inter frame).
        assert!(!starts_keyframe(VideoCodec::Vp8, &rtp(&[0x90, 0x80, 0x81, 0x23, 0x51])));
        // Continuation packet (S=0).
        assert!(!starts_keyframe(VideoCodec::Vp8, &rtp(&[0x80, 0x80, 0x81, 0x23, 0x50])));
        // No extension byte, S=1, key.
        assert!(starts_keyframe(VideoCodec::Vp8, &rtp(&[0x10, 0x50])));
        // With TL0PICIDX and TID bytes.
        assert!(starts_keyframe(VideoCodec::Vp8, &rtp(&[0x90, 0xE0, 0x05, 0x07, 0x20, 0x10])));
    }

    #[test]
    fn vp8_temporal_layer_index() {
        // X, I (15-bit id), L, T: TID byte 0b10_1_00000 → TID 2, Y set.
        assert_eq!(vp8_tid(&rtp(&[0x90, 0xE0, 0x81, 0x23, 0x07, 0xA0, 0x50])), Some(2));
        // T without I or L.
        assert_eq!(vp8_tid(&rtp(&[0x90, 0x20, 0x40, 0x50])), Some(1));
        assert_eq!(vp8_tid(&rtp(&[0x90, 0x80, 0x81, 0x23, 0x50])), None, "no T bit");
        assert_eq!(vp8_tid(&rtp(&[0x10, 0x50])), None, "no extension byte");
        assert_eq!(vp8_tid(&rtp(&[0x90, 0xE0, 0x81])), None, "cut short");
    }

    #[test]
    fn h264_keyframes_and_not() {
        assert!(starts_keyframe(VideoCodec::H264, &rtp(&[0x67, 0x42])), "single SPS");
        assert!(starts_keyframe(VideoCodec::H264, &rtp(&[0x78, 0, 2, 0x67, 0x42, 0, 1, 0x68])), "STAP-A with SPS");
        assert!(starts_keyframe(VideoCodec::H264, &rtp(&[0x7c, 0x85, 0x88])), "FU-A start of IDR");
        assert!(!starts_keyframe(VideoCodec::H264, &rtp(&[0x7c, 0x05, 0x88])), "FU-A middle of IDR");
        assert!(!starts_keyframe(VideoCodec::H264, &rtp(&[0x41, 0x9a])), "P slice");
        assert!(!starts_keyframe(VideoCodec::H264, &rtp(&[0x78, 0, 9, 0x68])), "STAP-A cut short");
    }

    #[test]
    fn vp9_and_av1() {
        assert!(starts_keyframe(VideoCodec::Vp9, &rtp(&[0x88])));
        assert!(!starts_keyframe(VideoCodec::Vp9, &rtp(&[0xC8])));
        assert!(starts_keyframe(VideoCodec::Av1, &rtp(&[0x18])));
        assert!(!starts_keyframe(VideoCodec::Av1, &rtp(&[0x10])));
    }

    #[test]
    fn hostile_packets_are_not_keyframes() {
        for codec in [VideoCodec::Vp8, VideoCodec::Vp9, VideoCodec::H264, VideoCodec::Av1] {
            assert!(!starts_keyframe(codec, &[]));
            assert!(!starts_keyframe(codec, &[0x90; 12]), "extension header missing");
            assert!(!starts_keyframe(codec, &[0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 200]), "padding beyond the packet");
        }
    }
}

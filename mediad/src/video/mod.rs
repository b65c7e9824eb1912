//! The video MCU's input side, sans-IO: RTP packets of one video stream put back in
//! order and reassembled into coded frames (`assembler`), through the payload format
//! of each codec (`h264`, `vp8`, `av1`), ready for the decoders.

pub mod assembler;
pub mod av1;
pub mod codec;
pub mod h264;
pub mod mixer;
pub mod packetize;
pub mod selection;
pub mod vp8;

pub use crate::rtp::keyframe::VideoCodec;
pub use assembler::{Assembler, AssemblerStats, Output};

/// Why a payload could not be used (counted; the frame it belonged to is dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

/// A coded frame as the decoder takes it: an H.264 access unit in Annex B, a VP8
/// frame, an AV1 temporal unit of sized OBUs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Unit {
    pub data: Vec<u8>,
    /// Decodable on its own (IDR, VP8 key frame, AV1 new coded video sequence).
    pub keyframe: bool,
}

/// One codec's payload reader; `finish` is called at every frame boundary.
#[derive(Debug)]
pub enum Depacketizer {
    H264(h264::H264),
    Vp8(vp8::Vp8),
    Av1(av1::Av1),
}

impl Depacketizer {
    /// None for codecs the MCU does not decode.
    pub fn new(codec: VideoCodec) -> Option<Depacketizer> {
        match codec {
            VideoCodec::H264 => Some(Depacketizer::H264(Default::default())),
            VideoCodec::Vp8 => Some(Depacketizer::Vp8(Default::default())),
            VideoCodec::Av1 => Some(Depacketizer::Av1(Default::default())),
            VideoCodec::Vp9 | VideoCodec::Other => None,
        }
    }

    pub fn push(&mut self, payload: &[u8], unit: &mut Unit) -> Result<(), Malformed> {
        match self {
            Depacketizer::H264(d) => d.push(payload, unit),
            Depacketizer::Vp8(d) => d.push(payload, unit),
            Depacketizer::Av1(d) => d.push(payload, unit),
        }
    }

    pub fn finish(&mut self) -> Result<(), Malformed> {
        match self {
            Depacketizer::H264(d) => d.finish(),
            Depacketizer::Vp8(d) => d.finish(),
            Depacketizer::Av1(d) => d.finish(),
        }
    }
}

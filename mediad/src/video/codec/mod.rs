//! Decoders and encoders of the video MCU, over the reference libraries: openh264
//! (H.264 both ways), libvpx (VP8 both ways, Debian's libvpx through env-libvpx-sys'
//! bindings for its version), dav1d (AV1 decoding). Pictures are `gpu::Frame`s (I420
//! with even sizes: an odd last row or column is dropped), what the compositor takes.
//!
//! A decoder error is not fatal: the frame is dropped and the caller asks the sender
//! for a key frame (`Decoded::Corrupt`); the decoder itself resynchronises on it.

pub mod av1;
pub mod h264;
pub mod vp8;

use super::VideoCodec;
use gpu::{Frame, Plane};

/// What one coded frame gave.
#[derive(Debug)]
pub enum Decoded {
    Picture(Frame),
    /// Nothing to show yet (the decoder holds the frame, or it was not visible).
    Nothing,
    /// The bitstream was damaged: drop it and ask for a key frame.
    Corrupt(String),
}

pub enum Decoder {
    H264(h264::Decoder),
    Vp8(vp8::Decoder),
    Av1(av1::Decoder),
}

impl Decoder {
    pub fn new(codec: VideoCodec) -> Result<Decoder, String> {
        Ok(match codec {
            VideoCodec::H264 => Decoder::H264(h264::Decoder::new()?),
            VideoCodec::Vp8 => Decoder::Vp8(vp8::Decoder::new()?),
            VideoCodec::Av1 => Decoder::Av1(av1::Decoder::new()?),
            other => return Err(format!("no decoder for {other:?}")),
        })
    }

    /// Decode one coded frame (as the assembler hands it out).
    pub fn decode(&mut self, data: &[u8]) -> Decoded {
        match self {
            Decoder::H264(d) => d.decode(data),
            Decoder::Vp8(d) => d.decode(data),
            Decoder::Av1(d) => d.decode(data),
        }
    }
}

/// What an encoder is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderConfig {
    pub width: usize,
    pub height: usize,
    pub bitrate_bps: u32,
    pub max_fps: u32,
}

/// One coded frame out of an encoder: Annex B for H.264, a VP8 frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub data: Vec<u8>,
    pub keyframe: bool,
}

pub enum Encoder {
    H264(Box<h264::Encoder>),
    Vp8(vp8::Encoder),
}

impl Encoder {
    pub fn new(codec: VideoCodec, config: EncoderConfig) -> Result<Encoder, String> {
        if config.width == 0 || config.height == 0 || !config.width.is_multiple_of(2) || !config.height.is_multiple_of(2) {
            return Err(format!("encoder size {}x{}: even and non-zero", config.width, config.height));
        }
        Ok(match codec {
            VideoCodec::H264 => Encoder::H264(Box::new(h264::Encoder::new(config)?)),
            VideoCodec::Vp8 => Encoder::Vp8(vp8::Encoder::new(config)?),
            other => return Err(format!("no encoder for {other:?}")),
        })
    }

    /// Encode `frame` (of the configured size) at `pts_90k`; `keyframe` forces one
    /// (a receiver asked). None: the rate control skipped the frame.
    pub fn encode(&mut self, frame: &Frame, pts_90k: u64, keyframe: bool) -> Result<Option<Encoded>, String> {
        match self {
            Encoder::H264(e) => e.encode(frame, pts_90k, keyframe),
            Encoder::Vp8(e) => e.encode(frame, pts_90k, keyframe),
        }
    }
}

/// Copy a decoder's planes (any strides, any size) into an even-sized frame.
pub fn frame_from_planes(width: usize, height: usize, planes: [(&[u8], usize); 3]) -> Option<Frame> {
    let (w, h) = (width & !1, height & !1);
    if w == 0 || h == 0 {
        return None;
    }
    let copy = |(data, stride): (&[u8], usize), pw: usize, ph: usize| -> Option<Plane> {
        let mut out = Vec::with_capacity(pw * ph);
        for row in 0..ph {
            out.extend_from_slice(data.get(row * stride..row * stride + pw)?);
        }
        Some(Plane { width: pw, height: ph, data: out })
    };
    let [y, u, v] = planes;
    Some(Frame { y: copy(y, w, h)?, u: copy(u, w / 2, h / 2)?, v: copy(v, w / 2, h / 2)? })
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;

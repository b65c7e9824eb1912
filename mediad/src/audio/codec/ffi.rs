//! The C reference codecs mediad links: spandsp (G.722) and bcg729 (G.729). Only the handful of functions used are declared;
//! every state is created and freed by the wrappers in this folder.

use std::ffi::c_int;

#[repr(C)]
pub struct G722Encode {
    _private: [u8; 0],
}
#[repr(C)]
pub struct G722Decode {
    _private: [u8; 0],
}
#[repr(C)]
pub struct Bcg729Encoder {
    _private: [u8; 0],
}
#[repr(C)]
pub struct Bcg729Decoder {
    _private: [u8; 0],
}

#[link(name = "spandsp")]
extern "C" {
    pub fn g722_encode_init(s: *mut G722Encode, rate: c_int, options: c_int) -> *mut G722Encode;
    pub fn g722_encode_free(s: *mut G722Encode) -> c_int;
    pub fn g722_encode(s: *mut G722Encode, out: *mut u8, amp: *const i16, len: c_int) -> c_int;
    pub fn g722_decode_init(s: *mut G722Decode, rate: c_int, options: c_int) -> *mut G722Decode;
    pub fn g722_decode_free(s: *mut G722Decode) -> c_int;
    pub fn g722_decode(s: *mut G722Decode, amp: *mut i16, data: *const u8, len: c_int) -> c_int;
}

#[link(name = "bcg729")]
extern "C" {
    pub fn initBcg729EncoderChannel(enable_vad: u8) -> *mut Bcg729Encoder;
    pub fn closeBcg729EncoderChannel(ctx: *mut Bcg729Encoder);
    pub fn bcg729Encoder(ctx: *mut Bcg729Encoder, input: *const i16, bitstream: *mut u8, len: *mut u8);
    pub fn initBcg729DecoderChannel() -> *mut Bcg729Decoder;
    pub fn closeBcg729DecoderChannel(ctx: *mut Bcg729Decoder);
    pub fn bcg729Decoder(
        ctx: *mut Bcg729Decoder,
        bitstream: *const u8,
        len: u8,
        frame_erasure: u8,
        sid_frame: u8,
        rfc3389_payload: u8,
        out: *mut i16,
    );
}

//! Safe owners of the C codec states (spandsp G.722 and PLC, bcg729 G.729).

use super::ffi;
use std::ptr::NonNull;

/// spandsp's G.722 at 64 kbit/s, 16 kHz samples.
const G722_RATE: i32 = 64_000;

pub struct G722Encoder(NonNull<ffi::G722Encode>);
pub struct G722Decoder(NonNull<ffi::G722Decode>);
/// Packet loss concealment for G.711/G.722: the last 10 ms repeated, fading out over
/// three frames. spandsp's pitch-based `plc_fillin` would be better, but in 0.0.6 it
/// shifts its history with an overlapping memcpy (undefined behaviour, found by the
/// `audio_mix` fuzz target under ASan), so it is not used.
#[derive(Default)]
pub struct Plc {
    last: Vec<i16>,
    gain: f32,
}
pub struct G729Encoder(NonNull<ffi::Bcg729Encoder>);
pub struct G729Decoder(NonNull<ffi::Bcg729Decoder>);

// SAFETY: each state is owned by exactly one value and used from one thread at a time;
// the C libraries keep no thread-local or global state for them.
unsafe impl Send for G722Encoder {}
unsafe impl Send for G722Decoder {}
unsafe impl Send for G729Encoder {}
unsafe impl Send for G729Decoder {}

fn non_null<T>(p: *mut T) -> NonNull<T> {
    NonNull::new(p).expect("codec state allocation failed")
}

impl G722Encoder {
    pub fn new() -> Self {
        // SAFETY: a null state asks spandsp to allocate one.
        G722Encoder(non_null(unsafe { ffi::g722_encode_init(std::ptr::null_mut(), G722_RATE, 0) }))
    }
    /// 16 kHz samples in, one byte per two samples out.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> usize {
        let n = pcm.len().min(out.len() * 2);
        // SAFETY: `out` holds n/2 bytes, `pcm` n samples.
        unsafe { ffi::g722_encode(self.0.as_ptr(), out.as_mut_ptr(), pcm.as_ptr(), n as i32).max(0) as usize }
    }
}

impl G722Decoder {
    pub fn new() -> Self {
        // SAFETY: as for the encoder.
        G722Decoder(non_null(unsafe { ffi::g722_decode_init(std::ptr::null_mut(), G722_RATE, 0) }))
    }
    /// One byte in, two 16 kHz samples out.
    pub fn decode(&mut self, data: &[u8], out: &mut [i16]) -> usize {
        let n = data.len().min(out.len() / 2);
        // SAFETY: `out` holds 2n samples.
        unsafe { ffi::g722_decode(self.0.as_ptr(), out.as_mut_ptr(), data.as_ptr(), n as i32).max(0) as usize }
    }
}

impl Plc {
    pub fn new() -> Self {
        Plc { last: Vec::new(), gain: 1.0 }
    }
    /// Remember good audio (the concealment extends it): its last 80 samples.
    pub fn good(&mut self, pcm: &mut [i16]) {
        let keep = pcm.len().min(80);
        self.last.clear();
        self.last.extend_from_slice(&pcm[pcm.len() - keep..]);
        self.gain = 1.0;
    }
    /// Fill a lost frame.
    pub fn conceal(&mut self, pcm: &mut [i16]) {
        self.gain = (self.gain - 0.34).max(0.0);
        if self.last.is_empty() || self.gain == 0.0 {
            pcm.fill(0);
            return;
        }
        for (i, s) in pcm.iter_mut().enumerate() {
            *s = (self.last[i % self.last.len()] as f32 * self.gain) as i16;
        }
    }
}

impl G729Encoder {
    pub fn new() -> Self {
        // SAFETY: bcg729 allocates the state; VAD off (no SID frames to the room's phones).
        G729Encoder(non_null(unsafe { ffi::initBcg729EncoderChannel(0) }))
    }
    /// 80 samples (10 ms at 8 kHz) in, 10 bytes out.
    pub fn encode_frame(&mut self, pcm: &[i16; 80], out: &mut [u8; 10]) -> usize {
        let mut len = 0u8;
        // SAFETY: bcg729 reads 80 samples and writes at most 10 bytes.
        unsafe { ffi::bcg729Encoder(self.0.as_ptr(), pcm.as_ptr(), out.as_mut_ptr(), &mut len) };
        len as usize
    }
}

impl G729Decoder {
    pub fn new() -> Self {
        // SAFETY: as above.
        G729Decoder(non_null(unsafe { ffi::initBcg729DecoderChannel() }))
    }
    /// One frame: 10 bytes (speech), 2 bytes (SID, Annex B) or none (lost); 80 samples out.
    pub fn decode_frame(&mut self, frame: Option<&[u8]>, out: &mut [i16; 80]) {
        let (ptr, len, erased) = match frame {
            Some(f) => (f.as_ptr(), f.len() as u8, 0),
            None => (std::ptr::null(), 0, 1),
        };
        let sid = u8::from(frame.is_some_and(|f| f.len() == 2));
        // SAFETY: `ptr` is valid for `len` bytes (or unused when erased); out holds 80.
        unsafe { ffi::bcg729Decoder(self.0.as_ptr(), ptr, len, erased, sid, 0, out.as_mut_ptr()) };
    }
}

macro_rules! free_on_drop {
    ($t:ty, $f:path) => {
        impl Drop for $t {
            fn drop(&mut self) {
                // SAFETY: the state was allocated by the library and is freed once.
                unsafe {
                    $f(self.0.as_ptr());
                }
            }
        }
    };
}
free_on_drop!(G722Encoder, ffi::g722_encode_free);
free_on_drop!(G722Decoder, ffi::g722_decode_free);
free_on_drop!(G729Encoder, ffi::closeBcg729EncoderChannel);
free_on_drop!(G729Decoder, ffi::closeBcg729DecoderChannel);

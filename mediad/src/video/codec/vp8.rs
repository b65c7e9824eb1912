//! VP8 through libvpx (Debian's libvpx 1.12 through env-libvpx-sys' bindings for that
//! version: the crate picks them with pkg-config). Encoding is real-time CBR with no
//! look-ahead, error resilient, key frames on request (or every 10 s), what WebRTC
//! receivers that only take VP8 expect.

use super::{frame_from_planes, Decoded, Encoded, EncoderConfig};
use gpu::Frame;
use std::mem::MaybeUninit;
use std::ptr::{null, null_mut};
use vpx_sys::*;

fn check(what: &str, e: vpx_codec_err_t) -> Result<(), String> {
    if e == vpx_codec_err_t::VPX_CODEC_OK {
        Ok(())
    } else {
        Err(format!("libvpx {what}: {e:?}"))
    }
}

pub struct Decoder {
    ctx: Box<vpx_codec_ctx_t>,
}

// SAFETY: the context is owned by this value and used from one thread at a time.
unsafe impl Send for Decoder {}

impl Decoder {
    pub fn new() -> Result<Decoder, String> {
        // SAFETY: a zeroed context is what vpx_codec_dec_init expects to fill in.
        let mut ctx = Box::new(unsafe { MaybeUninit::<vpx_codec_ctx_t>::zeroed().assume_init() });
        let cfg = vpx_codec_dec_cfg_t { threads: 1, w: 0, h: 0 };
        // SAFETY: valid pointers; the ABI version is the one the bindings were made for.
        check("decoder init", unsafe { vpx_codec_dec_init_ver(&mut *ctx, vpx_codec_vp8_dx(), &cfg, 0, VPX_DECODER_ABI_VERSION as i32) })?;
        Ok(Decoder { ctx })
    }

    pub fn decode(&mut self, data: &[u8]) -> Decoded {
        let Ok(len) = u32::try_from(data.len()) else { return Decoded::Corrupt("frame too large".into()) };
        // SAFETY: `data` outlives the call; libvpx copies what it keeps.
        if let Err(e) = check("decode", unsafe { vpx_codec_decode(&mut *self.ctx, data.as_ptr(), len, null_mut(), 0) }) {
            return Decoded::Corrupt(e);
        }
        let mut iter: vpx_codec_iter_t = null();
        // SAFETY: the image (if any) stays valid until the next decode call.
        let img = unsafe { vpx_codec_get_frame(&mut *self.ctx, &mut iter) };
        if img.is_null() {
            return Decoded::Nothing;
        }
        // SAFETY: libvpx returned a valid I420 image with d_w x d_h visible samples.
        let img = unsafe { &*img };
        if img.fmt != vpx_img_fmt::VPX_IMG_FMT_I420 {
            return Decoded::Corrupt(format!("libvpx gave {:?}, not I420", img.fmt));
        }
        let (w, h) = (img.d_w as usize, img.d_h as usize);
        let plane = |i: usize, rows: usize| {
            let stride = img.stride[i] as usize;
            // SAFETY: each plane holds `rows` rows of `stride` bytes.
            (unsafe { std::slice::from_raw_parts(img.planes[i], stride * rows) }, stride)
        };
        let ch = h.div_ceil(2);
        frame_from_planes(w, h, [plane(0, h), plane(1, ch), plane(2, ch)]).map_or(Decoded::Corrupt("empty picture".into()), Decoded::Picture)
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed once.
        unsafe { vpx_codec_destroy(&mut *self.ctx) };
    }
}

pub struct Encoder {
    ctx: Box<vpx_codec_ctx_t>,
    config: EncoderConfig,
}

// SAFETY: as for the decoder.
unsafe impl Send for Encoder {}

impl Encoder {
    pub fn new(config: EncoderConfig) -> Result<Encoder, String> {
        // SAFETY: the default configuration is written by libvpx into zeroed memory.
        let mut cfg = unsafe { MaybeUninit::<vpx_codec_enc_cfg_t>::zeroed().assume_init() };
        check("config", unsafe { vpx_codec_enc_config_default(vpx_codec_vp8_cx(), &mut cfg, 0) })?;
        cfg.g_w = config.width as u32;
        cfg.g_h = config.height as u32;
        cfg.g_timebase = vpx_rational { num: 1, den: 90_000 };
        cfg.rc_target_bitrate = (config.bitrate_bps / 1000).max(50);
        cfg.rc_end_usage = vpx_rc_mode::VPX_CBR;
        cfg.g_lag_in_frames = 0;
        cfg.g_threads = 1;
        cfg.g_error_resilient = VPX_ERROR_RESILIENT_DEFAULT;
        cfg.kf_mode = vpx_kf_mode::VPX_KF_AUTO;
        cfg.kf_max_dist = config.max_fps * 10;
        cfg.rc_dropframe_thresh = 0;
        let mut ctx = Box::new(unsafe { MaybeUninit::<vpx_codec_ctx_t>::zeroed().assume_init() });
        // SAFETY: valid pointers; the ABI version is the one the bindings were made for.
        check("encoder init", unsafe { vpx_codec_enc_init_ver(&mut *ctx, vpx_codec_vp8_cx(), &cfg, 0, VPX_ENCODER_ABI_VERSION as i32) })?;
        let mut enc = Encoder { ctx, config };
        // Real-time speed: the fastest setting that still looks right for conferencing.
        // SAFETY: VP8E_SET_CPUUSED takes one int.
        check("cpu-used", unsafe { vpx_codec_control_(&mut *enc.ctx, vp8e_enc_control_id::VP8E_SET_CPUUSED as i32, -8i32) })?;
        Ok(enc)
    }

    pub fn encode(&mut self, frame: &Frame, pts_90k: u64, keyframe: bool) -> Result<Option<Encoded>, String> {
        let (w, h) = (self.config.width, self.config.height);
        if (frame.width(), frame.height()) != (w, h) {
            return Err(format!("frame {}x{} for a {w}x{h} encoder", frame.width(), frame.height()));
        }
        // SAFETY: a zeroed image described by hand: the planes point into `frame`,
        // which libvpx only reads during vpx_codec_encode.
        let mut img = unsafe { MaybeUninit::<vpx_image_t>::zeroed().assume_init() };
        img.fmt = vpx_img_fmt::VPX_IMG_FMT_I420;
        (img.w, img.h, img.d_w, img.d_h) = (w as u32, h as u32, w as u32, h as u32);
        (img.x_chroma_shift, img.y_chroma_shift, img.bit_depth, img.bps) = (1, 1, 8, 12);
        img.planes = [frame.y.data.as_ptr().cast_mut(), frame.u.data.as_ptr().cast_mut(), frame.v.data.as_ptr().cast_mut(), null_mut()];
        img.stride = [w as i32, (w / 2) as i32, (w / 2) as i32, 0];
        let flags = if keyframe { VPX_EFLAG_FORCE_KF as vpx_enc_frame_flags_t } else { 0 };
        let duration = (90_000 / self.config.max_fps.max(1)) as std::os::raw::c_ulong;
        // SAFETY: the image describes valid planes of the configured size.
        check("encode", unsafe { vpx_codec_encode(&mut *self.ctx, &img, pts_90k as i64, duration, flags, VPX_DL_REALTIME as std::os::raw::c_ulong) })?;
        let mut out: Option<Encoded> = None;
        let mut iter: vpx_codec_iter_t = null();
        loop {
            // SAFETY: packets stay valid until the next encode call; copied out here.
            let pkt = unsafe { vpx_codec_get_cx_data(&mut *self.ctx, &mut iter) };
            if pkt.is_null() {
                break;
            }
            let pkt = unsafe { &*pkt };
            if pkt.kind != vpx_codec_cx_pkt_kind::VPX_CODEC_CX_FRAME_PKT {
                continue;
            }
            // SAFETY: a frame packet: the `frame` member of the union is the live one.
            let f = unsafe { pkt.data.frame };
            let bytes = unsafe { std::slice::from_raw_parts(f.buf as *const u8, f.sz as usize) };
            let o = out.get_or_insert_with(|| Encoded { data: Vec::new(), keyframe: false });
            o.data.extend_from_slice(bytes);
            o.keyframe |= f.flags & VPX_FRAME_IS_KEY != 0;
        }
        Ok(out)
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed once.
        unsafe { vpx_codec_destroy(&mut *self.ctx) };
    }
}

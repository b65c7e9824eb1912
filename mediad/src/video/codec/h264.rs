//! H.264 through openh264 (built from source with nasm: its assembly is what makes
//! 720p encoding real-time on one core). Encoding is real-time camera mode with
//! bitrate rate control (frames skipped rather than the rate overshot), parameter sets
//! before every IDR, key frames on request (or every 10 s).

use super::{frame_from_planes, Decoded, Encoded, EncoderConfig};
use gpu::Frame;
use openh264::decoder::{DecodedYUV, Decoder as OhDecoder};
use openh264::encoder::{BitRate, Complexity, Encoder as OhEncoder, EncoderConfig as OhConfig, FrameRate, FrameType, IntraFramePeriod, RateControlMode, SpsPpsStrategy, UsageType};
use openh264::formats::{YUVSlices, YUVSource};
use openh264::OpenH264API;

pub struct Decoder(OhDecoder);

fn picture(yuv: &DecodedYUV) -> Option<Frame> {
    let (w, h) = yuv.dimensions();
    let (sy, su, sv) = yuv.strides();
    frame_from_planes(w, h, [(yuv.y(), sy), (yuv.u(), su), (yuv.v(), sv)])
}

impl Decoder {
    pub fn new() -> Result<Decoder, String> {
        OhDecoder::new().map(Decoder).map_err(|e| format!("openh264 decoder: {e}"))
    }

    pub fn decode(&mut self, data: &[u8]) -> Decoded {
        match self.0.decode(data) {
            Ok(Some(yuv)) => picture(&yuv).map_or(Decoded::Corrupt("empty picture".into()), Decoded::Picture),
            Ok(None) => Decoded::Nothing,
            Err(e) => Decoded::Corrupt(format!("openh264: {e}")),
        }
    }
}

pub struct Encoder {
    inner: OhEncoder,
    config: EncoderConfig,
    /// The first frame is an IDR anyway, and openh264 sets up on the first frame.
    started: bool,
}

impl Encoder {
    pub fn new(config: EncoderConfig) -> Result<Encoder, String> {
        let oh = OhConfig::new()
            .usage_type(UsageType::CameraVideoRealTime)
            .bitrate(BitRate::from_bps(config.bitrate_bps))
            .max_frame_rate(FrameRate::from_hz(config.max_fps as f32))
            .rate_control_mode(RateControlMode::Bitrate)
            .sps_pps_strategy(SpsPpsStrategy::ConstantId)
            .intra_frame_period(IntraFramePeriod::from_num_frames(config.max_fps * 10))
            .skip_frames(true)
            // The fastest setting: an MCU encodes one stream per layout and rendition.
            .complexity(Complexity::Low)
            .num_threads(1);
        let inner = OhEncoder::with_api_config(OpenH264API::from_source(), oh).map_err(|e| format!("openh264 encoder: {e}"))?;
        Ok(Encoder { inner, config, started: false })
    }

    pub fn encode(&mut self, frame: &Frame, pts_90k: u64, keyframe: bool) -> Result<Option<Encoded>, String> {
        let (w, h) = (self.config.width, self.config.height);
        if (frame.width(), frame.height()) != (w, h) {
            return Err(format!("frame {}x{} for a {w}x{h} encoder", frame.width(), frame.height()));
        }
        if keyframe && self.started {
            self.inner.force_intra_frame();
        }
        self.started = true;
        let src = YUVSlices::new((&frame.y.data, &frame.u.data, &frame.v.data), (w, h), (w, w / 2, w / 2));
        let ms = openh264::Timestamp::from_millis(pts_90k / 90);
        let bits = self.inner.encode_at(&src, ms).map_err(|e| format!("openh264 encode: {e}"))?;
        if matches!(bits.frame_type(), FrameType::Skip | FrameType::Invalid) {
            return Ok(None);
        }
        let key = matches!(bits.frame_type(), FrameType::IDR | FrameType::I);
        Ok(Some(Encoded { data: bits.to_vec(), keyframe: key }))
    }
}

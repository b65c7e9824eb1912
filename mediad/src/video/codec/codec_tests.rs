use super::*;

const COLOURS: [(u8, u8, u8); 3] = [(81, 90, 240), (145, 54, 34), (41, 240, 110)];

fn config() -> EncoderConfig {
    EncoderConfig { width: 320, height: 240, bitrate_bps: 500_000, max_fps: 30 }
}

fn centre(f: &Frame) -> (u8, u8, u8) {
    (f.y.get(160, 120), f.u.get(80, 60), f.v.get(80, 60))
}

fn near(a: (u8, u8, u8), b: (u8, u8, u8)) -> bool {
    a.0.abs_diff(b.0) <= 6 && a.1.abs_diff(b.1) <= 6 && a.2.abs_diff(b.2) <= 6
}

/// Encode a few frames of each colour, decode them back: the colour survives, the
/// first frame and the requested ones are key frames.
fn round_trip(codec: VideoCodec) {
    let mut enc = Encoder::new(codec, config()).unwrap();
    let mut dec = Decoder::new(codec).unwrap();
    let mut n = 0u64;
    for (i, &c) in COLOURS.iter().enumerate() {
        let frame = Frame::solid(320, 240, c);
        for k in 0..5 {
            let want_key = i > 0 && k == 0;
            let e = enc.encode(&frame, n * 3000, want_key).unwrap().expect("a frame out");
            assert_eq!(e.keyframe, n == 0 || want_key, "{codec:?} frame {n}");
            n += 1;
            match dec.decode(&e.data) {
                Decoded::Picture(p) => {
                    assert_eq!((p.width(), p.height()), (320, 240));
                    if k >= 2 {
                        assert!(near(centre(&p), c), "{codec:?} frame {n}: {:?} for {c:?}", centre(&p));
                    }
                }
                other => panic!("{codec:?} frame {n}: {other:?}"),
            }
        }
    }
}

#[test]
fn h264_round_trip_keeps_colours_and_forces_keyframes() {
    round_trip(VideoCodec::H264);
}

#[test]
fn vp8_round_trip_keeps_colours_and_forces_keyframes() {
    round_trip(VideoCodec::Vp8);
}

/// Damaged input never panics: it is reported (or yields nothing), and the next key
/// frame decodes cleanly again.
fn survives_corruption(codec: VideoCodec) {
    let mut enc = Encoder::new(codec, config()).unwrap();
    let frames: Vec<Encoded> = (0..6u64).map(|n| enc.encode(&Frame::solid(320, 240, COLOURS[0]), n * 3000, n == 4).unwrap().unwrap()).collect();
    let mut dec = Decoder::new(codec).unwrap();
    assert!(matches!(dec.decode(&frames[0].data), Decoded::Picture(_)));
    let mut corrupt = 0;
    let mut rng = 0x1234_5678u32;
    let mut garbage: Vec<Vec<u8>> = vec![vec![], vec![0; 3], vec![0xff; 5000], frames[1].data[..frames[1].data.len() / 2].to_vec()];
    for _ in 0..20 {
        let mut f = frames[2].data.clone();
        for _ in 0..8 {
            rng ^= rng << 13;
            rng ^= rng >> 17;
            rng ^= rng << 5;
            let at = rng as usize % f.len();
            f[at] ^= (rng >> 24) as u8 | 1;
        }
        garbage.push(f);
    }
    for g in &garbage {
        if let Decoded::Corrupt(_) = dec.decode(g) {
            corrupt += 1;
        }
    }
    assert!(corrupt >= 1, "{codec:?}: damage is noticed at least once");
    match dec.decode(&frames[4].data) {
        Decoded::Picture(p) => assert!(near(centre(&p), COLOURS[0]), "{codec:?} after the key frame: {:?}", centre(&p)),
        other => panic!("{codec:?}: the key frame after damage gave {other:?}"),
    }
}

#[test]
fn h264_decoder_survives_corruption() {
    survives_corruption(VideoCodec::H264);
}

#[test]
fn vp8_decoder_survives_corruption() {
    survives_corruption(VideoCodec::Vp8);
}

#[test]
fn av1_decoder_refuses_garbage_and_encoders_refuse_odd_sizes() {
    let mut dec = Decoder::new(VideoCodec::Av1).unwrap();
    for g in [&[][..], &[0x12, 0x00], &[0x0a, 0x0b, 0xff, 0xff, 0xff], &[0xff; 64]] {
        assert!(!matches!(dec.decode(g), Decoded::Picture(_)), "{g:?}");
    }
    assert!(Encoder::new(VideoCodec::H264, EncoderConfig { width: 321, ..config() }).is_err());
    assert!(Encoder::new(VideoCodec::Av1, config()).is_err(), "no AV1 encoder");
    let mut enc = Encoder::new(VideoCodec::Vp8, config()).unwrap();
    assert!(enc.encode(&Frame::solid(640, 480, COLOURS[0]), 0, false).is_err(), "wrong frame size");
}

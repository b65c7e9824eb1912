fn main() {
    let pcm: Vec<i16> = (0..960).map(|i| ((i as f32 * 0.04).sin() * 8000.0) as i16).collect();
    for cx in [0, 2, 5, 10] {
        let mut e = opus::Encoder::new(48000, opus::Channels::Mono, opus::Application::LowDelay).unwrap();
        e.set_complexity(cx).unwrap();
        e.set_bitrate(opus::Bitrate::Bits(32000)).unwrap();
        e.set_inband_fec(true).unwrap();
        e.set_packet_loss_perc(5).unwrap();
        let mut out = [0u8; 400];
        let t = std::time::Instant::now();
        let mut n = 0;
        for _ in 0..2000 { n = e.encode(&pcm, &mut out).unwrap(); }
        let enc = t.elapsed() / 2000;
        let mut d = opus::Decoder::new(48000, opus::Channels::Mono).unwrap();
        let mut o = [0i16; 960];
        let t = std::time::Instant::now();
        for _ in 0..2000 { d.decode(&out[..n], &mut o, false).unwrap(); }
        eprintln!("complexity {cx}: encode {enc:?} decode {:?} ({n} B)", t.elapsed() / 2000);
    }
}

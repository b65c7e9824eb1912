//! The audio MCU's inputs: RTP for every codec's depacketizer and decoder, RFC 4733
//! events, the jitter buffer (any order, duplicates, jumps), with mixer ticks between.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mediad::audio::codec::Codec;
use mediad::audio::mixer::{Mixer, Outbound, ParticipantSpec};

fuzz_target!(|data: &[u8]| {
    let mut mixer = Mixer::new(2, false);
    let codecs = [(111, Codec::Opus), (0, Codec::Pcmu), (8, Codec::Pcma), (9, Codec::G722), (18, Codec::G729)];
    for (leg, &(pt, codec)) in codecs.iter().enumerate() {
        mixer.join(ParticipantSpec {
            leg: leg as u64,
            receive: codecs.to_vec(),
            send: Some((codec, pt, 20)),
            te_pt: Some(101),
            level_ext: (leg % 2 == 0).then_some(1),
            inband_dtmf: true,
            ssrc: leg as u32,
            gain: 1.0,
            muted: false,
        });
    }
    let (mut out, mut events) = (Outbound::default(), Vec::new());
    // Length-prefixed packets, each to participant (first byte % 5); a zero length ticks.
    let mut rest = data;
    let mut t = 0u64;
    while rest.len() >= 2 {
        let leg = (rest[0] % 5) as u64;
        let len = (rest[1] as usize).min(rest.len() - 2);
        let packet = &rest[2..2 + len];
        rest = &rest[2 + len..];
        if len == 0 {
            out.clear();
            mixer.tick(&mut out, &mut events);
            t += 20_000;
        } else {
            mixer.push(leg, packet, t, &mut events);
        }
    }
    out.clear();
    mixer.tick(&mut out, &mut events);
});

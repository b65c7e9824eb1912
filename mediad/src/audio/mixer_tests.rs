//! The mixer's tests: codecs mixed minus self, the isolated lobby, two-party relay.

use super::*;
use crate::audio::codec::{Decoder, Encoder};

/// Power of `hz` in `x` (Goertzel), relative to the signal's total power.
pub fn tone_share(x: &[i16], rate: u32, hz: f32) -> f32 {
    let k = 2.0 * (std::f32::consts::TAU * hz / rate as f32).cos();
    let (mut s1, mut s2) = (0f32, 0f32);
    for &v in x {
        let s0 = v as f32 + k * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let p = s1 * s1 + s2 * s2 - k * s1 * s2;
    let total: f32 = x.iter().map(|&v| (v as f32).powi(2)).sum();
    p * 2.0 / x.len() as f32 / total.max(1.0)
}

struct Phone {
    leg: LegId,
    codec: Codec,
    pt: u8,
    hz: f32,
    enc: Encoder,
    dec: Decoder,
    seq: u16,
    heard: Vec<i16>,
}

#[test]
fn four_codecs_each_hear_the_other_three_and_not_themselves() {
    let mut mixer = Mixer::new(4, false);
    let setup = [(Codec::Opus, 111, 440.0), (Codec::Pcmu, 0, 660.0), (Codec::Pcma, 8, 880.0), (Codec::G722, 9, 1100.0)];
    let mut phones: Vec<Phone> = setup
        .iter()
        .enumerate()
        .map(|(i, &(codec, pt, hz))| Phone { leg: 256 + i as u64, codec, pt, hz, enc: Encoder::new(codec), dec: Decoder::new(codec), seq: 0, heard: vec![] })
        .collect();
    // A fifth participant that sends silence: never mixed, hears all four.
    phones.push(Phone { leg: 999, codec: Codec::Pcmu, pt: 0, hz: 0.0, enc: Encoder::new(Codec::Pcmu), dec: Decoder::new(Codec::Pcmu), seq: 0, heard: vec![] });
    for p in &phones {
        mixer.join(ParticipantSpec {
            leg: p.leg,
            receive: vec![(p.pt, p.codec)],
            send: Some((p.codec, p.pt, 20)),
            te_pt: None,
            level_ext: None,
            inband_dtmf: false,
            ssrc: p.leg as u32,
            gain: 1.0,
            muted: false,
        });
    }
    let mut out = Outbound::default();
    let mut events = Vec::new();
    for t in 0..100usize {
        for p in &mut phones {
            let rate = p.codec.sample_rate();
            let n = rate as usize / 50;
            let pcm: Vec<i16> = (0..n).map(|i| (((t * n + i) as f32 * p.hz * std::f32::consts::TAU / rate as f32).sin() * 6000.0) as i16).collect();
            let mut payload = [0u8; 1500];
            let len = p.enc.encode(&pcm, &mut payload);
            let packet = rtp_types::RtpPacketBuilder::new()
                .payload_type(p.pt)
                .sequence_number(p.seq)
                .timestamp(p.seq as u32 * p.codec.clock_rate() / 50)
                .ssrc(1)
                .payload(&payload[..len])
                .write_vec()
                .unwrap();
            p.seq += 1;
            mixer.push(p.leg, &packet, t as u64 * 20_000, &mut events);
        }
        out.clear();
        mixer.tick(&mut out, &mut events);
        for &(leg, start, len) in &out.packets {
            let p = phones.iter_mut().find(|p| p.leg == leg).unwrap();
            let rtp = rtp_types::RtpPacket::parse(&out.bytes[start..start + len]).unwrap();
            assert_eq!(rtp.payload_type(), p.pt);
            p.dec.decode(rtp.payload(), &mut p.heard).unwrap();
        }
    }
    let speakers = events.iter().rev().find_map(|e| if let MixEvent::Speakers(s) = e { Some(s.clone()) } else { None }).unwrap();
    assert_eq!(speakers.len(), 4);
    assert!(speakers.iter().all(|(l, _)| *l != 999), "the silent leg is not a speaker");
    for p in &phones {
        let rate = p.codec.sample_rate();
        let tail = &p.heard[p.heard.len() / 2..];
        for &(_, _, hz) in &setup {
            let share = tone_share(tail, rate, hz);
            if hz == p.hz {
                assert!(share < 0.02, "leg {} hears itself ({hz} Hz: {share})", p.leg);
            } else if hz < rate as f32 / 2.0 - 200.0 {
                assert!(share > 0.1, "leg {} ({:?}) misses {hz} Hz: {share}", p.leg, p.codec);
            }
        }
    }
}

fn g711(seq: u16, byte: u8) -> Vec<u8> {
    rtp_types::RtpPacketBuilder::new().payload_type(0).sequence_number(seq).timestamp(seq as u32 * 160).ssrc(9).payload(&[byte; 160][..]).write_vec().unwrap()
}

fn pcmu_spec(leg: LegId) -> ParticipantSpec {
    ParticipantSpec { leg, receive: vec![(0, Codec::Pcmu)], send: Some((Codec::Pcmu, 0, 20)), te_pt: None, level_ext: None, inband_dtmf: false, ssrc: leg as u32, gain: 1.0, muted: false }
}

/// Payloads each leg got in one tick after both pushed one packet.
fn relay_round(mixer: &mut Mixer, seq: u16, bytes: &[(LegId, u8)]) -> Vec<(LegId, u16, Vec<u8>)> {
    let (mut out, mut events) = (Outbound::default(), Vec::new());
    let mut got = Vec::new();
    let mut read = |out: &Outbound| {
        for &(leg, s, n) in &out.packets {
            let r = rtp_types::RtpPacket::parse(&out.bytes[s..s + n]).unwrap();
            got.push((leg, r.sequence_number(), r.payload().to_vec(), r.timestamp()));
        }
    };
    for &(leg, b) in bytes {
        mixer.push(leg, &g711(seq, b), seq as u64 * 20_000, &mut events);
        // A relaying room sends on arrival.
        if let Some(r) = mixer.take_relayed() {
            read(&r);
            mixer.return_relayed(r);
        }
    }
    mixer.tick(&mut out, &mut events);
    read(&out);
    got.into_iter().map(|(leg, seq, p, _)| (leg, seq, p)).collect()
}

#[test]
fn two_party_rooms_relay_payloads_and_mix_again_when_a_third_joins() {
    let mut mixer = Mixer::new(4, false);
    mixer.join(pcmu_spec(1));
    mixer.join(pcmu_spec(2));
    let mut last_seq = std::collections::HashMap::new();
    let got: Vec<_> = (0..10).flat_map(|seq| relay_round(&mut mixer, seq, &[(1, 0x11), (2, 0x22)])).collect();
    for (leg, other) in [(1, 0x22), (2, 0x11)] {
        let heard: Vec<_> = got.iter().filter(|g| g.0 == leg).collect();
        assert!(heard.len() >= 6, "leg {leg} hears the other: {got:?}");
        // Each hears the other's bytes exactly: no decode, no encode.
        assert!(heard.iter().all(|g| g.2 == vec![other; 160]), "{got:?}");
    }
    for (leg, s, _) in got {
        if let Some(prev) = last_seq.insert(leg, s) {
            assert_eq!(s, prev + 1, "one continuous stream per listener");
        }
    }
    // A third participant: mixing again (the payloads are encodes of the mix), and
    // each listener's stream goes on without a gap.
    mixer.join(pcmu_spec(3));
    for seq in 10..20 {
        let got = relay_round(&mut mixer, seq, &[(1, 0x11), (2, 0x22), (3, 0x33)]);
        for (leg, s, payload) in got {
            if seq > 14 {
                assert!(payload != vec![0x22; 160] && payload != vec![0x11; 160], "mixed, not relayed");
            }
            if let Some(prev) = last_seq.insert(leg, s) {
                assert_eq!(s, prev.wrapping_add(1), "leg {leg}");
            }
        }
    }
    // Two again, one of them muted: mixed (the muted one is heard by nobody).
    mixer.leave(3);
    mixer.set_muted(2, true);
    let got = (20..30).flat_map(|seq| relay_round(&mut mixer, seq, &[(1, 0x11), (2, 0x22)])).collect::<Vec<_>>();
    assert!(got.iter().all(|(leg, _, p)| *leg != 1 || p != &vec![0x22; 160]), "a muted leg is not relayed");
}

#[test]
fn relayed_streams_keep_the_sources_timestamp_steps() {
    let mut mixer = Mixer::new(4, false);
    mixer.join(pcmu_spec(1));
    mixer.join(pcmu_spec(2));
    let mut events = Vec::new();
    let mut heard = Vec::new();
    // Leg 2 talks; frame 6 never arrives (lost on the way in).
    for seq in (0u16..12).filter(|&s| s != 6) {
        mixer.push(1, &g711(seq, 0x11), seq as u64 * 20_000, &mut events);
        mixer.push(2, &g711(seq, 0x22), seq as u64 * 20_000, &mut events);
        if let Some(r) = mixer.take_relayed() {
            for &(_, s, n) in r.packets.iter().filter(|p| p.0 == 1) {
                let p = rtp_types::RtpPacket::parse(&r.bytes[s..s + n]).unwrap();
                heard.push((p.sequence_number(), p.timestamp()));
            }
            mixer.return_relayed(r);
        }
        let mut out = Outbound::default();
        mixer.tick(&mut out, &mut events);
        for &(_, s, n) in out.packets.iter().filter(|p| p.0 == 1) {
            let p = rtp_types::RtpPacket::parse(&out.bytes[s..s + n]).unwrap();
            heard.push((p.sequence_number(), p.timestamp()));
        }
    }
    assert!(heard.len() >= 6, "{heard:?}");
    let steps: Vec<(u16, u32)> = heard.windows(2).map(|w| (w[1].0.wrapping_sub(w[0].0), w[1].1.wrapping_sub(w[0].1))).collect();
    // Sequence numbers run on without a hole (nothing is lost after us); the
    // timestamps step 160 per frame and 320 across the frame that never came.
    assert!(steps.iter().all(|&(ds, _)| ds == 1), "{heard:?}");
    assert!(steps.iter().all(|&(_, dt)| dt == 160 || dt == 320), "{heard:?}");
    assert_eq!(steps.iter().filter(|&&(_, dt)| dt == 320).count(), 1, "{heard:?}");
}

#[test]
fn isolated_mixer_plays_prompts_only_and_reports_their_end() {
    let mut mixer = Mixer::new(4, true);
    for leg in [1, 2] {
        mixer.join(ParticipantSpec { leg, receive: vec![(0, Codec::Pcmu)], send: Some((Codec::Pcmu, 0, 20)), te_pt: Some(101), level_ext: None, inband_dtmf: true, ssrc: 5, gain: 1.0, muted: false });
    }
    mixer.play(Player::new(7, Arc::new(vec![0.3; 3 * FRAME]), false), Some(1)).unwrap();
    let (mut out, mut events) = (Outbound::default(), Vec::new());
    for _ in 0..5 {
        mixer.tick(&mut out, &mut events);
    }
    assert!(out.packets.iter().all(|&(leg, _, _)| leg == 1), "only the prompted leg gets packets");
    assert_eq!(out.packets.len(), 3);
    assert_eq!(events, vec![MixEvent::PromptDone { id: 7 }]);
    assert!(mixer.send_dtmf(2, "12#", 80).is_ok());
    assert!(mixer.send_dtmf(2, "x", 80).is_err());
    out.clear();
    mixer.tick(&mut out, &mut events);
    assert_eq!(out.packets.len(), 1);
    let rtp = rtp_types::RtpPacket::parse(&out.bytes).unwrap();
    assert_eq!((rtp.payload_type(), rtp.payload()[0]), (101, 1));
}

//! SRTP protect + unprotect per packet (AES_CM_128_HMAC_SHA1_80 and AEAD_AES_128_GCM,
//! 1200-byte RTP), mediad's
//! in-place context against webrtc-srtp on the same packets in the same run. Each side
//! also decrypts what the other protected, so the comparison is between equivalent work.
//! `cargo bench -p benches --bench srtp`

use mediad::srtp::{GcmContext, MasterKey, SrtpContext};
use std::hint::black_box;
use std::time::Instant;
use webrtc_srtp::context::Context;
use webrtc_srtp::protection_profile::ProtectionProfile;

const KEY: [u8; 16] = *b"0123456789abcdef";
const SALT: [u8; 14] = *b"mediad-salt-14";

fn packet(seq: u16, size: usize) -> Vec<u8> {
    let mut p = vec![0u8; size];
    p[0] = 0x80;
    p[1] = 96;
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[8..12].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    p
}

fn theirs() -> Context {
    Context::new(&KEY, &SALT, ProtectionProfile::Aes128CmHmacSha1_80, None, None).unwrap()
}

fn main() {
    let n: u16 = std::env::var("BENCH_PACKETS").ok().and_then(|v| v.parse().ok()).unwrap_or(50_000);
    let master = MasterKey { key: KEY, salt: SALT };
    // Cross-check once: each implementation decrypts the other's packets.
    let (mut ours_tx, mut ours_rx) = (SrtpContext::new(&master), SrtpContext::new(&master));
    let (mut their_tx, mut their_rx) = (theirs(), theirs());
    for seq in 0..100u16 {
        let plain = packet(seq, 1200);
        let wire = their_tx.encrypt_rtp(&plain).unwrap();
        let mut buf = wire.to_vec();
        let len = ours_rx.unprotect_rtp(&mut buf).expect("ours decrypts webrtc-srtp");
        assert_eq!(&buf[..len], &plain[..]);
        let mut buf = plain.clone();
        buf.resize(1210, 0);
        let m = ours_tx.protect_rtp(&mut buf, 1200).unwrap();
        assert_eq!(&their_rx.decrypt_rtp(&buf[..m]).expect("webrtc-srtp decrypts ours")[..], &plain[..]);
    }

    let mut hist = hdrhistogram::Histogram::<u64>::new(3).unwrap();
    let mut run = |name: &str, f: &mut dyn FnMut(u16)| -> f64 {
        hist.reset();
        let start = Instant::now();
        for seq in 0..n {
            let t = Instant::now();
            f(seq);
            let _ = hist.record(t.elapsed().as_nanos() as u64);
        }
        let ns = start.elapsed().as_nanos() as f64 / n as f64;
        println!("{name}: {ns:.0} ns per protect+unprotect (p50 {} ns, p99 {} ns)", hist.value_at_quantile(0.5), hist.value_at_quantile(0.99));
        ns
    };
    let (mut tx, mut rx) = (SrtpContext::new(&master), SrtpContext::new(&master));
    let mut buf = vec![0u8; 1210];
    let ours = run("mediad srtp (in place)", &mut |seq| {
        buf[..1200].copy_from_slice(&packet(seq, 1200)[..]);
        let m = tx.protect_rtp(&mut buf, 1200).unwrap();
        black_box(rx.unprotect_rtp(&mut buf[..m]).unwrap());
    });
    let (mut ttx, mut trx) = (theirs(), theirs());
    let theirs_ns = run("webrtc-srtp 0.17", &mut |seq| {
        let wire = ttx.encrypt_rtp(&packet(seq, 1200)).unwrap();
        black_box(trx.decrypt_rtp(&wire).unwrap());
    });
    println!("srtp 1200 B: mediad {ours:.0} ns, webrtc-srtp {theirs_ns:.0} ns per packet pair: {:.2}x", theirs_ns / ours);

    // AEAD_AES_128_GCM, the profile browsers prefer.
    let gcm_salt = *b"gcm-salt-12b";
    let (mut tx, mut rx) = (GcmContext::new(KEY, gcm_salt), GcmContext::new(KEY, gcm_salt));
    let mut buf = vec![0u8; 1216];
    let ours = run("mediad srtp GCM (in place)", &mut |seq| {
        buf[..1200].copy_from_slice(&packet(seq, 1200)[..]);
        let m = tx.protect_rtp(&mut buf, 1200).unwrap();
        black_box(rx.unprotect_rtp(&mut buf[..m]).unwrap());
    });
    let gcm = || Context::new(&KEY, &gcm_salt, ProtectionProfile::AeadAes128Gcm, None, None).unwrap();
    let (mut ttx, mut trx) = (gcm(), gcm());
    let theirs_ns = run("webrtc-srtp 0.17 GCM", &mut |seq| {
        let wire = ttx.encrypt_rtp(&packet(seq, 1200)).unwrap();
        black_box(trx.decrypt_rtp(&wire).unwrap());
    });
    println!("srtp GCM 1200 B: mediad {ours:.0} ns, webrtc-srtp {theirs_ns:.0} ns per packet pair: {:.2}x", theirs_ns / ours);
}

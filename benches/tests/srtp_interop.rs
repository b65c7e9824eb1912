//! mediad's SRTP against webrtc-srtp (an implementation we did not write), both
//! profiles WebRTC negotiates, both directions, RTP and RTCP: key derivation, IV layout,
//! tags and indexes must agree exactly.

use mediad::srtp::{GcmContext, MasterKey, SrtpContext, SrtpSession};
use webrtc_srtp::context::Context;
use webrtc_srtp::protection_profile::ProtectionProfile;

fn rtp(seq: u16, size: usize) -> Vec<u8> {
    let mut p = vec![0u8; size];
    p[0] = 0x90; // with a header extension: it must stay in the clear and be authenticated
    p[1] = 111;
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[8..12].copy_from_slice(&0x0bad_cafeu32.to_be_bytes());
    p[12..16].copy_from_slice(&[0xbe, 0xde, 0, 1]);
    p[16..20].copy_from_slice(&[0x10, 0xaa, 0, 0]);
    for (i, b) in p[20..].iter_mut().enumerate() {
        *b = i as u8;
    }
    p
}

fn rtcp_rr() -> Vec<u8> {
    let mut p = vec![0x81, 201, 0, 7, 0x0b, 0xad, 0xca, 0xfe];
    p.extend_from_slice(&[0x42; 24]);
    p
}

fn check(profile: ProtectionProfile, key: &[u8], salt: &[u8], mut tx: SrtpSession, mut rx: SrtpSession) {
    let (mut theirs_tx, mut theirs_rx) =
        (Context::new(key, salt, profile, None, None).unwrap(), Context::new(key, salt, profile, None, None).unwrap());
    // Across a sequence wrap, so the rollover counters must agree too.
    for seq in (65_500..=65_535).chain(0..40) {
        let plain = rtp(seq, 300);
        let wire = theirs_tx.encrypt_rtp(&plain).unwrap();
        let mut buf = wire.to_vec();
        let n = rx.unprotect_rtp(&mut buf).unwrap();
        assert_eq!(&buf[..n], &plain[..], "{profile:?}: ours decrypts theirs, seq {seq}");
        let mut buf = plain.clone();
        buf.resize(plain.len() + 32, 0);
        let m = tx.protect_rtp(&mut buf, plain.len()).unwrap();
        let back = theirs_rx.decrypt_rtp(&buf[..m]).unwrap_or_else(|e| panic!("{profile:?}: theirs decrypts ours, seq {seq}: {e}"));
        assert_eq!(&back[..], &plain[..]);
    }
    for _ in 0..3 {
        let plain = rtcp_rr();
        let wire = theirs_tx.encrypt_rtcp(&plain).unwrap();
        let mut buf = wire.to_vec();
        let n = rx.unprotect_rtcp(&mut buf).unwrap();
        assert_eq!(&buf[..n], &plain[..], "{profile:?}: SRTCP ours decrypts theirs");
        let mut buf = plain.clone();
        buf.resize(plain.len() + 32, 0);
        let m = tx.protect_rtcp(&mut buf, plain.len()).unwrap();
        assert_eq!(&theirs_rx.decrypt_rtcp(&buf[..m]).unwrap()[..], &plain[..], "{profile:?}: SRTCP theirs decrypts ours");
    }
}

fn aes_cm(key: [u8; 16], salt: [u8; 14]) -> SrtpSession {
    SrtpSession::AesCm(Box::new(SrtpContext::new(&MasterKey { key, salt })))
}

fn gcm(key: [u8; 16], salt: [u8; 12]) -> SrtpSession {
    SrtpSession::Gcm(Box::new(GcmContext::new(key, salt)))
}

#[test]
fn aes_cm_hmac_sha1_80_interoperates_with_webrtc_srtp() {
    let (key, salt) = (*b"0123456789abcdef", *b"mediad-salt-14");
    check(ProtectionProfile::Aes128CmHmacSha1_80, &key, &salt, aes_cm(key, salt), aes_cm(key, salt));
}

#[test]
fn aead_aes_128_gcm_interoperates_with_webrtc_srtp() {
    let (key, salt) = (*b"0123456789abcdef", *b"gcm-salt-12b");
    check(ProtectionProfile::AeadAes128Gcm, &key, &salt, gcm(key, salt), gcm(key, salt));
}

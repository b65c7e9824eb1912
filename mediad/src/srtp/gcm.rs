//! SRTP and SRTCP with AEAD_AES_128_GCM (RFC 7714), in place: the payload is encrypted
//! where it lies, the RTP header (or the first 8 bytes of RTCP plus the E flag and
//! index) is the associated data, and the 16-byte tag follows. The master salt is 96
//! bits; the key derivation is RFC 3711's with that salt zero-padded to 112 bits (what
//! libsrtp and webrtc-srtp do; the interop test in benches/ checks it both ways).

use super::context::{incoming, outgoing, slot, SrtpError};
use super::kdf::MasterKey;
use super::replay::{ReceiveState, SendState};
use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes128Gcm, KeyInit, Nonce, Tag};

pub const GCM_TAG_LEN: usize = 16;

pub struct GcmContext {
    rtp: (Aes128Gcm, [u8; 12]),
    rtcp: (Aes128Gcm, [u8; 12]),
    send: Vec<(u32, SendState)>,
    recv: Vec<(u32, ReceiveState)>,
    rtcp_next: u32,
    rtcp_recv: Vec<(u32, ReceiveState)>,
}

impl std::fmt::Debug for GcmContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcmContext").field("send_streams", &self.send.len()).finish()
    }
}

/// Session cipher and 96-bit session salt from labels (enc, salt).
fn session(m: &MasterKey, enc: u8, salt: u8) -> (Aes128Gcm, [u8; 12]) {
    let mut k = [0u8; 16];
    super::kdf::derive(m, enc, &mut k);
    let mut s = [0u8; 12];
    super::kdf::derive(m, salt, &mut s);
    (Aes128Gcm::new(&k.into()), s)
}

/// RFC 7714 §8.1: 00 00 || SSRC || ROC || SEQ, XOR the session salt.
fn rtp_iv(salt: &[u8; 12], ssrc: u32, index: u64) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
    iv[6..12].copy_from_slice(&index.to_be_bytes()[2..]);
    for (a, b) in iv.iter_mut().zip(salt) {
        *a ^= b;
    }
    iv
}

/// RFC 7714 §9.1: 00 00 || SSRC || 00 00 || SRTCP index, XOR the session salt.
fn rtcp_iv(salt: &[u8; 12], ssrc: u32, index: u32) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
    iv[8..12].copy_from_slice(&index.to_be_bytes());
    for (a, b) in iv.iter_mut().zip(salt) {
        *a ^= b;
    }
    iv
}

impl GcmContext {
    /// `salt`: the 96-bit master salt.
    pub fn new(key: [u8; 16], salt: [u8; 12]) -> Self {
        let mut padded = [0u8; 14];
        padded[..12].copy_from_slice(&salt);
        let m = MasterKey { key, salt: padded };
        GcmContext { rtp: session(&m, 0, 2), rtcp: session(&m, 3, 5), send: Vec::new(), recv: Vec::new(), rtcp_next: 0, rtcp_recv: Vec::new() }
    }

    /// Protect the RTP packet in `buf[..len]`; `buf` needs 16 spare bytes.
    pub fn protect_rtp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let (hl, ssrc, index) = outgoing(buf, len, GCM_TAG_LEN, &mut self.send)?;
        let iv = rtp_iv(&self.rtp.1, ssrc, index);
        let (header, rest) = buf.split_at_mut(hl);
        let tag = self.rtp.0.encrypt_in_place_detached(Nonce::from_slice(&iv), header, &mut rest[..len - hl]).map_err(|_| SrtpError::Malformed)?;
        buf[len..len + GCM_TAG_LEN].copy_from_slice(&tag);
        Ok(len + GCM_TAG_LEN)
    }

    /// Unprotect the SRTP packet in `buf` in place; returns the RTP length.
    pub fn unprotect_rtp(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        let super::context::Incoming { len, header: hl, ssrc, index, fresh } = incoming(buf, GCM_TAG_LEN, &self.recv)?;
        if !fresh {
            return Err(SrtpError::Replayed);
        }
        let iv = rtp_iv(&self.rtp.1, ssrc, index);
        let (header, rest) = buf.split_at_mut(hl);
        let (payload, tag) = rest.split_at_mut(len - hl);
        self.rtp
            .0
            .decrypt_in_place_detached(Nonce::from_slice(&iv), header, payload, Tag::from_slice(tag))
            .map_err(|_| SrtpError::AuthFailed)?;
        slot(&mut self.recv, ssrc)?.accept(index);
        Ok(len)
    }

    /// Protect the RTCP compound packet in `buf[..len]`; `buf` needs 20 spare bytes
    /// (tag, then the E flag and index).
    pub fn protect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        if len < 8 || buf[0] >> 6 != 2 {
            return Err(SrtpError::Malformed);
        }
        if buf.len() < len + GCM_TAG_LEN + 4 {
            return Err(SrtpError::NoRoom);
        }
        let ssrc = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        let index = self.rtcp_next;
        self.rtcp_next = (self.rtcp_next + 1) & 0x7fff_ffff;
        let trailer = (0x8000_0000 | index).to_be_bytes();
        let mut aad = [0u8; 12];
        aad[..8].copy_from_slice(&buf[..8]);
        aad[8..].copy_from_slice(&trailer);
        let iv = rtcp_iv(&self.rtcp.1, ssrc, index);
        let tag = self.rtcp.0.encrypt_in_place_detached(Nonce::from_slice(&iv), &aad, &mut buf[8..len]).map_err(|_| SrtpError::Malformed)?;
        buf[len..len + GCM_TAG_LEN].copy_from_slice(&tag);
        buf[len + GCM_TAG_LEN..len + GCM_TAG_LEN + 4].copy_from_slice(&trailer);
        Ok(len + GCM_TAG_LEN + 4)
    }

    /// Unprotect the SRTCP packet in `buf` in place; returns the RTCP length.
    pub fn unprotect_rtcp(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        if buf.len() < 8 + GCM_TAG_LEN + 4 || buf[0] >> 6 != 2 {
            return Err(SrtpError::Malformed);
        }
        let len = buf.len() - GCM_TAG_LEN - 4;
        let trailer: [u8; 4] = buf[len + GCM_TAG_LEN..].try_into().expect("4 bytes");
        let word = u32::from_be_bytes(trailer);
        if word & 0x8000_0000 == 0 {
            // Unencrypted SRTCP (authenticated only) is not something WebRTC sends.
            return Err(SrtpError::Malformed);
        }
        let index = word & 0x7fff_ffff;
        let ssrc = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        if !self.rtcp_recv.iter().find(|(s, _)| *s == ssrc).is_none_or(|(_, st)| st.fresh(index as u64)) {
            return Err(SrtpError::Replayed);
        }
        let mut aad = [0u8; 12];
        aad[..8].copy_from_slice(&buf[..8]);
        aad[8..].copy_from_slice(&trailer);
        let iv = rtcp_iv(&self.rtcp.1, ssrc, index);
        let (body, tail) = buf[8..].split_at_mut(len - 8);
        self.rtcp
            .0
            .decrypt_in_place_detached(Nonce::from_slice(&iv), &aad, body, Tag::from_slice(&tail[..GCM_TAG_LEN]))
            .map_err(|_| SrtpError::AuthFailed)?;
        slot(&mut self.rtcp_recv, ssrc)?.accept(index as u64);
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// RFC 7714 §16.1.1: AEAD_AES_128_GCM over an RTP packet with the session key and
    /// salt given directly (the vector fixes the IV layout and AAD, not the KDF).
    #[test]
    fn rfc7714_16_1_1_rtp_vector() {
        let key: [u8; 16] = hex("000102030405060708090a0b0c0d0e0f").try_into().unwrap();
        let salt: [u8; 12] = hex("517569642070726f2071756f").try_into().unwrap();
        let packet = hex("8040f17b8041f8d35501a0b2 47616c6c696120657374206f6d6e69732064697669736120696e207061727465732074726573");
        let want = hex(
            "8040f17b8041f8d35501a0b2 f24de3a3fb34de6cacba861c9d7e4bcabe633bd50d294e6f42a5f47a51c7d19b36de3adf8833899d7f27beb16a9152cf765ee4390cce",
        );
        let c = Aes128Gcm::new(&key.into());
        let iv = rtp_iv(&salt, 0x5501_a0b2, 0xf17b);
        let mut buf = packet.clone();
        let (h, p) = buf.split_at_mut(12);
        let tag = c.encrypt_in_place_detached(Nonce::from_slice(&iv), h, p).unwrap();
        buf.extend_from_slice(&tag);
        assert_eq!(buf, want);
    }

    #[test]
    fn round_trips_replay_and_tamper() {
        let (mut tx, mut rx) = (GcmContext::new([1; 16], [2; 12]), GcmContext::new([1; 16], [2; 12]));
        let mut p = vec![0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7];
        p.extend_from_slice(b"vp8 frame data");
        let plain = p.clone();
        p.resize(p.len() + GCM_TAG_LEN, 0);
        let n = tx.protect_rtp(&mut p, plain.len()).unwrap();
        let wire = p[..n].to_vec();
        let mut bad = wire.clone();
        bad[3] ^= 1; // the header is authenticated too
        assert_eq!(rx.unprotect_rtp(&mut bad), Err(SrtpError::AuthFailed));
        let mut ok = wire.clone();
        assert_eq!(rx.unprotect_rtp(&mut ok), Ok(plain.len()));
        assert_eq!(&ok[..plain.len()], &plain[..]);
        assert_eq!(rx.unprotect_rtp(&mut wire.clone()), Err(SrtpError::Replayed));
        let mut sr = vec![0x80, 200, 0, 6, 0, 0, 0, 7];
        sr.extend_from_slice(&[5; 20]);
        let plain = sr.clone();
        sr.resize(sr.len() + 20, 0);
        let n = tx.protect_rtcp(&mut sr, 28).unwrap();
        assert_eq!(rx.unprotect_rtcp(&mut sr[..n]), Ok(28));
        assert_eq!(&sr[..28], &plain[..]);
    }
}

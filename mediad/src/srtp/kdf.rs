//! SRTP key derivation (RFC 3711 §4.3, key derivation rate 0) and the AES counter-mode
//! keystream it and the cipher share (§4.1.1).

use aes::cipher::{KeyIvInit, StreamCipher};

pub type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

/// Master key and salt as negotiated (SDES) or exported from DTLS.
#[derive(Clone)]
pub struct MasterKey {
    pub key: [u8; 16],
    pub salt: [u8; 14],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)") // never print key material
    }
}

/// Session keys of one direction of RTP (or RTCP).
#[derive(Clone)]
pub struct SessionKeys {
    pub enc: [u8; 16],
    pub salt: [u8; 14],
    pub auth: [u8; 20],
}

/// Labels of RFC 3711 §4.3.2.
const RTP_ENC: u8 = 0x00;
const RTP_AUTH: u8 = 0x01;
const RTP_SALT: u8 = 0x02;
const RTCP_ENC: u8 = 0x03;
const RTCP_AUTH: u8 = 0x04;
const RTCP_SALT: u8 = 0x05;

/// The PRF: AES-CM keystream under the master key, IV = (label ⊕ salt) · 2^16.
pub(super) fn derive(m: &MasterKey, label: u8, out: &mut [u8]) {
    let mut iv = [0u8; 16];
    iv[..14].copy_from_slice(&m.salt);
    // key_id = label || index DIV kdr (zero for kdr 0), right-aligned in 112 bits.
    iv[7] ^= label;
    out.fill(0);
    Aes128Ctr::new(&m.key.into(), &iv.into()).apply_keystream(out);
}

impl SessionKeys {
    pub fn rtp(m: &MasterKey) -> Self {
        Self::with_labels(m, RTP_ENC, RTP_AUTH, RTP_SALT)
    }

    pub fn rtcp(m: &MasterKey) -> Self {
        Self::with_labels(m, RTCP_ENC, RTCP_AUTH, RTCP_SALT)
    }

    fn with_labels(m: &MasterKey, enc: u8, auth: u8, salt: u8) -> Self {
        let mut k = SessionKeys { enc: [0; 16], salt: [0; 14], auth: [0; 20] };
        derive(m, enc, &mut k.enc);
        derive(m, auth, &mut k.auth);
        derive(m, salt, &mut k.salt);
        k
    }
}

/// The packet IV of §4.1.1: (salt · 2^16) ⊕ (SSRC · 2^64) ⊕ (index · 2^16).
pub fn packet_iv(salt: &[u8; 14], ssrc: u32, index: u64) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[..14].copy_from_slice(salt);
    for (i, b) in ssrc.to_be_bytes().iter().enumerate() {
        iv[4 + i] ^= b;
    }
    for (i, b) in index.to_be_bytes()[2..].iter().enumerate() {
        iv[8 + i] ^= b;
    }
    iv
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn rfc3711_b3_key_derivation() {
        let m = MasterKey {
            key: hex("E1F97A0D3E018BE0D64FA32C06DE4139").try_into().unwrap(),
            salt: hex("0EC675AD498AFEEBB6960B3AABE6").try_into().unwrap(),
        };
        let k = SessionKeys::rtp(&m);
        assert_eq!(k.enc.to_vec(), hex("C61E7A93744F39EE10734AFE3FF7A087"));
        assert_eq!(k.salt.to_vec(), hex("30CBBC08863D8C85D49DB34A9AE1"));
        assert_eq!(k.auth.to_vec(), hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4"));
    }

    #[test]
    fn rfc3711_b2_aes_cm_keystream() {
        let key: [u8; 16] = hex("2B7E151628AED2A6ABF7158809CF4F3C").try_into().unwrap();
        let salt: [u8; 14] = hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD").try_into().unwrap();
        let iv = packet_iv(&salt, 0, 0);
        let mut ks = [0u8; 48];
        Aes128Ctr::new(&key.into(), &iv.into()).apply_keystream(&mut ks);
        let want = hex("E03EAD0935C95E80E166B16DD92B4EB4D23513162B02D0F72A43A2FE4A5F97AB41E95B3BB0A2E8DD477901E4FCA894C0");
        assert_eq!(ks.to_vec(), want);
    }
}

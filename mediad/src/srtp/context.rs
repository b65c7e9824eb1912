//! One direction of SRTP and SRTCP for a leg (AES_CM_128_HMAC_SHA1_80): protect
//! appends the 10-byte tag (and for SRTCP the E flag and index) after encrypting the
//! payload where it lies; unprotect checks the tag (constant time), the replay window,
//! then decrypts in place. No allocation per packet: the keyed HMAC state is cloned, the
//! per-SSRC state lives in a small vector.

use super::kdf::{packet_iv, Aes128Ctr, MasterKey, SessionKeys};
use super::replay::{ReceiveState, SendState};
use aes::cipher::{InnerIvInit, KeyInit, StreamCipher};
use aes::Aes128;
use hmac::{Hmac, Mac};
use sha1::Sha1;

pub const TAG_LEN: usize = 10;
/// SSRCs one context tracks (a leg's audio, video, simulcast layers and RTX).
const MAX_STREAMS: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrtpError {
    /// Shorter than an RTP header plus tag, or a header that overruns the packet.
    Malformed,
    /// The buffer has no room for the tag.
    NoRoom,
    AuthFailed,
    Replayed,
    /// More SSRCs than a leg may carry.
    TooManyStreams,
}

pub struct SrtpContext {
    keys: SessionKeys,
    /// Expanded once: a packet costs a copy of the round keys, not a key schedule.
    cipher: Aes128,
    mac: Hmac<Sha1>,
    send: Vec<(u32, SendState)>,
    recv: Vec<(u32, ReceiveState)>,
    rtcp_keys: SessionKeys,
    rtcp_cipher: Aes128,
    rtcp_mac: Hmac<Sha1>,
    /// SRTCP index of the next packet we protect (31 bits, one counter per context).
    rtcp_next: u32,
    rtcp_recv: Vec<(u32, ReceiveState)>,
}

impl std::fmt::Debug for SrtpContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrtpContext").field("send_streams", &self.send.len()).field("recv_streams", &self.recv.len()).finish()
    }
}

/// The state of `ssrc` in a small per-context table (created on first use, bounded).
pub(super) fn slot<T: Default>(v: &mut Vec<(u32, T)>, ssrc: u32) -> Result<&mut T, SrtpError> {
    let i = match v.iter().position(|(s, _)| *s == ssrc) {
        Some(i) => i,
        None => {
            if v.len() == MAX_STREAMS {
                return Err(SrtpError::TooManyStreams);
            }
            v.push((ssrc, T::default()));
            v.len() - 1
        }
    };
    Ok(&mut v[i].1)
}

/// Length of the RTP header (fixed part, CSRCs, extension), checked against `p`.
fn header_len(p: &[u8]) -> Option<usize> {
    if p.len() < 12 || p[0] >> 6 != 2 {
        return None;
    }
    let mut n = 12 + 4 * (p[0] & 0x0f) as usize;
    if p[0] & 0x10 != 0 {
        let words = u16::from_be_bytes([*p.get(n + 2)?, *p.get(n + 3)?]) as usize;
        n += 4 + 4 * words;
    }
    (n <= p.len()).then_some(n)
}

fn ssrc_seq(p: &[u8]) -> (u32, u16) {
    (u32::from_be_bytes([p[8], p[9], p[10], p[11]]), u16::from_be_bytes([p[2], p[3]]))
}

impl SrtpContext {
    pub fn new(master: &MasterKey) -> Self {
        let keys = SessionKeys::rtp(master);
        let mac = <Hmac<Sha1> as Mac>::new_from_slice(&keys.auth).expect("HMAC takes any key length");
        let rtcp_keys = SessionKeys::rtcp(master);
        let rtcp_mac = <Hmac<Sha1> as Mac>::new_from_slice(&rtcp_keys.auth).expect("HMAC takes any key length");
        let (cipher, rtcp_cipher) = (Aes128::new(&keys.enc.into()), Aes128::new(&rtcp_keys.enc.into()));
        SrtpContext {
            keys,
            cipher,
            mac,
            send: Vec::new(),
            recv: Vec::new(),
            rtcp_keys,
            rtcp_cipher,
            rtcp_mac,
            rtcp_next: 0,
            rtcp_recv: Vec::new(),
        }
    }

    fn tag(&self, authenticated: &[u8], roc: u32) -> [u8; TAG_LEN] {
        tag_of(&self.mac, authenticated, &roc.to_be_bytes())
    }


    /// Protect the RTP packet in `buf[..len]`; `buf` needs `TAG_LEN` spare bytes.
    /// Returns the protected length.
    pub fn protect_rtp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let (hl, ssrc, index) = outgoing(buf, len, TAG_LEN, &mut self.send)?;
        crypt(&self.cipher, &self.keys.salt, ssrc, index, &mut buf[hl..len]);
        let tag = self.tag(&buf[..len], (index >> 16) as u32);
        buf[len..len + TAG_LEN].copy_from_slice(&tag);
        Ok(len + TAG_LEN)
    }

    /// Unprotect the SRTP packet in `buf` in place; returns the RTP length.
    pub fn unprotect_rtp(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        let r = incoming(buf, TAG_LEN, &self.recv)?;
        let expect = self.tag(&buf[..r.len], (r.index >> 16) as u32);
        if !same(&expect, &buf[r.len..]) {
            return Err(SrtpError::AuthFailed);
        }
        if !r.fresh {
            return Err(SrtpError::Replayed);
        }
        slot(&mut self.recv, r.ssrc)?.accept(r.index);
        crypt(&self.cipher, &self.keys.salt, r.ssrc, r.index, &mut buf[r.header..r.len]);
        Ok(r.len)
    }

    /// Protect the RTCP compound packet in `buf[..len]`; `buf` needs 4 + `TAG_LEN`
    /// spare bytes. Everything after the first 8 bytes is encrypted (RFC 3711 §3.4).
    pub fn protect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        if len < 8 || buf[0] >> 6 != 2 {
            return Err(SrtpError::Malformed);
        }
        if buf.len() < len + 4 + TAG_LEN {
            return Err(SrtpError::NoRoom);
        }
        let ssrc = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        let index = self.rtcp_next;
        self.rtcp_next = (self.rtcp_next + 1) & 0x7fff_ffff;
        crypt(&self.rtcp_cipher, &self.rtcp_keys.salt, ssrc, index as u64, &mut buf[8..len]);
        buf[len..len + 4].copy_from_slice(&(0x8000_0000 | index).to_be_bytes());
        let tag = tag_of(&self.rtcp_mac, &buf[..len + 4], &[]);
        buf[len + 4..len + 4 + TAG_LEN].copy_from_slice(&tag);
        Ok(len + 4 + TAG_LEN)
    }

    /// Unprotect the SRTCP packet in `buf` in place; returns the RTCP length.
    pub fn unprotect_rtcp(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        if buf.len() < 8 + 4 + TAG_LEN || buf[0] >> 6 != 2 {
            return Err(SrtpError::Malformed);
        }
        let len = buf.len() - 4 - TAG_LEN;
        if !same(&tag_of(&self.rtcp_mac, &buf[..len + 4], &[]), &buf[len + 4..]) {
            return Err(SrtpError::AuthFailed);
        }
        let word = u32::from_be_bytes([buf[len], buf[len + 1], buf[len + 2], buf[len + 3]]);
        let (encrypted, index) = (word & 0x8000_0000 != 0, word & 0x7fff_ffff);
        let ssrc = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        let st = slot(&mut self.rtcp_recv, ssrc)?;
        if !st.fresh(index as u64) {
            return Err(SrtpError::Replayed);
        }
        st.accept(index as u64);
        if encrypted {
            crypt(&self.rtcp_cipher, &self.rtcp_keys.salt, ssrc, index as u64, &mut buf[8..len]);
        }
        Ok(len)
    }
}

fn tag_of(mac: &Hmac<Sha1>, authenticated: &[u8], trailer: &[u8]) -> [u8; TAG_LEN] {
    let mut m = mac.clone();
    m.update(authenticated);
    m.update(trailer);
    let full = m.finalize().into_bytes();
    let mut t = [0u8; TAG_LEN];
    t.copy_from_slice(&full[..TAG_LEN]);
    t
}

/// Constant-time compare: a timing side channel must not reveal the tag.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// AES-CM over `payload` (SRTCP passes its 31-bit index where SRTP has the packet index).
fn crypt(cipher: &Aes128, salt: &[u8; 14], ssrc: u32, index: u64, payload: &mut [u8]) {
    let iv = packet_iv(salt, ssrc, index);
    Aes128Ctr::from_core(ctr::CtrCore::inner_iv_init(cipher.clone(), &iv.into())).apply_keystream(payload);
}

/// What a protect needs from the packet (shared by both profiles): the header length,
/// the SSRC and the packet index from our send state. Checks room for `tag` bytes.
pub(super) fn outgoing(buf: &[u8], len: usize, tag: usize, send: &mut Vec<(u32, SendState)>) -> Result<(usize, u32, u64), SrtpError> {
    let hl = header_len(buf.get(..len).ok_or(SrtpError::Malformed)?).ok_or(SrtpError::Malformed)?;
    if buf.len() < len + tag {
        return Err(SrtpError::NoRoom);
    }
    let (ssrc, seq) = ssrc_seq(buf);
    Ok((hl, ssrc, slot(send, ssrc)?.index(seq)))
}

/// An incoming SRTP packet's layout and estimated index (shared by both profiles).
pub(super) struct Incoming {
    /// Length without the tag, and of the header within it.
    pub len: usize,
    pub header: usize,
    pub ssrc: u32,
    pub index: u64,
    /// Not seen before and not older than the replay window.
    pub fresh: bool,
}

pub(super) fn incoming(buf: &[u8], tag: usize, recv: &[(u32, ReceiveState)]) -> Result<Incoming, SrtpError> {
    if buf.len() < 12 + tag {
        return Err(SrtpError::Malformed);
    }
    let len = buf.len() - tag;
    let header = header_len(&buf[..len]).ok_or(SrtpError::Malformed)?;
    let (ssrc, seq) = ssrc_seq(buf);
    let (index, fresh) = match recv.iter().find(|(s, _)| *s == ssrc) {
        Some((_, st)) => {
            let i = st.estimate(seq);
            (i, st.fresh(i))
        }
        None => (seq as u64, true),
    };
    Ok(Incoming { len, header, ssrc, index, fresh })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master() -> MasterKey {
        MasterKey { key: [7; 16], salt: [9; 14] }
    }

    fn rtp(seq: u16, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, 111, (seq >> 8) as u8, seq as u8, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef];
        p.extend_from_slice(payload);
        p.resize(p.len() + TAG_LEN, 0);
        p
    }

    #[test]
    fn round_trip_in_place_across_a_sequence_wrap() {
        let (mut tx, mut rx) = (SrtpContext::new(&master()), SrtpContext::new(&master()));
        for seq in (65_530..=65_535).chain(0..5) {
            let mut p = rtp(seq, b"opus frame");
            let n = tx.protect_rtp(&mut p, 12 + 10).unwrap();
            assert_ne!(&p[12..22], b"opus frame", "encrypted where it lies");
            let m = rx.unprotect_rtp(&mut p[..n]).unwrap();
            assert_eq!(&p[12..m], b"opus frame", "seq {seq}");
        }
        assert_eq!(tx.send[0].1.roc, 1, "the sender counted the wrap");
    }

    #[test]
    fn tampering_replay_and_wrong_keys_are_refused() {
        let (mut tx, mut rx) = (SrtpContext::new(&master()), SrtpContext::new(&master()));
        let mut p = rtp(1, b"payload");
        let n = tx.protect_rtp(&mut p, 19).unwrap();
        let wire = p[..n].to_vec();
        let mut bad = wire.clone();
        bad[14] ^= 1;
        assert_eq!(rx.unprotect_rtp(&mut bad), Err(SrtpError::AuthFailed));
        let mut ok = wire.clone();
        assert!(rx.unprotect_rtp(&mut ok).is_ok());
        let mut again = wire.clone();
        assert_eq!(rx.unprotect_rtp(&mut again), Err(SrtpError::Replayed));
        let mut other = SrtpContext::new(&MasterKey { key: [8; 16], salt: [9; 14] });
        assert_eq!(other.unprotect_rtp(&mut wire.clone()), Err(SrtpError::AuthFailed));
        // Truncated or not RTP at all.
        assert_eq!(rx.unprotect_rtp(&mut [0x80; 12]), Err(SrtpError::Malformed));
        assert_eq!(rx.unprotect_rtp(&mut [0x00; 40]), Err(SrtpError::Malformed));
        let mut ext = rtp(2, &[]);
        ext[0] |= 0x10; // extension bit without an extension header
        assert_eq!(tx.protect_rtp(&mut ext, 12), Err(SrtpError::Malformed));
        assert_eq!(tx.protect_rtp(&mut [0x80; 12], 12), Err(SrtpError::NoRoom));
    }
}

#[cfg(test)]
mod rtcp_tests {
    use super::*;

    #[test]
    fn srtcp_round_trip_replay_and_tamper() {
        let m = MasterKey { key: [4; 16], salt: [6; 14] };
        let (mut tx, mut rx) = (SrtpContext::new(&m), SrtpContext::new(&m));
        // A receiver report: header, reporter SSRC, one report block.
        let mut rr = vec![0x81, 201, 0, 7, 0, 0, 0, 9];
        rr.extend_from_slice(&[0xab; 24]);
        let plain = rr.clone();
        rr.resize(rr.len() + 4 + TAG_LEN, 0);
        let n = tx.protect_rtcp(&mut rr, 32).unwrap();
        assert_ne!(&rr[8..32], &plain[8..], "encrypted after the first 8 bytes");
        let wire = rr[..n].to_vec();
        let mut bad = wire.clone();
        bad[20] ^= 4;
        assert_eq!(rx.unprotect_rtcp(&mut bad), Err(SrtpError::AuthFailed));
        let mut ok = wire.clone();
        assert_eq!(rx.unprotect_rtcp(&mut ok), Ok(32));
        assert_eq!(&ok[..32], &plain[..]);
        assert_eq!(rx.unprotect_rtcp(&mut wire.clone()), Err(SrtpError::Replayed));
        assert_eq!(rx.unprotect_rtcp(&mut [0x81; 20]), Err(SrtpError::Malformed));
    }
}

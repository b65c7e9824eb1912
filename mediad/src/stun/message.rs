//! STUN message parsing (zero-copy, no allocation) and building (into a caller's
//! buffer). Integrity: RFC 8489 §14.5 (HMAC-SHA1 over the message up to the
//! attribute, with the header length covering it); fingerprint: §14.7.

use super::attr;
use super::{HEADER_LEN, MAGIC_COOKIE};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use std::net::SocketAddr;

/// More attributes than any real client sends; beyond this a message is refused
/// rather than indexed into an allocation.
pub const MAX_ATTRS: usize = 32;
const FINGERPRINT_XOR: u32 = 0x5354_554e;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Request,
    Indication,
    Success,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StunError {
    /// Shorter than a header, wrong leading bits or magic cookie: not STUN at all.
    NotStun,
    /// Length field disagrees with the datagram or is not a multiple of 4.
    BadLength,
    /// An attribute runs past the end of the message.
    AttributeOverrun,
    TooManyAttributes,
    /// FINGERPRINT present but wrong, or not the last attribute.
    BadFingerprint,
    /// The output buffer is too small for what is being built.
    BufferTooSmall,
}

pub fn encode_type(class: Class, method: u16) -> u16 {
    let c = match class {
        Class::Request => 0b00,
        Class::Indication => 0b01,
        Class::Success => 0b10,
        Class::Error => 0b11,
    };
    (method & 0x000f) | ((method & 0x0070) << 1) | ((method & 0x0f80) << 2) | ((c & 1) << 4) | ((c & 2) << 7)
}

pub fn decode_type(t: u16) -> (Class, u16) {
    let c = ((t >> 4) & 1) | ((t >> 7) & 2);
    let class = match c {
        0 => Class::Request,
        1 => Class::Indication,
        2 => Class::Success,
        _ => Class::Error,
    };
    (class, (t & 0x000f) | ((t >> 1) & 0x0070) | ((t >> 2) & 0x0f80))
}

/// A parsed message borrowing the datagram.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    pub raw: &'a [u8],
    pub class: Class,
    pub method: u16,
    pub txid: [u8; 12],
    /// (type, value offset, value length) of attributes before MESSAGE-INTEGRITY.
    attrs: [(u16, u16, u16); MAX_ATTRS],
    n: usize,
    /// Offset of the MESSAGE-INTEGRITY attribute header, if any.
    integrity_at: Option<usize>,
    pub has_fingerprint: bool,
}

/// Quick check before parsing: could this datagram be STUN (RFC 7983 range plus the
/// magic cookie)?
pub fn looks_like_stun(d: &[u8]) -> bool {
    d.len() >= HEADER_LEN && d[0] < 4 && d[4..8] == MAGIC_COOKIE.to_be_bytes()
}

impl<'a> Message<'a> {
    pub fn parse(raw: &'a [u8]) -> Result<Message<'a>, StunError> {
        if !looks_like_stun(raw) {
            return Err(StunError::NotStun);
        }
        let len = u16::from_be_bytes([raw[2], raw[3]]) as usize;
        if !len.is_multiple_of(4) || HEADER_LEN + len != raw.len() {
            return Err(StunError::BadLength);
        }
        let (class, method) = decode_type(u16::from_be_bytes([raw[0], raw[1]]));
        let mut txid = [0u8; 12];
        txid.copy_from_slice(&raw[8..20]);
        let mut m = Message { raw, class, method, txid, attrs: [(0, 0, 0); MAX_ATTRS], n: 0, integrity_at: None, has_fingerprint: false };
        let mut at = HEADER_LEN;
        while at < raw.len() {
            if at + 4 > raw.len() {
                return Err(StunError::AttributeOverrun);
            }
            let t = u16::from_be_bytes([raw[at], raw[at + 1]]);
            let l = u16::from_be_bytes([raw[at + 2], raw[at + 3]]) as usize;
            let end = at + 4 + l;
            if end > raw.len() {
                return Err(StunError::AttributeOverrun);
            }
            if m.has_fingerprint {
                return Err(StunError::BadFingerprint); // something after FINGERPRINT
            }
            match t {
                attr::FINGERPRINT => {
                    if l != 4 || !fingerprint_ok(raw, at) {
                        return Err(StunError::BadFingerprint);
                    }
                    m.has_fingerprint = true;
                }
                attr::MESSAGE_INTEGRITY if m.integrity_at.is_none() => m.integrity_at = Some(at),
                // After MESSAGE-INTEGRITY only FINGERPRINT counts (RFC 8489 §14.5).
                _ if m.integrity_at.is_some() => {}
                _ => {
                    if m.n == MAX_ATTRS {
                        return Err(StunError::TooManyAttributes);
                    }
                    m.attrs[m.n] = (t, (at + 4) as u16, l as u16);
                    m.n += 1;
                }
            }
            at = end + (4 - l % 4) % 4;
        }
        Ok(m)
    }

    pub fn attr(&self, t: u16) -> Option<&'a [u8]> {
        self.attrs[..self.n].iter().find(|a| a.0 == t).map(|&(_, o, l)| &self.raw[o as usize..(o + l) as usize])
    }

    /// Every value of an attribute that may repeat (XOR-PEER-ADDRESS in CreatePermission).
    pub fn attr_all(&self, t: u16) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.attrs[..self.n].iter().filter(move |a| a.0 == t).map(|&(_, o, l)| &self.raw[o as usize..(o + l) as usize])
    }

    pub fn attr_types(&self) -> impl Iterator<Item = u16> + '_ {
        self.attrs[..self.n].iter().map(|a| a.0)
    }

    pub fn xor_address(&self, t: u16) -> Option<SocketAddr> {
        attr::decode_address(self.attr(t)?, true, &self.txid)
    }

    pub fn u32_attr(&self, t: u16) -> Option<u32> {
        let v = self.attr(t)?;
        (v.len() == 4).then(|| u32::from_be_bytes([v[0], v[1], v[2], v[3]]))
    }

    pub fn has_integrity(&self) -> bool {
        self.integrity_at.is_some()
    }

    /// Verify MESSAGE-INTEGRITY with `key` (long-term: MD5(user:realm:pass);
    /// short-term: the password). False when absent or wrong.
    pub fn check_integrity(&self, key: &[u8]) -> bool {
        let Some(at) = self.integrity_at else { return false };
        if self.raw.len() < at + 24 || u16::from_be_bytes([self.raw[at + 2], self.raw[at + 3]]) != 20 {
            return false;
        }
        let mac = hmac_up_to(self.raw, at, 24, key);
        // Constant-time comparison: the MAC is a secret-dependent value.
        mac.verify_slice(&self.raw[at + 4..at + 24]).is_ok()
    }

    /// Unknown comprehension-required attributes, for a 420 response.
    pub fn unknown_required(&self, known: &[u16], out: &mut Vec<u16>) {
        out.clear();
        for t in self.attr_types() {
            if attr::comprehension_required(t) && !known.contains(&t) && !out.contains(&t) {
                out.push(t);
            }
        }
    }
}

/// HMAC over raw[..at] with the header length patched to end `extra` bytes after `at`.
fn hmac_up_to(raw: &[u8], at: usize, extra: usize, key: &[u8]) -> Hmac<Sha1> {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    let mut header = [0u8; HEADER_LEN];
    header.copy_from_slice(&raw[..HEADER_LEN]);
    header[2..4].copy_from_slice(&((at + extra - HEADER_LEN) as u16).to_be_bytes());
    mac.update(&header);
    mac.update(&raw[HEADER_LEN..at]);
    mac
}

fn fingerprint_ok(raw: &[u8], at: usize) -> bool {
    let want = u32::from_be_bytes([raw[at + 4], raw[at + 5], raw[at + 6], raw[at + 7]]);
    crc_up_to(raw, at) == want
}

fn crc_up_to(raw: &[u8], at: usize) -> u32 {
    let mut header = [0u8; HEADER_LEN];
    header.copy_from_slice(&raw[..HEADER_LEN]);
    header[2..4].copy_from_slice(&((at + 8 - HEADER_LEN) as u16).to_be_bytes());
    let mut h = crc32fast::Hasher::new();
    h.update(&header);
    h.update(&raw[HEADER_LEN..at]);
    h.finalize() ^ FINGERPRINT_XOR
}

/// Writes a message into `buf`; the header length is kept current after each attribute.
pub struct Builder<'b> {
    buf: &'b mut [u8],
    len: usize,
    txid: [u8; 12],
}

impl<'b> Builder<'b> {
    pub fn new(buf: &'b mut [u8], class: Class, method: u16, txid: [u8; 12]) -> Result<Self, StunError> {
        if buf.len() < HEADER_LEN {
            return Err(StunError::BufferTooSmall);
        }
        buf[0..2].copy_from_slice(&encode_type(class, method).to_be_bytes());
        buf[2..4].copy_from_slice(&[0, 0]);
        buf[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        buf[8..20].copy_from_slice(&txid);
        Ok(Builder { buf, len: HEADER_LEN, txid })
    }

    fn set_len(&mut self) {
        let l = (self.len - HEADER_LEN) as u16;
        self.buf[2..4].copy_from_slice(&l.to_be_bytes());
    }

    pub fn add(&mut self, t: u16, v: &[u8]) -> Result<&mut Self, StunError> {
        let padded = v.len().div_ceil(4) * 4;
        if self.len + 4 + padded > self.buf.len() || v.len() > u16::MAX as usize {
            return Err(StunError::BufferTooSmall);
        }
        let at = self.len;
        self.buf[at..at + 2].copy_from_slice(&t.to_be_bytes());
        self.buf[at + 2..at + 4].copy_from_slice(&(v.len() as u16).to_be_bytes());
        self.buf[at + 4..at + 4 + v.len()].copy_from_slice(v);
        self.buf[at + 4 + v.len()..at + 4 + padded].fill(0);
        self.len += 4 + padded;
        self.set_len();
        Ok(self)
    }

    pub fn add_xor_address(&mut self, t: u16, a: SocketAddr) -> Result<&mut Self, StunError> {
        let mut v = [0u8; 20];
        let n = attr::encode_address(a, true, &self.txid, &mut v);
        self.add(t, &v[..n])
    }

    pub fn add_u32(&mut self, t: u16, v: u32) -> Result<&mut Self, StunError> {
        self.add(t, &v.to_be_bytes())
    }

    pub fn add_error(&mut self, code: u16, reason: &str) -> Result<&mut Self, StunError> {
        let mut v = [0u8; 132];
        let r = &reason.as_bytes()[..reason.len().min(128)];
        v[2] = (code / 100) as u8;
        v[3] = (code % 100) as u8;
        v[4..4 + r.len()].copy_from_slice(r);
        self.add(attr::ERROR_CODE, &v[..4 + r.len()])
    }

    pub fn add_integrity(&mut self, key: &[u8]) -> Result<&mut Self, StunError> {
        if self.len + 24 > self.buf.len() {
            return Err(StunError::BufferTooSmall);
        }
        let mac = hmac_up_to(self.buf, self.len, 24, key).finalize().into_bytes();
        self.add(attr::MESSAGE_INTEGRITY, &mac)
    }

    pub fn add_fingerprint(&mut self) -> Result<&mut Self, StunError> {
        if self.len + 8 > self.buf.len() {
            return Err(StunError::BufferTooSmall);
        }
        let crc = crc_up_to(self.buf, self.len);
        self.add(attr::FINGERPRINT, &crc.to_be_bytes())
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == HEADER_LEN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// RFC 5769 §2.1 sample request (short-term credentials).
    fn rfc5769_request() -> Vec<u8> {
        hex(concat!(
            "000100582112a442b7e7a701bc34d686fa87dfae",
            "802200105354554e207465737420636c69656e74",
            "002400046e0001ff80290008932ff9b151263b36",
            "000600096576746a3a68367659202020",
            "000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2",
            "80280004e57a3bcf"
        ))
    }

    #[test]
    fn rfc5769_sample_request_verifies() {
        let raw = rfc5769_request();
        let m = Message::parse(&raw).unwrap();
        assert_eq!((m.class, m.method), (Class::Request, super::super::method::BINDING));
        assert_eq!(m.attr(attr::USERNAME), Some(&b"evtj:h6vY"[..]));
        assert_eq!(m.attr(attr::SOFTWARE), Some(&b"STUN test client"[..]));
        assert!(m.has_fingerprint);
        assert!(m.check_integrity(b"VOkJxbRl1RmTxUk/WvJxBt"));
        assert!(!m.check_integrity(b"wrong"));
        // One flipped bit anywhere before FINGERPRINT breaks it.
        let mut bad = raw.clone();
        bad[30] ^= 1;
        assert_eq!(Message::parse(&bad).unwrap_err(), StunError::BadFingerprint);
    }

    #[test]
    fn built_messages_parse_back_with_integrity_and_fingerprint() {
        let mut buf = [0u8; 256];
        let txid = [7u8; 12];
        let mut b = Builder::new(&mut buf, Class::Success, 0x003, txid).unwrap();
        b.add_xor_address(attr::XOR_RELAYED_ADDRESS, "[2001:db8::1]:49152".parse().unwrap()).unwrap();
        b.add_u32(attr::LIFETIME, 600).unwrap();
        b.add(attr::REALM, b"odd-len").unwrap();
        b.add_integrity(b"key").unwrap();
        b.add_fingerprint().unwrap();
        let n = b.len();
        let m = Message::parse(&buf[..n]).unwrap();
        assert_eq!((m.class, m.method, m.txid), (Class::Success, 0x003, txid));
        assert_eq!(m.xor_address(attr::XOR_RELAYED_ADDRESS), Some("[2001:db8::1]:49152".parse().unwrap()));
        assert_eq!(m.u32_attr(attr::LIFETIME), Some(600));
        assert_eq!(m.attr(attr::REALM), Some(&b"odd-len"[..]));
        assert!(m.check_integrity(b"key"));
        assert!(!m.check_integrity(b"other"));
    }

    #[test]
    fn type_encoding_roundtrips() {
        for method in [0x001, 0x003, 0x004, 0x006, 0x007, 0x008, 0x009, 0xfff] {
            for class in [Class::Request, Class::Indication, Class::Success, Class::Error] {
                assert_eq!(decode_type(encode_type(class, method)), (class, method));
            }
        }
        assert_eq!(encode_type(Class::Success, 0x001), 0x0101);
        assert_eq!(encode_type(Class::Error, 0x003), 0x0113);
        assert_eq!(encode_type(Class::Indication, 0x007), 0x0017);
    }

    #[test]
    fn hostile_inputs_are_errors() {
        let raw = rfc5769_request();
        for cut in 0..raw.len() {
            assert!(Message::parse(&raw[..cut]).is_err(), "truncated at {cut}");
        }
        let mut bad = raw.clone();
        bad[3] = 0x5c; // length larger than the datagram
        assert_eq!(Message::parse(&bad).unwrap_err(), StunError::BadLength);
        let mut bad = raw.clone();
        bad[22] = 0xff; // first attribute claims 65k bytes
        bad[23] = 0xf0;
        assert_eq!(Message::parse(&bad).unwrap_err(), StunError::AttributeOverrun);
        let mut bad = raw.clone();
        bad[4] ^= 1; // magic cookie
        assert_eq!(Message::parse(&bad).unwrap_err(), StunError::NotStun);
        // 33 empty attributes
        let mut many = vec![0u8; 20 + 33 * 4];
        many[..20].copy_from_slice(&raw[..20]);
        many[2..4].copy_from_slice(&((33 * 4) as u16).to_be_bytes());
        for i in 0..33 {
            many[20 + i * 4 + 1] = 0x30;
        }
        assert_eq!(Message::parse(&many).unwrap_err(), StunError::TooManyAttributes);
    }
}

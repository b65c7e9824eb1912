//! Attribute types and the codecs of the ones the server reads or writes.

use super::MAGIC_COOKIE;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

pub const MAPPED_ADDRESS: u16 = 0x0001;
pub const USERNAME: u16 = 0x0006;
pub const MESSAGE_INTEGRITY: u16 = 0x0008;
pub const ERROR_CODE: u16 = 0x0009;
pub const UNKNOWN_ATTRIBUTES: u16 = 0x000A;
pub const CHANNEL_NUMBER: u16 = 0x000C;
pub const LIFETIME: u16 = 0x000D;
pub const XOR_PEER_ADDRESS: u16 = 0x0012;
pub const DATA: u16 = 0x0013;
pub const REALM: u16 = 0x0014;
pub const NONCE: u16 = 0x0015;
pub const XOR_RELAYED_ADDRESS: u16 = 0x0016;
pub const REQUESTED_ADDRESS_FAMILY: u16 = 0x0017;
pub const EVEN_PORT: u16 = 0x0018;
pub const REQUESTED_TRANSPORT: u16 = 0x0019;
pub const DONT_FRAGMENT: u16 = 0x001A;
pub const MESSAGE_INTEGRITY_SHA256: u16 = 0x001C;
pub const USERHASH: u16 = 0x001E;
pub const XOR_MAPPED_ADDRESS: u16 = 0x0020;
pub const RESERVATION_TOKEN: u16 = 0x0022;
/// RFC 6062.
pub const CONNECTION_ID: u16 = 0x002A;
pub const SOFTWARE: u16 = 0x8022;
/// ICE attributes a Binding request from an ICE agent carries (RFC 8445 §16.1).
pub const PRIORITY_ICE: u16 = 0x0024;
pub const USE_CANDIDATE_ICE: u16 = 0x0025;
pub const FINGERPRINT: u16 = 0x8028;
/// RFC 8445 role attributes (comprehension-optional).
pub const ICE_CONTROLLED: u16 = 0x8029;
pub const ICE_CONTROLLING: u16 = 0x802A;

/// Comprehension-required attributes have a type below 0x8000 (RFC 8489 §14).
pub fn comprehension_required(t: u16) -> bool {
    t < 0x8000
}

/// Decode an (XOR-)address attribute value. `txid` is needed for IPv6 XOR.
pub fn decode_address(v: &[u8], xor: bool, txid: &[u8; 12]) -> Option<SocketAddr> {
    if v.len() < 4 {
        return None;
    }
    let family = v[1];
    let mut port = u16::from_be_bytes([v[2], v[3]]);
    if xor {
        port ^= (MAGIC_COOKIE >> 16) as u16;
    }
    match family {
        0x01 if v.len() == 8 => {
            let mut a = u32::from_be_bytes([v[4], v[5], v[6], v[7]]);
            if xor {
                a ^= MAGIC_COOKIE;
            }
            Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(a)), port))
        }
        0x02 if v.len() == 20 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&v[4..20]);
            if xor {
                let mut key = [0u8; 16];
                key[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
                key[4..].copy_from_slice(txid);
                for (b, k) in a.iter_mut().zip(key) {
                    *b ^= k;
                }
            }
            Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(a)), port))
        }
        _ => None,
    }
}

/// Encode an (XOR-)address value into `out`; returns its length (8 or 20).
pub fn encode_address(a: SocketAddr, xor: bool, txid: &[u8; 12], out: &mut [u8; 20]) -> usize {
    let port = if xor { a.port() ^ (MAGIC_COOKIE >> 16) as u16 } else { a.port() };
    out[0] = 0;
    out[2..4].copy_from_slice(&port.to_be_bytes());
    match a.ip() {
        IpAddr::V4(v4) => {
            out[1] = 0x01;
            let mut x = u32::from(v4);
            if xor {
                x ^= MAGIC_COOKIE;
            }
            out[4..8].copy_from_slice(&x.to_be_bytes());
            8
        }
        IpAddr::V6(v6) => {
            out[1] = 0x02;
            let mut o = v6.octets();
            if xor {
                let mut key = [0u8; 16];
                key[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
                key[4..].copy_from_slice(txid);
                for (b, k) in o.iter_mut().zip(key) {
                    *b ^= k;
                }
            }
            out[4..20].copy_from_slice(&o);
            20
        }
    }
}

/// ERROR-CODE value: class/number split of a 3-digit code plus a reason phrase.
pub fn encode_error(code: u16, reason: &str, out: &mut Vec<u8>) {
    out.clear();
    out.extend([0, 0, (code / 100) as u8, (code % 100) as u8]);
    out.extend(reason.as_bytes());
}

pub fn decode_error(v: &[u8]) -> Option<u16> {
    if v.len() < 4 {
        return None;
    }
    Some((v[2] & 0x7) as u16 * 100 + v[3] as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xor_addresses_roundtrip_and_match_rfc5769() {
        // RFC 5769 §2.2: XOR-MAPPED-ADDRESS 192.0.2.1:32853 encodes as 0x0001 a147 e112a643.
        let txid = [0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae];
        let mut out = [0u8; 20];
        let n = encode_address("192.0.2.1:32853".parse().unwrap(), true, &txid, &mut out);
        assert_eq!(&out[..n], &[0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43]);
        for a in ["192.0.2.1:32853", "[2001:db8:1234:5678:11:2233:4455:6677]:32853"] {
            let a: SocketAddr = a.parse().unwrap();
            for xor in [false, true] {
                let n = encode_address(a, xor, &txid, &mut out);
                assert_eq!(decode_address(&out[..n], xor, &txid), Some(a));
            }
        }
        assert_eq!(decode_address(&[0, 1, 0], true, &txid), None);
        assert_eq!(decode_address(&[0, 3, 0, 0, 1, 2, 3, 4], true, &txid), None);
    }
}

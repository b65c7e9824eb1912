//! STUN Binding (RFC 8489 §3): answer with the source address as seen by us. No
//! credentials needed; the response never carries more than the request asked for
//! (XOR-MAPPED-ADDRESS, FINGERPRINT if the request had one), so it cannot amplify.

use super::message::{Builder, Class, Message};
use super::{attr, method};
use std::net::SocketAddr;

/// Attributes a Binding request may carry that we understand (or may ignore).
const KNOWN: &[u16] = &[attr::USERNAME, attr::MESSAGE_INTEGRITY, attr::PRIORITY_ICE, attr::USE_CANDIDATE_ICE];

/// What to do with a datagram on a STUN port.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Send `len` bytes of the output buffer back to the sender.
    Reply(usize),
    /// Nothing to send (indications, responses, messages for another handler).
    Ignore,
}

/// Answer a Binding request; anything else is left to the caller.
pub fn respond(m: &Message<'_>, from: SocketAddr, out: &mut [u8], unknown: &mut Vec<u16>) -> Outcome {
    if m.method != method::BINDING || m.class != Class::Request {
        return Outcome::Ignore;
    }
    m.unknown_required(KNOWN, unknown);
    let built = (|| {
        let mut b = if unknown.is_empty() {
            let mut b = Builder::new(out, Class::Success, method::BINDING, m.txid)?;
            b.add_xor_address(attr::XOR_MAPPED_ADDRESS, from)?;
            b
        } else {
            // RFC 8489 §6.3.1.1: 420 listing what we did not understand.
            let mut v = [0u8; 64];
            let n = unknown.len().min(16);
            for (i, t) in unknown[..n].iter().enumerate() {
                v[i * 2..i * 2 + 2].copy_from_slice(&t.to_be_bytes());
            }
            let mut b = Builder::new(out, Class::Error, method::BINDING, m.txid)?;
            b.add_error(420, "Unknown Attribute")?;
            b.add(attr::UNKNOWN_ATTRIBUTES, &v[..n * 2])?;
            b
        };
        if m.has_fingerprint {
            b.add_fingerprint()?;
        }
        Ok::<usize, super::StunError>(b.len())
    })();
    match built {
        Ok(n) => Outcome::Reply(n),
        Err(_) => Outcome::Ignore,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stun::message::Builder;

    fn request(extra: Option<u16>, fingerprint: bool) -> Vec<u8> {
        let mut buf = [0u8; 128];
        let mut b = Builder::new(&mut buf, Class::Request, method::BINDING, [9; 12]).unwrap();
        if let Some(t) = extra {
            b.add(t, &[1, 2, 3, 4]).unwrap();
        }
        if fingerprint {
            b.add_fingerprint().unwrap();
        }
        let n = b.len();
        buf[..n].to_vec()
    }

    #[test]
    fn answers_with_the_reflexive_address() {
        let req = request(None, true);
        let m = Message::parse(&req).unwrap();
        let mut out = [0u8; 128];
        let from: SocketAddr = "198.51.100.7:40000".parse().unwrap();
        let Outcome::Reply(n) = respond(&m, from, &mut out, &mut vec![]) else { panic!() };
        let r = Message::parse(&out[..n]).unwrap();
        assert_eq!((r.class, r.txid), (Class::Success, [9; 12]));
        assert_eq!(r.xor_address(attr::XOR_MAPPED_ADDRESS), Some(from));
        assert!(r.has_fingerprint);
        assert!(n <= req.len() + 12, "no amplification beyond the mapped address");
    }

    #[test]
    fn unknown_required_attribute_gets_420() {
        let req = request(Some(0x7777), false);
        let m = Message::parse(&req).unwrap();
        let mut out = [0u8; 128];
        let Outcome::Reply(n) = respond(&m, "127.0.0.1:1".parse().unwrap(), &mut out, &mut vec![]) else { panic!() };
        let r = Message::parse(&out[..n]).unwrap();
        assert_eq!(r.class, Class::Error);
        assert_eq!(attr::decode_error(r.attr(attr::ERROR_CODE).unwrap()), Some(420));
        assert_eq!(r.attr(attr::UNKNOWN_ATTRIBUTES), Some(&[0x77, 0x77][..]));
        // Comprehension-optional unknowns are fine.
        let req = request(Some(0x8777), false);
        let m = Message::parse(&req).unwrap();
        let Outcome::Reply(n) = respond(&m, "127.0.0.1:1".parse().unwrap(), &mut out, &mut vec![]) else { panic!() };
        assert_eq!(Message::parse(&out[..n]).unwrap().class, Class::Success);
    }
}

//! First-byte demultiplexing (RFC 7983) and RTP/RTCP separation on a muxed port
//! (RFC 5761 §4: RTCP packet types 192-223 fall where RTP marker+PT would be 64-95,
//! which no dynamic mapping uses).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Stun,
    Dtls,
    Rtp,
    Rtcp,
    /// Anything else, including datagrams too short to classify.
    Unknown,
}

pub fn classify(data: &[u8]) -> Kind {
    let Some(&b0) = data.first() else { return Kind::Unknown };
    match b0 {
        0..=3 => Kind::Stun,
        20..=63 => Kind::Dtls,
        128..=191 => {
            if data.len() < 2 {
                return Kind::Unknown;
            }
            match data[1] {
                192..=223 => Kind::Rtcp,
                _ => Kind::Rtp,
            }
        }
        _ => Kind::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_by_first_bytes() {
        assert_eq!(classify(&[]), Kind::Unknown);
        assert_eq!(classify(&[0x80]), Kind::Unknown);
        assert_eq!(classify(&[0x00, 0x01]), Kind::Stun);
        assert_eq!(classify(&[22, 0xfe]), Kind::Dtls);
        assert_eq!(classify(&[0x80, 96]), Kind::Rtp);
        assert_eq!(classify(&[0x80, 96 | 0x80]), Kind::Rtp); // marker set
        assert_eq!(classify(&[0x80, 200]), Kind::Rtcp);
        assert_eq!(classify(&[0x81, 205]), Kind::Rtcp);
        assert_eq!(classify(&[0xff, 0]), Kind::Unknown);
        assert_eq!(classify(&[70, 0]), Kind::Unknown);
    }
}

//! Message boundaries on a stream transport (TCP, TLS): RFC 8656 §12.5. A STUN message
//! carries its length in its header; ChannelData carries the data length and, over a
//! stream, is padded to a multiple of four bytes. Sans-IO: fed the bytes received so
//! far, says how long the next whole message is.

/// Largest message we accept on a stream: a STUN header plus the largest length field.
pub const MAX_MESSAGE: usize = 20 + 0xffff;

#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A whole message of this many bytes (`used` includes ChannelData padding) is at
    /// the front of the buffer; `len` is the message without padding.
    Whole { len: usize, used: usize },
    /// More bytes are needed.
    Partial,
    /// Neither STUN nor ChannelData: the stream cannot be resynchronised; close it.
    Invalid,
}

pub fn next(buf: &[u8]) -> Frame {
    let Some(&first) = buf.first() else { return Frame::Partial };
    if buf.len() < 4 {
        return if first < 0x80 { Frame::Partial } else { Frame::Invalid };
    }
    let field = u16::from_be_bytes([buf[2], buf[3]]) as usize;
    let (len, used) = match first {
        // STUN: the two top bits are zero and the length is a multiple of four.
        0x00..=0x3f if field.is_multiple_of(4) => (20 + field, 20 + field),
        0x40..=0x7f => (4 + field, (4 + field + 3) & !3),
        _ => return Frame::Invalid,
    };
    if buf.len() < used {
        Frame::Partial
    } else {
        Frame::Whole { len, used }
    }
}

/// Bytes of padding a ChannelData message of `len` bytes needs on a stream.
pub fn channel_padding(len: usize) -> usize {
    (4 - len % 4) % 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_stun_and_padded_channel_data() {
        let mut stream = vec![0x00, 0x01, 0x00, 0x04];
        stream.extend([0x21, 0x12, 0xa4, 0x42]);
        stream.extend([0u8; 12]);
        stream.extend([1, 2, 3, 4]); // 24-byte STUN message
        stream.extend([0x40, 0x00, 0x00, 0x05, 9, 9, 9, 9, 9, 0, 0, 0]); // 5 bytes + 3 padding
        assert_eq!(next(&stream), Frame::Whole { len: 24, used: 24 });
        assert_eq!(next(&stream[24..]), Frame::Whole { len: 9, used: 12 });
        assert_eq!(next(&stream[24..35]), Frame::Partial, "padding not yet received");
        assert_eq!(next(&stream[..3]), Frame::Partial);
        assert_eq!(next(&[]), Frame::Partial);
    }

    #[test]
    fn garbage_is_invalid_not_a_huge_wait() {
        assert_eq!(next(&[0x80, 0, 0, 0]), Frame::Invalid);
        assert_eq!(next(&[0xff]), Frame::Invalid);
        assert_eq!(next(&[0x00, 0x01, 0x00, 0x03]), Frame::Invalid, "STUN length not a multiple of 4");
        // The largest lengths are bounded by MAX_MESSAGE.
        assert_eq!(next(&[0x00, 0x01, 0xff, 0xfc]), Frame::Partial);
        const { assert!(20 + 0xfffc <= MAX_MESSAGE) };
        assert_eq!(channel_padding(5), 3);
        assert_eq!(channel_padding(8), 0);
    }
}

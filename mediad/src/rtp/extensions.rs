//! RTP header extensions (RFC 8285), read in place.

/// The data of one-byte-header extension element `id` (profile 0xBEDE), if present.
pub fn one_byte(packet: &[u8], id: u8) -> Option<&[u8]> {
    if packet.len() < 12 || packet[0] & 0x10 == 0 {
        return None;
    }
    let at = 12 + 4 * (packet[0] & 0x0f) as usize;
    let head = packet.get(at..at + 4)?;
    if head[..2] != [0xBE, 0xDE] {
        return None;
    }
    let words = u16::from_be_bytes([head[2], head[3]]) as usize;
    let body = packet.get(at + 4..at + 4 + 4 * words)?;
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if b == 0 {
            i += 1; // padding
            continue;
        }
        let (eid, len) = (b >> 4, (b & 0x0f) as usize + 1);
        if eid == 15 {
            return None; // reserved: stop (RFC 8285 §4.2)
        }
        let data = body.get(i + 1..i + 1 + len)?;
        if eid == id {
            return Some(data);
        }
        i += 1 + len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(ext: &[u8]) -> Vec<u8> {
        let mut p = vec![0x90, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9];
        let words = ext.len().div_ceil(4);
        p.extend_from_slice(&[0xBE, 0xDE, 0, words as u8]);
        p.extend_from_slice(ext);
        p.resize(16 + 4 * words, 0);
        p.extend_from_slice(b"payload");
        p
    }

    #[test]
    fn finds_elements_past_padding_and_others() {
        // id 3 (2 bytes), padding, id 1 (audio level, 1 byte: V=1, level 30).
        let p = packet(&[0x31, 0xAA, 0xBB, 0x00, 0x10, 0x80 | 30]);
        assert_eq!(one_byte(&p, 1), Some(&[0x80 | 30][..]));
        assert_eq!(one_byte(&p, 3), Some(&[0xAA, 0xBB][..]));
        assert_eq!(one_byte(&p, 2), None);
    }

    #[test]
    fn hostile_extensions_are_none() {
        assert_eq!(one_byte(&[0x90; 12], 1), None, "no extension header");
        let mut p = packet(&[0x1F, 1, 2]);
        assert_eq!(one_byte(&p, 1), None, "element longer than the block");
        p[14] = 0xFF; // claims 65535 words
        assert_eq!(one_byte(&p, 1), None);
        let mut two_byte = packet(&[0x10, 5]);
        two_byte[12] = 0x10; // 0x1000: two-byte profile
        assert_eq!(one_byte(&two_byte, 1), None);
        assert_eq!(one_byte(&packet(&[0xF0, 0x10, 5]), 1), None, "id 15 stops");
    }
}

//! SIP over a byte stream (TCP, TLS; RFC 3261 §18.3): messages are cut at the end of
//! their headers plus Content-Length, which a stream message must carry. Sans-IO: fed
//! the bytes received so far, it says how long the next message is.

use super::message::{header_end, MAX_MESSAGE};

#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// Not a whole message yet.
    More,
    /// Bytes to drop first: CRLF keep-alives between messages (RFC 5626 §3.5.1).
    KeepAlive(usize),
    /// The next message is this many bytes.
    Message(usize),
    /// The stream cannot be read on (no Content-Length, too large): close it.
    Broken(&'static str),
}

pub fn next(buf: &[u8]) -> Frame {
    let blank = buf.iter().take_while(|&&b| b == b'\r' || b == b'\n').count();
    if blank > 0 {
        return Frame::KeepAlive(blank);
    }
    let Some(end) = header_end(buf) else {
        return if buf.len() > MAX_MESSAGE { Frame::Broken("headers never end") } else { Frame::More };
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    let length = head.split("\r\n").skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        let name = name.trim();
        (name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l")).then(|| value.trim().parse::<usize>().ok())
    });
    let body = match length {
        Some(Some(n)) => n,
        Some(None) => return Frame::Broken("Content-Length is not a number"),
        None => return Frame::Broken("no Content-Length on a stream"),
    };
    let total = end + body;
    if total > MAX_MESSAGE {
        return Frame::Broken("message too large");
    }
    if buf.len() < total {
        Frame::More
    } else {
        Frame::Message(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_messages_and_keepalives() {
        let one = b"OPTIONS sip:x SIP/2.0\r\nl: 4\r\n\r\nbody";
        let mut stream = b"\r\n\r\n".to_vec();
        stream.extend_from_slice(one);
        stream.extend_from_slice(b"BYE sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(next(&stream), Frame::KeepAlive(4));
        let rest = &stream[4..];
        assert_eq!(next(rest), Frame::Message(one.len()));
        assert_eq!(next(&rest[one.len()..]), Frame::Message(rest.len() - one.len()));
        assert_eq!(next(&one[..20]), Frame::More);
        assert_eq!(next(&one[..one.len() - 1]), Frame::More, "body not complete");
    }

    #[test]
    fn hostile_streams_are_closed() {
        assert_eq!(next(b"INVITE sip:x SIP/2.0\r\nVia: x\r\n\r\n"), Frame::Broken("no Content-Length on a stream"));
        assert_eq!(next(b"INVITE sip:x SIP/2.0\r\nContent-Length: -1\r\n\r\n"), Frame::Broken("Content-Length is not a number"));
        assert_eq!(next(b"INVITE sip:x SIP/2.0\r\nContent-Length: 99999999\r\n\r\n"), Frame::Broken("message too large"));
        assert_eq!(next(&vec![b'a'; MAX_MESSAGE + 1]), Frame::Broken("headers never end"));
    }
}

//! SIP messages (RFC 3261 §7): parse a datagram or a framed stream message into a
//! request or response with its headers in order, and write them back.
//!
//! Our own parser rather than a crate's: the stack needs header values verbatim
//! (Via, Record-Route and From/To are echoed byte for byte), compact forms folded to
//! their full names, and hard limits on hostile input (sizes, header counts) that
//! every path checks before allocating. Values are parsed further only where used
//! (`uri.rs`, `headers.rs`), so a malformed header nobody reads costs nothing.

use std::fmt::Write as _;

/// The largest message accepted (UDP datagrams are far smaller; TCP framing stops
/// here too).
pub const MAX_MESSAGE: usize = 65_535;
/// Headers per message.
pub const MAX_HEADERS: usize = 128;
/// One header line, folded continuation lines included.
pub const MAX_HEADER_LINE: usize = 8192;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    TooLarge,
    /// No blank line ends the headers.
    Incomplete,
    BadStartLine,
    BadHeader,
    TooManyHeaders,
    /// Content-Length says more than the datagram holds, or is not a number.
    BadContentLength,
    /// A header the message cannot do without (Via, From, To, Call-ID, CSeq).
    Missing(&'static str),
    BadCSeq,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::TooLarge => write!(f, "message too large"),
            ParseError::Incomplete => write!(f, "headers not terminated"),
            ParseError::BadStartLine => write!(f, "bad start line"),
            ParseError::BadHeader => write!(f, "bad header line"),
            ParseError::TooManyHeaders => write!(f, "too many headers"),
            ParseError::BadContentLength => write!(f, "bad Content-Length"),
            ParseError::Missing(h) => write!(f, "missing {h}"),
            ParseError::BadCSeq => write!(f, "bad CSeq"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    Request { method: String, uri: String },
    Response { code: u16, reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub start: StartLine,
    /// (canonical name, value) in order; a comma-separated line stays one entry.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Compact forms (RFC 3261 §7.3.3 and later RFCs) and the capitalisation we write.
const NAMES: &[(&str, &str)] = &[
    ("v", "Via"),
    ("f", "From"),
    ("t", "To"),
    ("i", "Call-ID"),
    ("m", "Contact"),
    ("l", "Content-Length"),
    ("c", "Content-Type"),
    ("e", "Content-Encoding"),
    ("k", "Supported"),
    ("s", "Subject"),
    ("o", "Event"),
    ("r", "Refer-To"),
    ("x", "Session-Expires"),
    ("call-id", "Call-ID"),
    ("cseq", "CSeq"),
    ("www-authenticate", "WWW-Authenticate"),
    ("rseq", "RSeq"),
    ("rack", "RAck"),
    ("min-se", "Min-SE"),
];

/// A header name in its canonical spelling (compact forms expanded).
pub fn canonical(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    if let Some((_, full)) = NAMES.iter().find(|(k, _)| *k == lower) {
        return full.to_string();
    }
    // Word-capitalised: "content-type" → "Content-Type".
    let mut out = String::with_capacity(name.len());
    let mut up = true;
    for c in lower.chars() {
        out.push(if up { c.to_ascii_uppercase() } else { c });
        up = c == '-';
    }
    out
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}

/// Where the headers end (index of the body) in `data`, if they do.
pub fn header_end(data: &[u8]) -> Option<usize> {
    data.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

impl Message {
    /// Parse one whole message. For datagrams a body longer than Content-Length is
    /// cut to it; a shorter one is an error (RFC 3261 §18.3).
    pub fn parse(data: &[u8]) -> Result<Message, ParseError> {
        let m = Message::parse_unchecked(data)?;
        m.check()?;
        Ok(m)
    }

    /// Parse without the mandatory-header and CSeq checks: only to address a 400 to
    /// a request that failed them.
    pub fn parse_unchecked(data: &[u8]) -> Result<Message, ParseError> {
        if data.len() > MAX_MESSAGE {
            return Err(ParseError::TooLarge);
        }
        // Keep-alives (CRLF) and leading blank lines are skipped (RFC 3261 §7.5).
        let start = data.iter().position(|&b| b != b'\r' && b != b'\n').ok_or(ParseError::Incomplete)?;
        let data = &data[start..];
        let end = header_end(data).ok_or(ParseError::Incomplete)?;
        let head = std::str::from_utf8(&data[..end - 4]).map_err(|_| ParseError::BadHeader)?;
        let mut lines = head.split("\r\n");
        let start = parse_start(lines.next().ok_or(ParseError::BadStartLine)?)?;
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            // Control characters (NUL, bare CR or LF, ...) have no place in a header.
            if line.len() > MAX_HEADER_LINE || line.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
                return Err(ParseError::BadHeader);
            }
            if line.starts_with(' ') || line.starts_with('\t') {
                // Folded continuation of the previous header.
                let last = headers.last_mut().ok_or(ParseError::BadHeader)?;
                if last.1.len() + line.len() > MAX_HEADER_LINE {
                    return Err(ParseError::BadHeader);
                }
                // A whitespace-only continuation adds nothing (values never end in
                // whitespace: found by the sip_message fuzz target).
                let more = line.trim();
                if !last.1.is_empty() && !more.is_empty() {
                    last.1.push(' ');
                }
                last.1.push_str(more);
                continue;
            }
            let (name, value) = line.split_once(':').ok_or(ParseError::BadHeader)?;
            let name = name.trim_end();
            if !is_token(name) {
                return Err(ParseError::BadHeader);
            }
            if headers.len() == MAX_HEADERS {
                return Err(ParseError::TooManyHeaders);
            }
            headers.push((canonical(name), value.trim().to_string()));
        }
        let rest = &data[end..];
        let body = match headers.iter().find(|(n, _)| n == "Content-Length") {
            Some((_, v)) => {
                let n: usize = v.parse().map_err(|_| ParseError::BadContentLength)?;
                if n > rest.len() {
                    return Err(ParseError::BadContentLength);
                }
                rest[..n].to_vec()
            }
            None => rest.to_vec(),
        };
        Ok(Message { start, headers, body })
    }

    /// The headers every request and response needs (RFC 3261 §8.1.1), and a CSeq
    /// that names the request's method.
    fn check(&self) -> Result<(), ParseError> {
        for h in ["Via", "From", "To", "Call-ID", "CSeq"] {
            if self.header(h).is_none_or(|v| v.is_empty()) {
                return Err(ParseError::Missing(h));
            }
        }
        let (_, method) = self.cseq().ok_or(ParseError::BadCSeq)?;
        if let StartLine::Request { method: m, .. } = &self.start {
            if *m != method && m != "ACK" && m != "CANCEL" {
                return Err(ParseError::BadCSeq);
            }
            if (m == "ACK" || m == "CANCEL") && *m != method {
                return Err(ParseError::BadCSeq);
            }
        }
        Ok(())
    }

    pub fn request(method: &str, uri: &str) -> Message {
        Message { start: StartLine::Request { method: method.into(), uri: uri.into() }, headers: vec![], body: vec![] }
    }

    /// The first value of `name` (canonical spelling).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, comma-separated lines split (outside quotes and <>).
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n == name).flat_map(|(_, v)| split_list(v)).collect()
    }

    /// Every header line of `name` whole (auth challenges hold commas of their own).
    pub fn header_lines(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect()
    }

    pub fn push(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn method(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    pub fn code(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { code, .. } => Some(*code),
            StartLine::Request { .. } => None,
        }
    }

    pub fn uri(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// (sequence number, method) of CSeq.
    pub fn cseq(&self) -> Option<(u32, String)> {
        let v = self.header("CSeq")?;
        let mut it = v.split_whitespace();
        let n = it.next()?.parse().ok()?;
        let m = it.next()?;
        (it.next().is_none() && is_token(m)).then(|| (n, m.to_string()))
    }

    pub fn call_id(&self) -> &str {
        self.header("Call-ID").unwrap_or("")
    }

    /// The top Via's branch parameter.
    pub fn branch(&self) -> Option<&str> {
        let via = *self.header_values("Via").first()?;
        param(via, "branch")
    }

    /// A response to this request (RFC 3261 §8.2.6): Via, From, To, Call-ID and
    /// CSeq copied; `to_tag` added to To when it has none.
    pub fn response(&self, code: u16, reason: &str, to_tag: Option<&str>) -> Message {
        let mut r = Message { start: StartLine::Response { code, reason: reason.into() }, headers: vec![], body: vec![] };
        for (n, v) in &self.headers {
            if matches!(n.as_str(), "Via" | "From" | "Call-ID" | "CSeq") {
                r.headers.push((n.clone(), v.clone()));
            } else if n == "To" {
                let v = match to_tag {
                    Some(t) if param(v, "tag").is_none() => format!("{v};tag={t}"),
                    _ => v.clone(),
                };
                r.headers.push((n.clone(), v));
            }
        }
        r
    }

    /// The message on the wire; Content-Length is always written (from the body).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = String::with_capacity(512 + self.body.len());
        match &self.start {
            StartLine::Request { method, uri } => {
                let _ = write!(s, "{method} {uri} SIP/2.0\r\n");
            }
            StartLine::Response { code, reason } => {
                let _ = write!(s, "SIP/2.0 {code} {reason}\r\n");
            }
        }
        for (n, v) in self.headers.iter().filter(|(n, _)| n != "Content-Length") {
            let _ = write!(s, "{n}: {v}\r\n");
        }
        let _ = write!(s, "Content-Length: {}\r\n\r\n", self.body.len());
        let mut out = s.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

fn parse_start(line: &str) -> Result<StartLine, ParseError> {
    if let Some(rest) = line.strip_prefix("SIP/2.0 ") {
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        let code: u16 = code.parse().map_err(|_| ParseError::BadStartLine)?;
        if !(100..=699).contains(&code) {
            return Err(ParseError::BadStartLine);
        }
        return Ok(StartLine::Response { code, reason: reason.to_string() });
    }
    let mut it = line.split(' ');
    let (Some(method), Some(uri), Some("SIP/2.0"), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(ParseError::BadStartLine);
    };
    if !is_token(method) || uri.is_empty() || !uri.contains(':') {
        return Err(ParseError::BadStartLine);
    }
    Ok(StartLine::Request { method: method.to_string(), uri: uri.to_string() })
}

/// Split a header value at commas that are outside quotes and angle brackets.
pub fn split_list(v: &str) -> Vec<&str> {
    let (mut out, mut start, mut quoted, mut angle) = (Vec::new(), 0, false, false);
    let b = v.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b'<' if !quoted => angle = true,
            b'>' if !quoted => angle = false,
            b',' if !quoted && !angle => {
                out.push(v[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(v[start..].trim());
    out.retain(|s| !s.is_empty());
    out
}

/// A `;name=value` parameter of a header value (after any `<...>`), case-insensitive
/// name; a flag parameter (`;lr`) gives "".
pub fn param<'a>(v: &'a str, name: &str) -> Option<&'a str> {
    // Header parameters follow the name-addr's closing `>`; a quoted display name or a
    // quoted parameter value may hold `<`, `>` or `;` (`+sip.instance="<urn:uuid:..>"`
    // from baresip, RFC 5626), so quotes are skipped, not searched.
    let (mut quoted, mut escaped, mut angle, mut start) = (false, false, false, 0);
    for (i, c) in v.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted && !angle => angle = true,
            '>' if !quoted && angle => {
                start = i + 1;
                break;
            }
            _ => {}
        }
    }
    let mut rest = &v[start..];
    let mut first = true;
    while !rest.is_empty() {
        let end = unquoted_find(rest, ';').unwrap_or(rest.len());
        let p = &rest[..end];
        rest = rest.get(end + 1..).unwrap_or("");
        if std::mem::take(&mut first) {
            continue; // the URI (or what precedes the first `;`)
        }
        let (k, val) = p.split_once('=').unwrap_or((p, ""));
        if k.trim().eq_ignore_ascii_case(name) {
            return Some(val.trim().trim_matches('"'));
        }
    }
    None
}

/// Byte index of the first `c` outside double quotes.
fn unquoted_find(s: &str, c: char) -> Option<usize> {
    let (mut quoted, mut escaped) = (false, false);
    for (i, ch) in s.char_indices() {
        match ch {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            _ if ch == c && !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_after_quoted_angle_brackets() {
        let c = r#"<sip:room1-0x1@127.0.0.1:15070>;expires=60;+sip.instance="<urn:uuid:9d14>""#;
        assert_eq!((param(c, "expires"), param(c, "+sip.instance")), (Some("60"), Some("<urn:uuid:9d14>")));
        let c = r#""A <b>; \"c\"" <sip:x@h;lr>;tag=7;q="0;5""#;
        assert_eq!((param(c, "tag"), param(c, "lr"), param(c, "q")), (Some("7"), None, Some("0;5")));
        assert_eq!(param("sip:x@h;tag=1", "tag"), Some("1"), "addr-spec: parameters after the URI");
        assert_eq!(param("SIP/2.0/UDP h;branch=z9hG4bK1;rport", "rport"), Some(""));
        assert_eq!(param("<sip:x@h", "tag"), None, "unterminated: none");
    }

    #[test]
    fn folding_compact_forms_and_round_trip() {
        let raw = b"OPTIONS sip:x@h SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nSubject: one\r\n  two\r\nContact: <sip:a@h>\r\n \r\nf: <sip:a@h>;tag=1\r\nt: <sip:x@h>\r\ni: c1\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n";
        let m = Message::parse(raw).unwrap();
        assert_eq!(m.header("Via"), Some("SIP/2.0/UDP h;branch=z9hG4bK1"), "compact names become canonical");
        assert_eq!(m.header("Subject"), Some("one two"), "a folded line joins with one space");
        assert_eq!(m.header("Contact"), Some("<sip:a@h>"), "a blank continuation adds nothing");
        let back = Message::parse(&m.to_bytes()).unwrap();
        assert_eq!((back.start, back.headers), (m.start.clone(), m.headers.clone()));
        assert_eq!(Message::parse(b"OPTIONS sip:x@h SIP/2.0\r\n folded-first: x\r\n\r\n").unwrap_err(), ParseError::BadHeader);
    }
}

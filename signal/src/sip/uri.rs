//! SIP URIs (RFC 3261 §19.1) and name-addr header values (From, To, Contact), and
//! the dial plan that reads a conference and PIN out of a request URI.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri {
    pub secure: bool,
    /// Percent-decoded user part ("" when absent).
    pub user: String,
    pub host: String,
    pub port: Option<u16>,
    /// `;name=value` parameters, names lower-cased.
    pub params: Vec<(String, String)>,
}

/// `%40` → `@`; None for broken escapes or non-UTF-8 (URIs, and Call-IDs in API paths).
pub(super) fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl Uri {
    pub fn parse(s: &str) -> Option<Uri> {
        let s = s.trim();
        let (secure, rest) = if let Some(r) = strip_prefix_ci(s, "sips:") {
            (true, r)
        } else {
            (false, strip_prefix_ci(s, "sip:")?)
        };
        // Headers (`?...`) are not used: drop them.
        let rest = rest.split('?').next().unwrap_or("");
        let (userinfo, hostpart) = match rest.rfind('@') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => ("", rest),
        };
        // A password in the URI is deprecated: ignore it.
        let user = percent_decode(userinfo.split(':').next().unwrap_or(""))?;
        let mut parts = hostpart.split(';');
        let hostport = parts.next()?;
        let (host, port) = split_host_port(hostport)?;
        let params = parts
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_ascii_lowercase(), v.to_string())
            })
            .collect();
        if user.chars().any(|c| c.is_control()) {
            return None;
        }
        Some(Uri { secure, user, host, port, params })
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

impl std::fmt::Display for Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.secure { "sips" } else { "sip" };
        write!(f, "{scheme}:")?;
        if !self.user.is_empty() {
            // Only what a user part may hold unescaped; the rest percent-encoded.
            for b in self.user.bytes() {
                if b.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,;?/".contains(&b) {
                    write!(f, "{}", b as char)?;
                } else {
                    write!(f, "%{b:02X}")?;
                }
            }
            write!(f, "@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            write!(f, "{}", self.host)?;
        }
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        for (k, v) in &self.params {
            if v.is_empty() {
                write!(f, ";{k}")?;
            } else {
                write!(f, ";{k}={v}")?;
            }
        }
        Ok(())
    }
}

fn strip_prefix_ci<'a>(s: &'a str, p: &str) -> Option<&'a str> {
    (s.len() >= p.len() && s.is_char_boundary(p.len()) && s[..p.len()].eq_ignore_ascii_case(p)).then(|| &s[p.len()..])
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`.
fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if let Some(r) = s.strip_prefix('[') {
        let (h, after) = r.split_once(']')?;
        h.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        (h.to_string(), port)
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h.to_string(), Some(p.parse().ok()?)),
            None => (s.to_string(), None),
        }
    };
    let ok = !host.is_empty() && host.len() <= 253 && host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_:".contains(&b));
    (ok && port != Some(0)).then_some((host, port))
}

/// A From/To/Contact value: `"Name" <uri>;params` or a bare `uri;params`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    pub display: String,
    pub uri: Uri,
}

impl NameAddr {
    pub fn parse(v: &str) -> Option<NameAddr> {
        let v = v.trim();
        if let Some(lt) = v.find('<') {
            let gt = v[lt..].find('>')? + lt;
            let display = v[..lt].trim().trim_matches('"').to_string();
            return Some(NameAddr { display, uri: Uri::parse(&v[lt + 1..gt])? });
        }
        // Without brackets, parameters belong to the header, not the URI.
        let uri = v.split(';').next()?;
        Some(NameAddr { display: String::new(), uri: Uri::parse(uri)? })
    }
}

/// Where a dialled request URI leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A conference id, and the PIN dialled with it (`00<cid>,<pin>`).
    Conference { cid: String, pin: Option<String> },
    /// No user part, or one that names no conference: the default destination.
    Default,
}

/// The dial plan for calls in: user parts `<cid>`, `00<cid>`, each with an optional
/// `,<pin>` (also `%2C`, decoded by the URI parser). Anything else goes to the
/// default destination; whether the conference exists is the caller's question.
pub fn destination(uri: &Uri) -> Destination {
    let user = uri.user.as_str();
    if user.is_empty() {
        return Destination::Default;
    }
    let (cid, pin) = match user.split_once(',') {
        Some((c, p)) => (c, Some(p)),
        None => (user, None),
    };
    let cid = cid.strip_prefix("00").filter(|c| !c.is_empty()).unwrap_or(cid);
    let pin_ok = pin.is_none_or(|p| (4..=10).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
    if !crate::webrtc::conference::valid_conference_id(cid) || !pin_ok {
        return Destination::Default;
    }
    Destination::Conference { cid: cid.to_string(), pin: pin.map(str::to_string) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_and_name_addrs() {
        let u = Uri::parse("sip:0012345,1234@10.0.0.1:5061;transport=TCP").unwrap();
        assert_eq!((u.user.as_str(), u.host.as_str(), u.port, u.param("transport")), ("0012345,1234", "10.0.0.1", Some(5061), Some("TCP")));
        let u = Uri::parse("SIPS:[::1]:5071").unwrap();
        assert!(u.secure && u.host == "::1" && u.port == Some(5071));
        assert_eq!(u.to_string(), "sips:[::1]:5071");
        assert_eq!(Uri::parse("sip:a%2Cb@h").unwrap().user, "a,b");
        for bad in ["", "http://x", "sip:", "sip:a@", "sip:a@h:99999", "sip:a@h:0", "sip:a@[zz]", "sip:a@h h", "sip:%zz@h", "sip:%0a@h"] {
            assert!(Uri::parse(bad).is_none(), "{bad}");
        }
        let n = NameAddr::parse("\"Room 1\" <sip:room1@example.com>;tag=abc").unwrap();
        assert_eq!((n.display.as_str(), n.uri.user.as_str()), ("Room 1", "room1"));
        let n = NameAddr::parse("sip:bob@h;tag=1").unwrap();
        assert!(n.uri.params.is_empty() && n.uri.host == "h");
        assert!(NameAddr::parse("<sip:a@h").is_none());
    }

    #[test]
    fn dial_plan() {
        let d = |s: &str| destination(&Uri::parse(s).unwrap());
        let conf = |c: &str, p: Option<&str>| Destination::Conference { cid: c.into(), pin: p.map(Into::into) };
        assert_eq!(d("sip:0012345@h"), conf("12345", None));
        assert_eq!(d("sip:12345@h"), conf("12345", None));
        assert_eq!(d("sip:0012345,4321@h"), conf("12345", Some("4321")));
        assert_eq!(d("sip:sales-room@h"), conf("sales-room", None));
        assert_eq!(d("sip:h"), Destination::Default);
        assert_eq!(d("sip:0012345,12@h"), Destination::Default, "a PIN is 4-10 digits");
        assert_eq!(d("sip:a%20b@h"), Destination::Default);
        assert_eq!(d("sip:00@h"), conf("00", None));
    }
}

//! Trunks to PBXs and carriers, read from a TOML file (`signal --sip-trunks F`):
//! where calls out go, how they authenticate and register, which codecs they may
//! use, the caller ID they show, and how dialled numbers are rewritten. Example:
//!
//! ```toml
//! [[trunk]]
//! name = "pbx"
//! host = "pbx.example.com:5060"     # Request-URI host; where requests go (names are
//!                                   # resolved once, A/AAAA, when the file is read)
//! outbound_proxy = "192.0.2.1:5060" # optional: requests go here instead
//! user = "mediad"                   # digest credentials (401 and 407)
//! password = "secret"
//! register = "permanent"            # off | permanent | before-call
//! register_interval_s = 300         # at least 30
//! codecs = ["g722", "pcma", "pcmu"] # allow-list, in order of preference
//! caller_id = "+15550100"           # From user part
//! default = true
//! [[trunk.rewrite]]                 # first match wins; no match: unchanged
//! pattern = "8XXXXXXXXXX"           # simple syntax: X [..] [^..] {n} . ! + | \
//! strip = 1
//! prefix = "+7"
//! [[trunk.rewrite]]
//! regex = "^00([1-9][0-9]+)$"       # or a regular expression with groups
//! replace = "+$1"
//! ```

use regex::Regex;
use serde::Deserialize;
use std::net::SocketAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RegisterMode {
    #[default]
    Off,
    /// Registered from start-up on, renewed every interval.
    Permanent,
    /// A registration before each call out.
    BeforeCall,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrunkFile {
    #[serde(default)]
    trunk: Vec<TrunkSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrunkSpec {
    name: String,
    host: String,
    outbound_proxy: Option<String>,
    user: Option<String>,
    password: Option<String>,
    #[serde(default)]
    register: RegisterMode,
    #[serde(default = "default_interval")]
    register_interval_s: u64,
    #[serde(default = "default_transport")]
    transport: String,
    #[serde(default)]
    codecs: Vec<String>,
    #[serde(default = "default_srtp")]
    srtp: String,
    caller_id: Option<String>,
    #[serde(default)]
    default: bool,
    #[serde(default)]
    rewrite: Vec<RuleSpec>,
}

fn default_interval() -> u64 {
    300
}
fn default_transport() -> String {
    "udp".into()
}
fn default_srtp() -> String {
    "off".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    pattern: Option<String>,
    regex: Option<String>,
    #[serde(default)]
    strip: usize,
    #[serde(default)]
    prefix: String,
    replace: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Trunk {
    pub name: String,
    /// Request-URI host part (`host:port` as written).
    pub host: String,
    /// Where requests are sent: the outbound proxy, else the host.
    pub next_hop: SocketAddr,
    pub credentials: Option<(String, String)>,
    pub register: RegisterMode,
    pub register_interval_s: u64,
    /// mediad codec names, best first.
    pub codecs: Vec<&'static str>,
    /// SDES-SRTP in our offers: off, best effort on RTP/AVP, or RTP/SAVP only.
    pub srtp: super::sdes::Policy,
    pub caller_id: Option<String>,
    pub default: bool,
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
enum Rule {
    /// Simple pattern: strip leading characters, then prefix.
    Simple { re: Regex, strip: usize, prefix: String },
    Regex { re: Regex, replace: String },
}

impl Trunk {
    /// The number as this trunk's rules rewrite it (unchanged when none matches).
    pub fn rewrite(&self, number: &str) -> String {
        for r in &self.rules {
            match r {
                Rule::Simple { re, strip, prefix } if re.is_match(number) => {
                    let rest: String = number.chars().skip(*strip).collect();
                    return format!("{prefix}{rest}");
                }
                Rule::Regex { re, replace } if re.is_match(number) => return re.replace(number, replace.as_str()).into_owned(),
                _ => {}
            }
        }
        number.to_string()
    }
}

/// The simple dial pattern syntax as an anchored regular expression: `X` a digit,
/// `[...]`/`[^...]` a set, `{n}`/`{n,m}` repeats, `.` any one character, `!` any
/// remainder (also none), `+` one or more of the previous, `|` alternatives, `\c`
/// the character c itself.
pub fn simple_pattern(p: &str) -> Result<Regex, String> {
    let mut re = String::from("^(?:");
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            'X' | 'x' => re.push_str("[0-9]"),
            '.' => re.push('.'),
            '!' => re.push_str(".*"),
            '+' | '|' => re.push(c),
            '\\' => {
                let lit = chars.next().ok_or("pattern ends in `\\`")?;
                re.push_str(&regex::escape(&lit.to_string()));
            }
            '[' => {
                re.push('[');
                if chars.peek() == Some(&'^') {
                    re.push('^');
                    chars.next();
                }
                loop {
                    match chars.next().ok_or("unclosed `[`")? {
                        ']' => break,
                        c @ ('0'..='9' | 'A'..='Z' | 'a'..='z' | '*' | '#' | '+' | '-') => re.push_str(&if c == '-' { c.to_string() } else { regex::escape(&c.to_string()) }),
                        other => return Err(format!("`{other}` inside a set")),
                    }
                }
                re.push(']');
            }
            '{' => {
                let mut rep = String::new();
                loop {
                    match chars.next().ok_or("unclosed `{`")? {
                        '}' => break,
                        c @ ('0'..='9' | ',') => rep.push(c),
                        other => return Err(format!("`{other}` inside a repeat")),
                    }
                }
                re.push_str(&format!("{{{rep}}}"));
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push_str(")$");
    Regex::new(&re).map_err(|e| format!("pattern `{p}`: {e}"))
}

/// `host[:port]` to an address: IP literals as they are, names through the system
/// resolver (A/AAAA) once, when the file is read (no SRV/NAPTR: give the port).
fn resolve(hop: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(a) = hop.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = hop.trim_matches(|c| c == '[' || c == ']').parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, 5060));
    }
    let with_port = if hop.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) { hop.to_string() } else { format!("{hop}:5060") };
    let mut addrs = with_port.to_socket_addrs().map_err(|e| format!("`{hop}` does not resolve: {e}"))?;
    addrs.next().ok_or_else(|| format!("`{hop}` has no address"))
}

/// Read and check a trunk file; errors name the trunk and the field.
pub fn parse(text: &str) -> Result<Vec<Trunk>, String> {
    let file: TrunkFile = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for t in file.trunk {
        let ctx = |m: String| format!("trunk `{}`: {m}", t.name);
        let hop = t.outbound_proxy.as_deref().unwrap_or(&t.host);
        let next_hop = resolve(hop).map_err(ctx)?;
        if t.transport != "udp" {
            return Err(ctx(format!("transport `{}`: only udp is served yet", t.transport)));
        }
        let srtp = super::sdes::Policy::parse(&t.srtp).ok_or_else(|| ctx(format!("srtp `{}`: off, optional or required", t.srtp)))?;
        if t.register != RegisterMode::Off && t.register_interval_s < 30 {
            return Err(ctx("register_interval_s must be at least 30".into()));
        }
        if t.register != RegisterMode::Off && t.user.is_none() {
            return Err(ctx("registering needs `user` (and `password`)".into()));
        }
        let codecs = if t.codecs.is_empty() { super::sdp::ALL.to_vec() } else { super::sdp::known(&t.codecs) };
        if codecs.len() != t.codecs.len().max(codecs.len()) || codecs.is_empty() {
            return Err(ctx(format!("codecs {:?}: each must be one of {:?}", t.codecs, super::sdp::ALL)));
        }
        let mut rules = Vec::new();
        for r in t.rewrite {
            rules.push(match (r.pattern, r.regex, r.replace) {
                (Some(p), None, None) => Rule::Simple { re: simple_pattern(&p).map_err(ctx)?, strip: r.strip, prefix: r.prefix },
                (None, Some(x), Some(replace)) => Rule::Regex { re: Regex::new(&x).map_err(|e| ctx(e.to_string()))?, replace },
                _ => return Err(ctx("a rewrite rule is either `pattern` (+ strip/prefix) or `regex` + `replace`".into())),
            });
        }
        out.push(Trunk {
            credentials: t.user.map(|u| (u, t.password.unwrap_or_default())),
            name: t.name,
            host: t.host,
            next_hop,
            register: t.register,
            register_interval_s: t.register_interval_s,
            codecs,
            srtp,
            caller_id: t.caller_id,
            default: t.default,
            rules,
        });
    }
    if out.iter().filter(|t| t.default).count() > 1 {
        return Err("more than one trunk says `default = true`".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[[trunk]]
name = "pbx"
host = "127.0.0.1:5070"
user = "mediad"
password = "pw"
register = "before-call"
register_interval_s = 60
codecs = ["g722", "PCMA"]
default = true
[[trunk.rewrite]]
pattern = "8XXXXXXXXXX"
strip = 1
prefix = "+7"
[[trunk.rewrite]]
regex = "^00([1-9][0-9]+)$"
replace = "+$1"
[[trunk.rewrite]]
pattern = "1[2-4]X|99!"
prefix = "ext-"
"#;

    #[test]
    fn trunk_file_and_number_rewriting() {
        let t = &parse(FILE).unwrap()[0];
        assert_eq!((t.next_hop, t.register, t.codecs.clone()), ("127.0.0.1:5070".parse().unwrap(), RegisterMode::BeforeCall, vec!["g722", "pcma"]));
        assert_eq!(t.rewrite("84951234567"), "+74951234567");
        assert_eq!(t.rewrite("8495123456"), "8495123456", "one digit short: no match, unchanged");
        assert_eq!(t.rewrite("0049301234"), "+49301234");
        assert_eq!(t.rewrite("135"), "ext-135");
        assert_eq!(t.rewrite("155"), "155");
        assert_eq!(t.rewrite("99"), "ext-99");
        assert_eq!(t.rewrite("99123"), "ext-99123");
    }

    #[test]
    fn simple_patterns() {
        let m = |p: &str, s: &str| simple_pattern(p).unwrap().is_match(s);
        assert!(m("X{3}", "123") && !m("X{3}", "1234"));
        assert!(m("[^0]X+", "12345") && !m("[^0]X+", "0123"));
        assert!(m("\\+7.", "+7a") && !m("\\+7.", "+7"));
        assert!(m("7!", "7") && m("7!", "7999"));
        assert!(m("*X#", "*5#"), "keypad characters are literals");
        for bad in ["[12", "{3", "a\\", "[a b]", "{x}"] {
            assert!(simple_pattern(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let err = |s: &str| parse(s).unwrap_err();
        assert!(err("[[trunk]]\nname='a'\nhost='pbx.invalid'\n").contains("does not resolve"));
        assert_eq!(parse("[[trunk]]\nname='a'\nhost='localhost:5070'\n").unwrap()[0].next_hop.port(), 5070, "names resolve when the file is read");
        assert!(err("[[trunk]]\nname='a'\nhost='127.0.0.1'\ntransport='tls'\n").contains("only udp"));
        assert!(err("[[trunk]]\nname='a'\nhost='127.0.0.1'\nregister='permanent'\nuser='u'\nregister_interval_s=10\n").contains("at least 30"));
        assert!(err("[[trunk]]\nname='a'\nhost='127.0.0.1'\ncodecs=['speex']\n").contains("codecs"));
        assert!(err("[[trunk]]\nname='a'\nhost='127.0.0.1'\n[[trunk.rewrite]]\npattern='X'\nregex='X'\n").contains("either"));
        assert!(err("[[trunk]]\nname='a'\nhost='127.0.0.1'\nbogus=1\n").contains("bogus"));
        assert_eq!(parse("[[trunk]]\nname='a'\nhost='127.0.0.1'\n").unwrap()[0].next_hop.port(), 5060);
    }
}

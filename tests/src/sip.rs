//! SIP test helpers: signal with SIP and its HTTP API on free loopback ports, sipp
//! runs bounded in a scratch folder, scenarios from `tests/sipp/`, and the SIP API
//! (calls, events, CDRs) read as JSON.

use crate::{bin, free_tcp_port, free_udp_port, Mediad, Proc, TempDir};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Signal {
    pub proc: Proc,
    pub sip: u16,
    pub http: u16,
}

/// signal with SIP on a free loopback port, driving `m`; ready once OPTIONS is answered.
pub fn signal_sip(m: &Mediad, extra: &[&str]) -> Signal {
    let sip = free_udp_port();
    let http = free_tcp_port();
    let log = std::fs::File::create(m.dir.path("signal.log")).unwrap();
    let proc = Proc::spawn(
        "signal",
        Command::new(bin("signal"))
            .arg("--mediad-socket")
            .arg(&m.socket)
            .args(["--http", &format!("127.0.0.1:{http}"), "--sip", &format!("127.0.0.1:{sip}")])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log),
    );
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    probe.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        probe.send_to(options("ready", 1).as_bytes(), ("127.0.0.1", sip)).unwrap();
        let mut buf = [0u8; 2048];
        if probe.recv(&mut buf).is_ok() {
            return Signal { proc, sip, http };
        }
        assert!(Instant::now() < end, "signal does not answer SIP");
    }
}

pub fn options(call: &str, cseq: u32) -> String {
    format!(
        "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{call}{cseq};rport\r\nFrom: <sip:t@127.0.0.1>;tag=1\r\n\
To: <sip:127.0.0.1>\r\nCall-ID: {call}\r\nCSeq: {cseq} OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

/// sipp for one call unless `args` say `-m` (bounded by its own timeout); its log is
/// `<tag>.log` in `dir`.
pub fn sipp(dir: &TempDir, tag: &str, args: &[&str]) -> Proc {
    let calls = if args.contains(&"-m") { &[][..] } else { &["-m", "1"][..] };
    Proc::spawn(
        "sipp",
        Command::new("sipp")
            .args(args)
            .args(calls)
            .args(["-i", "127.0.0.1", "-nostdin", "-timeout", "60", "-timeout_error"])
            .current_dir(&dir.0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path(&format!("{tag}.log"))).unwrap()),
    )
}

/// Wait for sipp and say whether its call went as the scenario says.
pub fn sipp_ok(p: &mut Proc, dir: &TempDir, tag: &str) -> Result<(), String> {
    match p.wait_timeout(Duration::from_secs(90)) {
        Some(s) if s.success() => Ok(()),
        other => Err(format!("sipp {tag}: {other:?}: {}", std::fs::read_to_string(dir.path(&format!("{tag}.log"))).unwrap_or_default())),
    }
}

/// The dial-and-press scenario: answered, then each key of `digits` as sipp's RFC
/// 2833 pcap 0.4 s apart, then `ending` (one of the `end_*.xml` parts).
pub fn uac_digits(digits: &str, ending: &str) -> String {
    let plays: String = digits
        .chars()
        .map(|d| {
            let name = match d {
                '#' => "pound".to_string(),
                '*' => "star".to_string(),
                ',' => return "<pause milliseconds=\"2000\"/>\n".to_string(),
                d => d.to_string(),
            };
            format!("<nop><action><exec play_pcap_audio=\"/usr/share/sip-tester/dtmf_2833_{name}.pcap\"/></action></nop>\n<pause milliseconds=\"400\"/>\n")
        })
        .collect();
    include_str!("../sipp/uac_digits.xml").replace("PLAYS", &plays).replace("ENDING", ending)
}

/// One HTTP request to signal's API; (status, JSON body).
pub fn api(http: u16, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", http)).expect("signal HTTP");
    s.set_read_timeout(Some(Duration::from_secs(40))).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(s, "{method} {path} HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let json = text.split_once("\r\n\r\n").and_then(|(_, b)| serde_json::from_str(b).ok()).unwrap_or(Value::Null);
    (status, json)
}

/// Every SIP call event so far (the API's feed from the start).
pub fn events(http: u16) -> Vec<Value> {
    api(http, "GET", "/api/v1/sip/events?after=0&limit=10000", None).1["events"].as_array().cloned().unwrap_or_default()
}

/// Long-poll the event feed until an event satisfies `want` (or panic at `limit`).
pub fn wait_event(http: u16, limit: Duration, want: impl Fn(&Value) -> bool) -> Value {
    let end = Instant::now() + limit;
    let mut after = 0;
    loop {
        let (_, v) = api(http, "GET", &format!("/api/v1/sip/events?after={after}&wait_ms=1000"), None);
        for e in v["events"].as_array().cloned().unwrap_or_default() {
            if want(&e) {
                return e;
            }
        }
        after = v["last"].as_u64().unwrap_or(after);
        assert!(Instant::now() < end, "no such SIP event in {limit:?}; feed: {:?}", events(http));
    }
}

/// The CDRs of ended calls.
pub fn cdrs(http: u16) -> Vec<Value> {
    api(http, "GET", "/api/v1/sip/cdrs", None).1["cdrs"].as_array().cloned().unwrap_or_default()
}

/// A UDP port for sipp's media.
pub fn media_port() -> String {
    free_udp_port().to_string()
}

/// A baresip 1.0 (Debian) configuration folder in `dir/baresip`: headless (ALSA's null
/// player), `tone` (a WAV) as the microphone, sndfile writing what it decodes
/// (`dump-*-dec.wav`) into `dir`, SIP on `listen` (`127.0.0.1:<port>`); `extra` adds
/// config lines (`sip_cafile`, modules: loaded before `account`, which needs e.g. the
/// `srtp` module to read `mediaenc`), `account` is the accounts file's line.
pub fn baresip_conf(dir: &TempDir, listen: &str, tone: &std::path::Path, extra: &str, account: &str) -> std::path::PathBuf {
    let conf = dir.path("baresip");
    std::fs::create_dir_all(&conf).unwrap();
    let config = format!(
        "poll_method epoll\nsip_listen {listen}\nnet_interface 127.0.0.1\naudio_source aufile,{}\naudio_player alsa,null\n\
audio_alert aufile,/dev/null\nsnd_path {}\nmodule_path /usr/lib/baresip/modules\n{extra}module g711.so\nmodule aufile.so\n\
module sndfile.so\nmodule alsa.so\nmodule uuid.so\nmodule account.so\nmodule menu.so\n",
        tone.display(),
        dir.0.display()
    );
    std::fs::write(conf.join("config"), config).unwrap();
    std::fs::write(conf.join("accounts"), format!("{account}\n")).unwrap();
    conf
}

/// baresip with the configuration folder `conf` and `args`, stdout to `log`.
pub fn baresip(conf: &std::path::Path, args: &[&str], log: &std::path::Path) -> Proc {
    let mut cmd = Command::new("baresip");
    cmd.arg("-f").arg(conf).args(args).stdin(Stdio::null()).stdout(std::fs::File::create(log).unwrap()).stderr(Stdio::null());
    Proc::spawn("baresip", &mut cmd)
}

/// A sine WAV (16-bit mono) for baresip's microphone, a browser's or a prompt;
/// `volume` scales ffmpeg's sine (1.0: about -21 dBFS).
pub fn tone_wav(path: &std::path::Path, hz: u32, rate: u32, seconds: u32, volume: f32) {
    let ok = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("sine=frequency={hz}:sample_rate={rate}:duration={seconds}"))
        .args(["-af", &format!("volume={volume}"), "-ac", "1", "-c:a", "pcm_s16le"])
        .arg(path)
        .status()
        .expect("ffmpeg");
    assert!(ok.success(), "ffmpeg made no WAV");
}

/// Wait until `log` (a baresip stdout file) contains `what`; its text either way.
pub fn wait_log(log: &std::path::Path, what: &str, limit: Duration) -> String {
    let end = Instant::now() + limit;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(what) || Instant::now() > end {
            return text;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

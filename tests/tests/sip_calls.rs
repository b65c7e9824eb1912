//! SIP calls into conferences through signal, media through mediad's audio MCU, with
//! sipp as the phones: dial-in with sipp's G.711 pcap as the voice and a second phone
//! echoing what it hears (`-rtp_echo`), the pcap's RFC 2833 digit read by mediad;
//! CANCEL before answer; malformed datagrams answered with 400 or dropped.

use control::*;
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use system_tests::{bin, free_udp_port, Mediad, Proc, TempDir};

/// signal with SIP on a free loopback port, driving `m`.
fn signal_sip(m: &Mediad, extra: &[&str]) -> (Proc, u16) {
    let port = free_udp_port();
    let log = std::fs::File::create(m.dir.path("signal.log")).unwrap();
    let http = format!("127.0.0.1:{}", system_tests::free_tcp_port());
    let p = Proc::spawn(
        "signal",
        Command::new(bin("signal"))
            .arg("--mediad-socket")
            .arg(&m.socket)
            .args(["--http", &http, "--sip", &format!("127.0.0.1:{port}")])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log),
    );
    // Ready once OPTIONS is answered.
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    probe.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        probe.send_to(options("ready", 1).as_bytes(), ("127.0.0.1", port)).unwrap();
        let mut buf = [0u8; 2048];
        if probe.recv(&mut buf).is_ok() {
            return (p, port);
        }
        assert!(Instant::now() < end, "signal does not answer SIP");
    }
}

fn options(call: &str, cseq: u32) -> String {
    format!(
        "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{call}{cseq};rport\r\nFrom: <sip:t@127.0.0.1>;tag=1\r\n\
To: <sip:127.0.0.1>\r\nCall-ID: {call}\r\nCSeq: {cseq} OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

/// sipp run to completion (bounded); its exit status and log.
fn sipp(dir: &TempDir, tag: &str, args: &[&str]) -> Proc {
    Proc::spawn(
        "sipp",
        Command::new("sipp")
            .args(args)
            .args(["-i", "127.0.0.1", "-m", "1", "-nostdin", "-timeout", "40", "-timeout_error"])
            .current_dir(&dir.0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path(&format!("{tag}.log"))).unwrap()),
    )
}

fn legs_in(c: &mut Client, room: &str) -> Vec<LegStats> {
    let st: Result<RoomStats, _> = c.call(Op::StatsRoom { room: room.into() });
    st.map(|s| s.legs).unwrap_or_default()
}

#[test]
fn sipp_dials_in_with_pcap_voice_and_an_echoing_phone_hears_the_mix() {
    let m = Mediad::start(2, "epoll", &[]);
    let (_signal, sip) = signal_sip(&m, &[]);
    let dir = TempDir::new("sip-dialin");
    // sipp's uac_pcap scenario reads pcap/g711a.pcap and pcap/dtmf_2833_1.pcap.
    std::os::unix::fs::symlink("/usr/share/sip-tester", dir.path("pcap")).unwrap();
    let mut ev = m.client();
    let _: serde_json::Value = ev.call(Op::EventsSubscribe { events: vec!["leg.dtmf".into()] }).unwrap();
    let target = format!("127.0.0.1:{sip}");
    let (p1, p2) = (free_udp_port().to_string(), free_udp_port().to_string());
    let mut echo = sipp(&dir, "echo", &["-sn", "uac", "-s", "0012345", "-d", "12000", "-rtp_echo", "-p", &p1, "-mp", &free_udp_port().to_string(), &target]);
    std::thread::sleep(Duration::from_millis(500));
    let mut voice = sipp(&dir, "voice", &["-sn", "uac_pcap", "-s", "0012345", "-p", &p2, &target]);
    // Mid-call: both phones are legs of room 12345 and media flows every way.
    std::thread::sleep(Duration::from_secs(6));
    let mut c = m.client();
    let legs = legs_in(&mut c, "12345");
    assert_eq!(legs.len(), 2, "two SIP legs in the conference's room: {legs:?}");
    for l in &legs {
        assert!(l.rx_packets > 100 && l.tx_packets > 100, "each phone sends and hears the mix: {l:?}");
        assert!(l.audio.is_some() && l.label.as_deref().is_some_and(|s| s.starts_with("sip:sipp ")), "MCU participants labelled by caller: {l:?}");
    }
    let voice_ok = voice.wait_timeout(Duration::from_secs(30)).expect("sipp voice ends");
    let echo_ok = echo.wait_timeout(Duration::from_secs(30)).expect("sipp echo ends");
    let log = |t: &str| std::fs::read_to_string(dir.path(&format!("{t}.log"))).unwrap_or_default();
    assert!(voice_ok.success(), "the pcap call completes (INVITE/200/ACK/BYE/200): {}", log("voice"));
    assert!(echo_ok.success(), "the echo call completes: {}", log("echo"));
    // uac_pcap plays RFC 2833 digit 1 after its voice.
    let mut digits = Vec::new();
    let end = Instant::now() + Duration::from_secs(3);
    while Instant::now() < end {
        if let Some(Event::Dtmf { digit, .. }) = ev.next_event(Duration::from_millis(200)).unwrap() {
            digits.push(digit);
        }
    }
    assert_eq!(digits, ["1"], "the pcap's DTMF digit arrives once");
    // Both BYEs deleted their legs.
    assert!(legs_in(&mut c, "12345").is_empty());
}

const CANCEL: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="cancel before answer">
  <send retrans="500"><![CDATA[
INVITE sip:0012345@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:0012345@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180"/>
  <send><![CDATA[
CANCEL sip:0012345@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:0012345@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 CANCEL
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200"/>
  <recv response="487"/>
  <send><![CDATA[
ACK sip:0012345@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
</scenario>
"#;

#[test]
fn sipp_cancels_before_answer_and_hostile_datagrams_get_400_or_nothing() {
    let m = Mediad::start(1, "epoll", &[]);
    let (_signal, sip) = signal_sip(&m, &["--sip-answer-delay-ms", "3000"]);
    let dir = TempDir::new("sip-cancel");
    let xml = dir.path("cancel.xml");
    std::fs::write(&xml, CANCEL).unwrap();
    let mut p = sipp(&dir, "cancel", &["-sf", xml.to_str().unwrap(), "-p", &free_udp_port().to_string(), &format!("127.0.0.1:{sip}")]);
    let ok = p.wait_timeout(Duration::from_secs(20)).expect("sipp ends");
    assert!(ok.success(), "CANCEL → 200, INVITE → 487: {}", std::fs::read_to_string(dir.path("cancel.log")).unwrap_or_default());
    let legs: Vec<LegInfo> = m.client().call(Op::LegList).unwrap();
    assert!(legs.is_empty(), "the cancelled call's leg is gone: {legs:?}");

    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let ask = |data: &[u8]| -> Option<String> {
        s.send_to(data, ("127.0.0.1", sip)).unwrap();
        let mut buf = [0u8; 4096];
        s.recv(&mut buf).ok().map(|n| String::from_utf8_lossy(&buf[..n]).to_string())
    };
    let bad_length = options("h1", 1).replace("Content-Length: 0", "Content-Length: 900");
    assert!(ask(bad_length.as_bytes()).is_some_and(|r| r.starts_with("SIP/2.0 400")), "bad Content-Length: 400");
    let wrong_cseq = options("h2", 1).replace("1 OPTIONS", "1 INVITE");
    assert!(ask(wrong_cseq.as_bytes()).is_some_and(|r| r.starts_with("SIP/2.0 400")), "CSeq of another method: 400");
    assert_eq!(ask(options("h3", 1).replace("Call-ID: h3\r\n", "").as_bytes()), None, "no Call-ID: dropped");
    assert_eq!(ask(&vec![b'A'; 70_000][..60_000]), None, "garbage: dropped");
    let huge = options("h4", 1).replace("Max-Forwards: 70", &format!("X-Pad: {}", "x".repeat(9000)));
    assert_eq!(ask(huge.as_bytes()), None, "a 9 kB header line: dropped");
    assert!(ask(options("h5", 1).as_bytes()).is_some_and(|r| r.starts_with("SIP/2.0 200")), "and signal still answers");
}

//! SIP calls into conferences through signal, media through mediad's audio MCU, with
//! sipp as the phones: dial-in with sipp's G.711 pcap as the voice and a second phone
//! echoing what it hears (`-rtp_echo`), the pcap's RFC 2833 digit read by mediad;
//! CANCEL before answer; malformed datagrams answered with 400 or dropped; the PIN
//! typed as RFC 2833 digits (and three wrong PINs ending the call); re-INVITE hold
//! and resume; BYE from signal's side through the API; events and CDRs read back.

use control::*;
use std::net::UdpSocket;
use std::time::{Duration, Instant};
use system_tests::sip::{api, baresip, baresip_conf, cdrs, events, media_port, options, signal_sip, sipp, sipp_ok, tone_wav, uac_digits, wait_event, wait_log};
use system_tests::{free_udp_port, Mediad, TempDir};
use serde_json::Value;

fn legs_in(c: &mut Client, room: &str) -> Vec<LegStats> {
    let st: Result<RoomStats, _> = c.call(Op::StatsRoom { room: room.into() });
    st.map(|s| s.legs).unwrap_or_default()
}

#[test]
fn sipp_dials_in_with_pcap_voice_and_an_echoing_phone_hears_the_mix() {
    let m = Mediad::start(2, "epoll", &[]);
    let sig = signal_sip(&m, &[]);
    let sip = sig.sip;
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

#[test]
fn sipp_cancels_before_answer_requires_100rel_and_hostile_datagrams_get_400_or_nothing() {
    let m = Mediad::start(1, "epoll", &[]);
    let sig = signal_sip(&m, &["--sip-answer-delay-ms", "3000"]);
    let sip = sig.sip;
    let dir = TempDir::new("sip-cancel");
    let xml = dir.path("cancel.xml");
    std::fs::write(&xml, include_str!("../sipp/uac_cancel.xml")).unwrap();
    let mut p = sipp(&dir, "cancel", &["-sf", xml.to_str().unwrap(), "-p", &free_udp_port().to_string(), &format!("127.0.0.1:{sip}")]);
    let ok = p.wait_timeout(Duration::from_secs(20)).expect("sipp ends");
    assert!(ok.success(), "CANCEL → 200, INVITE → 487: {}", std::fs::read_to_string(dir.path("cancel.log")).unwrap_or_default());
    let legs: Vec<LegInfo> = m.client().call(Op::LegList).unwrap();
    assert!(legs.is_empty(), "the cancelled call's leg is gone: {legs:?}");
    // A phone that requires 100rel: reliable 180, PRACK, then the answer.
    let xml = dir.path("100rel.xml");
    std::fs::write(&xml, include_str!("../sipp/uac_100rel.xml")).unwrap();
    let mut p = sipp(&dir, "100rel", &["-sf", xml.to_str().unwrap(), "-s", "0012345", "-p", &free_udp_port().to_string(), "-mp", &media_port(), &format!("127.0.0.1:{sip}")]);
    sipp_ok(&mut p, &dir, "100rel").expect("180 with RSeq, PRACK 200, INVITE 200, BYE");

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

fn of_call<'a>(evs: &'a [Value], call: &str) -> Vec<&'a Value> {
    evs.iter().filter(|e| e["call"] == call).collect()
}

/// The Call-ID of the only call whose CDR is still open.
fn active_call(http: u16) -> String {
    let (_, v) = api(http, "GET", "/api/v1/sip/calls", None);
    v["calls"][0]["call"].as_str().expect("a call in progress").to_string()
}

#[test]
fn pin_typed_as_rfc2833_digits_lets_in_and_three_wrong_pins_hang_up() {
    let m = Mediad::start(1, "epoll", &[]);
    let sig = signal_sip(&m, &["--pin", "777=4712"]);
    let dir = TempDir::new("sip-pin");
    let target = format!("127.0.0.1:{}", sig.sip);
    // Right PIN after listening to the prompt for 2 s (no `#`: complete is enough;
    // sipp replays fixed pcaps, so a key pressed twice in a row would be one RFC 4733
    // event), then stays 3 s and hangs up.
    let good = dir.path("good.xml");
    std::fs::write(&good, uac_digits(",4712", &include_str!("../sipp/end_our_bye.xml").replace("1500", "3000"))).unwrap();
    let mut g = sipp(&dir, "good", &["-sf", good.to_str().unwrap(), "-s", "00777", "-p", &free_udp_port().to_string(), "-mp", &media_port(), &target]);
    let e = wait_event(sig.http, Duration::from_secs(20), |e| e["event"] == "joined");
    let good_call = e["call"].as_str().unwrap().to_string();
    let legs: Vec<LegInfo> = m.client().call(Op::LegList).unwrap();
    assert!(legs.iter().any(|l| l.room.as_deref() == Some("777")), "the caller is in the conference now: {legs:?}");
    sipp_ok(&mut g, &dir, "good").unwrap();
    // Three wrong PINs (one of them a pause): the goodbye prompt, then our BYE.
    let bad = dir.path("bad.xml");
    std::fs::write(&bad, uac_digits("9#,12#,1#", include_str!("../sipp/end_their_bye.xml"))).unwrap();
    let mut b = sipp(&dir, "bad", &["-sf", bad.to_str().unwrap(), "-s", "00777", "-p", &free_udp_port().to_string(), "-mp", &media_port(), &target]);
    sipp_ok(&mut b, &dir, "bad").expect("signal hangs up after three wrong PINs");
    let evs = events(sig.http);
    let names = |call: &str| of_call(&evs, call).iter().map(|e| e["event"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(names(&good_call), ["trying", "ringing", "answered", "pin_requested", "joined", "ended"], "{evs:?}");
    let bad_call = evs.iter().find(|e| e["event"] == "pin_rejected").unwrap()["call"].as_str().unwrap().to_string();
    let tries: Vec<u64> = of_call(&evs, &bad_call).iter().filter(|e| e["event"] == "pin_rejected").map(|e| e["tries_left"].as_u64().unwrap()).collect();
    assert_eq!(tries, [2, 1, 0]);
    assert!(!evs.iter().any(|e| e["event"] == "dtmf"), "PIN digits are not published");
    let cdr = cdrs(sig.http);
    let cause = |call: &str| cdr.iter().find(|c| c["call"] == call).map(|c| c["cause"].clone());
    assert_eq!(cause(&good_call), Some(Value::from("remote BYE")));
    assert_eq!(cause(&bad_call), Some(Value::from("wrong PIN")));
    for c in &cdr {
        // Prompts reach the caller: 2 s of "enter the PIN" alone is 100 packets.
        assert!(c["qos"]["tx_packets"].as_u64().unwrap() > 100, "the caller heard the prompts: {c}");
        assert_eq!((c["direction"].as_str(), c["conference"].as_str(), c["codec"].as_str()), (Some("in"), Some("777"), Some("pcmu")));
    }
    assert!(m.client().call::<Vec<LegInfo>>(Op::LegList).unwrap().is_empty(), "no leg left behind");
}

#[test]
fn hold_and_resume_by_reinvite_and_bye_from_our_side() {
    let m = Mediad::start(1, "epoll", &[]);
    let sig = signal_sip(&m, &[]);
    let dir = TempDir::new("sip-hold");
    let target = format!("127.0.0.1:{}", sig.sip);
    let hold = dir.path("hold.xml");
    std::fs::write(&hold, include_str!("../sipp/uac_hold_resume.xml")).unwrap();
    let mut h = sipp(&dir, "hold", &["-sf", hold.to_str().unwrap(), "-s", "0012345", "-p", &free_udp_port().to_string(), "-mp", &media_port(), &target]);
    let held = wait_event(sig.http, Duration::from_secs(20), |e| e["event"] == "held" && e["held"] == true);
    let legs: Vec<LegInfo> = m.client().call(Op::LegList).unwrap();
    assert!(legs.iter().all(|l| l.muted), "a held phone is not mixed: {legs:?}");
    wait_event(sig.http, Duration::from_secs(20), |e| e["event"] == "held" && e["held"] == false && e["call"] == held["call"]);
    let legs: Vec<LegInfo> = m.client().call(Op::LegList).unwrap();
    assert!(legs.iter().all(|l| !l.muted), "resumed: mixed again: {legs:?}");
    sipp_ok(&mut h, &dir, "hold").unwrap();

    // A phone that stays until we hang it up through the API, behind a proxy that
    // Record-Routes (sipp plays it): the 200 carries the Record-Route, our BYE the Route
    // (sipp's check_it fails the call otherwise).
    let stay = dir.path("stay.xml");
    let proxied = uac_digits("", include_str!("../sipp/end_their_bye.xml"))
        .replacen("Max-Forwards: 70\n", "Max-Forwards: 70\nRecord-Route: <sip:[local_ip]:[local_port];lr;proxy=sipp>\n", 1)
        .replacen(
            "<recv response=\"200\" rtd=\"true\"/>",
            "<recv response=\"200\" rtd=\"true\"><action><ereg regexp=\"proxy=sipp\" search_in=\"hdr\" header=\"Record-Route:\" check_it=\"true\" assign_to=\"rr\"/></action></recv>",
            1,
        )
        .replacen(
            "<recv request=\"BYE\" timeout=\"60000\"/>",
            "<recv request=\"BYE\" timeout=\"60000\"><action><ereg regexp=\"proxy=sipp\" search_in=\"hdr\" header=\"Route:\" check_it=\"true\" assign_to=\"route\"/></action></recv>",
            1,
        )
        .replacen("</scenario>", "<Reference variables=\"rr,route\"/>\n</scenario>", 1);
    assert!(proxied.contains("Record-Route: <sip") && proxied.contains("header=\"Route:\""), "the scenario was rewritten");
    std::fs::write(&stay, proxied).unwrap();
    let mut s = sipp(&dir, "stay", &["-sf", stay.to_str().unwrap(), "-s", "0012345", "-p", &free_udp_port().to_string(), "-mp", &media_port(), &target]);
    wait_event(sig.http, Duration::from_secs(20), |e| e["event"] == "answered" && e["call"] != held["call"]);
    let call = active_call(sig.http);
    let path = format!("/api/v1/sip/calls/{}", call.replace('@', "%40"));
    assert_eq!(api(sig.http, "DELETE", &path, None).0, 200);
    sipp_ok(&mut s, &dir, "stay").expect("the phone gets our BYE and answers it");
    assert_eq!(api(sig.http, "DELETE", &path, None).0, 404, "gone");
    let cdr = cdrs(sig.http);
    let ours = cdr.iter().find(|c| c["call"] == call.as_str()).expect("a CDR");
    assert_eq!(ours["cause"], "hung up by the API");
    assert!(ours["duration_s"].as_f64().unwrap() > 0.0 && ours["answer_ms"].is_u64(), "{ours}");
    assert!(m.client().call::<Vec<LegInfo>>(Op::LegList).unwrap().is_empty());
}

#[test]
fn session_timer_below_min_se_gets_422_and_the_retry_names_the_phone_refresher() {
    let m = Mediad::start(1, "epoll", &[]);
    let sig = signal_sip(&m, &[]);
    let dir = TempDir::new("sip-timer");
    let xml = dir.path("timer.xml");
    std::fs::write(&xml, include_str!("../sipp/uac_session_timer.xml")).unwrap();
    let mut p = sipp(&dir, "timer", &["-sf", xml.to_str().unwrap(), "-s", "0012345", "-p", &free_udp_port().to_string(), "-mp", &media_port(), &format!("127.0.0.1:{}", sig.sip)]);
    sipp_ok(&mut p, &dir, "timer").expect("422 with Min-SE 90, then 200 with Session-Expires 90;refresher=uac and Require: timer");
    let (_, counters) = api(sig.http, "GET", "/api/v1/sip/counters", None);
    assert_eq!(counters["rejected"], 1, "the 422 is counted: {counters}");
    assert_eq!(cdrs(sig.http).len(), 1, "one call, not two");
}

#[test]
fn a_phone_over_tcp_is_answered_and_gets_our_bye_on_its_connection() {
    let m = Mediad::start(1, "epoll", &[]);
    let sig = signal_sip(&m, &[]);
    let dir = TempDir::new("sip-tcp");
    let xml = dir.path("tcp.xml");
    std::fs::write(&xml, uac_digits("1", include_str!("../sipp/end_their_bye.xml"))).unwrap();
    // -t t1: one TCP connection for the call; sipp's Via says TCP.
    // Its local port must be free for TCP too (a port free only for UDP failed once).
    let mut p = sipp(&dir, "tcp", &["-sf", xml.to_str().unwrap(), "-t", "t1", "-s", "0012345", "-p", &system_tests::free_udp_tcp_port().to_string(), "-mp", &media_port(), &format!("127.0.0.1:{}", sig.sip)]);
    let answered = wait_event(sig.http, Duration::from_secs(20), |e| e["event"] == "answered");
    let call = answered["call"].as_str().unwrap().to_string();
    wait_event(sig.http, Duration::from_secs(10), |e| e["event"] == "dtmf" && e["digit"] == "1");
    // sipp pauses 400 ms after a key before it waits for the BYE.
    std::thread::sleep(Duration::from_millis(800));
    let path = format!("/api/v1/sip/calls/{}", call.replace('@', "%40"));
    assert_eq!(api(sig.http, "DELETE", &path, None).0, 200);
    sipp_ok(&mut p, &dir, "tcp").expect("INVITE, 200, ACK over TCP; our BYE on the same connection");
    // A stream without Content-Length is closed, counted, and the service goes on.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", sig.sip)).unwrap();
    use std::io::{Read, Write};
    s.write_all(b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKt\r\n\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(s.read(&mut [0u8; 64]).unwrap_or(0), 0, "closed");
    let (_, counters) = api(sig.http, "GET", "/api/v1/sip/counters", None);
    assert!(counters["malformed"].as_u64().unwrap() >= 1, "{counters}");
}

/// sipp as Debian builds it has no TLS (nor SRTP); baresip (libre's TLS, libsrtp)
/// dials over TLS, verifies our certificate against the CA file it is given, and
/// requires SDES-SRTP (`mediaenc=srtp-mand`: RTP/SAVP with `a=crypto`). Its tone
/// reaches the room through our decryption; a tone mediad plays to its leg reaches
/// its recording through our encryption.
#[test]
fn baresip_over_tls_with_sdes_srtp_both_ways_and_our_bye_on_its_connection() {
    let m = Mediad::start(1, "epoll", &[]);
    let dir = TempDir::new("sip-tls");
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", "srv.key", "-out", "srv.crt"])
        .current_dir(&dir.0)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(made.success());
    let tls_port = system_tests::free_tcp_port();
    let (cert, key) = (dir.path("srv.crt"), dir.path("srv.key"));
    let sig = signal_sip(&m, &["--sip-tls", &format!("127.0.0.1:{tls_port}"), "--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()]);
    let (tone, prompt) = (dir.path("tone.wav"), dir.path("prompt.wav"));
    tone_wav(&tone, 660, 8000, 30, 1.0);
    tone_wav(&prompt, 1000, 8000, 30, 1.0);
    let listen = format!("127.0.0.1:{}", system_tests::free_tcp_port());
    let extra = format!("sip_cafile {}\nmodule srtp.so\n", cert.display());
    let conf = baresip_conf(&dir, &listen, &tone, &extra, "<sip:phone@127.0.0.1>;regint=0;audio_codecs=PCMU;mediaenc=srtp-mand");
    let log = dir.path("baresip.log");
    let phone = baresip(&conf, &["-e", &format!("/dial sip:0012345@127.0.0.1:{tls_port};transport=tls"), "-t", "30"], &log);
    let answered = wait_event(sig.http, Duration::from_secs(20), |e| e["event"] == "answered");
    let mut c = m.client();
    let leg = answered["leg"].as_u64().expect("the call's leg");
    let _: Value = c.call(Op::PromptPlay(PromptPlay { leg: Some(leg), room: None, file: prompt.display().to_string(), looping: true })).unwrap();
    std::thread::sleep(Duration::from_secs(4));
    let legs = legs_in(&mut c, "12345");
    assert!(legs.len() == 1 && legs[0].rx_packets > 100, "baresip's tone reaches the room: {legs:?}");
    let sdes = legs[0].sdes.as_ref().unwrap_or_else(|| panic!("an SDES leg: {:?}", legs[0]));
    // libre sends one RTCP APP "PING" in the clear when the stream starts: dropped.
    assert!(sdes.srtp_failures <= 1 && legs[0].expected >= 150, "every SRTP packet authenticated: {:?}", legs[0]);
    let audio = legs[0].audio.as_ref().expect("an MCU participant");
    assert!(audio.level_dbov > -30.0 && audio.decode_errors == 0, "the decrypted tone is heard, not noise: {audio:?}");
    let call = answered["call"].as_str().unwrap().to_string();
    assert_eq!(api(sig.http, "DELETE", &format!("/api/v1/sip/calls/{}", call.replace('@', "%40")), None).0, 200);
    // Our BYE over TLS ends baresip's call (its log says so), well before its own -t.
    let text = wait_log(&log, "terminated", Duration::from_secs(10));
    // Its recording is whole once the call is over; then it may go.
    std::thread::sleep(Duration::from_millis(500));
    phone.signal(libc::SIGTERM);
    assert!(text.contains("Call established") && text.contains("transport=tls") && text.contains("terminated"), "{text}");
    let dump = std::fs::read_dir(&dir.0).unwrap().filter_map(|e| e.ok()).map(|e| e.path()).find(|p| p.to_string_lossy().ends_with("-dec.wav"));
    let dump = dump.unwrap_or_else(|| panic!("baresip's sndfile wrote no recording: {text}"));
    let heard = system_tests::audio::wav_pcm(&dump, 8000);
    let share = system_tests::audio::tone_share(&heard, 8000, 1000.0);
    assert!(heard.len() > 8000 * 2 && share > 0.5, "baresip decrypted our prompt: 1 kHz share {share} of {} samples", heard.len());
    let cdr = cdrs(sig.http).into_iter().find(|c| c["call"] == call.as_str()).expect("a CDR");
    assert_eq!(cdr["cause"], "hung up by the API");
}

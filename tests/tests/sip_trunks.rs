//! SIP calls out and registration: a conference calls a number through a trunk whose
//! PBX is sipp (it challenges our REGISTER with 401 and our INVITE with 407, checks
//! both Digest answers, answers with PCMA and echoes media); room systems register
//! with Digest (sipp: 401, then its computed answer; a wrong password refused) and
//! are then called by name.

use control::*;
use serde_json::json;
use std::time::Duration;
use system_tests::sip::{api, baresip, baresip_conf, cdrs, media_port, signal_sip, sipp, sipp_ok, tone_wav, wait_event, wait_log};
use system_tests::{free_udp_port, Mediad, TempDir};

#[test]
fn a_number_through_a_trunk_that_challenges_register_and_invite() {
    let m = Mediad::start(1, "epoll", &[]);
    let dir = TempDir::new("sip-trunk");
    let pbx_port = free_udp_port();
    let trunks = dir.path("trunks.toml");
    std::fs::write(
        &trunks,
        format!(
            "[[trunk]]\nname = \"pbx\"\nhost = \"127.0.0.1:{pbx_port}\"\nuser = \"mediad\"\npassword = \"trunk-pw\"\nregister = \"before-call\"\n\
register_interval_s = 60\ncodecs = [\"g722\", \"pcma\", \"pcmu\"]\ncaller_id = \"+15550100\"\ndefault = true\n\
[[trunk.rewrite]]\npattern = \"8X{{10}}\"\nstrip = 1\nprefix = \"+7\"\n"
        ),
    )
    .unwrap();
    let xml = dir.path("pbx.xml");
    std::fs::write(&xml, include_str!("../sipp/uas_trunk.xml")).unwrap();
    let mut pbx = sipp(&dir, "pbx", &["-sf", xml.to_str().unwrap(), "-p", &pbx_port.to_string(), "-mp", &media_port(), "-rtp_echo", "-m", "2", "-trace_logs"]);
    std::thread::sleep(Duration::from_millis(300));
    let sig = signal_sip(&m, &["--sip-trunks", trunks.to_str().unwrap()]);
    let (code, v) = api(sig.http, "POST", "/api/v1/sip/calls", Some(&json!({"to": "84951234567", "conference": "4242"})));
    assert_eq!(code, 201, "{v}");
    let call = v["call"].as_str().unwrap().to_string();
    let answered = wait_event(sig.http, Duration::from_secs(20), |e| e["event"] == "answered" && e["call"] == call.as_str());
    assert_eq!(answered["codec"], "pcma", "the PBX's choice among the trunk's codecs");
    let trying = wait_event(sig.http, Duration::from_secs(1), |e| e["event"] == "trying" && e["call"] == call.as_str());
    assert_eq!(trying["to"], format!("sip:+74951234567@127.0.0.1:{pbx_port}"), "the number as the trunk's rule rewrites it");
    assert_eq!((trying["direction"].as_str(), trying["from"].as_str()), (Some("out"), Some("+15550100")));
    // A phone dials in and talks (sipp's G.711 pcap): the PBX hears the mix and
    // echoes it back into the room.
    std::os::unix::fs::symlink("/usr/share/sip-tester", dir.path("pcap")).unwrap();
    let target = format!("127.0.0.1:{}", sig.sip);
    let mut voice = sipp(&dir, "voice", &["-sn", "uac_pcap", "-s", "004242", "-p", &free_udp_port().to_string(), &target]);
    std::thread::sleep(Duration::from_secs(4));
    let room: RoomStats = m.client().call(Op::StatsRoom { room: "4242".into() }).unwrap();
    assert_eq!(room.legs.len(), 2);
    let l = room.legs.iter().find(|l| l.label.as_deref().is_some_and(|s| s.contains("+7495"))).expect("the PBX leg");
    assert!(l.tx_packets > 100 && l.rx_packets > 100, "mix out, echo in: {l:?}");
    assert_eq!(l.audio.as_ref().map(|a| a.decode_errors), Some(0), "the echo decodes as PCMA: {l:?}");
    // Hang up through the API: BYE to the PBX.
    let path = format!("/api/v1/sip/calls/{}", call.replace('@', "%40"));
    assert_eq!(api(sig.http, "DELETE", &path, None).0, 200);
    sipp_ok(&mut pbx, &dir, "pbx").expect("the PBX saw valid credentials twice and our BYE");
    sipp_ok(&mut voice, &dir, "voice").unwrap();
    check_proxy_authorization(&dir);
    let cdr = cdrs(sig.http).into_iter().find(|c| c["call"] == call.as_str()).expect("a CDR");
    assert_eq!((cdr["direction"].as_str(), cdr["codec"].as_str(), cdr["cause"].as_str()), (Some("out"), Some("pcma"), Some("hung up by the API")));
    // Refusals say why.
    let (code, v) = api(sig.http, "POST", "/api/v1/sip/calls", Some(&json!({"to": "123", "conference": "4242", "trunk": "nope"})));
    assert_eq!((code, v["error"].as_str().unwrap().contains("no trunk")), (409, true), "{v}");
    assert_eq!(api(sig.http, "POST", "/api/v1/sip/calls", Some(&json!({"conference": "4242"}))).0, 400);
}

fn md5(s: &str) -> String {
    let out = std::process::Command::new("md5sum").stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().and_then(|mut c| {
        use std::io::Write;
        c.stdin.take().unwrap().write_all(s.as_bytes())?;
        c.wait_with_output()
    });
    String::from_utf8_lossy(&out.unwrap().stdout).split_whitespace().next().unwrap().to_string()
}

/// sipp cannot verify Proxy-Authorization; recompute its Digest (RFC 2617 qop=auth,
/// MD5 from coreutils) from what the PBX logged.
fn check_proxy_authorization(dir: &TempDir) {
    let log = std::fs::read_dir(&dir.0).unwrap().filter_map(|e| e.ok()).find(|e| e.file_name().to_string_lossy().ends_with("_logs.log")).expect("sipp's log");
    let text = std::fs::read_to_string(log.path()).unwrap();
    let line = text.lines().find(|l| l.starts_with("Proxy-Authorization:")).unwrap_or_else(|| panic!("no Proxy-Authorization logged: {text}"));
    let p = |k: &str| -> String {
        let at = line.find(&format!("{k}=")).unwrap_or_else(|| panic!("{k} in {line}")) + k.len() + 1;
        let rest = &line[at..];
        match rest.strip_prefix('"') {
            Some(q) => q[..q.find('"').unwrap()].to_string(),
            None => rest.split([',', ' ']).next().unwrap().to_string(),
        }
    };
    assert_eq!((p("username"), p("realm"), p("nonce"), p("qop")), ("mediad".into(), "pbx".into(), "4e6f6e636554776f".into(), "auth".into()));
    let ha1 = md5("mediad:pbx:trunk-pw");
    let ha2 = md5(&format!("INVITE:{}", p("uri")));
    let want = md5(&format!("{ha1}:{}:{}:{}:auth:{ha2}", p("nonce"), p("nc"), p("cnonce")));
    assert_eq!(p("response"), want, "the 407 was answered with the trunk's credentials");
}

#[test]
fn a_room_system_registers_with_digest_and_is_called_by_name() {
    let m = Mediad::start(1, "epoll", &[]);
    let dir = TempDir::new("sip-registrar");
    // sipp answers the first challenge whatever its algorithm: MD5 first.
    let sig = signal_sip(&m, &["--sip-user", "room1=room1-secret", "--sip-digest", "md5,sha-256"]);
    let target = format!("127.0.0.1:{}", sig.sip);
    let device_port = free_udp_port();
    let device_xml = dir.path("device.xml");
    std::fs::write(&device_xml, include_str!("../sipp/uas_device.xml")).unwrap();
    let mut device = sipp(&dir, "device", &["-sf", device_xml.to_str().unwrap(), "-p", &device_port.to_string(), "-mp", &media_port(), "-rtp_echo"]);
    let reg_xml = dir.path("register.xml");
    std::fs::write(&reg_xml, include_str!("../sipp/uac_register.xml").replace("DEVICE_PORT", &device_port.to_string())).unwrap();
    // Wrong password first: refused, nothing bound.
    let mut wrong = sipp(&dir, "wrong", &["-sf", reg_xml.to_str().unwrap(), "-s", "room1", "-au", "room1", "-ap", "guess-again", "-p", &free_udp_port().to_string(), &target]);
    assert!(sipp_ok(&mut wrong, &dir, "wrong").is_err(), "a wrong password is not registered");
    assert_eq!(api(sig.http, "GET", "/api/v1/sip/registrations", None).1["registrations"], json!([]));
    let mut reg = sipp(&dir, "register", &["-sf", reg_xml.to_str().unwrap(), "-s", "room1", "-au", "room1", "-ap", "room1-secret", "-p", &free_udp_port().to_string(), &target]);
    sipp_ok(&mut reg, &dir, "register").expect("401, then 200 for the right password");
    let regs = api(sig.http, "GET", "/api/v1/sip/registrations", None).1;
    assert_eq!(regs["registrations"][0]["name"], "room1", "{regs}");
    assert_eq!(regs["registrations"][0]["address"], format!("127.0.0.1:{device_port}"), "its Contact: same address, no NAT");
    // Called by its name into a conference.
    let (code, v) = api(sig.http, "POST", "/api/v1/sip/calls", Some(&json!({"to": "room1", "conference": "5555"})));
    assert_eq!(code, 201, "{v}");
    let call = v["call"].as_str().unwrap().to_string();
    let answered = wait_event(sig.http, Duration::from_secs(20), |e| e["event"] == "answered" && e["call"] == call.as_str());
    assert_eq!(answered["codec"], "pcmu");
    let legs: Vec<LegInfo> = m.client().call(Op::LegList).unwrap();
    assert_eq!(legs.iter().filter(|l| l.room.as_deref() == Some("5555")).count(), 1);
    let path = format!("/api/v1/sip/calls/{}", call.replace('@', "%40"));
    assert_eq!(api(sig.http, "DELETE", &path, None).0, 200);
    sipp_ok(&mut device, &dir, "device").expect("the device was called and got our BYE");
    // An unknown name without a trunk is refused.
    let (code, v) = api(sig.http, "POST", "/api/v1/sip/calls", Some(&json!({"to": "room9", "conference": "5555"})));
    assert_eq!(code, 409, "{v}");
}

/// A softphone we did not write registers and is called by its name: baresip 1.0
/// (libre) answers Digest MD5 only, and gives up on a REGISTER whose 401 offers any
/// algorithm it lacks ("Function not implemented"), so this registrar challenges with
/// MD5 alone (`--sip-digest md5`). baresip answers by itself, its tone reaches the
/// room, our BYE ends the call, and its un-REGISTER (Contact `;expires=0` next to a
/// quoted `+sip.instance="<urn:..>"`) removes the binding.
#[test]
fn baresip_registers_and_is_called_by_name() {
    let m = Mediad::start(1, "epoll", &[]);
    let dir = TempDir::new("sip-baresip-reg");
    let sig = signal_sip(&m, &["--sip-user", "room2=room2-secret", "--sip-digest", "md5"]);
    let tone = dir.path("tone.wav");
    tone_wav(&tone, 660, 8000, 30, 1.0);
    let port = system_tests::free_tcp_port();
    let account = format!("<sip:room2@127.0.0.1:{}>;auth_pass=room2-secret;regint=60;answermode=auto;audio_codecs=PCMU", sig.sip);
    let conf = baresip_conf(&dir, &format!("127.0.0.1:{port}"), &tone, "", &account);
    let log = dir.path("baresip.log");
    let phone = baresip(&conf, &["-t", "40"], &log);
    let end = std::time::Instant::now() + Duration::from_secs(10);
    let regs = loop {
        let regs = api(sig.http, "GET", "/api/v1/sip/registrations", None).1;
        if regs["registrations"][0]["name"] == "room2" || std::time::Instant::now() > end {
            break regs;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(regs["registrations"][0]["name"], "room2", "{regs}\n{text}");
    assert_eq!(regs["registrations"][0]["address"], format!("127.0.0.1:{port}"), "its Contact");
    let left = regs["registrations"][0]["expires_s"].as_u64().unwrap_or(0);
    assert!((50..=60).contains(&left), "its asked 60 s granted, not more: {regs}");
    let (code, v) = api(sig.http, "POST", "/api/v1/sip/calls", Some(&json!({"to": "room2", "conference": "7777"})));
    assert_eq!(code, 201, "{v}");
    let call = v["call"].as_str().unwrap().to_string();
    wait_event(sig.http, Duration::from_secs(15), |e| e["event"] == "answered" && e["call"] == call.as_str());
    std::thread::sleep(Duration::from_secs(2));
    let legs: RoomStats = m.client().call(Op::StatsRoom { room: "7777".into() }).unwrap();
    assert!(legs.legs.len() == 1 && legs.legs[0].rx_packets > 50, "baresip's tone reaches the room: {legs:?}");
    let path = format!("/api/v1/sip/calls/{}", call.replace('@', "%40"));
    assert_eq!(api(sig.http, "DELETE", &path, None).0, 200);
    let text = wait_log(&log, "terminated", Duration::from_secs(10));
    assert!(text.contains("terminated"), "our BYE ended baresip's call: {text}");
    // On SIGTERM baresip un-registers (Expires 0): the binding goes.
    phone.signal(libc::SIGTERM);
    let end = std::time::Instant::now() + Duration::from_secs(5);
    while api(sig.http, "GET", "/api/v1/sip/registrations", None).1["registrations"] != json!([]) && std::time::Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(api(sig.http, "GET", "/api/v1/sip/registrations", None).1["registrations"], json!([]), "un-registered");
}

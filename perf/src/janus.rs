//! Janus (1.1, Debian's `janus`) as the SFU peer of `perf sfu`, forwarding without
//! ICE: each publisher is a VideoRoom *remote publisher* (plain RTP, or SRTP with SDES
//! keys, on a port Janus opens) and each subscriber an `rtp_forward` of that publisher
//! to the generator (SRTP with its own key). Janus's WebRTC subscribers would need a
//! full ICE agent on a non-loopback address (../shared/peers.md); the forwarders take
//! the same relay path inside the VideoRoom (per-receiver copy, SRTP protect, send),
//! without ICE consent and RTCP. RESULTS.md says which was measured.
//!
//! Janus runs with all its threads pinned to the SUT core (`taskset`), so packets per
//! second of CPU compare with mediad's one worker core.

use crate::load::SrtpFlow;
use crate::sut::{self, Setup, Sut};
use mediad::srtp::{MasterKey, SrtpContext, SrtpSession};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Janus's remote publishers take stream `mindex` on SSRC 1000 + 10 × mindex.
pub const PUBLISHER_SSRC: u32 = 1000;

struct Api {
    http: SocketAddr,
    session: u64,
    handle: u64,
}

/// One JSON POST to Janus's HTTP API.
pub(crate) fn post(http: SocketAddr, path: &str, body: &Value) -> Result<Value, String> {
    let body = body.to_string();
    let mut s = TcpStream::connect_timeout(&http, Duration::from_secs(2)).map_err(|e| format!("janus http: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    // HTTP/1.0: the reply comes whole, not chunked.
    let req = format!("POST {path} HTTP/1.0\r\nHost: {http}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).map_err(|e| e.to_string())?;
    let json = resp.split_once("\r\n\r\n").map(|x| x.1).ok_or("janus: no HTTP body")?;
    serde_json::from_str(json).map_err(|e| format!("janus reply {json:?}: {e}"))
}

impl Api {
    fn open(http: SocketAddr) -> Result<Api, String> {
        let r = post(http, "/janus", &json!({"janus": "create", "transaction": "c"}))?;
        let session = r["data"]["id"].as_u64().ok_or(format!("janus create: {r}"))?;
        let r = post(http, &format!("/janus/{session}"), &json!({"janus": "attach", "plugin": "janus.plugin.videoroom", "transaction": "a"}))?;
        let handle = r["data"]["id"].as_u64().ok_or(format!("janus attach: {r}"))?;
        Ok(Api { http, session, handle })
    }

    /// A synchronous VideoRoom request; its `plugindata.data`.
    fn videoroom(&self, body: Value) -> Result<Value, String> {
        let r = post(self.http, &format!("/janus/{}/{}", self.session, self.handle), &json!({"janus": "message", "transaction": "m", "body": body}))?;
        let data = r["plugindata"]["data"].clone();
        if data.get("error").is_some() || r["janus"] != "success" {
            return Err(format!("janus videoroom: {r}"));
        }
        Ok(data)
    }
}

fn random_key() -> ([u8; 30], String) {
    let mut k = [0u8; 30];
    openssl::rand::rand_bytes(&mut k).expect("openssl RNG");
    (k, openssl::base64::encode_block(&k))
}

fn session(k: &[u8; 30]) -> SrtpSession {
    let mut m = MasterKey { key: [0; 16], salt: [0; 14] };
    m.key.copy_from_slice(&k[..16]);
    m.salt.copy_from_slice(&k[16..]);
    SrtpSession::AesCm(Box::new(SrtpContext::new(&m)))
}

/// Every plugin Debian's Janus ships; all but the one measured are disabled.
const PLUGINS: &[&str] =
    &["audiobridge", "duktape", "echotest", "lua", "nosip", "recordplay", "sip", "streaming", "textroom", "videocall", "videoroom", "voicemail"];

/// Janus's configuration in `dir`: HTTP API on `http_port`, only `plugin` loaded, with
/// `plugin_general` as that plugin's `general` settings.
fn write_config(dir: &std::path::Path, http_port: u16, plugin: &str, plugin_general: &str) -> Result<(), String> {
    let lib = "/usr/lib/x86_64-linux-gnu/janus";
    let disabled: Vec<String> = PLUGINS.iter().filter(|p| **p != plugin).map(|p| format!("libjanus_{p}.so")).collect();
    let main = format!(
        "general: {{ configs_folder = \"{d}\" plugins_folder = \"{lib}/plugins\" transports_folder = \"{lib}/transports\" \
         events_folder = \"{lib}/events\" loggers_folder = \"{lib}/loggers\" debug_level = 2 }}\n\
         plugins: {{ disable = \"{disabled}\" }}\n\
         transports: {{ disable = \"libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_pfunix.so,libjanus_rabbitmq.so,libjanus_websockets.so\" }}\n\
         events: {{ broadcast = false }}\nloggers: {{ disable = \"libjanus_jsonlog.so\" }}\n\
         media: {{ rtp_port_range = \"31000-39999\" }}\nnat: {{ ice_lite = true }}\n",
        d = dir.display(),
        disabled = disabled.join(",")
    );
    let http = format!("general: {{ json = \"compact\" base_path = \"/janus\" http = true port = {http_port} ip = \"127.0.0.1\" https = false }}\nadmin: {{ admin_http = false }}\n");
    let plugin_cfg = format!("general: {{ {plugin_general} }}\n");
    for (name, text) in [("janus.jcfg".to_string(), main), ("janus.transport.http.jcfg".to_string(), http), (format!("janus.plugin.{plugin}.jcfg"), plugin_cfg)] {
        std::fs::write(dir.join(name), text).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Janus with only `plugin`, every thread pinned to `cpu`; returns it and its HTTP API.
pub(crate) fn start(cpu: usize, tag: &str, plugin: &str, plugin_general: &str) -> Result<(Sut, SocketAddr), String> {
    let dir = sut::scratch(tag);
    let http_port = 18_100 + (std::process::id() % 1600) as u16;
    write_config(&dir, http_port, plugin, plugin_general)?;
    let log = std::fs::File::create(dir.join("janus.log")).map_err(|e| e.to_string())?;
    let child = Command::new("taskset")
        .args(["-c", &cpu.to_string(), "janus", "-C"])
        .arg(dir.join("janus.jcfg"))
        .arg("-F")
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("janus: {e} (apt-get install janus)"))?;
    let sut = Sut::Process { child, dir };
    let http = SocketAddr::from(([127, 0, 0, 1], http_port));
    sut::wait_for(|| TcpStream::connect(http).is_ok(), "janus");
    Ok((sut, http))
}

/// Janus on `cpu` with `publishers` rooms of one remote publisher forwarded to `rx`
/// `fanout` times; SRTP both ways when `srtp`. Checked end to end before it is used.
pub fn setup(cpu: usize, tx: &UdpSocket, rx: &UdpSocket, publishers: usize, fanout: usize, srtp: bool) -> Result<Setup, String> {
    let (sut, http) = start(cpu, "janus", "videoroom", "")?;
    let api = Api::open(http)?;
    let rx_port = rx.local_addr().map_err(|e| e.to_string())?.port();
    let (mut dests, mut flows, mut subs) = (vec![], vec![], vec![]);
    for p in 0..publishers {
        let room = 1000 + p as u64;
        api.videoroom(json!({"request": "create", "room": room, "videocodec": "vp8", "publishers": 1}))?;
        let (pub_key, pub_b64) = random_key();
        let mut add = json!({"request": "add_remote_publisher", "room": room, "id": 1, "display": format!("perf{p}"),
            "streams": [{"type": "video", "mindex": 0, "mid": "0", "codec": "vp8"}]});
        let fwd_base = json!({"request": "rtp_forward", "room": room, "publisher_id": 1, "host": "127.0.0.1", "host_family": "ipv4"});
        if srtp {
            add["srtp_suite"] = json!(80);
            add["srtp_crypto"] = json!(pub_b64);
        }
        let port = api.videoroom(add)?["port"].as_u64().ok_or("janus: remote publisher without a port")? as u16;
        dests.push(SocketAddr::from(([127, 0, 0, 1], port)));
        flows.push(SrtpFlow { session: session(&pub_key), next_seq: 1 });
        for s in 0..fanout {
            let ssrc = 0x6000_0000 + (p * fanout + s) as u32;
            let (k, b64) = random_key();
            let mut fwd = fwd_base.clone();
            fwd["streams"] = json!([{"mid": "0", "port": rx_port, "ssrc": ssrc}]);
            if srtp {
                fwd["srtp_suite"] = json!(80);
                fwd["srtp_crypto"] = json!(b64);
            }
            api.videoroom(fwd)?;
            subs.push((ssrc, session(&k)));
        }
    }
    verify(tx, rx, &dests, &mut flows, &mut subs, srtp)?;
    let protect = srtp.then(|| RefCell::new(flows));
    Ok(Setup { sut, dests, flows: None, senders: vec![], protect, fixed_ssrc: Some(PUBLISHER_SSRC) })
}

/// Five packets per publisher; every forwarder's copy must arrive (and authenticate).
fn verify(tx: &UdpSocket, rx: &UdpSocket, dests: &[SocketAddr], flows: &mut [SrtpFlow], subs: &mut [(u32, SrtpSession)], srtp: bool) -> Result<(), String> {
    let mut buf = [0u8; 2048];
    while rx.recv_from(&mut buf).is_ok() {}
    for (f, dest) in dests.iter().enumerate() {
        for _ in 0..5 {
            let p = crate::sfu::probe_packet(&mut flows[f], PUBLISHER_SSRC, srtp)?;
            tx.send_to(&p, dest).map_err(|e| e.to_string())?;
        }
    }
    let (mut ok, mut bad) = (0usize, 0usize);
    let want = subs.len() * 5;
    let end = Instant::now() + Duration::from_secs(3);
    while ok + bad < want && Instant::now() < end {
        match rx.recv_from(&mut buf) {
            Ok((n, _)) if n >= 12 => {
                let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
                let Some((_, s)) = subs.iter_mut().find(|(x, _)| *x == ssrc) else { continue };
                match srtp {
                    true if s.unprotect_rtp(&mut buf[..n]).is_err() => bad += 1,
                    _ => ok += 1,
                }
            }
            Ok(_) => {}
            Err(_) => std::thread::sleep(Duration::from_micros(200)),
        }
    }
    if ok == want && bad == 0 {
        Ok(())
    } else {
        Err(format!("janus check: {ok} of {want} copies arrived{}, {bad} failed", if srtp { " authenticated" } else { "" }))
    }
}

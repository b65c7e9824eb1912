//! Janus AudioBridge (Debian's Janus 1.1) as the peer of `perf audio-mix`: one room
//! per group, every participant a *plain RTP* participant (`join` with `rtp`), all of
//! Janus pinned to the SUT core with taskset. AudioBridge decodes every participant,
//! mixes and encodes a mix-minus for each, on a mixer thread per room.

use crate::audio_mix::Opts;
use crate::janus::post;
use crate::sut::Sut;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

fn get(http: SocketAddr, path: &str) -> Result<Value, String> {
    let mut s = TcpStream::connect_timeout(&http, Duration::from_secs(2)).map_err(|e| format!("janus http: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(35))).ok();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {http}\r\n\r\n").as_bytes()).map_err(|e| e.to_string())?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).map_err(|e| e.to_string())?;
    let body = resp.split_once("\r\n\r\n").map(|x| x.1).ok_or("janus: no HTTP body")?;
    serde_json::from_str(body).map_err(|e| format!("janus reply {body:?}: {e}"))
}

/// Janus with `participants` plain-RTP participants in rooms of `room_size`, each
/// mixed back to `rx`; returns Janus and where each participant sends. AudioBridge
/// binds plain-RTP sockets to its `local_ip` (default: the host's first address, not
/// loopback), hence `local_ip` in its configuration.
fn setup(o: &Opts, rx: SocketAddr, participants: usize, room_size: usize) -> Result<(Sut, Vec<SocketAddr>), String> {
    let (sut, http) = crate::janus::start(o.sut_cpu, "janus-audio", "audiobridge", "rtp_port_range = \"40000-49999\" local_ip = \"127.0.0.1\"")?;
    let r = post(http, "/janus", &json!({"janus": "create", "transaction": "c"}))?;
    let session = r["data"]["id"].as_u64().ok_or(format!("janus create: {r}"))?;
    let attach = || -> Result<u64, String> {
        let r = post(http, &format!("/janus/{session}"), &json!({"janus": "attach", "plugin": "janus.plugin.audiobridge", "transaction": "a"}))?;
        r["data"]["id"].as_u64().ok_or(format!("janus attach: {r}"))
    };
    let admin = attach()?;
    let mut handles = Vec::new();
    for i in 0..participants {
        let room = 1000 + (i / room_size) as u64;
        if i % room_size == 0 {
            let r = post(
                http,
                &format!("/janus/{session}/{admin}"),
                &json!({"janus": "message", "transaction": "r", "body": {"request": "create", "room": room, "sampling_rate": 48000, "audiolevel_ext": true, "allow_rtp_participants": true}}),
            )?;
            if r["plugindata"]["data"]["audiobridge"] != "created" {
                return Err(format!("janus audiobridge create: {r}"));
            }
        }
        let h = attach()?;
        let body = json!({"request": "join", "room": room, "codec": "opus",
            "rtp": {"ip": "127.0.0.1", "port": rx.port(), "payload_type": 111, "audiolevel_ext": 1}});
        post(http, &format!("/janus/{session}/{h}"), &json!({"janus": "message", "transaction": format!("j{i}"), "body": body}))?;
        handles.push(h);
    }
    // The joins answer asynchronously: collect each handle's `joined` with its port.
    let mut ports = std::collections::HashMap::new();
    let end = Instant::now() + Duration::from_secs(60);
    while ports.len() < handles.len() && Instant::now() < end {
        let r = get(http, &format!("/janus/{session}?maxev=200"))?;
        let events = if r.is_array() { r.as_array().cloned().unwrap_or_default() } else { vec![r] };
        for e in events {
            let data = &e["plugindata"]["data"];
            if data["audiobridge"] == "joined" {
                if let (Some(h), Some(port)) = (e["sender"].as_u64(), data["rtp"]["port"].as_u64()) {
                    ports.insert(h, port as u16);
                }
            }
        }
    }
    if ports.len() < handles.len() {
        return Err(format!("janus: {} of {} participants joined", ports.len(), handles.len()));
    }
    let dests = handles.iter().map(|h| SocketAddr::from(([127, 0, 0, 1], ports[h]))).collect();
    Ok((sut, dests))
}

pub fn measure(o: &Opts, room_size: usize, participants: usize, rx: &UdpSocket, payload: &[u8]) -> Result<(usize, f64, f64, u64, bool), String> {
    let (sut, dests) = setup(o, rx.local_addr().unwrap(), participants, room_size)?;
    // Janus connects each participant's socket to the address given at join (`rx`),
    // so the kernel drops anything that does not come from there: send from `rx`.
    let (_, warm) = crate::audio_mix::drive(rx, rx, &dests, Duration::from_millis(600), payload, 0);
    let cpu0 = sut.cpu_seconds();
    let (got, rounds) = crate::audio_mix::drive(rx, rx, &dests, o.duration, payload, warm as u16);
    let cpu = (sut.cpu_seconds() - cpu0) / o.duration.as_secs_f64();
    let expected = (participants as u64 * rounds) as f64;
    let pass = got as f64 >= 0.99 * expected;
    eprintln!("  janus-audiobridge rooms of {room_size}: {participants} participants, {:.1} % of mixes delivered, {cpu:.2} cores", 100.0 * got as f64 / expected);
    Ok((participants, got as f64 / o.duration.as_secs_f64(), cpu, 0, pass))
}

//! Scenario `sfu`: WebRTC fan-out. P publishers each send SRTP video to their room,
//! N subscribers per room receive it, every leg through ICE and DTLS like a browser's,
//! so mediad unprotects once and protects once per subscriber. Measured beside the raw
//! recvmmsg→sendmmsg ceiling with the same fan-out and mediad's plain-RTP rooms (what
//! SRTP costs), on the same load, with the same capacity search as `relay`.
//!
//! Janus is the peer (`janus.rs`): VideoRoom remote publishers forwarded by
//! `rtp_forward`, plain or SRTP (AES-CM, the suite it supports there); its WebRTC
//! subscribers need ICE from a full agent on a non-loopback address, which this
//! generator does not speak. `mediad-srtp-cm` is mediad on the same SRTP suite.

use crate::load::SrtpFlow;
use crate::relay::{self, Opts};
use crate::report::Row;
use crate::sut::{self, Setup, Sut};
use crate::sys;
use crate::webrtc_client::{self, Identity};
use control::{Client, LegCreate, Media, StreamSpec};
use std::cell::RefCell;
use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub fn run(o: &Opts, progress: &indicatif::ProgressBar) -> (Vec<Row>, Option<f64>) {
    sys::pin(o.gen_cpu);
    let rx = sys::udp("127.0.0.1:0", 64 << 20);
    let tx = sys::udp("127.0.0.1:0", 16 << 20);
    let rx_addr = rx.local_addr().unwrap();
    let id = Identity::new();
    let id_cm = Identity::with_profiles("SRTP_AES128_CM_SHA1_80");
    let fanout = o.fanout;
    let publishers = (o.flows / fanout).max(1);
    let mut rows = vec![];
    for &size in &o.sizes {
        let case = format!("{publishers}×1→{fanout} {size}B");
        let setup_for = |system: &str| -> Result<Setup, String> {
            match system {
                "raw" => Ok(sut::raw(o.sut_cpu, rx_addr, fanout)),
                "mediad-plain" => Ok(sut::mediad(&o.mediad, &o.mediad_args, "epoll", o.sut_cpu, rx_addr, publishers, fanout)),
                "mediad-srtp" => mediad_sfu(o, &tx, &rx, publishers, fanout, &id).map(|(s, _)| s),
                "mediad-srtp-cm" => mediad_sfu(o, &tx, &rx, publishers, fanout, &id_cm).map(|(s, _)| s),
                "janus-plain" => crate::janus::setup(o.sut_cpu, &tx, &rx, publishers, fanout, false),
                "janus-srtp" => crate::janus::setup(o.sut_cpu, &tx, &rx, publishers, fanout, true),
                other => Err(format!("unknown system {other}")),
            }
        };
        let case = relay::Case { scenario: "sfu", name: &case, fanout, size, flows: publishers };
        rows.extend(relay::measure_systems(o, &case, &tx, &rx, &setup_for, progress));
    }
    let peer = if o.systems.iter().any(|s| s == "janus-srtp") { "janus-srtp" } else { "mediad-plain" };
    relay::ratios(&mut rows, peer);
    let per_sub = if o.systems.iter().any(|s| s == "mediad-srtp") { memory_per_subscriber(o, &tx, &rx, &id).ok() } else { None };
    (rows, per_sub)
}

/// Resident memory a connected subscriber costs mediad (ICE, DTLS, SRTP state, its
/// socket's share), in KiB: 200 subscribers of one publisher, RSS before and after.
fn memory_per_subscriber(o: &Opts, tx: &UdpSocket, rx: &UdpSocket, id: &Identity) -> Result<f64, String> {
    let n = 200;
    let ((_sut, sock), pid) = start(o)?;
    let (mut c, _) = Client::connect(&sock, "perf").map_err(|e| e.to_string())?;
    let (_, room, _) = publisher(&mut c, tx, id, 0)?;
    let before = crate::turn::rss_kb(pid);
    for s in 0..n {
        subscriber(&mut c, rx, id, &room, &format!("m{s}"))?;
    }
    std::thread::sleep(Duration::from_millis(200));
    let after = crate::turn::rss_kb(pid);
    Ok(after.saturating_sub(before) as f64 / n as f64)
}

/// mediad on the SUT core with a control connection; (process, socket path), pid.
fn start(o: &Opts) -> Result<((Sut, std::path::PathBuf), u32), String> {
    let dir = sut::scratch("mediad-sfu");
    let sock = dir.join("c.sock");
    let child = Command::new(&o.mediad)
        .args(["--workers", "1", "--cpus", &o.sut_cpu.to_string(), "--io", "epoll", "--metrics", "off", "--webrtc-ports", "30000-49999"])
        .arg("--control-socket")
        .arg(&sock)
        .args(&o.mediad_args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("start mediad: {e}"))?;
    let pid = child.id();
    sut::wait_for(|| Client::connect(&sock, "perf").is_ok(), "mediad");
    Ok(((Sut::Process { child, dir }, sock), pid))
}

fn addr(l: &control::LegInfo) -> SocketAddr {
    SocketAddr::new(l.local_ip, l.rtp_port)
}

/// A publisher leg in a new room `sfu<p>`, connected from `tx`.
fn publisher(c: &mut Client, tx: &UdpSocket, id: &Identity, p: usize) -> Result<(SrtpFlow, String, SocketAddr), String> {
    let room = format!("sfu{p}");
    c.room_create(Some(&room)).map_err(|e| e.to_string())?;
    let ufrag = format!("pub{p}");
    let leg = c
        .leg_create(LegCreate {
            room: Some(room.clone()),
            webrtc: Some(webrtc_client::remote(id, &ufrag)),
            streams: vec![StreamSpec { media: Media::Video, clock_rate: 90_000, payload_types: vec![96], audio_level_ext: None, rids: vec![], rid_ext: None, codec: Some("VP8".into()) }],
            sendonly: true,
            ..Default::default()
        })
        .map_err(|e| e.to_string())?;
    let keys = webrtc_client::connect(tx, addr(&leg), leg.webrtc.as_ref().ok_or("no WebRTC answer")?, &ufrag, id)?;
    Ok((SrtpFlow { session: keys.outbound, next_seq: 1 }, room, addr(&leg)))
}

/// A subscriber leg in `room`, connected from `rx`; its address and inbound keys.
fn subscriber(c: &mut Client, rx: &UdpSocket, id: &Identity, room: &str, ufrag: &str) -> Result<(SocketAddr, mediad::srtp::SrtpSession), String> {
    let leg = c.leg_create(LegCreate { room: Some(room.into()), webrtc: Some(webrtc_client::remote(id, ufrag)), ..Default::default() }).map_err(|e| e.to_string())?;
    let keys = webrtc_client::connect(rx, addr(&leg), leg.webrtc.as_ref().ok_or("no WebRTC answer")?, ufrag, id)?;
    Ok((addr(&leg), keys.inbound))
}

/// mediad with `publishers` rooms of 1→`fanout`, every leg connected; checked by
/// sending a few packets and authenticating every copy each subscriber gets.
fn mediad_sfu(o: &Opts, tx: &UdpSocket, rx: &UdpSocket, publishers: usize, fanout: usize, id: &Identity) -> Result<(Setup, u32), String> {
    let ((sut, sock), pid) = start(o)?;
    let (mut c, _) = Client::connect(&sock, "perf").map_err(|e| e.to_string())?;
    let (mut flows, mut dests, mut subs) = (vec![], vec![], vec![]);
    for p in 0..publishers {
        let (flow, room, dest) = publisher(&mut c, tx, id, p)?;
        flows.push(flow);
        dests.push(dest);
        for s in 0..fanout {
            subs.push(subscriber(&mut c, rx, id, &room, &format!("s{p}x{s}"))?);
        }
    }
    verify(tx, rx, &dests, &mut flows, &mut subs)?;
    let setup = Setup { sut, dests, flows: None, senders: vec![], protect: Some(RefCell::new(flows)), fixed_ssrc: None };
    Ok((setup, pid))
}

/// Five protected packets per publisher; every subscriber must authenticate its five.
fn verify(tx: &UdpSocket, rx: &UdpSocket, dests: &[SocketAddr], flows: &mut [SrtpFlow], subs: &mut [(SocketAddr, mediad::srtp::SrtpSession)]) -> Result<(), String> {
    for (f, dest) in dests.iter().enumerate() {
        for _ in 0..5 {
            let p = probe_packet(&mut flows[f], 0x5000_0000u32 + f as u32, true)?;
            tx.send_to(&p, dest).map_err(|e| e.to_string())?;
        }
    }
    let (mut ok, mut bad) = (0usize, 0usize);
    let want = subs.len() * 5;
    let end = Instant::now() + Duration::from_secs(2);
    let mut buf = [0u8; 2048];
    while ok + bad < want && Instant::now() < end {
        match rx.recv_from(&mut buf) {
            Ok((n, from)) => {
                if let Some((_, s)) = subs.iter_mut().find(|(a, _)| *a == from) {
                    if buf[0] >> 6 == 2 && (buf[1] & 0x7f) == 96 {
                        match s.unprotect_rtp(&mut buf[..n]) {
                            Ok(_) => ok += 1,
                            Err(_) => bad += 1,
                        }
                    }
                }
            }
            Err(_) => std::thread::sleep(Duration::from_micros(200)),
        }
    }
    if ok == want && bad == 0 {
        Ok(())
    } else {
        Err(format!("SRTP check: {ok} of {want} copies authenticated, {bad} failed"))
    }
}

/// A 200-byte RTP packet of `flow` (VP8 payload type, a keyframe's payload descriptor),
/// protected with its keys when `srtp`: what setups send to check every copy arrives.
pub(crate) fn probe_packet(flow: &mut SrtpFlow, ssrc: u32, srtp: bool) -> Result<Vec<u8>, String> {
    let mut p = vec![0u8; 200 + 16];
    p[0] = 0x80;
    p[1] = 96;
    p[2..4].copy_from_slice(&(flow.next_seq as u16).to_be_bytes());
    p[8..12].copy_from_slice(&ssrc.to_be_bytes());
    p[12..14].copy_from_slice(&[0x10, 0x00]);
    flow.next_seq += 1;
    let n = if srtp { flow.session.protect_rtp(&mut p, 200).map_err(|e| format!("{e:?}"))? } else { 200 };
    p.truncate(n);
    Ok(p)
}

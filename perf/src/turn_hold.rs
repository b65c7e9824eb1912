//! Scenario `turn-hold`: how many allocations one core holds, how fast it creates them
//! and what each costs in memory. Every client is its own 5-tuple: one wildcard socket
//! sends each client's requests from a distinct loopback source address (IP_PKTINFO),
//! so neither the file-descriptor limit nor the ephemeral port range bounds the count.
//! Requests are pipelined in batches: every client of a batch sends its Allocate,
//! answers its own 401 challenge, then the results are read. The run stops at the
//! target or at the first refusal (a port-per-allocation server runs out of ports).

use crate::relay::Opts;
use crate::turn::{rss_kb, spawn, PASS, USER};
use crate::{sut, sys};
use mediad::stun::message::{Builder, Class, Message};
use mediad::stun::{attr, method};
use mediad::turn::auth::long_term_key;
use std::fmt::Write;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

const BATCH: usize = 500;

#[derive(serde::Serialize)]
pub struct Held {
    pub scenario: &'static str,
    pub system: String,
    pub held: usize,
    /// What stopped the run short of the target (an error code), if anything.
    pub stopped_by: Option<String>,
    pub per_s: f64,
    pub kib_per_alloc: f64,
    /// The server's own count, where it can be asked (mediad's control socket).
    pub server_count: Option<u64>,
    /// The contract fields: headline = allocations held by one core.
    pub headline: f64,
    pub headline_unit: &'static str,
}

/// Client i's source address: 127.(3+a).b.c, one per client.
fn client_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 3 + (i / 62_500) as u8, ((i / 250) % 250) as u8, (i % 250 + 1) as u8)
}

/// Send `data` to `to` from `src` on a wildcard-bound socket.
fn send_from(sock: &UdpSocket, src: Ipv4Addr, to: SocketAddr, data: &[u8]) {
    let (mut dst, dlen) = sys::sockaddr(to);
    let mut iov = libc::iovec { iov_base: data.as_ptr() as *mut _, iov_len: data.len() };
    // SAFETY: a control buffer sized for one in_pktinfo, filled through the CMSG macros;
    // every pointer outlives the sendmsg call.
    unsafe {
        let space = libc::CMSG_SPACE(std::mem::size_of::<libc::in_pktinfo>() as u32) as usize;
        let mut control = vec![0u8; space];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = &mut dst as *mut _ as *mut _;
        msg.msg_namelen = dlen;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr() as *mut _;
        msg.msg_controllen = space;
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::IPPROTO_IP;
        (*c).cmsg_type = libc::IP_PKTINFO;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::in_pktinfo>() as u32) as _;
        let info = libc::in_pktinfo {
            ipi_ifindex: 0,
            ipi_spec_dst: libc::in_addr { s_addr: u32::from(src).to_be() },
            ipi_addr: libc::in_addr { s_addr: 0 },
        };
        std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut libc::in_pktinfo, info);
        libc::sendmsg(sock.as_raw_fd(), &msg, 0);
    }
}

fn request(buf: &mut [u8], txid: [u8; 12], auth: Option<(&[u8], &[u8], &[u8; 16])>) -> usize {
    let mut b = Builder::new(buf, Class::Request, method::ALLOCATE, txid).unwrap();
    b.add(attr::REQUESTED_TRANSPORT, &[17, 0, 0, 0]).unwrap();
    if let Some((realm, nonce, key)) = auth {
        b.add(attr::USERNAME, USER.as_bytes()).unwrap();
        b.add(attr::REALM, realm).unwrap();
        b.add(attr::NONCE, nonce).unwrap();
        b.add_integrity(key).unwrap();
    }
    b.len()
}

fn error_of(m: &Message<'_>) -> String {
    m.attr(attr::ERROR_CODE).and_then(attr::decode_error).map_or("refused".into(), |c| format!("error {c}"))
}

fn txid(client: usize, authenticated: bool) -> [u8; 12] {
    let mut t = [0u8; 12];
    t[3] = authenticated as u8;
    t[4..].copy_from_slice(&(client as u64).to_be_bytes());
    t
}

/// Allocate for clients `first..first+n`; returns how many succeeded and the first
/// failure. Answers are matched to clients by transaction id.
fn batch(sock: &UdpSocket, server: SocketAddr, first: usize, n: usize) -> (usize, Option<String>) {
    let mut buf = [0u8; 1500];
    let mut rbuf = [0u8; 1500];
    for i in first..first + n {
        let len = request(&mut buf, txid(i, false), None);
        send_from(sock, client_ip(i), server, &buf[..len]);
    }
    let mut key = None;
    let (mut ok, mut answered) = (0, 0);
    while answered < n {
        let len = match sock.recv(&mut rbuf) {
            Ok(len) => len,
            Err(e) => return (ok, Some(format!("no answer ({e})"))),
        };
        let Ok(m) = Message::parse(&rbuf[..len]) else { return (ok, Some("unparsable answer".into())) };
        let client = u64::from_be_bytes(m.txid[4..].try_into().unwrap()) as usize;
        if m.txid[3] == 1 {
            answered += 1;
            if m.class != Class::Success {
                return (ok, Some(error_of(&m)));
            }
            ok += 1;
            continue;
        }
        let (Some(realm), Some(nonce)) = (m.attr(attr::REALM), m.attr(attr::NONCE)) else { return (ok, Some(error_of(&m))) };
        let k = *key.get_or_insert_with(|| long_term_key(USER, std::str::from_utf8(realm).unwrap_or(""), PASS));
        let len = request(&mut buf, txid(client, true), Some((realm, nonce, &k)));
        send_from(sock, client_ip(client), server, &buf[..len]);
    }
    (ok, None)
}

pub fn run(o: &Opts, target: usize, progress: &indicatif::ProgressBar) -> Vec<Held> {
    sys::pin(o.gen_cpu);
    let mut out = vec![];
    for system in &o.systems {
        progress.set_message(format!("{system}: allocating"));
        let port = 33000 + (std::process::id() % 500) as u16 * 2;
        let dir = sut::scratch(&format!("turn-hold-{system}"));
        let child = match spawn(o, system, port, (49152, 65535), &dir) {
            Ok(c) => c,
            Err(e) => {
                progress.println(format!("skip {system}: {e}"));
                continue;
            }
        };
        let pid = child.id();
        let sut = sut::Sut::Process { child, dir: dir.clone() };
        let server = SocketAddr::from(([127, 0, 0, 1], port));
        // Ready once a Binding is answered.
        sut::wait_for(|| crate::turn_client::binding(server).is_ok(), system);
        let rss0 = rss_kb(pid);
        let t0 = Instant::now();
        // Listens on the wildcard only to receive for every client source address;
        // everything it sends goes to the loopback server.
        let sock = sys::udp("0.0.0.0:0", 16 << 20);
        sock.set_nonblocking(false).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let (mut held, mut stopped_by) = (0, None);
        while held < target && stopped_by.is_none() {
            let n = BATCH.min(target - held);
            let (ok, err) = batch(&sock, server, held, n);
            held += ok;
            stopped_by = err;
            progress.set_message(format!("{system}: {held} allocations"));
        }
        let secs = t0.elapsed().as_secs_f64();
        let kib_per_alloc = rss_kb(pid).saturating_sub(rss0) as f64 / held.max(1) as f64;
        // mediad publishes its per-core counters every 100 ms tick.
        std::thread::sleep(Duration::from_millis(300));
        let server_count = system.starts_with("mediad").then(|| {
            control::Client::connect(dir.join("c.sock"), "perf")
                .and_then(|(mut c, _)| c.daemon_stats())
                .map(|d| d.workers.iter().map(|w| w.turn.allocations).sum())
                .unwrap_or(0)
        });
        out.push(Held {
            scenario: "turn-hold",
            system: system.clone(),
            held,
            stopped_by,
            per_s: held as f64 / secs,
            kib_per_alloc,
            server_count,
            headline: held as f64,
            headline_unit: "allocations held by one core",
        });
        drop(sut);
        progress.inc(1);
    }
    out
}

pub fn markdown(rows: &[Held], target: usize) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "| system | allocations held (target {target}) | server's own count | stopped by | allocs/s | KiB/alloc (RSS) |");
    s.push_str("|---|---:|---:|---|---:|---:|\n");
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:.0} | {:.2} |",
            r.system,
            r.held,
            r.server_count.map_or("–".into(), |c| c.to_string()),
            r.stopped_by.clone().unwrap_or_else(|| "target reached".into()),
            r.per_s,
            r.kib_per_alloc
        );
    }
    s
}

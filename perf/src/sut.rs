//! Systems under test, each set up for `flows` flows of 1→`fanout` and pinned to the
//! SUT core: the raw recvmmsg→sendmmsg ceiling (a thread here), mediad (either
//! backend) and rtpengine in userspace mode (both as child processes).

use crate::ng::NgClient;
use crate::sys::{self, RecvBatch};
use control::{Client, LegCreate};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub enum Sut {
    Raw { stop: Arc<AtomicBool>, thread: Option<std::thread::JoinHandle<()>>, tid: i32 },
    Process { child: Child, dir: std::path::PathBuf },
}

pub struct Setup {
    pub sut: Sut,
    /// Where the generator sends flow i.
    pub dests: Vec<SocketAddr>,
    /// Flows with their own sockets and prefixes (TURN); None = all from the shared socket.
    pub flows: Option<Vec<crate::load::Flow>>,
    /// The sockets those flows send from.
    pub senders: Vec<std::net::UdpSocket>,
    /// SRTP per flow when the flows feed WebRTC legs.
    pub protect: Option<std::cell::RefCell<Vec<crate::load::SrtpFlow>>>,
    /// Every flow sends this SSRC (a system that derives streams from SSRCs: Janus).
    pub fixed_ssrc: Option<u32>,
}

impl Sut {
    pub fn cpu_seconds(&self) -> f64 {
        match self {
            Sut::Raw { tid, .. } => sys::thread_cpu(*tid),
            Sut::Process { child, .. } => sys::process_cpu(child.id() as i32),
        }
    }
}

impl Drop for Sut {
    fn drop(&mut self) {
        match self {
            Sut::Raw { stop, thread, .. } => {
                stop.store(true, Ordering::Relaxed);
                if let Some(t) = thread.take() {
                    let _ = t.join();
                }
            }
            Sut::Process { child, dir } => {
                stop_child(child);
                if std::env::var_os("PERF_KEEP").is_none() {
                    let _ = std::fs::remove_dir_all(dir);
                }
            }
        }
    }
}

/// mediad for the MCU scenarios: `workers` cores (pinned to `cpu` when given), the
/// whole port range as its RTP pool, no metrics; returns once its control socket
/// answers.
pub fn mediad_mcu(bin: &std::path::Path, sock: &std::path::Path, workers: usize, cpu: Option<usize>) -> Child {
    let mut c = Command::new(bin);
    c.args(["--workers", &workers.to_string(), "--metrics", "off", "--rtp-ports", "20000-59999"]);
    if let Some(cpu) = cpu {
        c.args(["--cpus", &cpu.to_string()]);
    }
    let child = c.arg("--control-socket").arg(sock).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start mediad");
    wait_for(|| Client::connect(sock, "perf").is_ok(), "mediad");
    child
}

/// SIGTERM, up to 3 s to exit, then SIGKILL; reaped either way.
pub fn stop_child(child: &mut Child) {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let end = Instant::now() + Duration::from_secs(3);
    while Instant::now() < end && matches!(child.try_wait(), Ok(None)) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

pub fn scratch(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("perf-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The ceiling: receive a batch, send every packet `fanout` times to `rx`, nothing else.
pub fn raw(cpu: usize, rx: SocketAddr, fanout: usize) -> Setup {
    let sock = sys::udp("127.0.0.1:0", 8 << 20);
    let addr = sock.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let s2 = stop.clone();
    let thread = std::thread::spawn(move || {
        sys::pin(cpu);
        tid_tx.send(sys::gettid()).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        sock.set_nonblocking(false).unwrap();
        let dest = sys::sockaddr(rx);
        let mut rb = RecvBatch::new(64);
        while !s2.load(Ordering::Relaxed) {
            let n = rb.recv(&sock, libc::MSG_WAITFORONE);
            let mut items = Vec::with_capacity(n * fanout);
            for i in 0..n {
                for _ in 0..fanout {
                    items.push((&rb.bufs[i][..rb.lens[i]], &dest));
                }
            }
            if !items.is_empty() {
                sys::send_batch(&sock, &items, false);
            }
        }
    });
    let tid = tid_rx.recv().unwrap();
    Setup { sut: Sut::Raw { stop, thread: Some(thread), tid }, dests: vec![addr], flows: None, senders: vec![], protect: None, fixed_ssrc: None }
}

pub fn wait_for(mut ok: impl FnMut() -> bool, what: &str) {
    let end = Instant::now() + Duration::from_secs(10);
    while !ok() {
        assert!(Instant::now() < end, "{what} did not come up");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn mediad(bin: &std::path::Path, extra: &[String], io: &str, cpu: usize, rx: SocketAddr, flows: usize, fanout: usize) -> Setup {
    let dir = scratch(&format!("mediad-{io}"));
    let sock = dir.join("c.sock");
    let child = Command::new(bin)
        .args(["--workers", "1", "--cpus", &cpu.to_string(), "--io", io, "--metrics", "off", "--rtp-ports", "30000-49999"])
        .arg("--control-socket")
        .arg(&sock)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mediad");
    wait_for(|| Client::connect(&sock, "perf").is_ok(), "mediad");
    let (mut c, _) = Client::connect(&sock, "perf").unwrap();
    let mut dests = vec![];
    for f in 0..flows {
        let room = format!("f{f}");
        c.room_create(Some(&room)).unwrap();
        let src = c.leg_create(LegCreate { room: Some(room.clone()), rtcp_mux: true, ..Default::default() }).unwrap();
        dests.push(SocketAddr::new(src.local_ip, src.rtp_port));
        for _ in 0..fanout {
            c.leg_create(LegCreate { room: Some(room.clone()), rtcp_mux: true, remote: Some(rx), ..Default::default() }).unwrap();
        }
    }
    Setup { sut: Sut::Process { child, dir }, dests, flows: None, senders: vec![], protect: None, fixed_ssrc: None }
}

/// rtpengine userspace relay: one offer/answer call per flow, A (the generator's send
/// socket) to B (its receive socket). It relays 1:1 only.
pub fn rtpengine(cpu: usize, tx: SocketAddr, rx: SocketAddr, flows: usize) -> Result<Setup, String> {
    let dir = scratch("rtpengine");
    let ng_port = 22230 + (std::process::id() % 1000) as u16;
    let child = Command::new("taskset")
        .args(["-c", &cpu.to_string(), "rtpengine", "--config-file=none", "--table=-1", "--interface=127.0.0.1"])
        .arg(format!("--listen-ng=127.0.0.1:{ng_port}"))
        .args(["--port-min=40000", "--port-max=44999", "--foreground", "--log-stderr", "--log-level=3", "--num-threads=1"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("rtpengine.log")).unwrap())
        .spawn()
        .map_err(|e| format!("rtpengine: {e} (apt-get install rtpengine-daemon)"))?;
    let sut = Sut::Process { child, dir };
    let ng = NgClient::new(SocketAddr::from(([127, 0, 0, 1], ng_port)));
    wait_for(|| ng.ping().is_ok(), "rtpengine");
    let mut dests = vec![];
    for f in 0..flows {
        let call = format!("perf-{f}");
        let sdp = |a: SocketAddr| {
            format!(
                "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\na=sendrecv\r\n",
                ip = a.ip(),
                port = a.port()
            )
        };
        ng.offer(&call, "a", &sdp(tx))?;
        let answer = ng.answer(&call, "a", "b", &sdp(rx))?;
        dests.push(SocketAddr::new([127, 0, 0, 1].into(), sdp_port(&answer).ok_or("no port in answer")?));
    }
    Ok(Setup { sut, dests, flows: None, senders: vec![], protect: None, fixed_ssrc: None })
}

fn sdp_port(sdp: &str) -> Option<u16> {
    sdp.lines().find(|l| l.starts_with("m=audio"))?.split_whitespace().nth(1)?.parse().ok()
}


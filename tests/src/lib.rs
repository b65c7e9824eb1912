//! Harness for system tests: start the real mediad binary on a private control
//! socket and port range, drive it over the control protocol, run real peers, and
//! stop everything by PID when the test ends (also on panic, through Drop).

use control::Client;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub mod peers;
pub mod sip;

/// Binaries built by `cargo build --workspace --bins` next to the test executable.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test exe path");
    let dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps");
    let p = dir.join(name);
    assert!(p.exists(), "{} not built: run `cargo build --workspace --bins` before the tests (scripts/test.sh does)", p.display());
    p
}

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);
impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!("mediad-test-{tag}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed (SIGTERM, then SIGKILL) and reaped on drop.
pub struct Proc {
    pub child: Child,
    pub name: String,
}
impl Proc {
    pub fn spawn(name: &str, cmd: &mut Command) -> Proc {
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {name}: {e} (is it installed? scripts/setup.sh installs the peers)"));
        Proc { child, name: name.into() }
    }
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
    pub fn signal(&self, sig: i32) {
        // SAFETY: signalling our own child by PID.
        unsafe { libc::kill(self.pid(), sig) };
    }
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
    /// Wait up to `limit` for exit; kill it if it does not.
    pub fn wait_timeout(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}
impl Drop for Proc {
    fn drop(&mut self) {
        if self.alive() {
            self.signal(libc::SIGTERM);
            if self.wait_timeout(Duration::from_secs(3)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

/// Port blocks for parallel tests: each daemon gets its own 200-port slice; a port
/// another process holds is skipped by mediad, so an overlap costs nothing. The blocks
/// stay below the kernel's ephemeral range (32768+) so a daemon never takes a port that
/// `free_udp_port` just handed to a peer.
pub fn port_block() -> (u16, u16) {
    static N: AtomicU32 = AtomicU32::new(0);
    let slot = (std::process::id() * 7 + N.fetch_add(1, Ordering::Relaxed) * 13) % 63;
    let min = 20000 + slot as u16 * 200;
    (min, min + 199)
}

/// Free UDP port for a peer (bound then released; the kernel picks it).
pub fn free_udp_port() -> u16 {
    loop {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let p = s.local_addr().unwrap().port();
        // Even ports so peers that use p+1 for RTCP get a pair.
        if p.is_multiple_of(2) && std::net::UdpSocket::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
}

/// A port free for both UDP and TCP on loopback (TURN listens on both).
pub fn free_udp_tcp_port() -> u16 {
    loop {
        let p = free_udp_port();
        if std::net::TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
}

/// A free TCP port on loopback.
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub mod audio;
pub mod browsers;
pub mod video;
pub mod netns;
pub use netns::Netns;

pub struct Mediad {
    pub proc: Proc,
    pub socket: PathBuf,
    pub ports: (u16, u16),
    pub dir: TempDir,
}

impl Mediad {
    pub fn start(workers: usize, io: &str, extra: &[&str]) -> Mediad {
        Self::start_in(None, workers, io, extra)
    }

    /// Start it inside network namespace `netns` (its control socket stays reachable:
    /// Unix sockets live in the file system, not in the namespace).
    pub fn start_in(netns: Option<&Netns>, workers: usize, io: &str, extra: &[&str]) -> Mediad {
        let dir = TempDir::new("mediad");
        let socket = dir.path("control.sock");
        let ports = port_block();
        let log = std::fs::File::create(dir.path("mediad.log")).unwrap();
        // Defaults for a test daemon; a flag the test passes itself wins.
        let range = format!("{}-{}", ports.0, ports.1);
        let defaults = [("--metrics", "off"), ("--rtp-ports", range.as_str())];
        let mut args: Vec<String> = vec!["--workers".into(), workers.to_string(), "--io".into(), io.into(), "--no-pin".into()];
        for (flag, value) in defaults {
            if !extra.contains(&flag) {
                args.extend([flag.to_string(), value.to_string()]);
            }
        }
        let mut cmd = match netns {
            Some(ns) => ns.command(bin("mediad")),
            None => Command::new(bin("mediad")),
        };
        let proc = Proc::spawn(
            "mediad",
            cmd.args(&args)
                .arg("--control-socket")
                .arg(&socket)
                .args(extra)
                .stdout(Stdio::null())
                .stderr(log),
        );
        let m = Mediad { proc, socket, ports, dir };
        let end = Instant::now() + Duration::from_secs(10);
        while Client::connect(&m.socket, "probe").is_err() {
            assert!(Instant::now() < end, "mediad did not open its control socket:\n{}", m.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        m
    }

    pub fn client(&self) -> Client {
        Client::connect(&self.socket, "system-test").expect("connect").0
    }

    pub fn proc_alive(&mut self) -> bool {
        self.proc.alive()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path("mediad.log")).unwrap_or_default()
    }
}

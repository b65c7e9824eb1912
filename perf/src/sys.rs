//! Small OS helpers: monotonic nanoseconds, CPU pinning, CPU time of a process or
//! thread, batched UDP send/receive for the generator and the raw ceiling.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

pub fn now_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: CLOCK_MONOTONIC into a local timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

pub fn pin(cpu: usize) {
    // SAFETY: plain affinity call for the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

pub fn gettid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as f64 }
}

/// utime+stime in seconds from a /proc stat file (fields 14 and 15).
fn stat_cpu(path: &str) -> Option<f64> {
    let s = std::fs::read_to_string(path).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ut: f64 = f.get(11)?.parse().ok()?;
    let st: f64 = f.get(12)?.parse().ok()?;
    Some((ut + st) / ticks_per_sec())
}

/// CPU seconds used so far by a whole process (all threads).
pub fn process_cpu(pid: i32) -> f64 {
    stat_cpu(&format!("/proc/{pid}/stat")).unwrap_or(0.0)
}

/// CPU seconds used so far by one thread of this process.
pub fn thread_cpu(tid: i32) -> f64 {
    stat_cpu(&format!("/proc/self/task/{tid}/stat")).unwrap_or(0.0)
}

pub fn udp(addr: &str, buf: usize) -> UdpSocket {
    let a: SocketAddr = addr.parse().unwrap();
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    let _ = s.set_recv_buffer_size(buf);
    let _ = s.set_send_buffer_size(buf);
    let v: libc::c_int = buf as _;
    // SAFETY: int socket options on our socket; FORCE variants need root, else ignored.
    unsafe {
        libc::setsockopt(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &v as *const _ as *const _, 4);
        libc::setsockopt(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, &v as *const _ as *const _, 4);
    }
    s.bind(&a.into()).unwrap();
    s.set_nonblocking(true).unwrap();
    s.into()
}

pub fn sockaddr(a: SocketAddr) -> (libc::sockaddr_in, libc::socklen_t) {
    let SocketAddr::V4(v4) = a else { panic!("perf runs on IPv4 loopback") };
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as _,
        sin_port: v4.port().to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(v4.ip().octets()) },
        sin_zero: [0; 8],
    };
    (sin, std::mem::size_of::<libc::sockaddr_in>() as _)
}

/// Batched receive into `bufs`; returns (count, lengths). Non-blocking.
pub struct RecvBatch {
    pub bufs: Vec<[u8; 2048]>,
    pub lens: Vec<usize>,
    iovs: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
}

// SAFETY: the raw pointers are rebuilt before each call and never shared.
unsafe impl Send for RecvBatch {}

impl RecvBatch {
    pub fn new(n: usize) -> Self {
        RecvBatch {
            bufs: vec![[0u8; 2048]; n],
            lens: vec![0; n],
            iovs: vec![libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; n],
            // SAFETY: zeroed mmsghdr is a valid empty value.
            msgs: vec![unsafe { std::mem::zeroed() }; n],
        }
    }

    pub fn recv(&mut self, s: &UdpSocket, flags: i32) -> usize {
        let n = self.bufs.len();
        for i in 0..n {
            self.iovs[i] = libc::iovec { iov_base: self.bufs[i].as_mut_ptr() as *mut _, iov_len: 2048 };
            self.msgs[i].msg_hdr.msg_iov = &mut self.iovs[i];
            self.msgs[i].msg_hdr.msg_iovlen = 1;
            self.msgs[i].msg_hdr.msg_name = std::ptr::null_mut();
            self.msgs[i].msg_hdr.msg_namelen = 0;
        }
        // SAFETY: arrays sized n, alive for the call.
        let r = unsafe { libc::recvmmsg(s.as_raw_fd(), self.msgs.as_mut_ptr(), n as u32, flags, std::ptr::null_mut()) };
        if r <= 0 {
            return 0;
        }
        for i in 0..r as usize {
            self.lens[i] = self.msgs[i].msg_len as usize;
        }
        r as usize
    }
}

/// Send `payloads[i]` to `dests[i]` in one sendmmsg; returns how many went out.
/// Send `items` with sendmmsg; returns how many datagrams went out. With `gso`, runs of
/// same-size datagrams to one destination go as one UDP GSO message (the generator's
/// own ceiling rises for bursty loads; receivers still see separate datagrams).
pub fn send_batch(s: &UdpSocket, items: &[(&[u8], &(libc::sockaddr_in, libc::socklen_t))], gso: bool) -> usize {
    let iovs: Vec<libc::iovec> =
        items.iter().map(|(p, _)| libc::iovec { iov_base: p.as_ptr() as *mut _, iov_len: p.len() }).collect();
    // Runs: (first item, count).
    let mut runs: Vec<(usize, usize)> = Vec::with_capacity(items.len());
    let mut i = 0;
    while i < items.len() {
        let mut n = 1;
        while gso
            && i + n < items.len()
            && n < 64
            && items[i + n].0.len() == items[i].0.len()
            && (n + 1) * items[i].0.len() <= 65_000
            && std::ptr::eq(items[i + n].1, items[i].1)
        {
            n += 1;
        }
        runs.push((i, n));
        i += n;
    }
    let mut cmsgs = vec![[0u64; 4]; runs.len()];
    let mut msgs: Vec<libc::mmsghdr> = Vec::with_capacity(runs.len());
    for (k, &(first, n)) in runs.iter().enumerate() {
        let a = items[first].1;
        // SAFETY: zeroed header then filled; every pointer (address, iovecs, control
        // buffer) outlives the sendmmsg below.
        let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
        m.msg_hdr.msg_name = &a.0 as *const _ as *mut _;
        m.msg_hdr.msg_namelen = a.1;
        m.msg_hdr.msg_iov = iovs[first..].as_ptr() as *mut _;
        m.msg_hdr.msg_iovlen = n;
        if n > 1 {
            unsafe {
                let space = libc::CMSG_SPACE(2) as usize;
                m.msg_hdr.msg_control = cmsgs[k].as_mut_ptr() as *mut _;
                m.msg_hdr.msg_controllen = space;
                let c = libc::CMSG_FIRSTHDR(&m.msg_hdr);
                (*c).cmsg_level = libc::SOL_UDP;
                (*c).cmsg_type = libc::UDP_SEGMENT;
                (*c).cmsg_len = libc::CMSG_LEN(2) as _;
                std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut u16, items[first].0.len() as u16);
            }
        }
        msgs.push(m);
    }
    let (mut done, mut sent) = (0, 0);
    while done < msgs.len() {
        // SAFETY: as above.
        let r = unsafe { libc::sendmmsg(s.as_raw_fd(), msgs.as_mut_ptr().add(done), (msgs.len() - done) as u32, 0) };
        if r <= 0 {
            break;
        }
        sent += runs[done..done + r as usize].iter().map(|r| r.1).sum::<usize>();
        done += r as usize;
    }
    sent
}

/// Send each of `packets` to the matching address, in sendmmsg batches of 64; what
/// the socket refuses (buffer full) is dropped.
pub fn send_all(tx: &UdpSocket, packets: &[Vec<u8>], addrs: &[(libc::sockaddr_in, libc::socklen_t)]) {
    for (ps, ads) in packets.chunks(64).zip(addrs.chunks(64)) {
        let items: Vec<_> = ps.iter().zip(ads).map(|(p, a)| (&p[..], a)).collect();
        let mut sent = 0;
        while sent < items.len() {
            let n = send_batch(tx, &items[sent..], false);
            if n == 0 {
                break;
            }
            sent += n;
        }
    }
}

/// Every 20 ms for `duration`: `stamp` the packets for round `tick`, send them to
/// `addrs`; between rounds, and for `drain` after the last, every batch received on
/// `rx` goes to `got`. Returns the rounds sent.
#[allow(clippy::too_many_arguments)]
pub fn paced_rounds(
    tx: &UdpSocket,
    rx: &UdpSocket,
    packets: &mut [Vec<u8>],
    addrs: &[(libc::sockaddr_in, libc::socklen_t)],
    duration: std::time::Duration,
    drain: std::time::Duration,
    mut stamp: impl FnMut(&mut [Vec<u8>], u64),
    mut got: impl FnMut(&RecvBatch, usize),
) -> u64 {
    use std::time::{Duration, Instant};
    let mut rb = RecvBatch::new(64);
    let start = Instant::now();
    let mut tick = 0u64;
    while start.elapsed() < duration {
        let due = start + Duration::from_millis(20 * tick);
        while Instant::now() < due {
            let n = rb.recv(rx, libc::MSG_DONTWAIT);
            got(&rb, n);
            if n == 0 {
                std::thread::sleep(Duration::from_micros(300));
            }
        }
        stamp(packets, tick);
        send_all(tx, packets, addrs);
        tick += 1;
    }
    let end = Instant::now() + drain;
    while Instant::now() < end {
        let n = rb.recv(rx, libc::MSG_DONTWAIT);
        got(&rb, n);
        std::thread::sleep(Duration::from_micros(500));
    }
    tick
}

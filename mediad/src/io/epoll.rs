//! epoll backend: mio readiness (edge-triggered), recvmmsg for up to BATCH datagrams
//! per call, sendmmsg per socket with UDP GSO for same-size runs.

use super::gso::{self, Group};
use super::{Backend, RawAddr, SendItem};
use crate::engine::buffers::BUF_SIZE;
use crate::engine::counters::add;
use crate::engine::mesh::Wake;
use crate::engine::Engine;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use std::io;
use std::net::UdpSocket;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const BATCH: usize = 64;
const WAKE_TOKEN: Token = Token(usize::MAX);
const STREAMS_TOKEN: Token = Token(usize::MAX - 1);

struct MioWaker(Waker);
impl Wake for MioWaker {
    fn wake(&self) {
        let _ = self.0.wake();
    }
}

pub struct Epoll {
    poll: Poll,
    events: Events,
    ready: Vec<usize>,
    fds: Vec<RawFd>,
    bufs: Vec<[u8; BUF_SIZE]>,
    names: Vec<RawAddr>,
    iovs: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
    // send side scratch, reused every flush
    order: Vec<u32>,
    groups: Vec<Group>,
    send_iovs: Vec<libc::iovec>,
    send_msgs: Vec<libc::mmsghdr>,
    cmsgs: Vec<[u8; 32]>,
    gso: bool,
}

// SAFETY: the raw pointers in the scratch vectors are rebuilt before every use and
// never shared; the backend moves into its worker thread once and stays there.
unsafe impl Send for Epoll {}

impl Epoll {
    pub fn new(gso: bool) -> io::Result<(Self, Arc<dyn Wake>)> {
        let poll = Poll::new()?;
        let waker: Arc<dyn Wake> = Arc::new(MioWaker(Waker::new(poll.registry(), WAKE_TOKEN)?));
        // SAFETY: zeroed iovec/mmsghdr/sockaddr are valid "empty" values for libc.
        let zero_msg: libc::mmsghdr = unsafe { std::mem::zeroed() };
        let zero_iov = libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 };
        Ok((
            Epoll {
                poll,
                events: Events::with_capacity(1024),
                ready: Vec::new(),
                fds: Vec::new(),
                bufs: vec![[0u8; BUF_SIZE]; BATCH],
                names: vec![RawAddr::empty(); BATCH],
                iovs: vec![zero_iov; BATCH],
                msgs: vec![zero_msg; BATCH],
                order: Vec::new(),
                groups: Vec::new(),
                send_iovs: Vec::new(),
                send_msgs: Vec::new(),
                cmsgs: Vec::new(),
                gso,
            },
            waker,
        ))
    }

    /// Read and process every queued datagram of one socket.
    fn drain(&mut self, engine: &mut Engine, token: u32, fd: RawFd) {
        loop {
            for i in 0..BATCH {
                self.iovs[i] = libc::iovec { iov_base: self.bufs[i].as_mut_ptr() as *mut _, iov_len: BUF_SIZE };
                let h = &mut self.msgs[i].msg_hdr;
                h.msg_name = &mut self.names[i].storage as *mut _ as *mut libc::c_void;
                h.msg_namelen = std::mem::size_of::<libc::sockaddr_in6>() as _;
                h.msg_iov = &mut self.iovs[i];
                h.msg_iovlen = 1;
                h.msg_control = std::ptr::null_mut();
                h.msg_controllen = 0;
                h.msg_flags = 0;
            }
            // SAFETY: msgs/iovs/names/bufs are sized BATCH and outlive the call.
            let n = unsafe { libc::recvmmsg(fd, self.msgs.as_mut_ptr(), BATCH as u32, libc::MSG_DONTWAIT, std::ptr::null_mut()) };
            if n <= 0 {
                return; // EAGAIN (drained) or an error the next event will report again
            }
            engine.now = Instant::now();
            add(&engine.counters.rx_batches, 1);
            let n = n as usize;
            for i in 0..n {
                let len = self.msgs[i].msg_len as usize;
                if self.msgs[i].msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                    // Larger than any media datagram we accept.
                    engine.on_oversize(token);
                    continue;
                }
                let name = self.names[i];
                let hold = engine.transient;
                engine.on_packet(token, &name, &mut self.bufs[i][..len], hold);
            }
            // Buffers are reused by the next recvmmsg: send what points into them now.
            self.flush(engine);
            if n < BATCH {
                // Edge-triggered epoll reports every new arrival, so a short batch
                // means the queue was empty: skip the extra EAGAIN syscall.
                return;
            }
        }
    }

    fn send_groups(&mut self, engine: &mut Engine) {
        let items = &engine.outbox;
        gso::plan(items, self.gso, &mut self.order, &mut self.groups);
        let mut g = 0;
        while g < self.groups.len() {
            // One sendmmsg per run of groups on the same socket.
            let fd = items[self.order[self.groups[g].start] as usize].fd;
            let mut end = g;
            while end < self.groups.len() && items[self.order[self.groups[end].start] as usize].fd == fd && end - g < 1024 {
                end += 1;
            }
            self.build(items, g, end);
            let mut sent = 0usize;
            while sent < end - g {
                // SAFETY: send_msgs[..] point into send_iovs, cmsgs and the outbox
                // items' payloads, all alive until this call returns.
                let r = unsafe {
                    libc::sendmmsg(fd, self.send_msgs.as_mut_ptr().add(sent), (end - g - sent) as u32, libc::MSG_DONTWAIT)
                };
                add(&engine.counters.tx_syscalls, 1);
                if r < 0 {
                    let e = io::Error::last_os_error();
                    if e.kind() == io::ErrorKind::Interrupted {
                        continue;
                    }
                    if self.groups[g + sent].count > 1 && matches!(e.raw_os_error(), Some(libc::EIO) | Some(libc::EINVAL)) {
                        // The path cannot segment (no checksum offload): stop using GSO.
                        tracing::warn!("UDP GSO refused ({e}); falling back to one datagram per send");
                        self.gso = false;
                    }
                    if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::ENOBUFS)) {
                        // A full socket buffer: drop what is left of this socket's batch
                        // rather than block the core.
                        let dropped: usize = self.groups[g + sent..end].iter().map(|gr| gr.count).sum();
                        add(&engine.counters.tx_dropped, dropped as u64);
                        break;
                    }
                    // An error of this one datagram's destination (a firewall's EPERM, an
                    // ICMP-reported ECONNREFUSED): it alone is lost, the rest still go.
                    add(&engine.counters.tx_dropped, self.groups[g + sent].count as u64);
                    sent += 1;
                    continue;
                }
                for gr in &self.groups[g + sent..g + sent + r as usize] {
                    add(&engine.counters.tx_packets, gr.count as u64);
                    if gr.count > 1 {
                        add(&engine.counters.gso_sends, 1);
                    }
                }
                sent += r as usize;
            }
            g = end;
        }
    }

    /// Fill send_msgs for groups[g..end].
    fn build(&mut self, items: &[SendItem], g: usize, end: usize) {
        let n = end - g;
        let segs: usize = self.groups[g..end].iter().map(|gr| gr.count).sum();
        self.send_iovs.clear();
        self.send_iovs.reserve(segs);
        // SAFETY: zeroed mmsghdr is a valid empty header.
        self.send_msgs.resize(n, unsafe { std::mem::zeroed() });
        self.cmsgs.resize(n, [0u8; 32]);
        for gr in &self.groups[g..end] {
            for k in 0..gr.count {
                let it = &items[self.order[gr.start + k] as usize];
                self.send_iovs.push(libc::iovec { iov_base: it.data as *mut _, iov_len: it.len as usize });
            }
        }
        let mut iov_at = 0;
        for (j, gr) in self.groups[g..end].iter().enumerate() {
            let it = &items[self.order[gr.start] as usize];
            let m = &mut self.send_msgs[j];
            m.msg_len = 0;
            let h = &mut m.msg_hdr;
            h.msg_name = it.dest.as_ptr() as *mut libc::c_void;
            h.msg_namelen = it.dest.len;
            h.msg_iov = unsafe { self.send_iovs.as_mut_ptr().add(iov_at) };
            h.msg_iovlen = gr.count as _;
            h.msg_flags = 0;
            if gr.count > 1 {
                let len = gso::write_segment_cmsg(&mut self.cmsgs[j], gr.segment);
                h.msg_control = self.cmsgs[j].as_mut_ptr() as *mut libc::c_void;
                h.msg_controllen = len as _;
            } else {
                h.msg_control = std::ptr::null_mut();
                h.msg_controllen = 0;
            }
            iov_at += gr.count;
        }
    }
}

impl Backend for Epoll {
    fn register(&mut self, sock: &UdpSocket, token: u32) -> io::Result<()> {
        let fd = sock.as_raw_fd();
        if self.fds.len() <= token as usize {
            self.fds.resize(token as usize + 1, -1);
        }
        self.fds[token as usize] = fd;
        self.poll.registry().register(&mut SourceFd(&fd), Token(token as usize), Interest::READABLE)
    }

    fn deregister(&mut self, sock: UdpSocket, token: u32) {
        let fd = sock.as_raw_fd();
        let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
        if let Some(f) = self.fds.get_mut(token as usize) {
            *f = -1;
        }
        drop(sock);
    }

    fn poll(&mut self, engine: &mut Engine, timeout: Option<Duration>) -> io::Result<()> {
        let r = self.poll.poll(&mut self.events, timeout);
        engine.woke = Instant::now();
        match r {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        let mut ready = std::mem::take(&mut self.ready);
        ready.clear();
        ready.extend(self.events.iter().map(|e| e.token().0).filter(|&t| t != WAKE_TOKEN.0));
        for &t in &ready {
            if t == STREAMS_TOKEN.0 {
                engine.on_streams_ready();
                self.flush(engine);
                continue;
            }
            let fd = self.fds.get(t).copied().unwrap_or(-1);
            if fd >= 0 {
                self.drain(engine, t as u32, fd);
            }
        }
        self.ready = ready;
        Ok(())
    }

    fn watch_streams(&mut self, fd: RawFd) -> io::Result<()> {
        self.poll.registry().register(&mut SourceFd(&fd), STREAMS_TOKEN, Interest::READABLE)
    }

    fn flush(&mut self, engine: &mut Engine) {
        if engine.outbox.is_empty() {
            return;
        }
        self.send_groups(engine);
        // Every send completed (or was dropped) synchronously: release the holds.
        let mut outbox = std::mem::take(&mut engine.outbox);
        for it in outbox.drain(..) {
            engine.release(it.hold, &mut |_| {});
        }
        engine.outbox = outbox;
    }
}

//! io_uring backend: one multishot RecvMsgMulti per socket drawing from a provided
//! buffer ring (no syscall per receive batch), SendMsg per GSO group, all submitted
//! with one io_uring_enter per loop turn. Buffers of received packets stay out of the
//! ring until every send that references them has completed.

use super::gso::{self, Group};
use super::{Backend, RawAddr};
use crate::engine::buffers::{HoldId, HoldKind, BUF_SIZE};
use crate::engine::counters::add;
use crate::engine::mesh::Wake;
use crate::engine::Engine;
use io_uring::types::{BufRingEntry, Fd, RecvMsgOut, SubmitArgs, Timespec};
use io_uring::{cqueue, opcode, squeue, IoUring};
use std::collections::HashMap;
use std::io;
use std::net::UdpSocket;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

const RING_BUFFERS: u16 = 4096;
const BGID: u16 = 7;
const NAME_LEN: usize = std::mem::size_of::<libc::sockaddr_in6>();
/// io_uring_recvmsg_out header + name + payload.
const SLOT: usize = 16 + NAME_LEN + BUF_SIZE;

const KIND_RECV: u64 = 1;
const KIND_SEND: u64 = 2;
const KIND_WAKE: u64 = 3;
const KIND_CANCEL: u64 = 4;
const KIND_STREAMS: u64 = 5;

fn ud(kind: u64, idx: u32, gen: u32) -> u64 {
    kind << 60 | (idx as u64 & 0x0fff_ffff) << 32 | gen as u64
}
fn ud_kind(u: u64) -> u64 {
    u >> 60
}
fn ud_idx(u: u64) -> u32 {
    ((u >> 32) & 0x0fff_ffff) as u32
}
fn ud_gen(u: u64) -> u32 {
    u as u32
}

/// Check that this kernel runs what the backend relies on (a ring, a provided-buffer
/// ring, multishot recvmsg: Linux 6.0+, and no seccomp filter in the way) by receiving
/// one datagram that way on a scratch socket.
pub fn probe() -> io::Result<()> {
    let mut u = Uring::new(EventFd::new()?, false)?;
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    sock.set_nonblocking(true)?;
    u.register(&sock, 0)?;
    u.ring.submit()?;
    sock.send_to(b"probe", sock.local_addr()?)?;
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        let ts = Timespec::new().nsec(50_000_000);
        let _ = u.ring.submitter().submit_with_args(1, &SubmitArgs::new().timespec(&ts));
        for cqe in u.ring.completion() {
            if ud_kind(cqe.user_data()) == KIND_RECV {
                return if cqe.result() >= 0 {
                    Ok(())
                } else {
                    Err(io::Error::from_raw_os_error(-cqe.result()))
                };
            }
        }
    }
    Err(io::Error::new(io::ErrorKind::TimedOut, "multishot recvmsg delivered nothing"))
}

pub struct EventFd(RawFd);
impl EventFd {
    pub fn new() -> io::Result<Self> {
        // SAFETY: plain eventfd creation.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 { Err(io::Error::last_os_error()) } else { Ok(EventFd(fd)) }
    }
    pub fn dup(&self) -> io::Result<Self> {
        // SAFETY: duplicating a descriptor we own.
        let fd = unsafe { libc::fcntl(self.0, libc::F_DUPFD_CLOEXEC, 0) };
        if fd < 0 { Err(io::Error::last_os_error()) } else { Ok(EventFd(fd)) }
    }
}
impl Wake for EventFd {
    fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: 8-byte write to an eventfd we own.
        unsafe { libc::write(self.0, &one as *const u64 as *const libc::c_void, 8) };
    }
}
impl Drop for EventFd {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor.
        unsafe { libc::close(self.0) };
    }
}

/// One in-flight SendMsg: its header, iovecs, address and the holds it keeps alive.
struct SendSlot {
    msg: libc::msghdr,
    iovs: [libc::iovec; gso::MAX_SEGMENTS],
    addr: RawAddr,
    cmsg: [u8; 32],
    holds: Vec<HoldId>,
    count: usize,
}

pub struct Uring {
    ring: IoUring,
    ring_mem: *mut u8,
    ring_mem_len: usize,
    bufs: Vec<u8>,
    local_tail: u16,
    /// Template header for every multishot receive (name length, no control).
    recv_msg: Box<libc::msghdr>,
    socks: Vec<(RawFd, u32)>,
    graveyard: HashMap<(u32, u32), UdpSocket>,
    // Boxed on purpose: the kernel holds pointers into a slot until its send completes,
    // so a slot must not move when the vector grows.
    #[allow(clippy::vec_box)]
    slots: Vec<Box<SendSlot>>,
    free_slots: Vec<u32>,
    returned: Vec<u16>,
    wake: EventFd,
    wake_buf: Box<u64>,
    order: Vec<u32>,
    groups: Vec<Group>,
    gso: bool,
    /// The engine's TCP/TLS epoll set (-1: none).
    streams_fd: RawFd,
}

// SAFETY: raw pointers refer to memory owned by this struct; it lives on one thread.
unsafe impl Send for Uring {}

impl Uring {
    pub fn new(wake: EventFd, gso: bool) -> io::Result<Self> {
        let ring = IoUring::builder().setup_single_issuer().setup_coop_taskrun().setup_cqsize(32768).build(4096)?;
        let ring_mem_len = RING_BUFFERS as usize * std::mem::size_of::<BufRingEntry>();
        // SAFETY: anonymous page-aligned mapping for the buffer ring, as the kernel requires.
        let ring_mem = unsafe {
            libc::mmap(std::ptr::null_mut(), ring_mem_len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0)
        };
        if ring_mem == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the mapping outlives the registration (unregistered in Drop).
        unsafe { ring.submitter().register_buf_ring_with_flags(ring_mem as u64, RING_BUFFERS, BGID, 0)? };
        let mut recv_msg: Box<libc::msghdr> = Box::new(unsafe { std::mem::zeroed() });
        recv_msg.msg_namelen = NAME_LEN as _;
        let mut u = Uring {
            streams_fd: -1,
            ring,
            ring_mem: ring_mem as *mut u8,
            ring_mem_len,
            bufs: vec![0u8; SLOT * RING_BUFFERS as usize],
            local_tail: 0,
            recv_msg,
            socks: Vec::new(),
            graveyard: HashMap::new(),
            slots: Vec::new(),
            free_slots: Vec::new(),
            returned: Vec::new(),
            wake,
            wake_buf: Box::new(0),
            order: Vec::new(),
            groups: Vec::new(),
            gso,
        };
        for bid in 0..RING_BUFFERS {
            u.returned.push(bid);
        }
        u.publish_returned();
        u.arm_wake();
        Ok(u)
    }

    fn push(&mut self, e: squeue::Entry) {
        // SAFETY: every entry points at memory owned by self that outlives the op.
        while unsafe { self.ring.submission().push(&e) }.is_err() {
            let _ = self.ring.submit();
        }
    }

    fn arm_wake(&mut self) {
        let e = opcode::Read::new(Fd(self.wake.0), &mut *self.wake_buf as *mut u64 as *mut u8, 8).build().user_data(ud(KIND_WAKE, 0, 0));
        self.push(e);
    }

    /// Multishot poll on the engine's stream epoll set: one completion each time it
    /// turns readable (the engine then drains it without waiting).
    fn arm_streams(&mut self) {
        if self.streams_fd < 0 {
            return;
        }
        let e = opcode::PollAdd::new(Fd(self.streams_fd), libc::POLLIN as u32).multi(true).build().user_data(ud(KIND_STREAMS, 0, 0));
        self.push(e);
    }

    fn arm_recv(&mut self, token: u32) {
        let (fd, gen) = self.socks[token as usize];
        let e = opcode::RecvMsgMulti::new(Fd(fd), &*self.recv_msg as *const libc::msghdr, BGID)
            .build()
            .user_data(ud(KIND_RECV, token, gen));
        self.push(e);
    }

    /// Give buffers back to the kernel in one tail update.
    fn publish_returned(&mut self) {
        if self.returned.is_empty() {
            return;
        }
        let mask = RING_BUFFERS - 1;
        let base = self.ring_mem as *mut BufRingEntry;
        for &bid in &self.returned {
            // SAFETY: index is masked into the mapped ring; the kernel reads entries
            // only up to the published tail.
            unsafe {
                let e = &mut *base.add((self.local_tail & mask) as usize);
                e.set_addr(self.bufs.as_ptr().add(bid as usize * SLOT) as u64);
                e.set_len(SLOT as u32);
                e.set_bid(bid);
            }
            self.local_tail = self.local_tail.wrapping_add(1);
        }
        self.returned.clear();
        // SAFETY: the tail field lives in the first entry; release-store publishes it.
        unsafe {
            let tail = BufRingEntry::tail(base as *const BufRingEntry) as *const AtomicU16;
            (*tail).store(self.local_tail, Ordering::Release);
        }
    }

    fn on_recv(&mut self, engine: &mut Engine, cqe: &cqueue::Entry) {
        let (token, gen) = (ud_idx(cqe.user_data()), ud_gen(cqe.user_data()));
        let live = self.socks.get(token as usize).is_some_and(|&(fd, g)| fd >= 0 && g == gen);
        let more = cqueue::more(cqe.flags());
        if let Some(bid) = cqueue::buffer_select(cqe.flags()) {
            if cqe.result() >= 0 && live {
                self.deliver(engine, token, bid, cqe.result() as usize);
            } else {
                self.returned.push(bid);
            }
        }
        if !more {
            if live {
                // Multishot ends when the buffer ring runs dry (ENOBUFS: buffers come back
                // as sends complete) or on an error; re-arm while the socket lives.
                if cqe.result() < 0 && cqe.result() != -libc::ENOBUFS {
                    tracing::warn!(token, "receive ended: {}", io::Error::from_raw_os_error(-cqe.result()));
                }
                self.arm_recv(token);
            } else {
                self.graveyard.remove(&(token, gen));
            }
        }
    }

    fn deliver(&mut self, engine: &mut Engine, token: u32, bid: u16, len: usize) {
        let start = bid as usize * SLOT;
        let (payload_off, payload_len, truncated, addr) = {
            let buf = &self.bufs[start..start + len];
            let Ok(out) = RecvMsgOut::parse(buf, &self.recv_msg) else {
                self.returned.push(bid);
                return;
            };
            let mut addr = RawAddr::empty();
            let name = out.name_data();
            let n = name.len().min(NAME_LEN);
            // SAFETY: copying at most sizeof(sockaddr_in6) bytes of kernel-written name.
            unsafe { std::ptr::copy_nonoverlapping(name.as_ptr(), &mut addr.storage as *mut _ as *mut u8, n) };
            addr.len = out.incoming_name_len();
            let p = out.payload_data();
            (p.as_ptr() as usize - self.bufs.as_ptr() as usize, p.len(), out.is_payload_truncated(), addr)
        };
        if truncated {
            engine.on_oversize(token);
            self.returned.push(bid);
            return;
        }
        let hold = engine.holds.hold(HoldKind::Ring(bid));
        let data = &mut self.bufs[payload_off..payload_off + payload_len];
        engine.on_packet(token, &addr, data, hold);
        let returned = &mut self.returned;
        engine.release(hold, &mut |b| returned.push(b));
    }

    fn on_send(&mut self, engine: &mut Engine, cqe: &cqueue::Entry) {
        let idx = ud_idx(cqe.user_data());
        let slot = &mut self.slots[idx as usize];
        if cqe.result() < 0 {
            add(&engine.counters.tx_dropped, slot.count as u64);
            if slot.count > 1 && matches!(-cqe.result(), libc::EIO | libc::EINVAL) {
                tracing::warn!("UDP GSO refused ({}); falling back to one datagram per send", io::Error::from_raw_os_error(-cqe.result()));
                self.gso = false;
            }
        } else {
            add(&engine.counters.tx_packets, slot.count as u64);
            if slot.count > 1 {
                add(&engine.counters.gso_sends, 1);
            }
        }
        let returned = &mut self.returned;
        for h in slot.holds.drain(..) {
            engine.release(h, &mut |b| returned.push(b));
        }
        self.free_slots.push(idx);
    }

    fn reap(&mut self, engine: &mut Engine) {
        loop {
            let mut batch: [Option<cqueue::Entry>; 64] = std::array::from_fn(|_| None);
            let mut n = 0;
            for cqe in self.ring.completion().take(64) {
                batch[n] = Some(cqe);
                n += 1;
            }
            if n == 0 {
                break;
            }
            engine.now = Instant::now();
            add(&engine.counters.rx_batches, 1);
            for cqe in batch.iter().take(n).flatten() {
                match ud_kind(cqe.user_data()) {
                    KIND_RECV => self.on_recv(engine, cqe),
                    KIND_SEND => self.on_send(engine, cqe),
                    KIND_WAKE => self.arm_wake(),
                    KIND_STREAMS => {
                        engine.on_streams_ready();
                        if !cqueue::more(cqe.flags()) {
                            self.arm_streams();
                        }
                    }
                    _ => {}
                }
            }
            // Queue this batch's sends before taking more completions.
            self.flush(engine);
        }
        self.publish_returned();
    }

    fn slot(&mut self) -> u32 {
        if let Some(i) = self.free_slots.pop() {
            return i;
        }
        // SAFETY: zeroed msghdr/iovec are valid empty values.
        self.slots.push(Box::new(SendSlot {
            msg: unsafe { std::mem::zeroed() },
            iovs: [libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; gso::MAX_SEGMENTS],
            addr: RawAddr::empty(),
            cmsg: [0; 32],
            holds: Vec::with_capacity(gso::MAX_SEGMENTS),
            count: 0,
        }));
        (self.slots.len() - 1) as u32
    }
}

impl Backend for Uring {
    fn register(&mut self, sock: &UdpSocket, token: u32) -> io::Result<()> {
        if self.socks.len() <= token as usize {
            self.socks.resize(token as usize + 1, (-1, 0));
        }
        let gen = self.socks[token as usize].1.wrapping_add(1);
        self.socks[token as usize] = (sock.as_raw_fd(), gen);
        self.arm_recv(token);
        Ok(())
    }

    fn deregister(&mut self, sock: UdpSocket, token: u32) {
        let Some(&(_, gen)) = self.socks.get(token as usize) else { return };
        self.socks[token as usize].0 = -1;
        // Keep the socket open until the kernel confirms the receive is gone.
        self.graveyard.insert((token, gen), sock);
        let e = opcode::AsyncCancel::new(ud(KIND_RECV, token, gen)).build().user_data(ud(KIND_CANCEL, token, gen));
        self.push(e);
    }

    fn poll(&mut self, engine: &mut Engine, timeout: Option<Duration>) -> io::Result<()> {
        let ts = timeout.map(|t| Timespec::new().sec(t.as_secs()).nsec(t.subsec_nanos()));
        let empty = self.ring.completion().is_empty();
        let r = match (&ts, empty) {
            (_, false) => self.ring.submit().map(|_| ()),
            (Some(ts), true) if ts_is_zero(timeout) => self.ring.submit().map(|_| ()),
            (Some(ts), true) => self.ring.submitter().submit_with_args(1, &SubmitArgs::new().timespec(ts)).map(|_| ()),
            (None, true) => self.ring.submit_and_wait(1).map(|_| ()),
        };
        engine.woke = Instant::now();
        match r {
            Ok(()) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY)) => {}
            Err(e) => return Err(e),
        }
        self.reap(engine);
        Ok(())
    }

    fn watch_streams(&mut self, fd: RawFd) -> io::Result<()> {
        self.streams_fd = fd;
        self.arm_streams();
        Ok(())
    }

    fn flush(&mut self, engine: &mut Engine) {
        if engine.outbox.is_empty() {
            return;
        }
        let items = std::mem::take(&mut engine.outbox);
        gso::plan(&items, self.gso, &mut self.order, &mut self.groups);
        for gi in 0..self.groups.len() {
            let g = self.groups[gi];
            let si = self.slot();
            let s = &mut *self.slots[si as usize];
            let first = &items[self.order[g.start] as usize];
            s.addr = first.dest;
            s.count = g.count;
            for k in 0..g.count {
                let it = &items[self.order[g.start + k] as usize];
                s.iovs[k] = libc::iovec { iov_base: it.data as *mut _, iov_len: it.len as usize };
                s.holds.push(it.hold);
            }
            s.msg.msg_name = &mut s.addr.storage as *mut _ as *mut libc::c_void;
            s.msg.msg_namelen = s.addr.len;
            s.msg.msg_iov = s.iovs.as_mut_ptr();
            s.msg.msg_iovlen = g.count as _;
            if g.count > 1 {
                let len = gso::write_segment_cmsg(&mut s.cmsg, g.segment);
                s.msg.msg_control = s.cmsg.as_mut_ptr() as *mut libc::c_void;
                s.msg.msg_controllen = len as _;
            } else {
                s.msg.msg_control = std::ptr::null_mut();
                s.msg.msg_controllen = 0;
            }
            let e = opcode::SendMsg::new(Fd(first.fd), &s.msg as *const libc::msghdr).build().user_data(ud(KIND_SEND, si, 0));
            self.push(e);
        }
        engine.outbox = items;
        engine.outbox.clear();
        add(&engine.counters.tx_syscalls, 1);
        let _ = self.ring.submit();
    }
}

fn ts_is_zero(t: Option<Duration>) -> bool {
    t.is_some_and(|t| t.is_zero())
}

impl Drop for Uring {
    fn drop(&mut self) {
        let _ = self.ring.submitter().unregister_buf_ring(BGID);
        // SAFETY: unmapping the region mapped in new().
        unsafe { libc::munmap(self.ring_mem as *mut libc::c_void, self.ring_mem_len) };
    }
}

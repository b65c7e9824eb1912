//! Media socket setup: non-blocking UDP, large buffers, DSCP marking.

use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{SocketAddr, UdpSocket};

/// Socket buffers sized for bursts of video at high fan-out; the kernel caps them at
/// net.core.{r,w}mem_max unless we run as root (SO_*BUFFORCE is tried first).
const SOCKET_BUFFER: usize = 4 << 20;

pub fn bind_udp(addr: SocketAddr, dscp: u8) -> io::Result<UdpSocket> {
    let domain = if addr.is_ipv4() { Domain::IPV4 } else { Domain::IPV6 };
    let s = Socket::new(domain, Type::DGRAM.nonblocking().cloexec(), Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    if s.set_recv_buffer_size(SOCKET_BUFFER).is_err() {
        let _ = s.set_recv_buffer_size(SOCKET_BUFFER);
    }
    let _ = force_buffer(&s, libc::SO_RCVBUFFORCE);
    let _ = force_buffer(&s, libc::SO_SNDBUFFORCE);
    let _ = s.set_send_buffer_size(SOCKET_BUFFER);
    if dscp != 0 {
        let tos = (dscp as u32) << 2;
        if addr.is_ipv4() {
            s.set_tos_v4(tos)?;
        } else {
            s.set_tclass_v6(tos)?;
        }
    }
    s.bind(&addr.into())?;
    Ok(s.into())
}

fn force_buffer(s: &Socket, opt: libc::c_int) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let v: libc::c_int = SOCKET_BUFFER as _;
    // SAFETY: plain setsockopt with an int option value.
    let r = unsafe {
        libc::setsockopt(s.as_raw_fd(), libc::SOL_SOCKET, opt, &v as *const _ as *const libc::c_void, 4)
    };
    if r == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// A socket every core binds on the same address (SO_REUSEPORT): the kernel spreads
/// clients over the cores by their address, and keeps each client on one core.
pub fn bind_udp_shared(addr: SocketAddr) -> io::Result<UdpSocket> {
    let domain = if addr.is_ipv4() { Domain::IPV4 } else { Domain::IPV6 };
    let s = Socket::new(domain, Type::DGRAM.nonblocking().cloexec(), Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_port(true)?;
    let _ = force_buffer(&s, libc::SO_RCVBUFFORCE);
    let _ = force_buffer(&s, libc::SO_SNDBUFFORCE);
    s.bind(&addr.into())?;
    Ok(s.into())
}

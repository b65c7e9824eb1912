//! A socket address in kernel layout, small enough to copy into every send item.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

#[derive(Clone, Copy)]
#[repr(C)]
pub struct RawAddr {
    /// Holds a sockaddr_in or a sockaddr_in6.
    pub storage: libc::sockaddr_in6,
    pub len: libc::socklen_t,
}

impl RawAddr {
    pub fn empty() -> Self {
        // SAFETY: an all-zero sockaddr_in6 is a valid (unspecified) value.
        RawAddr { storage: unsafe { std::mem::zeroed() }, len: std::mem::size_of::<libc::sockaddr_in6>() as _ }
    }

    pub fn from_std(a: SocketAddr) -> Self {
        let mut r = RawAddr::empty();
        match a {
            SocketAddr::V4(v4) => {
                // SAFETY: sockaddr_in fits in sockaddr_in6's storage and both are POD.
                let sin = unsafe { &mut *(&mut r.storage as *mut libc::sockaddr_in6 as *mut libc::sockaddr_in) };
                sin.sin_family = libc::AF_INET as _;
                sin.sin_port = v4.port().to_be();
                sin.sin_addr = libc::in_addr { s_addr: u32::from_ne_bytes(v4.ip().octets()) };
                r.len = std::mem::size_of::<libc::sockaddr_in>() as _;
            }
            SocketAddr::V6(v6) => {
                r.storage.sin6_family = libc::AF_INET6 as _;
                r.storage.sin6_port = v6.port().to_be();
                r.storage.sin6_addr = libc::in6_addr { s6_addr: v6.ip().octets() };
                r.storage.sin6_flowinfo = v6.flowinfo();
                r.storage.sin6_scope_id = v6.scope_id();
                r.len = std::mem::size_of::<libc::sockaddr_in6>() as _;
            }
        }
        r
    }

    /// Read back what the kernel wrote into a receive name buffer.
    pub fn to_std(&self) -> Option<SocketAddr> {
        match self.storage.sin6_family as i32 {
            libc::AF_INET => {
                // SAFETY: family says the storage holds a sockaddr_in.
                let sin = unsafe { &*(&self.storage as *const libc::sockaddr_in6 as *const libc::sockaddr_in) };
                let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
            }
            libc::AF_INET6 => {
                let s = &self.storage;
                let ip = Ipv6Addr::from(s.sin6_addr.s6_addr);
                // A v4-mapped peer on a dual-stack socket reads as plain IPv4.
                if let Some(v4) = ip.to_ipv4_mapped() {
                    return Some(SocketAddr::new(IpAddr::V4(v4), u16::from_be(s.sin6_port)));
                }
                Some(SocketAddr::V6(SocketAddrV6::new(ip, u16::from_be(s.sin6_port), s.sin6_flowinfo, s.sin6_scope_id)))
            }
            _ => None,
        }
    }

    pub fn as_ptr(&self) -> *const libc::sockaddr {
        &self.storage as *const libc::sockaddr_in6 as *const libc::sockaddr
    }

    /// Cheap equality on the bytes that matter, for grouping GSO runs.
    pub fn same(&self, other: &RawAddr) -> bool {
        self.len == other.len && {
            let a = &self.storage;
            let b = &other.storage;
            a.sin6_family == b.sin6_family
                && a.sin6_port == b.sin6_port
                && a.sin6_flowinfo == b.sin6_flowinfo
                && a.sin6_addr.s6_addr == b.sin6_addr.s6_addr
                && a.sin6_scope_id == b.sin6_scope_id
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrips_both_families() {
        for s in ["127.0.0.1:5004", "[::1]:6000", "[fe80::1%2]:7"] {
            let a: SocketAddr = s.parse().unwrap();
            assert_eq!(RawAddr::from_std(a).to_std(), Some(a));
        }
        let a = RawAddr::from_std("10.0.0.1:1".parse().unwrap());
        assert!(a.same(&RawAddr::from_std("10.0.0.1:1".parse().unwrap())));
        assert!(!a.same(&RawAddr::from_std("10.0.0.1:2".parse().unwrap())));
    }
}

//! Which peers an allocation may relay to. Defaults refuse loopback, private,
//! link-local, multicast and unspecified addresses, so a TURN server cannot be used to
//! reach the operator's internal network; tests and labs switch them on explicitly.

use std::net::IpAddr;

#[derive(Debug, Clone, Copy, Default)]
pub struct PeerPolicy {
    pub allow_loopback: bool,
    pub allow_private: bool,
}

impl PeerPolicy {
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        if ip.is_unspecified() || ip.is_multicast() {
            return false;
        }
        if ip.is_loopback() {
            return self.allow_loopback;
        }
        let private = match ip {
            IpAddr::V4(a) => a.is_private() || a.is_link_local() || a.is_broadcast() || a.octets()[0] == 0,
            IpAddr::V6(a) => (a.segments()[0] & 0xfe00) == 0xfc00 || (a.segments()[0] & 0xffc0) == 0xfe80,
        };
        !private || self.allow_private
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_refuse_internal_ranges() {
        let p = PeerPolicy::default();
        for bad in ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.0.1", "224.0.0.1", "0.0.0.0", "::1", "fc00::1", "fe80::1", "::ffff:127.0.0.1", "255.255.255.255"] {
            assert!(!p.allows(bad.parse().unwrap()), "{bad}");
        }
        for ok in ["8.8.8.8", "2001:4860::8888", "198.51.100.1"] {
            assert!(p.allows(ok.parse().unwrap()), "{ok}");
        }
        let lab = PeerPolicy { allow_loopback: true, allow_private: false };
        assert!(lab.allows("127.0.0.1".parse().unwrap()));
        assert!(!lab.allows("10.0.0.1".parse().unwrap()));
    }
}

//! Loopback-only network namespaces for peers that refuse plain loopback (Chromium's
//! WebRTC, see ../shared/peers.md) or must not see the machine's eth0. Each test gets
//! its own, so fixed ports inside never clash; it is deleted on drop.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

pub struct Netns {
    pub name: String,
}

impl Netns {
    /// Create a namespace with only `lo`, up. Needs root (CAP_SYS_ADMIN).
    pub fn new(tag: &str) -> Netns {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!("mt-{tag}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let ok = |args: &[&str]| Command::new("ip").args(args).status().map(|s| s.success()).unwrap_or(false);
        assert!(ok(&["netns", "add", &name]), "`ip netns add {name}` failed: these tests need root and iproute2");
        let ns = Netns { name };
        assert!(ok(&["netns", "exec", &ns.name, "ip", "link", "set", "lo", "up"]), "cannot bring lo up in {}", ns.name);
        ns
    }

    /// `program` to be run inside the namespace (`ip netns exec` execs it: the PID is
    /// the program's own, so stopping it by PID works).
    pub fn command(&self, program: impl AsRef<Path>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program.as_ref());
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

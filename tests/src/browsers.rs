//! Browsers as peers: signal serving its conference page inside a test's network
//! namespace, and the Playwright scripts (`tests/web/`) that drive headless Chromium.

use crate::{bin, Mediad, Netns, Proc};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// `tests/web`, where the scripts and their node modules are.
pub fn web_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("web");
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "playwright-core is not installed in {}: run scripts/setup.sh --test",
        dir.display()
    );
    dir
}

/// signal serving the page on 127.0.0.1:8080 inside `ns` (the namespace is the
/// test's own, so the fixed port cannot clash), driving `m`.
pub fn signal_in(ns: &Netns, m: &Mediad, extra: &[&str]) -> Proc {
    let log = std::fs::File::create(m.dir.path("signal.log")).unwrap();
    let p = Proc::spawn(
        "signal",
        ns.command(bin("signal")).arg("--mediad-socket").arg(&m.socket).args(["--http", "127.0.0.1:8080"]).args(extra).stdout(Stdio::null()).stderr(log),
    );
    // Ready once it answers inside the namespace.
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let probe = ns.command("bash").args(["-c", "exec 3<>/dev/tcp/127.0.0.1/8080"]).stderr(Stdio::null()).status().unwrap();
        if probe.success() {
            return p;
        }
        assert!(Instant::now() < end, "signal did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }
}


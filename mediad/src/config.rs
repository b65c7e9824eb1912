//! mediad configuration: embedded defaults, an optional TOML file, command-line
//! overrides (in that order). docs/configuration.md lists every key.

use crate::io::IoKind;
use clap::Parser;
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub struct PortRange {
    pub min: u16,
    pub max: u16,
}

impl std::str::FromStr for PortRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, b) = s.split_once('-').ok_or("expected MIN-MAX")?;
        let min: u16 = a.trim().parse().map_err(|e| format!("{a}: {e}"))?;
        let max: u16 = b.trim().parse().map_err(|e| format!("{b}: {e}"))?;
        if min == 0 || max < min + 1 {
            return Err(format!("range {min}-{max} must hold at least one even/odd pair"));
        }
        Ok(PortRange { min, max })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Worker threads (one per core). 0 = one per available core.
    pub workers: usize,
    /// Pin worker i to CPU `cpus[i % len]`; empty = CPU i.
    pub cpus: Vec<usize>,
    pub pin: bool,
    pub io: IoKind,
    pub bind: IpAddr,
    pub bind6: Option<IpAddr>,
    /// The address written into SDP when the node sits behind NAT.
    pub advertise: Option<IpAddr>,
    pub advertise6: Option<IpAddr>,
    pub rtp_ports: PortRange,
    pub webrtc_ports: PortRange,
    /// DSCP code points (RFC 4594): EF for audio, AF41 for video.
    pub dscp_audio: u8,
    pub dscp_video: u8,
    pub control_socket: PathBuf,
    /// Prometheus endpoint; empty string disables it.
    pub metrics: String,
    pub rtcp_interval_ms: u64,
    pub media_timeout_s: u64,
    pub max_legs: usize,
    pub max_rooms: usize,
    pub gso: bool,
    pub cname: String,
    /// STUN/TURN server; absent = off.
    pub turn: Option<crate::turn::TurnSettings>,
    /// The video MCU's compute pool.
    pub video: crate::compute::VideoSettings,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            workers: 0,
            cpus: vec![],
            pin: true,
            io: IoKind::Epoll,
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            bind6: None,
            advertise: None,
            advertise6: None,
            rtp_ports: PortRange { min: 50000, max: 51999 },
            webrtc_ports: PortRange { min: 53000, max: 55000 },
            dscp_audio: 46,
            dscp_video: 34,
            control_socket: PathBuf::from(control::DEFAULT_SOCKET),
            metrics: "127.0.0.1:9464".into(),
            rtcp_interval_ms: 5000,
            media_timeout_s: 60,
            max_legs: 100_000,
            max_rooms: 50_000,
            gso: true,
            cname: "mediad".into(),
            turn: None,
            video: Default::default(),
        }
    }
}

/// Command line; every flag overrides the file and the defaults.
#[derive(Debug, Parser, Default)]
#[command(name = "mediad", version, about = "Thread-per-core media daemon")]
pub struct Args {
    /// TOML configuration file (keys as in docs/configuration.md).
    #[arg(short, long)]
    pub config: Option<PathBuf>,
    #[arg(long)]
    pub workers: Option<usize>,
    /// Comma-separated CPU list for the workers.
    #[arg(long, value_delimiter = ',')]
    pub cpus: Option<Vec<usize>>,
    /// Do not pin workers to CPUs.
    #[arg(long)]
    pub no_pin: bool,
    #[arg(long, value_enum)]
    pub io: Option<IoKind>,
    #[arg(long)]
    pub bind: Option<IpAddr>,
    #[arg(long)]
    pub bind6: Option<IpAddr>,
    #[arg(long)]
    pub advertise: Option<IpAddr>,
    #[arg(long)]
    pub advertise6: Option<IpAddr>,
    /// SIP/H.323-style RTP range, MIN-MAX.
    #[arg(long)]
    pub rtp_ports: Option<PortRange>,
    #[arg(long)]
    pub webrtc_ports: Option<PortRange>,
    #[arg(long)]
    pub dscp_audio: Option<u8>,
    #[arg(long)]
    pub dscp_video: Option<u8>,
    #[arg(long)]
    pub control_socket: Option<PathBuf>,
    /// host:port for /metrics, or "off".
    #[arg(long)]
    pub metrics: Option<String>,
    #[arg(long)]
    pub rtcp_interval_ms: Option<u64>,
    #[arg(long)]
    pub media_timeout_s: Option<u64>,
    #[arg(long)]
    pub max_legs: Option<usize>,
    /// Disable UDP GSO batching.
    #[arg(long)]
    pub no_gso: bool,
    /// Enable the STUN/TURN server (settings from `[turn]` and the --turn-* flags).
    #[arg(long)]
    pub turn: bool,
    #[arg(long)]
    pub turn_port: Option<u16>,
    #[arg(long)]
    pub turn_realm: Option<String>,
    /// Static TURN user, name:password (repeatable).
    #[arg(long)]
    pub turn_user: Vec<String>,
    /// REST shared secret (repeatable; enables use-auth-secret).
    #[arg(long)]
    pub turn_secret: Vec<String>,
    /// Relay port range, MIN-MAX.
    #[arg(long)]
    pub turn_relay_ports: Option<PortRange>,
    #[arg(long)]
    pub turn_allow_loopback_peers: bool,
    #[arg(long)]
    pub turn_total_quota: Option<usize>,
    #[arg(long)]
    pub turn_user_quota: Option<usize>,
    #[arg(long)]
    pub turn_max_bps: Option<u64>,
    /// Unauthenticated STUN/TURN requests per second per source IP (0 = no limit).
    #[arg(long)]
    pub turn_unauth_rate: Option<u32>,
    /// Relay sockets: one port per allocation, or shared sockets (many more allocations).
    #[arg(long, value_enum)]
    pub turn_relay_mode: Option<crate::turn::settings::RelayMode>,
    /// Multiplexed mode: shared relay sockets per core and family.
    #[arg(long)]
    pub turn_mux_sockets: Option<usize>,
    /// TURN over TLS port (default 5349).
    #[arg(long)]
    pub turn_tls_port: Option<u16>,
    /// PEM certificate chain / private key for TURN over TLS.
    #[arg(long)]
    pub turn_cert: Option<PathBuf>,
    #[arg(long)]
    pub turn_pkey: Option<PathBuf>,
    #[arg(long)]
    pub turn_no_tcp: bool,
    #[arg(long)]
    pub turn_no_tls: bool,
    /// Video MCU threads (0: no video MCU).
    #[arg(long)]
    pub video_threads: Option<usize>,
    /// Video compositor: gpu, auto, lavapipe or cpu.
    #[arg(long)]
    pub compositor: Option<String>,
}

impl Config {
    pub fn load(args: &Args) -> Result<Config, String> {
        let mut c = match &args.config {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
                toml::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?
            }
            None => Config::default(),
        };
        macro_rules! over {
            ($($f:ident),*) => { $( if let Some(v) = args.$f.clone() { c.$f = v.into(); } )* };
        }
        over!(workers, io, bind, rtp_ports, webrtc_ports, dscp_audio, dscp_video, control_socket, metrics, rtcp_interval_ms, media_timeout_s, max_legs);
        if let Some(v) = args.cpus.clone() {
            c.cpus = v;
        }
        if args.bind6.is_some() {
            c.bind6 = args.bind6;
        }
        if args.advertise.is_some() {
            c.advertise = args.advertise;
        }
        if args.advertise6.is_some() {
            c.advertise6 = args.advertise6;
        }
        if args.no_pin {
            c.pin = false;
        }
        if args.no_gso {
            c.gso = false;
        }
        apply_turn_flags(&mut c, args);
        if let Some(n) = args.video_threads {
            c.video.threads = n;
        }
        if let Some(v) = &args.compositor {
            c.video.compositor = v.clone();
        }
        if c.metrics == "off" {
            c.metrics.clear();
        }
        if c.workers == 0 {
            c.workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        }
        c.validate()?;
        Ok(c)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.workers == 0 || self.workers > 64 {
            return Err(format!("workers must be 1..=64, got {}", self.workers));
        }
        for (name, r) in [("rtp_ports", self.rtp_ports), ("webrtc_ports", self.webrtc_ports)] {
            let pairs = (r.max - r.min).div_ceil(2);
            if (pairs as usize) < self.workers {
                return Err(format!("{name} {}-{} has fewer port pairs than workers", r.min, r.max));
            }
        }
        if self.dscp_audio > 63 || self.dscp_video > 63 {
            return Err("DSCP values are 0..=63".into());
        }
        if self.bind.is_ipv6() {
            return Err("`bind` is the IPv4 address; put the IPv6 one in `bind6`".into());
        }
        if let Some(b6) = self.bind6 {
            if b6.is_ipv4() {
                return Err("`bind6` must be an IPv6 address".into());
            }
        }
        if !self.metrics.is_empty() {
            self.metrics.parse::<SocketAddr>().map_err(|e| format!("metrics `{}`: {e}", self.metrics))?;
        }
        self.video.validate()?;
        self.validate_turn()
    }

    pub fn validate_turn(&self) -> Result<(), String> {
        self.turn.as_ref().map_or(Ok(()), |t| t.validate())
    }

    pub fn rtcp_interval(&self) -> Duration {
        Duration::from_millis(self.rtcp_interval_ms.max(100))
    }

    pub fn advertised(&self, v6: bool) -> Option<IpAddr> {
        if v6 { self.advertise6.or(self.bind6) } else { Some(self.advertise.unwrap_or(self.bind)) }
    }
}

/// `--turn-*` flags enable TURN and override the `[turn]` section.
fn apply_turn_flags(c: &mut Config, a: &Args) {
    let any = a.turn
        || a.turn_port.is_some()
        || a.turn_realm.is_some()
        || !a.turn_user.is_empty()
        || !a.turn_secret.is_empty()
        || a.turn_relay_ports.is_some()
        || a.turn_allow_loopback_peers;
    if !any {
        return;
    }
    let t = c.turn.get_or_insert_with(Default::default);
    if let Some(p) = a.turn_port {
        t.listening_port = p;
    }
    if let Some(r) = &a.turn_realm {
        t.realm = r.clone();
    }
    t.user.extend(a.turn_user.iter().cloned());
    if !a.turn_secret.is_empty() {
        t.use_auth_secret = true;
        t.static_auth_secret.extend(a.turn_secret.iter().cloned());
    }
    if let Some(r) = a.turn_relay_ports {
        (t.min_port, t.max_port) = (r.min, r.max);
    }
    if a.turn_allow_loopback_peers {
        t.allow_loopback_peers = true;
    }
    if let Some(q) = a.turn_total_quota {
        t.total_quota = q;
    }
    if let Some(q) = a.turn_user_quota {
        t.user_quota = q;
    }
    if let Some(b) = a.turn_max_bps {
        t.max_bps = b;
    }
    if let Some(r) = a.turn_unauth_rate {
        t.unauth_rate = r;
    }
    if let Some(m) = a.turn_relay_mode {
        t.relay_mode = m;
    }
    if let Some(n) = a.turn_mux_sockets {
        t.mux_sockets = n;
    }
    if let Some(p) = a.turn_tls_port {
        t.tls_listening_port = p;
    }
    if a.turn_cert.is_some() {
        t.cert = a.turn_cert.clone();
    }
    if a.turn_pkey.is_some() {
        t.pkey = a.turn_pkey.clone();
    }
    t.no_tcp |= a.turn_no_tcp;
    t.no_tls |= a.turn_no_tls;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_manuals() {
        let c = Config::load(&Args::default()).unwrap();
        assert_eq!(c.rtp_ports, PortRange { min: 50000, max: 51999 });
        assert_eq!(c.webrtc_ports, PortRange { min: 53000, max: 55000 });
        assert_eq!((c.dscp_audio, c.dscp_video), (46, 34));
    }

    #[test]
    fn file_then_flags() {
        let dir = std::env::temp_dir().join(format!("mediad-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("m.toml");
        std::fs::write(&f, "workers = 2\nrtp_ports = { min = 40000, max = 40999 }\nadvertise = \"203.0.113.7\"\n").unwrap();
        let args = Args { config: Some(f.clone()), workers: Some(1), ..Default::default() };
        let c = Config::load(&args).unwrap();
        assert_eq!(c.workers, 1);
        assert_eq!(c.rtp_ports.min, 40000);
        assert_eq!(c.advertised(false), Some("203.0.113.7".parse().unwrap()));
        std::fs::write(&f, "wrokers = 2\n").unwrap();
        assert!(Config::load(&Args { config: Some(f), ..Default::default() }).unwrap_err().contains("wrokers"));
        std::fs::remove_dir_all(dir).unwrap();
        assert!("5-4".parse::<PortRange>().is_err());
    }
}

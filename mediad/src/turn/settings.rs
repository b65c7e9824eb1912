//! TURN settings as operators know them from coturn's turnserver.conf: the same key
//! names in mediad's TOML (`[turn]` section) and as `--turn-*` flags.

use super::auth::Credentials;
use super::policy::PeerPolicy;
use super::server::TurnConfig;
use crate::config::Config;
use serde::Deserialize;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct TurnSettings {
    /// Port clients reach the server on, UDP and TCP (STUN binding and TURN).
    pub listening_port: u16,
    /// TLS port (TURN over TLS, RFC 8656 §3.1).
    pub tls_listening_port: u16,
    pub no_udp: bool,
    pub no_tcp: bool,
    pub no_tls: bool,
    /// PEM certificate chain and private key for TLS; both unset = a generated
    /// self-signed certificate (dev mode).
    pub cert: Option<std::path::PathBuf>,
    pub pkey: Option<std::path::PathBuf>,
    /// Addresses to listen on; empty = mediad's `bind` (and `bind6`).
    pub listening_ip: Vec<IpAddr>,
    /// Address relay sockets bind to; empty = the listening address of that family.
    pub relay_ip: Vec<IpAddr>,
    pub realm: String,
    /// Static users, `name:password`.
    pub user: Vec<String>,
    pub use_auth_secret: bool,
    /// REST secrets (several at once for rotation).
    pub static_auth_secret: Vec<String>,
    pub min_port: u16,
    pub max_port: u16,
    /// Allocations the node holds at most (0 = unlimited), split between cores.
    pub total_quota: usize,
    pub user_quota: usize,
    /// Bits per second per allocation (0 = unlimited).
    pub max_bps: u64,
    pub allow_loopback_peers: bool,
    pub allow_private_peers: bool,
    pub default_lifetime: u64,
    pub max_lifetime: u64,
    pub stale_nonce: u64,
    /// Unauthenticated requests (Binding, challenges) per second per source IP; 0 = off.
    pub unauth_rate: u32,
    pub unauth_burst: u32,
    /// `ports`: one relay port per allocation (RFC 8656's model, bounded by the range).
    /// `multiplexed`: allocations share a few relay sockets per core, told apart by
    /// peer address (far more allocations per node; see ARCHITECTURE.md).
    pub relay_mode: RelayMode,
    /// Multiplexed mode: shared relay sockets per core and address family.
    pub mux_sockets: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum RelayMode {
    Ports,
    Multiplexed,
}

impl Default for TurnSettings {
    fn default() -> Self {
        TurnSettings {
            listening_port: 3478,
            tls_listening_port: 5349,
            no_udp: false,
            no_tcp: false,
            no_tls: false,
            cert: None,
            pkey: None,
            listening_ip: vec![],
            relay_ip: vec![],
            realm: "mediad.local".into(),
            user: vec![],
            use_auth_secret: false,
            static_auth_secret: vec![],
            min_port: 49152,
            max_port: 65535,
            total_quota: 0,
            user_quota: 0,
            max_bps: 0,
            allow_loopback_peers: false,
            allow_private_peers: false,
            default_lifetime: 600,
            max_lifetime: 3600,
            stale_nonce: 600,
            unauth_rate: 50,
            unauth_burst: 100,
            relay_mode: RelayMode::Ports,
            mux_sockets: 4,
        }
    }
}

impl TurnSettings {
    pub fn validate(&self) -> Result<(), String> {
        for u in &self.user {
            if !u.contains(':') {
                return Err(format!("turn user `{u}` must be name:password"));
            }
        }
        if self.use_auth_secret && self.static_auth_secret.is_empty() {
            return Err("use-auth-secret needs at least one static-auth-secret".into());
        }
        if self.user.is_empty() && !self.use_auth_secret {
            return Err("TURN needs users (`user`) or `use-auth-secret` with a secret".into());
        }
        if self.relay_mode == RelayMode::Multiplexed && !(1..=64).contains(&self.mux_sockets) {
            return Err(format!("mux-sockets must be 1..=64, got {}", self.mux_sockets));
        }
        if self.cert.is_some() != self.pkey.is_some() {
            return Err("TLS needs both `cert` and `pkey` (or neither, for a generated dev certificate)".into());
        }
        if self.min_port >= self.max_port {
            return Err(format!("turn relay range {}-{} is empty", self.min_port, self.max_port));
        }
        Ok(())
    }

    pub fn listening_ips(&self, cfg: &Config) -> Vec<IpAddr> {
        if !self.listening_ip.is_empty() {
            return self.listening_ip.clone();
        }
        std::iter::once(cfg.bind).chain(cfg.bind6).collect()
    }

    pub fn relay_ip(&self, cfg: &Config, ipv6: bool) -> Option<IpAddr> {
        self.relay_ip
            .iter()
            .chain(self.listening_ips(cfg).iter())
            .find(|ip| ip.is_ipv6() == ipv6)
            .copied()
    }

    /// The sans-IO server's configuration (the same for every core).
    pub fn server_config(&self) -> TurnConfig {
        let users: HashMap<String, String> = self
            .user
            .iter()
            .filter_map(|u| u.split_once(':').map(|(n, p)| (n.to_string(), p.to_string())))
            .collect();
        TurnConfig {
            credentials: Credentials {
                realm: self.realm.clone(),
                users,
                secrets: if self.use_auth_secret { self.static_auth_secret.clone() } else { vec![] },
            },
            default_lifetime: Duration::from_secs(self.default_lifetime),
            max_lifetime: Duration::from_secs(self.max_lifetime.max(self.default_lifetime)),
            total_quota: self.total_quota,
            user_quota: self.user_quota,
            max_bps: self.max_bps,
            peers: PeerPolicy { allow_loopback: self.allow_loopback_peers, allow_private: self.allow_private_peers },
            nonce_lifetime_s: self.stale_nonce,
            unauth_rate: self.unauth_rate,
            unauth_burst: self.unauth_burst,
            multiplexed: self.relay_mode == RelayMode::Multiplexed,
            software: format!("mediad {}", env!("CARGO_PKG_VERSION")),
        }
    }
}

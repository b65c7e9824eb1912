//! signal: the signalling service. It links to mediad over the control socket and
//! serves the conference page with WebRTC signalling (WebSocket), the status page and
//! API; SIP and RTSP control arrive with their issues. `--spawn-mediad` starts a
//! mediad of its own on loopback (all-in-one).

use signal::{http, mediad_link, sip, webrtc};

use clap::Parser;
use mediad_link::MediadLink;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "signal", version, about = "Signalling service for mediad")]
struct Args {
    /// mediad's control socket.
    #[arg(long, default_value = control::DEFAULT_SOCKET)]
    mediad_socket: PathBuf,
    /// HTTP listen address (conference page, WebSocket signalling, status and API).
    #[arg(long, default_value = "127.0.0.1:8080")]
    http: String,
    /// Also serve HTTPS here (browsers need a secure context off localhost).
    #[arg(long)]
    https: Option<String>,
    /// PEM certificate chain for HTTPS; without it a self-signed one is generated (dev).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// STUN/TURN URL handed to browsers, e.g. `turn:turn.example.com:3478?transport=udp`
    /// (repeatable; mediad's own TURN server or coturn).
    #[arg(long = "ice-server")]
    ice_servers: Vec<String>,
    /// The TURN server's REST shared secret (coturn `static-auth-secret`): each browser
    /// gets credentials of its own.
    #[arg(long)]
    ice_secret: Option<String>,
    /// Seconds those credentials stay valid.
    #[arg(long, default_value_t = 86_400)]
    ice_ttl: u64,
    /// A conference that needs a PIN: `<conference-id>=<4-10 digits>` (repeatable).
    #[arg(long = "pin", value_parser = parse_pin)]
    pins: Vec<(String, String)>,
    /// SIP over UDP and TCP here (e.g. `0.0.0.0:5060`); off when absent.
    #[arg(long)]
    sip: Option<String>,
    /// Conference for SIP calls to the bare host or to an unknown number.
    #[arg(long, default_value = "default")]
    sip_default_conference: String,
    /// Ring this long before answering SIP calls (0: answer at once).
    #[arg(long, default_value_t = 0)]
    sip_answer_delay_ms: u64,
    /// SIP over TLS here (e.g. `0.0.0.0:5061`), with the HTTPS certificate
    /// (`--tls-cert`/`--tls-key`; a self-signed one for localhost without them).
    #[arg(long)]
    sip_tls: Option<String>,
    /// Realm of SIP registrations (Digest).
    #[arg(long, default_value = "mediad")]
    sip_realm: String,
    /// A device that may register: `<name>=<password>` (repeatable); none: REGISTER
    /// is refused.
    #[arg(long = "sip-user", value_parser = parse_user)]
    sip_users: Vec<(String, String)>,
    /// Digest algorithms the registrar challenges with, in order (RFC 8760 wants
    /// sha-256 first; put md5 first for devices that take the first challenge).
    #[arg(long, default_value = "sha-256,md5", value_parser = parse_digest)]
    sip_digest: Digests,
    /// SDES-SRTP (RFC 4568) on SIP calls in and on calls out without a trunk: `off`,
    /// `optional` (SRTP whenever the phone offers a key) or `required` (plain RTP
    /// refused with 488).
    #[arg(long, default_value = "optional", value_parser = parse_srtp)]
    sip_srtp: sip::sdes::Policy,
    /// Trunks for SIP calls out (TOML; see docs/sip.md).
    #[arg(long)]
    sip_trunks: Option<PathBuf>,
    /// Folder of the spoken prompts SIP callers hear (PIN entry); mediad reads them.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../prompts/en"))]
    prompts: PathBuf,
    /// All-in-one: start this mediad binary on loopback with a private socket.
    #[arg(long)]
    spawn_mediad: Option<PathBuf>,
    /// Extra arguments for the spawned mediad.
    #[arg(long, allow_hyphen_values = true, num_args = 0..)]
    mediad_args: Vec<String>,
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let mut args = Args::parse();
    let signals = control::signals::Shutdown::block();
    let mut child: Option<Child> = None;
    if let Some(bin) = &args.spawn_mediad {
        let dir = std::env::temp_dir().join(format!("mediad-dev-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("runtime dir");
        args.mediad_socket = dir.join("control.sock");
        let c = Command::new(bin)
            .arg("--control-socket")
            .arg(&args.mediad_socket)
            .args(&args.mediad_args)
            .spawn()
            .unwrap_or_else(|e| fatal(&format!("cannot start {}: {e}", bin.display())));
        child = Some(c);
    }
    let link = Arc::new(MediadLink::new(args.mediad_socket.clone()));
    if !link.wait_ready(Duration::from_secs(15)) {
        stop(child.as_mut());
        fatal(&format!("mediad does not answer on {}", args.mediad_socket.display()));
    }
    let listener = std::net::TcpListener::bind(&args.http).unwrap_or_else(|e| {
        stop(child.as_mut());
        fatal(&format!("HTTP on {}: {e}", args.http))
    });
    let ice = webrtc::ice_servers::IceServers { urls: args.ice_servers.clone(), secret: args.ice_secret.clone(), ttl_s: args.ice_ttl };
    let signalling = Arc::new(webrtc::ws::Signalling::new(link.clone(), args.pins.iter().cloned().collect(), ice));
    let (s, socket) = (signalling.clone(), args.mediad_socket.clone());
    std::thread::spawn(move || s.follow_speakers(socket));
    let mut sip_addr = None;
    let sip = args.sip.as_ref().map(|a| {
        let sock = std::net::UdpSocket::bind(a).unwrap_or_else(|e| {
            stop(child.as_mut());
            fatal(&format!("SIP on {a}: {e}"))
        });
        let local = sock.local_addr().expect("bound");
        sip_addr = Some(local);
        // mediad opens prompt files itself, maybe from another working directory.
        let prompts = std::fs::canonicalize(&args.prompts).unwrap_or_else(|e| {
            tracing::warn!("prompts folder {}: {e}; PIN prompts will be silent", args.prompts.display());
            args.prompts.clone()
        });
        let trunks = match &args.sip_trunks {
            None => vec![],
            Some(f) => std::fs::read_to_string(f).map_err(|e| e.to_string()).and_then(|t| sip::trunks::parse(&t)).unwrap_or_else(|e| {
                stop(child.as_mut());
                fatal(&format!("SIP trunks {}: {e}", f.display()))
            }),
        };
        let cfg = sip::endpoint::Config {
            local,
            default_conference: Some(args.sip_default_conference.clone()).filter(|c| !c.is_empty()),
            pins: args.pins.iter().cloned().collect(),
            answer_delay: Duration::from_millis(args.sip_answer_delay_ms),
            realm: args.sip_realm.clone(),
            users: args.sip_users.iter().cloned().collect(),
            digest: args.sip_digest.0.clone(),
            srtp: args.sip_srtp,
            trunks,
            prompts,
        };
        // TCP on the same address (RFC 3261 §18: every UA serves both).
        let tcp = std::net::TcpListener::bind(local).map_err(|e| tracing::warn!("SIP over TCP on {local}: {e}; UDP only")).ok();
        let tls = args.sip_tls.as_ref().map(|a| {
            let l = std::net::TcpListener::bind(a).unwrap_or_else(|e| {
                stop(child.as_mut());
                fatal(&format!("SIP over TLS on {a}: {e}"))
            });
            let acceptor = tls_acceptor(args.tls_cert.as_deref(), args.tls_key.as_deref()).unwrap_or_else(|e| {
                stop(child.as_mut());
                fatal(&format!("SIP over TLS: {e}"))
            });
            (l, acceptor)
        });
        sip::service::SipService::start(sock, tcp, tls, sip::endpoint::Endpoint::new(cfg), link.clone(), args.mediad_socket.clone())
    });
    let ctx = Arc::new(http::Context { link: link.clone(), ws: signalling, sip });
    let c = ctx.clone();
    std::thread::spawn(move || http::serve(listener, None, c));
    if let Some(addr) = &args.https {
        let acceptor = tls_acceptor(args.tls_cert.as_deref(), args.tls_key.as_deref()).unwrap_or_else(|e| {
            stop(child.as_mut());
            fatal(&format!("HTTPS: {e}"))
        });
        let l = std::net::TcpListener::bind(addr).unwrap_or_else(|e| {
            stop(child.as_mut());
            fatal(&format!("HTTPS on {addr}: {e}"))
        });
        let c = ctx.clone();
        std::thread::spawn(move || http::serve(l, Some(acceptor), c));
    }
    let s = link.snapshot();
    let st = s.stats.expect("ready");
    println!("\nAppliance ready ({} media cores, {} I/O).", st.workers.len(), st.io);
    println!("  Browser (conference):    http://{}/c/<conference-id>", args.http);
    if let Some(a) = &args.https {
        println!("  Browser over HTTPS:      https://{a}/c/<conference-id>");
    }
    println!("  Status page and API:     http://{}/status  http://{}/api/v1/status", args.http, args.http);
    println!("  mediad control socket:   {}  (mediactl --socket {} stats.daemon)", args.mediad_socket.display(), args.mediad_socket.display());
    match sip_addr {
        Some(a) => {
            println!("  SIP phone (UDP, TCP):    sip:00<conference-id>@{a}  (PIN: sip:00<cid>,<pin>@{a})");
            if let Some(t) = &args.sip_tls {
                println!("  SIP phone over TLS:      sip:00<conference-id>@{t};transport=tls");
            }
            println!("  SIP calls, events, CDRs: http://{}/api/v1/sip/events?wait_ms=30000  (POST /api/v1/sip/calls to call out)", args.http);
        }
        None => println!("  SIP: off (--sip 0.0.0.0:5060 serves it)"),
    }
    println!("  Not yet served: RTSP (8554): it lands with its issue.");
    println!("Ctrl-C stops everything.\n");
    signals.wait();
    stop(child.as_mut());
    if args.spawn_mediad.is_some() {
        if let Some(dir) = args.mediad_socket.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn parse_pin(s: &str) -> Result<(String, String), String> {
    let (cid, pin) = s.split_once('=').ok_or("expected <conference-id>=<pin>")?;
    if !webrtc::conference::valid_conference_id(cid) {
        return Err(format!("bad conference id `{cid}`"));
    }
    if !(4..=10).contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err("a PIN is 4-10 digits".into());
    }
    Ok((cid.to_string(), pin.to_string()))
}

#[derive(Clone, Debug)]
struct Digests(Vec<sip::digest::Algorithm>);

fn parse_digest(s: &str) -> Result<Digests, String> {
    let v: Option<Vec<_>> = s.split(',').map(|a| sip::digest::Algorithm::parse(a.trim()).filter(|_| !a.trim().is_empty())).collect();
    match v {
        Some(v) if !v.is_empty() => Ok(Digests(v)),
        _ => Err("a comma-separated list of sha-256 and md5".into()),
    }
}

fn parse_srtp(s: &str) -> Result<sip::sdes::Policy, String> {
    sip::sdes::Policy::parse(s).ok_or_else(|| "off, optional or required".into())
}

fn parse_user(s: &str) -> Result<(String, String), String> {
    let (name, pw) = s.split_once('=').ok_or("expected <name>=<password>")?;
    if name.is_empty() || name.len() > 64 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c)) {
        return Err(format!("bad user name `{name}` (letters, digits, - _ . +)"));
    }
    if pw.len() < 8 {
        return Err("a SIP password has at least 8 characters".into());
    }
    Ok((name.to_string(), pw.to_string()))
}

/// HTTPS from PEM files, or a self-signed certificate for localhost (dev mode).
fn tls_acceptor(cert: Option<&std::path::Path>, key: Option<&std::path::Path>) -> Result<Arc<openssl::ssl::SslAcceptor>, String> {
    use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod};
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).map_err(|e| e.to_string())?;
    match (cert, key) {
        (Some(c), Some(k)) => {
            b.set_certificate_chain_file(c).map_err(|e| format!("{}: {e}", c.display()))?;
            b.set_private_key_file(k, SslFiletype::PEM).map_err(|e| format!("{}: {e}", k.display()))?;
        }
        _ => {
            let (c, k) = dev_certificate().map_err(|e| e.to_string())?;
            tracing::warn!("HTTPS with a generated self-signed certificate (dev mode): browsers will warn");
            b.set_certificate(&c).map_err(|e| e.to_string())?;
            b.set_private_key(&k).map_err(|e| e.to_string())?;
        }
    }
    Ok(Arc::new(b.build()))
}

fn dev_certificate() -> Result<(openssl::x509::X509, openssl::pkey::PKey<openssl::pkey::Private>), openssl::error::ErrorStack> {
    use openssl::{asn1::Asn1Time, ec, hash::MessageDigest, nid::Nid, pkey::PKey, x509};
    let group = ec::EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    let key = PKey::from_ec_key(ec::EcKey::generate(&group)?)?;
    let mut name = x509::X509NameBuilder::new()?;
    name.append_entry_by_nid(Nid::COMMONNAME, "localhost")?;
    let name = name.build();
    let mut b = x509::X509::builder()?;
    b.set_version(2)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(&name)?;
    b.set_pubkey(&key)?;
    b.set_not_before(&*Asn1Time::days_from_now(0)?)?;
    b.set_not_after(&*Asn1Time::days_from_now(365)?)?;
    let san = x509::extension::SubjectAlternativeName::new().dns("localhost").ip("127.0.0.1").build(&b.x509v3_context(None, None))?;
    b.append_extension(san)?;
    b.sign(&key, MessageDigest::sha256())?;
    Ok((b.build(), key))
}

fn fatal(msg: &str) -> ! {
    eprintln!("signal: {msg}");
    std::process::exit(1)
}

fn stop(child: Option<&mut Child>) {
    if let Some(c) = child {
        // SAFETY: signalling our own child by PID.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let _ = c.wait();
    }
}

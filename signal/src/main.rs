//! signal: the signalling service. Today it links to mediad over the control socket
//! and serves the status page and API; SIP, WebRTC signalling and RTSP control arrive
//! with their issues. `--dev` starts a mediad of its own on loopback (all-in-one).

mod http;
mod webrtc;
mod mediad_link;

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
    /// HTTP listen address (status page and API).
    #[arg(long, default_value = "127.0.0.1:8080")]
    http: String,
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
    let server = tiny_http::Server::http(&args.http).unwrap_or_else(|e| {
        stop(child.as_mut());
        fatal(&format!("HTTP on {}: {e}", args.http))
    });
    let l = link.clone();
    std::thread::spawn(move || http::serve(server, l));
    let s = link.snapshot();
    let st = s.stats.expect("ready");
    println!("\nAppliance ready ({} media cores, {} I/O).", st.workers.len(), st.io);
    println!("  Browser (status page):   http://{}/", args.http);
    println!("  Status API:              http://{}/api/v1/status", args.http);
    println!("  mediad control socket:   {}  (mediactl --socket {} stats.daemon)", args.mediad_socket.display(), args.mediad_socket.display());
    println!("  Not yet served: WebRTC page, SIP (5060), RTSP (8554): they land with their issues.");
    println!("Ctrl-C stops everything.\n");
    signals.wait();
    stop(child.as_mut());
    if args.spawn_mediad.is_some() {
        if let Some(dir) = args.mediad_socket.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
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

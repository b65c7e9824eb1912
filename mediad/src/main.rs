use clap::Parser;
use mediad::config::{Args, Config};

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let cfg = match Config::load(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mediad: {e}");
            std::process::exit(2);
        }
    };
    let summary = format!(
        "mediad {} ready: {} workers ({}), control {}, metrics {}, RTP {}-{}, WebRTC {}-{} on {}",
        env!("CARGO_PKG_VERSION"),
        cfg.workers,
        cfg.io.as_str(),
        cfg.control_socket.display(),
        if cfg.metrics.is_empty() { "off".to_string() } else { format!("http://{}/metrics", cfg.metrics) },
        cfg.rtp_ports.min,
        cfg.rtp_ports.max,
        cfg.webrtc_ports.min,
        cfg.webrtc_ports.max,
        cfg.bind,
    );
    let socket = cfg.control_socket.clone();
    // Blocked before any thread starts, so every thread inherits the mask and the
    // signal is taken only by sigwait below.
    let signals = control::signals::Shutdown::block();
    let running = match mediad::start(cfg) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mediad: {e}");
            std::process::exit(1);
        }
    };
    tracing::info!("{summary}");
    signals.wait();
    tracing::info!("shutting down");
    running.daemon.shutdown();
    for w in running.workers {
        let _ = w.join();
    }
    let _ = std::fs::remove_file(socket);
}

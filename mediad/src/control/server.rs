//! The control socket: a Unix stream socket (mode 0600), newline-delimited JSON, one
//! thread per connection (control traffic is light; the media path never waits on it).

use super::events::Conn;
use super::Daemon;
use control::{parse_request, ErrorBody, ErrorCode, Op, Outcome, Response};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A request line longer than this is refused and the connection closed: a client
/// that sends megabytes without a newline is broken or hostile.
const MAX_LINE: u64 = 1 << 20;

pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if path.exists() {
        // Refuse to steal a live daemon's socket; remove a stale one.
        if UnixStream::connect(path).is_ok() {
            return Err(std::io::Error::new(std::io::ErrorKind::AddrInUse, format!("{} is served by a running daemon", path.display())));
        }
        std::fs::remove_file(path)?;
    }
    let l = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(l)
}

pub fn serve(listener: UnixListener, daemon: Arc<Daemon>) {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let d = daemon.clone();
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        let _ = std::thread::Builder::new().name(format!("ctl-conn-{id}")).spawn(move || connection(stream, d, id));
    }
}

fn connection(stream: UnixStream, daemon: Arc<Daemon>, conn_id: u64) {
    let Ok(write_half) = stream.try_clone() else { return };
    let _ = write_half.set_write_timeout(Some(Duration::from_secs(5)));
    let writer: Conn = Arc::new(Mutex::new(write_half));
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        match (&mut reader).take(MAX_LINE).read_line(&mut line) {
            Ok(0) => break,
            Ok(_) if !line.ends_with('\n') && line.len() as u64 >= MAX_LINE => {
                let r = error_reply(None, ErrorBody::new(ErrorCode::BadRequest, "request line longer than 1 MiB"));
                let _ = send(&writer, &r);
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        let resp = match parse_request(text) {
            Err((id, e)) => error_reply(id, e),
            Ok(req) => {
                let outcome = match &req.op {
                    Op::EventsSubscribe { events } => {
                        daemon.hub.subscribe(conn_id, events.clone(), writer.clone());
                        Ok(serde_json::json!({"subscribed": events}))
                    }
                    Op::EventsUnsubscribe => {
                        daemon.hub.unsubscribe(conn_id);
                        Ok(serde_json::json!({}))
                    }
                    op => daemon.handle(op),
                };
                Response {
                    id: Some(req.id),
                    outcome: match outcome {
                        Ok(v) => Outcome::Ok(v),
                        Err(e) => Outcome::Error(e),
                    },
                }
            }
        };
        if send(&writer, &resp).is_err() {
            break;
        }
    }
    daemon.hub.unsubscribe(conn_id);
}

fn error_reply(id: Option<u64>, e: ErrorBody) -> Response {
    Response { id, outcome: Outcome::Error(e) }
}

fn send(w: &Conn, r: &Response) -> std::io::Result<()> {
    let mut line = serde_json::to_string(r).expect("responses serialize");
    line.push('\n');
    w.lock().unwrap().write_all(line.as_bytes())
}

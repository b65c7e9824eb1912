//! signal's HTTP(S) front: the conference page (`/`, `/c/<conference-id>`), the status
//! page (`/status`) and API (`/api/v1/status`, `/healthz`, SIP calls, events and CDRs
//! under `/api/v1/sip/`), and the WebSocket endpoint (`/ws`) of WebRTC signalling.
//!
//! A thread per connection: signalling is a few messages per participant, and a
//! blocking WebSocket with a short read timeout lets one thread both read its client
//! and push what the conference sends it. Parsing is httparse's and framing
//! tungstenite's; no async runtime is needed for this.

use crate::mediad_link::MediadLink;
use crate::webrtc::ws;
use openssl::ssl::{SslAcceptor, SslStream};
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

const STATUS_PAGE: &str = include_str!("status.html");
const CONFERENCE_PAGE: &str = include_str!("webrtc/page.html");
const CONFERENCE_JS: &str = include_str!("webrtc/app.js");
/// A request head larger than this is refused (431).
const MAX_HEAD: usize = 16 * 1024;
/// API request bodies larger than this are refused (413).
const MAX_BODY: usize = 64 * 1024;
/// Connections served at once (each has a thread); past it new ones get 503.
const MAX_CONNECTIONS: usize = 4096;

/// A client connection, plain or TLS.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<SslStream<TcpStream>>),
}

impl Stream {
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

pub struct Context {
    pub link: Arc<MediadLink>,
    pub ws: Arc<ws::Signalling>,
    pub sip: Option<Arc<crate::sip::service::SipService>>,
}

/// Accept connections forever, each on its own thread.
pub fn serve(listener: TcpListener, tls: Option<Arc<SslAcceptor>>, ctx: Arc<Context>) {
    let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for conn in listener.incoming() {
        let Ok(mut tcp) = conn else { continue };
        if open.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= MAX_CONNECTIONS {
            open.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            let _ = tcp.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            continue;
        }
        let (tls, ctx, open) = (tls.clone(), ctx.clone(), open.clone());
        std::thread::spawn(move || {
            // Counted down however the connection ends.
            struct Slot(Arc<std::sync::atomic::AtomicUsize>);
            impl Drop for Slot {
                fn drop(&mut self) {
                    self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            let _slot = Slot(open);
            let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = tcp.set_nodelay(true);
            let stream = match tls {
                Some(acc) => match acc.accept(tcp) {
                    Ok(s) => Stream::Tls(Box::new(s)),
                    Err(_) => return,
                },
                None => Stream::Plain(tcp),
            };
            handle(stream, &ctx);
        });
    }
}

struct Head {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Read and parse the request head; Err carries the status to answer with.
fn read_head(stream: &mut Stream) -> Result<Head, u16> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let n = stream.read(&mut chunk).map_err(|_| 408u16)?;
        if n == 0 {
            return Err(400);
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(end)) => {
                let mut head = Head {
                    method: req.method.unwrap_or("").to_string(),
                    path: req.path.unwrap_or("/").to_string(),
                    headers: req.headers.iter().map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).into_owned())).collect(),
                    body: buf[end..].to_vec(),
                };
                let want: usize = match head.header("content-length") {
                    None => 0,
                    Some(v) => v.trim().parse().map_err(|_| 400u16)?,
                };
                if want > MAX_BODY {
                    return Err(413);
                }
                while head.body.len() < want {
                    let n = stream.read(&mut chunk).map_err(|_| 408u16)?;
                    if n == 0 {
                        return Err(400);
                    }
                    head.body.extend_from_slice(&chunk[..n]);
                }
                head.body.truncate(want);
                return Ok(head);
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => continue,
            Ok(httparse::Status::Partial) => return Err(431),
            Err(_) => return Err(400),
        }
    }
}

fn respond(stream: &mut Stream, code: u16, content_type: &str, body: &str) {
    let reason = match code {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(body.as_bytes())).and_then(|_| stream.flush());
}

fn json(stream: &mut Stream, code: u16, v: serde_json::Value) {
    respond(stream, code, "application/json", &v.to_string());
}

fn handle(mut stream: Stream, ctx: &Context) {
    let head = match read_head(&mut stream) {
        Ok(h) => h,
        Err(code) => return json(&mut stream, code, serde_json::json!({"error": "bad request head"})),
    };
    let (path, query) = head.path.split_once('?').unwrap_or((head.path.as_str(), ""));
    let path = path.to_string();
    if path.starts_with("/api/v1/sip/") {
        let (code, v) = match &ctx.sip {
            Some(svc) => crate::sip::api::handle(svc, &head.method, &path, query, &head.body),
            None => (404, serde_json::json!({"error": "SIP is off (start signal with --sip)"})),
        };
        return json(&mut stream, code, v);
    }
    if head.method != "GET" {
        return json(&mut stream, 405, serde_json::json!({"error": "GET only"}));
    }
    match path.as_str() {
        "/ws" => match head.header("sec-websocket-key") {
            Some(key) if head.header("upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket")) => {
                let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
                let reply = format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n");
                if stream.write_all(reply.as_bytes()).is_ok() {
                    ctx.ws.session(stream);
                }
            }
            _ => json(&mut stream, 400, serde_json::json!({"error": "WebSocket upgrade expected"})),
        },
        "/" => respond(&mut stream, 200, "text/html; charset=utf-8", CONFERENCE_PAGE),
        p if p.starts_with("/c/") => respond(&mut stream, 200, "text/html; charset=utf-8", CONFERENCE_PAGE),
        "/app.js" => respond(&mut stream, 200, "text/javascript; charset=utf-8", CONFERENCE_JS),
        "/favicon.ico" => respond(&mut stream, 204, "image/x-icon", ""),
        "/status" => respond(&mut stream, 200, "text/html; charset=utf-8", STATUS_PAGE),
        "/api/v1/status" => {
            let s = ctx.link.snapshot();
            let code = if s.connected { 200 } else { 503 };
            json(&mut stream, code, serde_json::to_value(s).expect("serializable"))
        }
        "/healthz" => {
            let s = ctx.link.snapshot();
            json(&mut stream, if s.connected { 200 } else { 503 }, serde_json::json!({"mediad": s.connected}))
        }
        _ => json(&mut stream, 404, serde_json::json!({"error": "not found"})),
    }
}

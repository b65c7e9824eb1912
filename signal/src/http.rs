//! HTTP: a status page at `/` and a small JSON API. The WebRTC page and WebSocket
//! signalling land here with the WebRTC edge.

use crate::mediad_link::MediadLink;
use std::sync::Arc;

const PAGE: &str = include_str!("status.html");

pub fn serve(server: tiny_http::Server, link: Arc<MediadLink>) {
    for req in server.incoming_requests() {
        let path = req.url().split('?').next().unwrap_or("/").to_string();
        let json = |v: serde_json::Value, code: u16| {
            tiny_http::Response::from_string(v.to_string())
                .with_status_code(code)
                .with_header("Content-Type: application/json".parse::<tiny_http::Header>().expect("static"))
        };
        let resp = match (req.method(), path.as_str()) {
            (tiny_http::Method::Get, "/") => tiny_http::Response::from_string(PAGE)
                .with_header("Content-Type: text/html; charset=utf-8".parse::<tiny_http::Header>().expect("static")),
            (tiny_http::Method::Get, "/api/v1/status") => {
                let s = link.snapshot();
                let code = if s.connected { 200 } else { 503 };
                json(serde_json::to_value(s).expect("serializable"), code)
            }
            (tiny_http::Method::Get, "/healthz") => {
                let s = link.snapshot();
                json(serde_json::json!({"mediad": s.connected}), if s.connected { 200 } else { 503 })
            }
            _ => json(serde_json::json!({"error": "not found"}), 404),
        };
        let _ = req.respond(resp);
    }
}

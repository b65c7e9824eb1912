//! SIP's part of signal's HTTP API (JSON):
//!
//! - `GET /api/v1/sip/calls`: calls in progress (their open CDRs).
//! - `POST /api/v1/sip/calls` `{"to": ..., "conference": ..., "trunk": ...}`: call a
//!   SIP URI, a registered device or a number (through a trunk) into a conference;
//!   201 with `{"call": <call-id>}`.
//! - `GET /api/v1/sip/registrations`: devices registered here.
//! - `DELETE /api/v1/sip/calls/<call-id>`: hang a call up (we send BYE).
//! - `GET /api/v1/sip/events?after=<seq>&limit=<n>&wait_ms=<ms>`: call events after a
//!   sequence number, oldest first; `wait_ms` long-polls for the first one.
//! - `GET /api/v1/sip/cdrs?limit=<n>`: records of ended calls, newest last.
//! - `GET /api/v1/sip/counters`: malformed, rejected and retransmitted messages.

use super::service::SipService;
use super::uri::percent_decode;
use serde_json::{json, Value};
use std::time::Duration;

/// Longest long-poll a client may ask for.
const MAX_WAIT: Duration = Duration::from_secs(30);

pub fn handle(svc: &SipService, method: &str, path: &str, query: &str, body: &[u8]) -> (u16, Value) {
    let rest = path.trim_start_matches("/api/v1/sip/");
    let q = |name: &str| query.split('&').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')).and_then(|v| v.parse::<u64>().ok());
    match (method, rest) {
        ("GET", "calls") => (200, json!({ "calls": svc.active() })),
        ("POST", "calls") => match serde_json::from_slice::<super::calls_out::Dial>(body) {
            Ok(d) => match svc.dial(&d) {
                Ok(call) => (201, json!({ "call": call })),
                Err(e) => (409, json!({ "error": e })),
            },
            Err(e) => (400, json!({ "error": format!("expected {{\"to\", \"conference\", \"trunk\"?}}: {e}") })),
        },
        ("GET", "registrations") => (200, svc.registered()),
        ("DELETE", r) if r.starts_with("calls/") => match percent_decode(&r["calls/".len()..]) {
            Some(id) if svc.hangup(&id) => (200, json!({ "call": id, "ended": true })),
            Some(id) => (404, json!({ "error": format!("no call `{id}`") })),
            None => (400, json!({ "error": "bad percent-encoding in the call id" })),
        },
        ("GET", "events") => {
            let wait = Duration::from_millis(q("wait_ms").unwrap_or(0)).min(MAX_WAIT);
            let limit = q("limit").unwrap_or(1000).clamp(1, 10_000) as usize;
            let events = svc.events_after(q("after").unwrap_or(0), limit, wait);
            let last = events.last().map(|e| e.seq).or(q("after")).unwrap_or(0);
            (200, json!({ "events": events, "last": last }))
        }
        ("GET", "cdrs") => (200, json!({ "cdrs": svc.cdrs(q("limit").unwrap_or(1000) as usize) })),
        ("GET", "counters") => (200, json!(svc.counters())),
        (_, "calls" | "events" | "cdrs" | "counters" | "registrations") => (405, json!({ "error": format!("{method} is not served here") })),
        _ => (404, json!({ "error": "not found" })),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn percent_decoding() {
        assert_eq!(super::percent_decode("abc%40host").as_deref(), Some("abc@host"));
        assert_eq!(super::percent_decode("a%4"), None);
        assert_eq!(super::percent_decode("a%zz"), None);
        assert_eq!(super::percent_decode("%ff"), None);
    }
}

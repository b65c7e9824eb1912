//! The WebSocket session of one browser: JSON messages in, conference messages out.
//! The read timeout is short so the same thread also delivers what other
//! participants' actions send to this one (joins, offers, leaves).

use super::conference::{ConnId, Hub, Out};
use crate::http::Stream;
use crate::mediad_link::{LinkOps, MediadLink};
use control::Op;
use crossbeam_channel::{unbounded, Sender};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Error, Message, WebSocket};

/// How long a session waits for its browser before looking at its outbox.
const POLL: Duration = Duration::from_millis(20);
/// Largest message accepted from a browser (an SDP offer is a few KB).
const MAX_MESSAGE: usize = 256 * 1024;

pub struct Signalling {
    hub: Mutex<Hub>,
    link: Arc<MediadLink>,
    outboxes: Mutex<HashMap<ConnId, Sender<String>>>,
    next: AtomicU64,
}

impl Signalling {
    pub fn new(link: Arc<MediadLink>, pins: HashMap<String, String>, ice: super::ice_servers::IceServers) -> Self {
        Signalling { hub: Mutex::new(Hub::new(pins, ice)), link, outboxes: Mutex::new(HashMap::new()), next: AtomicU64::new(1) }
    }

    fn deliver(&self, outs: Vec<Out>) {
        let boxes = self.outboxes.lock().unwrap();
        for o in outs {
            if let Some(tx) = boxes.get(&o.to) {
                let _ = tx.send(o.msg.to_string());
            }
        }
    }

    fn dispatch(&self, conn: ConnId, text: &str) {
        let outs = match serde_json::from_str::<serde_json::Value>(text) {
            Ok(msg) => self.hub.lock().unwrap().handle(conn, &msg, &mut LinkOps(&self.link)),
            Err(e) => vec![Out { to: conn, msg: serde_json::json!({"type": "error", "message": format!("not JSON: {e}")}) }],
        };
        self.deliver(outs);
    }

    /// Follow mediad's active-speaker choices and tell the conferences, forever (a
    /// connection of its own, re-opened when mediad restarts).
    pub fn follow_speakers(self: Arc<Self>, socket: std::path::PathBuf) {
        loop {
            if let Ok((mut c, _)) = control::Client::connect(&socket, "signal-events") {
                let sub: Result<serde_json::Value, _> = c.call(Op::EventsSubscribe { events: vec!["room.active_speaker".into()] });
                if sub.is_ok() {
                    loop {
                        match c.next_event(Duration::from_secs(1)) {
                            Ok(Some(control::Event::ActiveSpeaker { room, leg })) => {
                                let outs = self.hub.lock().unwrap().active_speaker(&room, leg);
                                self.deliver(outs);
                            }
                            Ok(_) => {}
                            Err(_) => break,
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// Serve one upgraded connection until it closes; its participant then leaves.
    pub fn session(&self, stream: Stream) {
        let conn = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = unbounded::<String>();
        self.outboxes.lock().unwrap().insert(conn, tx);
        let _ = stream.tcp().set_read_timeout(Some(POLL));
        let cfg = WebSocketConfig::default().max_message_size(Some(MAX_MESSAGE)).max_frame_size(Some(MAX_MESSAGE));
        let mut ws = WebSocket::from_raw_socket(stream, Role::Server, Some(cfg));
        'session: loop {
            match ws.read() {
                Ok(Message::Text(t)) => self.dispatch(conn, t.as_str()),
                Ok(Message::Close(_)) => break,
                Ok(_) => {}
                Err(Error::Io(e)) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => break,
            }
            while let Ok(m) = rx.try_recv() {
                if ws.send(Message::text(m)).is_err() {
                    break 'session;
                }
            }
        }
        self.outboxes.lock().unwrap().remove(&conn);
        let outs = self.hub.lock().unwrap().leave(conn, &mut LinkOps(&self.link));
        self.deliver(outs);
    }
}

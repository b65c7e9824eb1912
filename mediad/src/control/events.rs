//! Event fan-out to subscribed control connections. Workers and the registry post
//! events into one channel; a pump thread writes them to every subscriber whose
//! filter matches. A subscriber that cannot keep up (write times out) is dropped.

use control::Event;
use crossbeam_channel::Receiver;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};

pub type Conn = Arc<Mutex<UnixStream>>;

struct Subscriber {
    conn_id: u64,
    prefixes: Vec<String>,
    conn: Conn,
}

#[derive(Default, Clone)]
pub struct Hub {
    subs: Arc<Mutex<Vec<Subscriber>>>,
}

impl Hub {
    pub fn subscribe(&self, conn_id: u64, prefixes: Vec<String>, conn: Conn) {
        let mut s = self.subs.lock().unwrap();
        s.retain(|x| x.conn_id != conn_id);
        s.push(Subscriber { conn_id, prefixes, conn });
    }

    pub fn unsubscribe(&self, conn_id: u64) {
        self.subs.lock().unwrap().retain(|x| x.conn_id != conn_id);
    }

    pub fn publish(&self, e: &Event) {
        let line = match serde_json::to_string(e) {
            Ok(mut l) => {
                l.push('\n');
                l
            }
            Err(_) => return,
        };
        let name = e.name();
        let mut subs = self.subs.lock().unwrap();
        subs.retain(|s| {
            if !s.prefixes.is_empty() && !s.prefixes.iter().any(|p| name.starts_with(p.as_str())) {
                return true;
            }
            let mut c = s.conn.lock().unwrap();
            c.write_all(line.as_bytes()).is_ok()
        });
    }

    /// Run the pump until every sender is gone.
    pub fn pump(self, rx: Receiver<Event>) {
        for e in rx {
            self.publish(&e);
        }
    }
}

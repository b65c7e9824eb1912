//! SIP as a running service: the one place SIP touches a socket. One thread receives
//! datagrams and runs the endpoint's timers; another follows mediad's events (key
//! presses, prompts that ended) for the calls' legs; the HTTP API reads the call log
//! and hangs calls up. All of them share the sans-IO endpoint under one lock.

use super::call_log::{CallLog, Cdr, Logged};
use super::endpoint::{Counters, Endpoint};
use crate::mediad_link::{LinkOps, MediadLink};
use std::net::UdpSocket;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub struct SipService {
    sock: UdpSocket,
    ep: Mutex<Endpoint>,
    link: Arc<MediadLink>,
    log: Mutex<CallLog>,
    /// Woken when the log grows (long-polling event readers wait on it).
    grew: Condvar,
}

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl SipService {
    /// Serve SIP on `sock`; `events_socket` is mediad's control socket, on which a
    /// second connection subscribes to the events SIP calls need.
    pub fn start(sock: UdpSocket, ep: Endpoint, link: Arc<MediadLink>, events_socket: PathBuf) -> Arc<Self> {
        let svc = Arc::new(SipService { sock, ep: Mutex::new(ep), link, log: Mutex::new(CallLog::default()), grew: Condvar::new() });
        let s = svc.clone();
        std::thread::Builder::new().name("sip-udp".into()).spawn(move || s.receive_loop()).expect("thread");
        let s = svc.clone();
        std::thread::Builder::new().name("sip-events".into()).spawn(move || s.follow_mediad(events_socket)).expect("thread");
        svc
    }

    fn receive_loop(&self) {
        let mut buf = vec![0u8; 65_536];
        loop {
            let wait = {
                let ep = self.ep.lock().unwrap();
                ep.next_due().map_or(Duration::from_millis(200), |d| d.saturating_duration_since(Instant::now()))
            };
            let _ = self.sock.set_read_timeout(Some(wait.clamp(Duration::from_millis(1), Duration::from_millis(200))));
            let got = self.sock.recv_from(&mut buf);
            let mut ep = self.ep.lock().unwrap();
            match got {
                Ok((n, from)) => ep.receive(&buf[..n], from, Instant::now(), &mut LinkOps(&self.link)),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(e) => tracing::warn!("SIP socket: {e}"),
            }
            ep.tick(Instant::now(), &mut LinkOps(&self.link));
            self.flush(&mut ep);
        }
    }

    /// Key presses and prompt ends from mediad, for as long as the process lives
    /// (reconnecting when mediad restarts).
    fn follow_mediad(&self, socket: PathBuf) {
        loop {
            if let Ok((mut c, _)) = control::Client::connect(&socket, "signal-sip-events") {
                let want = vec!["leg.dtmf".to_string(), "prompt.done".to_string()];
                if c.call::<serde_json::Value>(control::Op::EventsSubscribe { events: want }).is_ok() {
                    loop {
                        match c.next_event(Duration::from_secs(1)) {
                            Ok(Some(ev)) => {
                                let mut ep = self.ep.lock().unwrap();
                                ep.media_event(&ev, Instant::now(), &mut LinkOps(&self.link));
                                self.flush(&mut ep);
                            }
                            Ok(None) => {}
                            Err(_) => break,
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// Send what the endpoint queued and log its call events.
    fn flush(&self, ep: &mut Endpoint) {
        for (to, bytes) in ep.out.drain(..) {
            if let Err(e) = self.sock.send_to(&bytes, to) {
                tracing::debug!("SIP send to {to}: {e}");
            }
        }
        if ep.events.is_empty() {
            return;
        }
        let mut log = self.log.lock().unwrap();
        let at = unix_ms();
        for e in ep.events.drain(..) {
            tracing::info!("SIP {e:?}");
            log.record(e, at);
        }
        self.grew.notify_all();
    }

    /// End a call from our side (BYE); false when there is no such call.
    pub fn hangup(&self, call_id: &str) -> bool {
        let mut ep = self.ep.lock().unwrap();
        if !ep.has_call(call_id) {
            return false;
        }
        ep.hangup(call_id, Instant::now(), &mut LinkOps(&self.link), "hung up by the API");
        self.flush(&mut ep);
        true
    }

    /// Put `d.to` into `d.conference` (a call out); its Call-ID.
    pub fn dial(&self, d: &super::calls_out::Dial) -> Result<String, String> {
        let mut ep = self.ep.lock().unwrap();
        let r = ep.dial(d, Instant::now(), &mut LinkOps(&self.link));
        self.flush(&mut ep);
        r
    }

    pub fn registered(&self) -> serde_json::Value {
        let ep = self.ep.lock().unwrap();
        let list: Vec<_> = ep
            .registered(Instant::now())
            .into_iter()
            .map(|(name, contact, addr, left)| serde_json::json!({"name": name, "contact": contact, "address": addr, "expires_s": left}))
            .collect();
        serde_json::json!({ "registrations": list })
    }

    pub fn active(&self) -> Vec<Cdr> {
        self.log.lock().unwrap().active()
    }

    pub fn cdrs(&self, limit: usize) -> Vec<Cdr> {
        self.log.lock().unwrap().cdrs(limit)
    }

    pub fn counters(&self) -> Counters {
        self.ep.lock().unwrap().counters.clone()
    }

    /// Events after `seq`; with `wait`, blocks up to that long for the first one.
    pub fn events_after(&self, seq: u64, limit: usize, wait: Duration) -> Vec<Logged> {
        let end = Instant::now() + wait;
        let mut log = self.log.lock().unwrap();
        loop {
            let now = Instant::now();
            if log.last_seq() > seq || now >= end {
                return log.events_after(seq, limit);
            }
            log = self.grew.wait_timeout(log, end - now).unwrap().0;
        }
    }
}

//! signal's link to mediad: one control connection, re-established with backoff when
//! the daemon restarts. mediad keeps forwarding while signal is away; after a
//! reconnect signal re-reads what exists (legs, rooms) instead of assuming.

use control::{Client, ClientError, DaemonStats, LegInfo, Op, RoomInfo};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct MediadLink {
    socket: PathBuf,
    conn: Mutex<Option<Client>>,
    last_error: Mutex<Option<String>>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Snapshot {
    pub connected: bool,
    pub error: Option<String>,
    pub stats: Option<DaemonStats>,
    pub rooms: Vec<RoomInfo>,
    pub legs: Vec<LegInfo>,
}

impl MediadLink {
    pub fn new(socket: PathBuf) -> Self {
        MediadLink { socket, conn: Mutex::new(None), last_error: Mutex::new(None) }
    }

    /// Run `f` on a live connection, connecting first if needed; a broken connection
    /// is dropped so the next call reconnects.
    pub fn with<T>(&self, f: impl FnOnce(&mut Client) -> Result<T, ClientError>) -> Result<T, ClientError> {
        let mut guard = self.conn.lock().unwrap();
        if guard.is_none() {
            let (c, hello) = Client::connect(&self.socket, "signal").map_err(|e| self.note(e))?;
            tracing::info!("connected to {} over protocol {}", hello.daemon, hello.version);
            *guard = Some(c);
        }
        let r = f(guard.as_mut().expect("connected"));
        if let Err(ClientError::Io(_) | ClientError::Protocol(_)) = &r {
            *guard = None;
        }
        r.map_err(|e| self.note(e))
    }

    fn note(&self, e: ClientError) -> ClientError {
        *self.last_error.lock().unwrap() = Some(e.to_string());
        e
    }

    pub fn snapshot(&self) -> Snapshot {
        let r = self.with(|c| {
            let stats: DaemonStats = c.call(Op::StatsDaemon)?;
            let rooms: Vec<RoomInfo> = c.call(Op::RoomList)?;
            let legs: Vec<LegInfo> = c.call(Op::LegList)?;
            Ok((stats, rooms, legs))
        });
        match r {
            Ok((stats, rooms, legs)) => Snapshot { connected: true, error: None, stats: Some(stats), rooms, legs },
            Err(e) => Snapshot { connected: false, error: Some(e.to_string()), stats: None, rooms: vec![], legs: vec![] },
        }
    }

    /// Wait until mediad answers (start-up ordering in dev mode and systemd).
    pub fn wait_ready(&self, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if self.with(|c| c.daemon_stats()).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

/// The conference logic's view of mediad (WebRTC hub and SIP endpoint alike),
/// through the control link.
pub struct LinkOps<'a>(pub &'a MediadLink);

impl crate::webrtc::conference::MediaOps for LinkOps<'_> {
    /// A conference mixes audio and, where mediad has video threads, composes video
    /// for the participants that send or take it.
    fn ensure_room(&mut self, room: &str) -> Result<bool, String> {
        let create = |video: bool| Op::RoomCreate { room: Some(room.to_string()), mix: Some(control::MixSettings::default()), core: None, video: video.then(Default::default) };
        let mut r = self.0.with(|c| c.call::<control::RoomInfo>(create(true)));
        if matches!(&r, Err(ClientError::Daemon(e)) if e.code == control::ErrorCode::Unsupported) {
            r = self.0.with(|c| c.call::<control::RoomInfo>(create(false)));
        }
        match r {
            Ok(info) => Ok(info.video.is_some()),
            // Made by another front end (or by the operator, maybe without video).
            Err(ClientError::Daemon(e)) if e.code == control::ErrorCode::RoomExists => {
                let rooms: Vec<control::RoomInfo> = self.0.with(|c| c.call(Op::RoomList)).map_err(|e| e.to_string())?;
                Ok(rooms.iter().any(|r| r.room == room && r.video.is_some()))
            }
            Err(e) => Err(e.to_string()),
        }
    }
    /// Browsers and phones share conferences: the room goes only once it is empty
    /// (mediad checks and deletes in one step, so no leg slips in between).
    fn delete_room(&mut self, room: &str) {
        let _: Result<serde_json::Value, _> = self.0.with(|c| c.call(Op::RoomDelete { room: room.to_string(), if_empty: true }));
    }
    fn create_leg(&mut self, spec: control::LegCreate) -> Result<LegInfo, String> {
        self.0.with(|c| c.call(Op::LegCreate(spec))).map_err(|e| e.to_string())
    }
    fn update_leg(&mut self, upd: control::LegUpdate) -> Result<(), String> {
        self.0.with(|c| c.call::<serde_json::Value>(Op::LegUpdate(upd))).map(|_| ()).map_err(|e| e.to_string())
    }
    fn delete_leg(&mut self, leg: control::LegId) {
        let _: Result<serde_json::Value, _> = self.0.with(|c| c.call(Op::LegDelete { leg }));
    }
    fn attach(&mut self, room: &str, leg: control::LegId) -> Result<(), String> {
        self.0.with(|c| c.room_attach(room, leg)).map(|_| ()).map_err(|e| e.to_string())
    }
    fn play_prompt(&mut self, leg: control::LegId, file: &str) -> Result<u64, String> {
        let op = Op::PromptPlay(control::PromptPlay { leg: Some(leg), room: None, file: file.to_string(), looping: false });
        let v: serde_json::Value = self.0.with(|c| c.call(op)).map_err(|e| e.to_string())?;
        v["id"].as_u64().ok_or_else(|| format!("prompt.play answered without an id: {v}"))
    }
    fn stop_prompt(&mut self, id: u64) {
        // A prompt that ended meanwhile is no error worth reporting.
        let _: Result<serde_json::Value, _> = self.0.with(|c| c.call(Op::PromptStop { id }));
    }
    fn leg_stats(&mut self, leg: control::LegId) -> Option<control::LegStats> {
        self.0.with(|c| c.leg_stats(leg)).ok()
    }
    fn request_keyframe(&mut self, leg: control::LegId) {
        let _: Result<serde_json::Value, _> = self.0.with(|c| c.call(Op::VideoKeyframe { leg }));
    }
}

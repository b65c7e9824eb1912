//! A blocking control-socket client: what mediactl, tests and perf use. signal keeps
//! one of these per mediad and re-connects when the daemon restarts.

use crate::events::Event;
use crate::messages::*;
use crate::stats::{DaemonStats, LegStats};
use serde::de::DeserializeOwned;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

#[derive(Debug)]
pub enum ClientError {
    Io(std::io::Error),
    /// The daemon answered with an error.
    Daemon(ErrorBody),
    /// The daemon answered something we could not read.
    Protocol(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Io(e) => write!(f, "control socket: {e}"),
            ClientError::Daemon(e) => write!(f, "{e}"),
            ClientError::Protocol(e) => write!(f, "protocol: {e}"),
        }
    }
}
impl std::error::Error for ClientError {}
impl From<std::io::Error> for ClientError {
    fn from(e: std::io::Error) -> Self {
        ClientError::Io(e)
    }
}

impl ClientError {
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Daemon(b) => Some(b.code),
            _ => None,
        }
    }
}

pub struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: u64,
    /// Events that arrived while waiting for a reply; drained by `next_event`.
    pending_events: std::collections::VecDeque<Event>,
}

impl Client {
    /// Connect and perform the `hello` handshake.
    pub fn connect(path: impl AsRef<Path>, name: &str) -> Result<(Self, HelloOk), ClientError> {
        let stream = UnixStream::connect(path)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let writer = stream.try_clone()?;
        let mut c = Client { reader: BufReader::new(stream), writer, next_id: 1, pending_events: Default::default() };
        let hello: HelloOk =
            c.call(Op::Hello { version: crate::PROTOCOL_VERSION, client: Some(name.to_string()) })?;
        Ok((c, hello))
    }

    /// Send one raw line and return the raw reply line (mediactl's `--raw`, tests of
    /// malformed requests).
    pub fn raw(&mut self, line: &str) -> Result<String, ClientError> {
        self.writer.write_all(line.trim_end().as_bytes())?;
        self.writer.write_all(b"\n")?;
        loop {
            let l = self.read_line()?;
            if l.contains("\"event\"") && !l.contains("\"id\"") {
                continue;
            }
            return Ok(l);
        }
    }

    fn read_line(&mut self) -> Result<String, ClientError> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(ClientError::Io(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "daemon closed the socket")));
        }
        Ok(line)
    }

    /// Send an op and wait for its reply, decoding `ok` into `T`.
    pub fn call<T: DeserializeOwned>(&mut self, op: Op) -> Result<T, ClientError> {
        let value = self.call_value(op)?;
        serde_json::from_value(value).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    pub fn call_value(&mut self, op: Op) -> Result<serde_json::Value, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let line = serde_json::to_string(&Request { id, op }).expect("requests serialize");
        self.writer.write_all(line.as_bytes())?;
        self.writer.write_all(b"\n")?;
        loop {
            let line = self.read_line()?;
            let v: serde_json::Value =
                serde_json::from_str(&line).map_err(|e| ClientError::Protocol(format!("{e}: {line}")))?;
            if v.get("event").is_some() {
                if let Ok(ev) = serde_json::from_value(v) {
                    self.pending_events.push_back(ev);
                }
                continue;
            }
            let resp: Response = serde_json::from_value(v).map_err(|e| ClientError::Protocol(e.to_string()))?;
            if resp.id != Some(id) {
                return Err(ClientError::Protocol(format!("reply for id {:?}, expected {id}", resp.id)));
            }
            return match resp.outcome {
                Outcome::Ok(v) => Ok(v),
                Outcome::Error(e) => Err(ClientError::Daemon(e)),
            };
        }
    }

    /// Wait up to `timeout` for the next pushed event (after `events.subscribe`).
    pub fn next_event(&mut self, timeout: Duration) -> Result<Option<Event>, ClientError> {
        if let Some(e) = self.pending_events.pop_front() {
            return Ok(Some(e));
        }
        self.reader.get_ref().set_read_timeout(Some(timeout))?;
        let r = self.read_line();
        self.reader.get_ref().set_read_timeout(Some(Duration::from_secs(10)))?;
        match r {
            Ok(line) => serde_json::from_str(&line).map(Some).map_err(|e| ClientError::Protocol(format!("{e}: {line}"))),
            Err(ClientError::Io(e)) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => Ok(None),
            Err(e) => Err(e),
        }
    }

    // Typed shorthands used by signal, tests and perf.
    pub fn leg_create(&mut self, spec: LegCreate) -> Result<LegInfo, ClientError> {
        self.call(Op::LegCreate(spec))
    }
    pub fn leg_update(&mut self, upd: LegUpdate) -> Result<LegInfo, ClientError> {
        self.call(Op::LegUpdate(upd))
    }
    pub fn leg_delete(&mut self, leg: LegId) -> Result<serde_json::Value, ClientError> {
        self.call_value(Op::LegDelete { leg })
    }
    pub fn room_create(&mut self, room: Option<&str>) -> Result<RoomInfo, ClientError> {
        self.call(Op::RoomCreate { room: room.map(str::to_string), mix: None, core: None, video: None })
    }
    pub fn room_attach(&mut self, room: &str, leg: LegId) -> Result<RoomInfo, ClientError> {
        self.call(Op::RoomAttach { room: room.to_string(), leg })
    }
    pub fn leg_stats(&mut self, leg: LegId) -> Result<LegStats, ClientError> {
        self.call(Op::StatsLeg { leg })
    }
    pub fn daemon_stats(&mut self) -> Result<DaemonStats, ClientError> {
        self.call(Op::StatsDaemon)
    }
}

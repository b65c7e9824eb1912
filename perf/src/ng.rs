//! rtpengine's ng control protocol: a cookie and a bencoded dictionary over UDP.

use serde_bencode::value::Value;
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

pub struct NgClient {
    sock: UdpSocket,
    server: SocketAddr,
    n: std::cell::Cell<u32>,
}

fn s(v: &str) -> Value {
    Value::Bytes(v.as_bytes().to_vec())
}

impl NgClient {
    pub fn new(server: SocketAddr) -> Self {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        NgClient { sock, server, n: 0.into() }
    }

    fn call(&self, dict: Vec<(&str, Value)>) -> Result<HashMap<String, String>, String> {
        self.n.set(self.n.get() + 1);
        let cookie = format!("c{}", self.n.get());
        let map: HashMap<Vec<u8>, Value> = dict.into_iter().map(|(k, v)| (k.as_bytes().to_vec(), v)).collect();
        let body = serde_bencode::to_bytes(&Value::Dict(map)).map_err(|e| e.to_string())?;
        let mut msg = format!("{cookie} ").into_bytes();
        msg.extend(body);
        self.sock.send_to(&msg, self.server).map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 65536];
        let n = self.sock.recv(&mut buf).map_err(|e| format!("ng: {e}"))?;
        let reply = &buf[..n];
        let sp = reply.iter().position(|&b| b == b' ').ok_or("ng: no cookie")?;
        let v: Value = serde_bencode::from_bytes(&reply[sp + 1..]).map_err(|e| e.to_string())?;
        let Value::Dict(d) = v else { return Err("ng: reply is not a dictionary".into()) };
        let out: HashMap<String, String> = d
            .into_iter()
            .filter_map(|(k, v)| match v {
                Value::Bytes(b) => Some((String::from_utf8_lossy(&k).into(), String::from_utf8_lossy(&b).into())),
                _ => None,
            })
            .collect();
        match out.get("result").map(String::as_str) {
            Some("ok") | Some("pong") => Ok(out),
            _ => Err(format!("ng: {out:?}")),
        }
    }

    pub fn ping(&self) -> Result<(), String> {
        self.call(vec![("command", s("ping"))]).map(|_| ())
    }

    pub fn offer(&self, call: &str, from: &str, sdp: &str) -> Result<String, String> {
        let r = self.call(vec![("command", s("offer")), ("call-id", s(call)), ("from-tag", s(from)), ("sdp", s(sdp))])?;
        r.get("sdp").cloned().ok_or_else(|| "offer: no sdp".into())
    }

    pub fn answer(&self, call: &str, from: &str, to: &str, sdp: &str) -> Result<String, String> {
        let r = self.call(vec![
            ("command", s("answer")),
            ("call-id", s(call)),
            ("from-tag", s(from)),
            ("to-tag", s(to)),
            ("sdp", s(sdp)),
        ])?;
        r.get("sdp").cloned().ok_or_else(|| "answer: no sdp".into())
    }
}

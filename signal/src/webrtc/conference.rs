//! Conferences of browsers: who is in which room, what each publishes, what each
//! receives, turned into mediad legs and SDP. Fed client messages, it answers with
//! messages for connections; mediad is reached only through `MediaOps`, so the logic
//! runs in tests against a fake.
//!
//! Each browser has two peer connections, as LiveKit does: a *publisher* it offers
//! (mediad answers, one recvonly leg with one stream per track) and a *subscriber*
//! we offer (one sendonly leg in the same room that skips the browser's own
//! publisher). Roles never swap, so offers never collide: a change while a
//! subscriber offer is unanswered is sent once the answer arrives.
//!
//! Audio: every room mixes (phones hear the browsers). A browser that joins with
//! `"audio": "mix"` hears the room's mix on its publisher connection (the audio
//! m-line answered `sendrecv`, mediad's mix SSRC) and gets no SFU audio; the others
//! keep one SFU audio track per publisher and get no mix.
//!
//! Video MCU: where mediad composes the room's video, every publisher's camera is
//! also a picture of the composition (tile named after the participant), and a
//! browser that joins with `"mcu"` gets the composite as one more video track (stream
//! id `mcu`) on its subscriber connection, next to its SFU tracks, without its own
//! picture ("exclude self"). A shared screen (`share`, a third connection: screen.rs)
//! is an SFU track for the others and the composition's content tile.

use super::sdp::{self, Codec, Kind};
use control::{AudioPayload, AudioSend, LegAudio, LegCreate, LegId, LegInfo, LegUpdate, LegVideo, Media, OutputClass, StreamSpec, VideoPayload, VideoSend, WebrtcRemote};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

pub type ConnId = u64;

/// What the conference needs from mediad.
pub trait MediaOps {
    /// Make sure the conference's room exists; whether it composes video (mediad has
    /// video threads).
    fn ensure_room(&mut self, room: &str) -> Result<bool, String>;
    fn delete_room(&mut self, room: &str);
    fn create_leg(&mut self, spec: LegCreate) -> Result<LegInfo, String>;
    fn update_leg(&mut self, upd: LegUpdate) -> Result<(), String>;
    fn delete_leg(&mut self, leg: LegId);
    /// Put a leg that is in no room into `room` (a caller let in after the PIN).
    fn attach(&mut self, room: &str, leg: LegId) -> Result<(), String>;
    /// Play a prompt file to one leg; mediad's prompt id.
    fn play_prompt(&mut self, leg: LegId, file: &str) -> Result<u64, String>;
    fn stop_prompt(&mut self, id: u64);
    /// The leg's counters (for a call's QoS record before the leg goes).
    fn leg_stats(&mut self, leg: LegId) -> Option<control::LegStats>;
    /// The next frame of the composite `leg` takes is a key frame.
    fn request_keyframe(&mut self, leg: LegId);
}

/// A message for one connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Out {
    pub to: ConnId,
    pub msg: Value,
}

#[derive(Debug, Clone)]
struct Track {
    kind: Kind,
    codec: Codec,
    /// The SSRC mediad forwards this track under.
    ssrc: u32,
}

#[derive(Debug, Clone)]
struct Slot {
    mid: String,
    from: ConnId,
    track: usize,
    kind: Kind,
    codec: Codec,
    ssrc: u32,
    active: bool,
    /// The MCU view: the room's composite, not another participant's track.
    mcu: bool,
}

#[derive(Debug, Default)]
struct Subscriber {
    leg: Option<LegInfo>,
    slots: Vec<Slot>,
    /// `o=` session id, fixed for the subscriber's life; `version` counts offers.
    session: u64,
    version: u64,
    awaiting_answer: bool,
    dirty: bool,
}

#[derive(Debug)]
struct Participant {
    name: String,
    publisher: Option<(LegId, Vec<Track>)>,
    wants_media: bool,
    /// Asked for the room's mix (`"audio": "mix"`) instead of SFU audio.
    wants_mix: bool,
    /// Its publisher leg takes the mix: subscribe it to no audio.
    hears_mix: bool,
    /// Asked for the MCU view, of this size.
    mcu: Option<(usize, usize)>,
    /// The leg and track of its shared screen.
    screen: Option<(LegId, Vec<Track>)>,
    sub: Subscriber,
}

/// Slots name a participant's screen tracks from this index on (its camera's from 0).
const SCREEN_TRACK: usize = 1000;

/// What a `join` asks for besides the room.
struct JoinOpts {
    /// Whether it will publish (receivers that never do get their offer at once).
    publish: bool,
    /// `"audio": "mix"`.
    mix: bool,
    /// `"mcu": true` or `{"width": w, "height": h}`.
    mcu: Option<(usize, usize)>,
}

/// The MCU view's size: 1280x720 unless asked otherwise (mediad's limits: width a
/// multiple of 8 up to 3840, height even up to 2160).
fn mcu_size(v: Option<&Value>) -> Result<Option<(usize, usize)>, String> {
    let Some(v) = v.filter(|v| !v.is_null() && *v != &Value::Bool(false)) else { return Ok(None) };
    let dim = |k: &str, default: usize| v.get(k).map_or(Some(default), |d| d.as_u64().map(|d| d as usize));
    match (v, dim("width", 1280), dim("height", 720)) {
        (Value::Bool(true) | Value::Object(_), Some(w), Some(h)) if (64..=3840).contains(&w) && (64..=2160).contains(&h) && w % 8 == 0 && h % 2 == 0 => Ok(Some((w, h))),
        _ => Err("mcu: true or {\"width\", \"height\"}: 64x64 to 3840x2160, width a multiple of 8, height even".into()),
    }
}

/// Encoder target for a composite of `w`x`h`: about 1.5 Mbit/s at 720p, by area.
fn mcu_bitrate(w: usize, h: usize) -> u32 {
    ((w * h) as u64 * 1_500_000 / (1280 * 720)).clamp(150_000, 6_000_000) as u32
}

/// The MCU view's codec: VP8 (every browser decodes it), under the payload type a
/// publisher's VP8 has in this subscriber's SDP, else the first one no slot uses.
fn mcu_codec(slots: &[Slot]) -> Codec {
    let pt = slots.iter().find(|s| s.codec.name.eq_ignore_ascii_case("VP8")).map(|s| s.codec.pt).unwrap_or_else(|| {
        (96..=127).find(|pt| !slots.iter().any(|s| s.codec.pt == *pt)).unwrap_or(96)
    });
    // NACK is answered from the serving core's cache; a loss it cannot repair asks for a
    // key frame.
    Codec { pt, name: "VP8".into(), clock: 90_000, channels: None, fmtp: None, rtcp_fb: vec!["nack".into(), "nack pli".into(), "ccm fir".into()] }
}

#[derive(Debug, Default)]
struct Conference {
    participants: BTreeMap<ConnId, Participant>,
    /// The active speaker, told to those who join later too.
    speaker: Option<ConnId>,
    /// mediad composes the room's video.
    video: bool,
}

#[derive(Default)]
pub struct Hub {
    confs: HashMap<String, Conference>,
    room_of: HashMap<ConnId, String>,
    /// Conference id → PIN, for conferences that have one.
    pins: HashMap<String, String>,
    /// STUN/TURN servers handed to each participant (with its own credentials).
    ice: super::ice_servers::IceServers,
    session_id: u64,
}

fn error(to: ConnId, message: impl Into<String>) -> Vec<Out> {
    vec![Out { to, msg: json!({"type": "error", "message": message.into()}) }]
}

/// Conference ids are what people type and what mediad names rooms: keep them plain.
pub fn valid_conference_id(cid: &str) -> bool {
    !cid.is_empty() && cid.len() <= 64 && cid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Hub {
    pub fn new(pins: HashMap<String, String>, ice: super::ice_servers::IceServers) -> Self {
        let mut seed = [0u8; 8];
        let _ = openssl::rand::rand_bytes(&mut seed);
        Hub { pins, ice, session_id: u64::from_le_bytes(seed) >> 2, ..Default::default() }
    }

    /// One message from connection `conn`.
    pub fn handle(&mut self, conn: ConnId, msg: &Value, media: &mut dyn MediaOps) -> Vec<Out> {
        let kind = msg.get("type").and_then(Value::as_str).unwrap_or("");
        let text = |k: &str| msg.get(k).and_then(Value::as_str);
        match kind {
            "join" => {
                let mcu = match mcu_size(msg.get("mcu")) {
                    Ok(m) => m,
                    Err(e) => return error(conn, e),
                };
                let opts = JoinOpts { publish: msg.get("publish").and_then(Value::as_bool).unwrap_or(true), mix: text("audio") == Some("mix"), mcu };
                self.join(conn, text("room").unwrap_or(""), text("name").unwrap_or(""), text("pin"), opts, media)
            }
            "publish" => match text("sdp") {
                Some(s) => self.publish(conn, s, media),
                None => error(conn, "publish needs sdp"),
            },
            "answer" => match text("sdp") {
                Some(s) => self.subscriber_answer(conn, s, media),
                None => error(conn, "answer needs sdp"),
            },
            // ICE-lite: we learn the browser's address from its checks, not candidates.
            "candidate" => vec![],
            "share" => match text("sdp") {
                Some(s) => self.share(conn, s, media),
                None => error(conn, "share needs sdp"),
            },
            "unshare" => self.unshare(conn, media),
            "leave" => self.leave(conn, media),
            _ => error(conn, format!("unknown message type `{kind}`")),
        }
    }

    fn join(&mut self, conn: ConnId, room: &str, name: &str, pin: Option<&str>, opts: JoinOpts, media: &mut dyn MediaOps) -> Vec<Out> {
        let publish = opts.publish;
        if self.room_of.contains_key(&conn) {
            return error(conn, "already joined");
        }
        if !valid_conference_id(room) {
            return error(conn, "conference id: 1-64 letters, digits, '-' or '_'");
        }
        if let Some(want) = self.pins.get(room) {
            if pin != Some(want.as_str()) {
                return error(conn, "wrong PIN");
            }
        }
        let name: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
        let name = if name.is_empty() { format!("guest-{conn}") } else { name };
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let ice_servers = self.ice.for_participant(&name, now);
        // A conference that exists here has its mediad room already.
        if !self.confs.contains_key(room) {
            match media.ensure_room(room) {
                Ok(video) => self.confs.insert(room.to_string(), Conference { video, ..Default::default() }),
                Err(e) => return error(conn, format!("media: {e}")),
            };
        }
        let conf = self.confs.get_mut(room).expect("ensured above");
        let others: Vec<Value> = conf.participants.iter().map(|(id, p)| json!({"id": id, "name": p.name})).collect();
        let mut out: Vec<Out> = conf
            .participants
            .keys()
            .map(|&to| Out { to, msg: json!({"type": "participant_joined", "id": conn, "name": name}) })
            .collect();
        let mcu = opts.mcu.filter(|_| conf.video);
        conf.participants.insert(conn, Participant { name, publisher: None, wants_media: !publish, wants_mix: opts.mix, hears_mix: false, mcu, screen: None, sub: Subscriber::default() });
        self.room_of.insert(conn, room.to_string());
        let conf = self.confs.get_mut(room).expect("inserted above");
        out.insert(
            0,
            Out { to: conn, msg: json!({"type": "joined", "id": conn, "room": room, "participants": others, "speaker": conf.speaker, "ice_servers": ice_servers, "mcu": mcu.is_some()}) },
        );
        if !publish {
            out.extend(self.sync(room, media));
        }
        out
    }

    fn publish(&mut self, conn: ConnId, offer: &str, media: &mut dyn MediaOps) -> Vec<Out> {
        let Some(room) = self.room_of.get(&conn).cloned() else { return error(conn, "join first") };
        let desc = match sdp::parse(offer) {
            Ok(d) => d,
            Err(e) => return error(conn, e.to_string()),
        };
        let conf = self.confs.get_mut(&room).expect("joined");
        let p = conf.participants.get_mut(&conn).expect("joined");
        if p.publisher.is_some() {
            return error(conn, "already publishing");
        }
        // One stream per m-line the browser sends with a codec we forward.
        let accepted: Vec<Option<&Codec>> = desc
            .media
            .iter()
            .map(|m| sdp::choose_codec(m).filter(|_| m.port != 0 && (m.direction == "sendonly" || m.direction == "sendrecv")))
            .collect();
        let streams: Vec<StreamSpec> = desc.media.iter().zip(&accepted).filter_map(|(m, c)| c.map(|c| stream_spec(m, c))).collect();
        if streams.is_empty() {
            return error(conn, "the offer sends no audio or video we can forward (Opus, VP8, H.264 mode 1, AV1, VP9)");
        }
        // Transport-wide sequence numbers share one id across the BUNDLE.
        let twcc_ext = desc.media.iter().zip(&accepted).filter(|(_, c)| c.is_some()).find_map(|(m, _)| m.extmap_id(sdp::TWCC_URI));
        // The first Opus audio m-line is the voice the room's mix hears; it carries
        // the mix back when asked for and the browser offered to receive.
        let voice = desc.media.iter().zip(&accepted).position(|(m, c)| m.kind == Kind::Audio && c.is_some_and(|c| c.name.eq_ignore_ascii_case("opus")));
        let hears_mix = voice.is_some_and(|i| p.wants_mix && desc.media[i].direction == "sendrecv");
        let audio = voice.map(|i| {
            let (m, pt) = (&desc.media[i], accepted[i].expect("accepted").pt);
            LegAudio {
                receive: vec![AudioPayload { pt, codec: "opus".into() }],
                send: hears_mix.then(|| AudioSend { pt, codec: "opus".into(), ptime: 20 }),
                level_ext: audio_level(m),
                // Browsers send DTMF as RFC 4733 only; Opus carries no tones to detect.
                inband_dtmf: false,
                ..Default::default()
            }
        });
        // The camera is a picture of the room's composition too (the first video m-line
        // in a codec mediad decodes).
        let video = desc.media.iter().zip(&accepted).filter(|_| conf.video).find_map(|(m, c)| {
            c.filter(|c| m.kind == Kind::Video && ["H264", "VP8", "AV1"].iter().any(|n| c.name.eq_ignore_ascii_case(n)))
        });
        let video = video.map(|c| Box::new(LegVideo { receive: vec![VideoPayload { pt: c.pt, codec: c.name.to_ascii_uppercase() }], name: Some(p.name.clone()), ..Default::default() }));
        let spec = LegCreate {
            audio,
            video,
            webrtc: Some(WebrtcRemote { ice_ufrag: desc.ice_ufrag.clone(), ice_pwd: desc.ice_pwd.clone(), fingerprint: desc.fingerprint.clone() }),
            streams,
            twcc_ext,
            sendonly: true,
            room: Some(room.clone()),
            label: Some(format!("{}/pub", p.name)),
            ..Default::default()
        };
        let info = match media.create_leg(spec) {
            Ok(i) => i,
            Err(e) => return error(conn, format!("media: {e}")),
        };
        let local = info.webrtc.as_ref().expect("a WebRTC leg");
        let mix_send = info.mix_ssrc.filter(|_| hears_mix).map(|ssrc| (ssrc, "mix", "mix-audio"));
        let mut tracks = Vec::new();
        let sections: Vec<sdp::Section> = desc
            .media
            .iter()
            .zip(&accepted)
            .enumerate()
            .map(|(i, (m, c))| {
                let mix_here = mix_send.filter(|_| voice == Some(i));
                if let Some(c) = c {
                    tracks.push(Track { kind: m.kind, codec: (*c).clone(), ssrc: info.out_ssrcs[tracks.len()] });
                }
                let simulcast = simulcast_rid_ext(m).is_some();
                let mut extmaps = Vec::new();
                if c.is_some() {
                    extmaps.extend(audio_level(m).map(|id| (id, sdp::AUDIO_LEVEL_URI)));
                    extmaps.extend(twcc_ext.filter(|&id| m.extmap_id(sdp::TWCC_URI) == Some(id)).map(|id| (id, sdp::TWCC_URI)));
                    if simulcast {
                        extmaps.extend(m.extmap_id(sdp::MID_URI).map(|id| (id, sdp::MID_URI)));
                        extmaps.extend(m.extmap_id(sdp::RID_URI).map(|id| (id, sdp::RID_URI)));
                    }
                }
                sdp::Section {
                    kind: m.kind,
                    mid: &m.mid,
                    codec: *c,
                    direction: if mix_here.is_some() { "sendrecv" } else { "recvonly" },
                    send: mix_here,
                    rejected_as: Some((&m.proto, &m.fmt)),
                    extmaps,
                    recv_rids: if simulcast { &m.send_rids } else { &[] },
                    extra_feedback: if twcc_ext.is_some() { &["transport-cc"] } else { &[] },
                }
            })
            .collect();
        let l = sdp::Local { ice_ufrag: &local.ice_ufrag, ice_pwd: &local.ice_pwd, fingerprint: &local.fingerprint, candidates: &local.candidates, setup: "passive" };
        self.session_id += 1;
        let answer = sdp::write(self.session_id, 1, &l, &sections);
        let kinds: Vec<&str> = tracks.iter().map(|t| t.kind.as_str()).collect();
        let mut out = vec![Out { to: conn, msg: json!({"type": "answer", "sdp": answer}) }];
        p.publisher = Some((info.leg, tracks));
        p.wants_media = true;
        p.hears_mix = mix_send.is_some();
        out.extend(conf.participants.keys().filter(|&&k| k != conn).map(|&to| Out { to, msg: json!({"type": "track_published", "id": conn, "kinds": kinds}) }));
        out.extend(self.sync(&room, media));
        out
    }

    /// Bring every subscriber of `room` in line with the room's publishers.
    fn sync(&mut self, room: &str, media: &mut dyn MediaOps) -> Vec<Out> {
        let Some(conf) = self.confs.get_mut(room) else { return vec![] };
        // (participant, track index, track): cameras from 0, screens from SCREEN_TRACK.
        let published: Vec<(ConnId, usize, Track)> = conf
            .participants
            .iter()
            .flat_map(|(&id, p)| {
                let camera = p.publisher.iter().flat_map(move |(_, t)| t.iter().cloned().enumerate().map(move |(i, t)| (id, i, t)));
                let screen = p.screen.iter().flat_map(move |(_, t)| t.iter().cloned().enumerate().map(move |(i, t)| (id, SCREEN_TRACK + i, t)));
                camera.chain(screen)
            })
            .collect();
        let mut out = Vec::new();
        let ids: Vec<ConnId> = conf.participants.keys().copied().collect();
        for id in ids {
            let p = conf.participants.get_mut(&id).expect("listed");
            if !p.wants_media {
                continue;
            }
            let mut changed = false;
            let hears_mix = p.hears_mix;
            for slot in p.sub.slots.iter_mut().filter(|s| s.active && !s.mcu) {
                if !published.iter().any(|(from, i, _)| *from == slot.from && *i == slot.track) || (hears_mix && slot.kind == Kind::Audio) {
                    slot.active = false;
                    changed = true;
                }
            }
            for (from, i, t) in published.iter().filter(|(from, _, _)| *from != id) {
                let (from, i) = (*from, *i);
                if (hears_mix && t.kind == Kind::Audio) || p.sub.slots.iter().any(|s| s.active && !s.mcu && s.from == from && s.track == i) {
                    continue;
                }
                let slot = Slot { mid: String::new(), from, track: i, kind: t.kind, codec: t.codec.clone(), ssrc: t.ssrc, active: true, mcu: false };
                // An m-line never goes away: a departed track's is reused for a new one of
                // its kind, so the SDP does not grow with every join.
                match p.sub.slots.iter_mut().find(|s| !s.active && s.kind == t.kind) {
                    Some(free) => *free = Slot { mid: std::mem::take(&mut free.mid), ..slot },
                    None => p.sub.slots.push(Slot { mid: p.sub.slots.len().to_string(), ..slot }),
                }
                changed = true;
            }
            // After the SFU tracks of this sync, so it can share their VP8 payload type.
            if p.mcu.is_some() && !p.sub.slots.iter().any(|s| s.mcu) {
                let codec = mcu_codec(&p.sub.slots);
                let mid = p.sub.slots.len().to_string();
                p.sub.slots.push(Slot { mid, from: id, track: 0, kind: Kind::Video, codec, ssrc: 0, active: true, mcu: true });
                changed = true;
            }
            if changed {
                out.extend(offer(id, p, room, &mut self.session_id, media));
            }
        }
        out
    }

    fn subscriber_answer(&mut self, conn: ConnId, answer: &str, media: &mut dyn MediaOps) -> Vec<Out> {
        let Some(room) = self.room_of.get(&conn).cloned() else { return error(conn, "join first") };
        let p = self.confs.get_mut(&room).and_then(|c| c.participants.get_mut(&conn)).expect("joined");
        let (Some(leg), true) = (p.sub.leg.as_ref().map(|l| l.leg), p.sub.awaiting_answer) else {
            return error(conn, "no subscriber offer is waiting for an answer");
        };
        let desc = match sdp::parse(answer) {
            Ok(d) => d,
            Err(e) => return error(conn, e.to_string()),
        };
        let upd = LegUpdate {
            leg,
            webrtc: Some(WebrtcRemote { ice_ufrag: desc.ice_ufrag, ice_pwd: desc.ice_pwd, fingerprint: desc.fingerprint }),
            ..Default::default()
        };
        if let Err(e) = media.update_leg(upd) {
            return error(conn, format!("media: {e}"));
        }
        p.sub.awaiting_answer = false;
        if std::mem::take(&mut p.sub.dirty) {
            return offer(conn, p, &room, &mut self.session_id, media);
        }
        vec![]
    }

    /// mediad chose a new active speaker in `room` (by its publishing leg): everyone in
    /// the conference hears who it is.
    pub fn active_speaker(&mut self, room: &str, leg: LegId) -> Vec<Out> {
        let Some(conf) = self.confs.get_mut(room) else { return vec![] };
        let Some((&id, _)) = conf.participants.iter().find(|(_, p)| p.publisher.as_ref().is_some_and(|(l, _)| *l == leg)) else { return vec![] };
        conf.speaker = Some(id);
        conf.participants.keys().map(|&to| Out { to, msg: json!({"type": "active_speaker", "id": id}) }).collect()
    }

    /// The connection went away or said `leave`.
    pub fn leave(&mut self, conn: ConnId, media: &mut dyn MediaOps) -> Vec<Out> {
        let Some(room) = self.room_of.remove(&conn) else { return vec![] };
        let Some(conf) = self.confs.get_mut(&room) else { return vec![] };
        let Some(p) = conf.participants.remove(&conn) else { return vec![] };
        if conf.speaker == Some(conn) {
            conf.speaker = None;
        }
        for (leg, _) in p.publisher.into_iter().chain(p.screen) {
            media.delete_leg(leg);
        }
        if let Some(l) = p.sub.leg {
            media.delete_leg(l.leg);
        }
        let mut out: Vec<Out> = conf.participants.keys().map(|&to| Out { to, msg: json!({"type": "participant_left", "id": conn}) }).collect();
        if conf.participants.is_empty() {
            self.confs.remove(&room);
            media.delete_room(&room);
        } else {
            out.extend(self.sync(&room, media));
        }
        out
    }
}

/// The stream mediad receives for an m-line the browser sends in codec `c`.
fn stream_spec(m: &sdp::MLine, c: &Codec) -> StreamSpec {
    let rid_ext = simulcast_rid_ext(m);
    StreamSpec {
        media: if m.kind == Kind::Audio { Media::Audio } else { Media::Video },
        clock_rate: c.clock,
        payload_types: vec![c.pt],
        audio_level_ext: audio_level(m),
        codec: Some(c.name.clone()),
        rids: if rid_ext.is_some() { m.send_rids.clone() } else { vec![] },
        rid_ext,
    }
}

/// The RID extension id of an m-line that sends simulcast: several RIDs, and the
/// extension that tells their packets apart (without it there is no simulcast).
fn simulcast_rid_ext(m: &sdp::MLine) -> Option<u8> {
    m.extmap_id(sdp::RID_URI).filter(|_| m.send_rids.len() > 1)
}

/// Audio levels (RFC 6464) on an audio m-line, when the browser offers them.
fn audio_level(m: &sdp::MLine) -> Option<u8> {
    (m.kind == Kind::Audio).then(|| m.extmap_id(sdp::AUDIO_LEVEL_URI)).flatten()
}

/// Send participant `id` a subscriber offer for its current slots (or note that one
/// is due when an offer is still unanswered).
fn offer(id: ConnId, p: &mut Participant, room: &str, session_id: &mut u64, media: &mut dyn MediaOps) -> Vec<Out> {
    if p.sub.awaiting_answer {
        p.sub.dirty = true;
        return vec![];
    }
    if p.sub.leg.is_none() {
        let own = p.publisher.as_ref().map(|(l, _)| *l);
        // The MCU view: the composite without this participant's camera, besides the
        // SFU tracks.
        let video = p.sub.slots.iter().find(|s| s.mcu).zip(p.mcu).map(|(s, (width, height))| {
            let send = VideoSend { pt: s.codec.pt, codec: "VP8".into(), width, height, bitrate: mcu_bitrate(width, height), fps: None, class: OutputClass::Webrtc, layout: None, exclude_self: true, max_payload: None };
            Box::new(LegVideo { send: Some(send), own_picture: own, sfu_video: true, ..Default::default() })
        });
        let spec = LegCreate {
            webrtc: Some(WebrtcRemote::default()),
            room: Some(room.to_string()),
            skip_source: own,
            label: Some(format!("{}/sub", p.name)),
            video,
            ..Default::default()
        };
        match media.create_leg(spec) {
            Ok(info) => {
                if let (Some(s), Some(ssrc)) = (p.sub.slots.iter_mut().find(|s| s.mcu), info.video_ssrc) {
                    s.ssrc = ssrc;
                }
                p.sub.leg = Some(info);
            }
            Err(e) => return error(id, format!("media: {e}")),
        }
    }
    let leg = p.sub.leg.as_ref().expect("created");
    let local = leg.webrtc.as_ref().expect("a WebRTC leg");
    // Stream ids: the participant's id for its camera and microphone, `<id>-screen`
    // for its shared screen, `mcu` for the composite (the page puts each in a tile).
    let names: Vec<(String, String)> = p
        .sub
        .slots
        .iter()
        .map(|s| match (s.mcu, s.track >= SCREEN_TRACK) {
            (true, _) => ("mcu".into(), "mcu-view".into()),
            (false, true) => (format!("{}-screen", s.from), format!("{}-{}", s.from, s.mid)),
            (false, false) => (s.from.to_string(), format!("{}-{}", s.from, s.mid)),
        })
        .collect();
    // A departed track's m-line stays in the BUNDLE as `inactive` (rejecting it would
    // empty the group once everyone left, which max-bundle browsers refuse).
    let sections: Vec<sdp::Section> = p
        .sub
        .slots
        .iter()
        .zip(&names)
        .map(|(s, (stream, track))| sdp::Section {
            kind: s.kind,
            mid: &s.mid,
            codec: Some(&s.codec),
            direction: if s.active { "sendonly" } else { "inactive" },
            send: s.active.then_some((s.ssrc, stream.as_str(), track.as_str())),
            rejected_as: None,
            extmaps: vec![],
            recv_rids: &[],
            extra_feedback: &[],
        })
        .collect();
    let l = sdp::Local { ice_ufrag: &local.ice_ufrag, ice_pwd: &local.ice_pwd, fingerprint: &local.fingerprint, candidates: &local.candidates, setup: "actpass" };
    p.sub.version += 1;
    if p.sub.version == 1 {
        *session_id += 1;
        p.sub.session = *session_id;
    }
    let sdp = sdp::write(p.sub.session, p.sub.version, &l, &sections);
    p.sub.awaiting_answer = true;
    vec![Out { to: id, msg: json!({"type": "offer", "sdp": sdp}) }]
}

#[path = "screen.rs"]
mod screen;

#[cfg(test)]
#[path = "conference_tests.rs"]
mod tests;

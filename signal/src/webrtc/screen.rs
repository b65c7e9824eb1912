//! A participant's shared screen: a third peer connection the browser offers
//! (`share`), answered from its own sendonly mediad leg. The others receive it as an
//! SFU track (stream id `<id>-screen`); where the room composes video it is the
//! composition's content tile (one per room: a second sharer is refused), and the
//! layout groups switch to their content layouts while it is shown. `unshare` or
//! leaving ends it.

use super::{error, sdp, ConnId, Hub, Kind, MediaOps, Out, Track};
use control::{LegCreate, LegVideo, VideoPayload, WebrtcRemote};
use serde_json::json;

impl Hub {
    pub(super) fn share(&mut self, conn: ConnId, offer: &str, media: &mut dyn MediaOps) -> Vec<Out> {
        let Some(room) = self.room_of.get(&conn).cloned() else { return error(conn, "join first") };
        let desc = match sdp::parse(offer) {
            Ok(d) => d,
            Err(e) => return error(conn, e.to_string()),
        };
        let conf = self.confs.get_mut(&room).expect("joined");
        let composes = conf.video;
        let p = conf.participants.get_mut(&conn).expect("joined");
        if p.screen.is_some() {
            return error(conn, "already sharing a screen");
        }
        // The first video m-line the browser sends in a codec we forward.
        let Some((at, codec)) = desc.media.iter().enumerate().find_map(|(i, m)| {
            let sends = m.port != 0 && (m.direction == "sendonly" || m.direction == "sendrecv");
            sdp::choose_codec(m).filter(|_| m.kind == Kind::Video && sends).map(|c| (i, c.clone()))
        }) else {
            return error(conn, "the screen offer sends no video we can forward (VP8, H.264 mode 1, AV1, VP9)");
        };
        let decoded = ["H264", "VP8", "AV1"].iter().any(|n| codec.name.eq_ignore_ascii_case(n));
        let video = (composes && decoded).then(|| {
            let receive = vec![VideoPayload { pt: codec.pt, codec: codec.name.to_ascii_uppercase() }];
            Box::new(LegVideo { receive, content: true, name: Some(format!("{} (screen)", p.name)), ..Default::default() })
        });
        let spec = LegCreate {
            video,
            webrtc: Some(WebrtcRemote { ice_ufrag: desc.ice_ufrag.clone(), ice_pwd: desc.ice_pwd.clone(), fingerprint: desc.fingerprint.clone() }),
            streams: vec![super::stream_spec(&desc.media[at], &codec)],
            sendonly: true,
            room: Some(room.clone()),
            label: Some(format!("{}/screen", p.name)),
            ..Default::default()
        };
        let info = match media.create_leg(spec) {
            Ok(i) => i,
            Err(e) if e.contains("content stream already") => return error(conn, "someone in this conference is sharing a screen already"),
            Err(e) => return error(conn, format!("media: {e}")),
        };
        let local = info.webrtc.as_ref().expect("a WebRTC leg");
        let sections: Vec<sdp::Section> = desc
            .media
            .iter()
            .enumerate()
            .map(|(i, m)| sdp::Section {
                kind: m.kind,
                mid: &m.mid,
                codec: (i == at).then_some(&codec),
                direction: "recvonly",
                send: None,
                rejected_as: Some((&m.proto, &m.fmt)),
                extmaps: vec![],
                recv_rids: &[],
                extra_feedback: &[],
            })
            .collect();
        let l = sdp::Local { ice_ufrag: &local.ice_ufrag, ice_pwd: &local.ice_pwd, fingerprint: &local.fingerprint, candidates: &local.candidates, setup: "passive" };
        self.session_id += 1;
        let answer = sdp::write(self.session_id, 1, &l, &sections);
        p.screen = Some((info.leg, vec![Track { kind: Kind::Video, codec, ssrc: info.out_ssrcs[0] }]));
        let mut out = vec![Out { to: conn, msg: json!({"type": "share_answer", "sdp": answer}) }];
        out.extend(conf.participants.keys().filter(|&&k| k != conn).map(|&to| Out { to, msg: json!({"type": "track_published", "id": conn, "kinds": ["video"], "screen": true}) }));
        out.extend(self.sync(&room, media));
        out
    }

    pub(super) fn unshare(&mut self, conn: ConnId, media: &mut dyn MediaOps) -> Vec<Out> {
        let Some(room) = self.room_of.get(&conn).cloned() else { return error(conn, "join first") };
        let p = self.confs.get_mut(&room).and_then(|c| c.participants.get_mut(&conn)).expect("joined");
        let Some((leg, _)) = p.screen.take() else { return error(conn, "not sharing a screen") };
        media.delete_leg(leg);
        self.sync(&room, media)
    }
}

use super::*;

/// Shaped like Chromium's publisher offer (trimmed: two codecs per m-line, RTX kept).
pub(crate) const CHROME_OFFER: &str = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
a=group:BUNDLE 0 1\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS stream1\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 63\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n\
a=ice-ufrag:Wq3x\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=ice-options:trickle\r\n\
a=fingerprint:sha-256 0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9:0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9\r\n\
a=setup:actpass\r\na=mid:0\r\na=sendonly\r\na=msid:stream1 track-a\r\n\
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=extmap:2/sendonly http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\na=rtcp-mux\r\n\
a=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 transport-cc\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n\
a=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\na=ssrc:1001 cname:x\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n\
a=ice-ufrag:Wq3x\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n\
a=fingerprint:sha-256 0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9:0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9\r\n\
a=setup:actpass\r\na=mid:1\r\na=sendonly\r\na=rtcp-mux\r\na=rtcp-rsize\r\n\
a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 goog-remb\r\na=rtcp-fb:96 ccm fir\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\n\
a=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n\
a=rtpmap:102 H264/90000\r\na=rtcp-fb:102 nack\r\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n\
a=rtpmap:103 rtx/90000\r\na=fmtp:103 apt=102\r\na=ssrc-group:FID 2001 2002\r\na=ssrc:2001 cname:x\r\na=ssrc:2002 cname:x\r\n\
m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:2\r\na=sctp-port:5000\r\n";

#[test]
fn chrome_offer_parses_into_transport_and_tracks() {
    let d = parse(CHROME_OFFER).unwrap();
    assert_eq!((d.ice_ufrag.as_str(), d.setup.as_str()), ("Wq3x", "actpass"));
    assert!(d.fingerprint.starts_with("sha-256 0A:1B"));
    assert_eq!(d.media.len(), 3);
    let (a, v) = (&d.media[0], &d.media[1]);
    assert_eq!((a.kind, a.mid.as_str(), a.direction.as_str()), (Kind::Audio, "0", "sendonly"));
    assert_eq!(choose_codec(a).map(|c| (c.pt, c.clock, c.channels)), Some((111, 48000, Some(2))));
    assert_eq!(choose_codec(v).map(|c| c.name.as_str()), Some("VP8"));
    assert_eq!(v.ssrcs, vec![2001, 2002]);
    assert_eq!(v.codecs[0].rtcp_fb, vec!["goog-remb", "ccm fir", "nack", "nack pli"]);
    assert_eq!(a.extmap_id(AUDIO_LEVEL_URI), Some(1));
    assert_eq!(a.extmaps[1], (2, "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time".to_string()), "direction suffix dropped");
    assert_eq!(v.extmap_id(AUDIO_LEVEL_URI), None);
    assert_eq!(d.media[2].kind, Kind::Other);
    assert_eq!(choose_codec(&d.media[2]), None);
}

#[test]
fn h264_needs_packetization_mode_1() {
    let d = parse(&CHROME_OFFER.replace("96 97 102 103", "102 103").replace("packetization-mode=1", "packetization-mode=0")).unwrap();
    assert_eq!(choose_codec(&d.media[1]), None);
    let d = parse(&CHROME_OFFER.replace("96 97 102 103", "102 103")).unwrap();
    assert_eq!(choose_codec(&d.media[1]).map(|c| c.pt), Some(102));
}

#[test]
fn answer_is_lite_passive_bundled_and_reparses() {
    let d = parse(CHROME_OFFER).unwrap();
    let cands = ["127.0.0.1:53010".parse().unwrap()];
    let local = Local { ice_ufrag: "us12", ice_pwd: "p".repeat(24).leak(), fingerprint: "sha-256 AA:BB", candidates: &cands, setup: "passive" };
    let sections: Vec<Section> = d
        .media
        .iter()
        .map(|m| Section {
            kind: m.kind,
            mid: &m.mid,
            codec: choose_codec(m),
            direction: "recvonly",
            send: None,
            rejected_as: Some((&m.proto, &m.fmt)),
            extmaps: vec![], recv_rids: &[], extra_feedback: &[],
        })
        .collect();
    let answer = write(7, 1, &local, &sections);
    assert!(answer.contains("a=group:BUNDLE 0 1\r\n"), "{answer}");
    assert!(answer.contains("a=ice-lite\r\n") && answer.contains("a=setup:passive\r\n"));
    assert!(answer.contains("m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\n"), "{answer}");
    assert!(answer.contains("a=candidate:1 1 udp 2130706431 127.0.0.1 53010 typ host\r\n"), "{answer}");
    assert!(answer.contains("a=rtcp-fb:96 nack pli\r\n") && !answer.contains("goog-remb"));
    // Our own output goes through the independent parser.
    let back = parse(&answer).unwrap();
    assert_eq!((back.ice_ufrag.as_str(), back.setup.as_str(), back.media.len()), ("us12", "passive", 3));
    assert_eq!(back.media[1].codecs.len(), 1);
}

#[test]
fn hostile_sdp_is_an_error_not_a_panic() {
    for bad in ["", "v=0", "garbage\r\n\r\n", "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n"] {
        assert!(parse(bad).is_err(), "{bad:?}");
    }
    // Out-of-range payload types, huge clock rates and truncated rtpmaps are skipped.
    let odd = CHROME_OFFER.replace("a=rtpmap:111 opus/48000/2", "a=rtpmap:111 opus/99999999999999/2").replace("111 63", "999 111 63");
    let d = parse(&odd).unwrap();
    assert!(d.media[0].codecs.iter().all(|c| c.pt != 231));
    let mut long = String::from(CHROME_OFFER);
    for i in 0..2000 {
        long.push_str(&format!("a=ssrc:{i} cname:x\r\n"));
    }
    assert_eq!(parse(&long).unwrap().media[2].ssrcs.len(), 2000);
}

/// Chromium's video m-line with three simulcast encodings (rids q, h, f; RTX trimmed).
pub(crate) const SIMULCAST_VIDEO: &str = "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\n\
a=ice-ufrag:Wq3x\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n\
a=fingerprint:sha-256 0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9:0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9\r\n\
a=setup:actpass\r\na=mid:1\r\na=sendonly\r\na=rtcp-mux\r\n\
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n\
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n\
a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id\r\n\
a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 transport-cc\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\n\
a=rid:q send\r\na=rid:h send\r\na=rid:f send\r\na=simulcast:send q;h;f\r\n";

#[test]
fn simulcast_offer_gives_rids_in_order_and_answer_receives_them() {
    let head = CHROME_OFFER.split("m=video").next().unwrap();
    let d = parse(&format!("{head}{SIMULCAST_VIDEO}")).unwrap();
    let v = &d.media[1];
    assert_eq!(v.send_rids, vec!["q", "h", "f"]);
    assert_eq!((v.extmap_id(RID_URI), v.extmap_id(MID_URI), v.extmap_id(TWCC_URI)), (Some(10), Some(4), Some(3)));
    let cands = ["127.0.0.1:53010".parse().unwrap()];
    let local = Local { ice_ufrag: "us12", ice_pwd: "p".repeat(24).leak(), fingerprint: "sha-256 AA:BB", candidates: &cands, setup: "passive" };
    let section = Section {
        kind: Kind::Video,
        mid: "1",
        codec: choose_codec(v),
        direction: "recvonly",
        send: None,
        rejected_as: None,
        extmaps: vec![(4, MID_URI), (10, RID_URI)],
        recv_rids: &v.send_rids,
        extra_feedback: &["transport-cc"],
    };
    let answer = write(1, 1, &local, &[section]);
    assert!(answer.contains("a=rid:q recv\r\na=rid:h recv\r\na=rid:f recv\r\na=simulcast:recv q;h;f\r\n"), "{answer}");
    assert!(answer.contains("a=rtcp-fb:96 transport-cc\r\n"));
    assert!(answer.contains("a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n"));
    // The answer parses back (it is what the browser reads).
    assert_eq!(parse(&answer).unwrap().media[0].codecs[0].name, "VP8");
}

#[test]
fn simulcast_lists_skip_paused_undeclared_and_hostile_rids() {
    let head = CHROME_OFFER.split("m=video").next().unwrap();
    let video = SIMULCAST_VIDEO.replace("a=simulcast:send q;h;f", "a=simulcast:send ~q;h,h2;x;f;f");
    let d = parse(&format!("{head}{video}")).unwrap();
    assert_eq!(d.media[1].send_rids, vec!["h", "f"], "paused, undeclared and repeated RIDs are left out");
    let video = SIMULCAST_VIDEO.replace("a=simulcast:send q;h;f", "a=simulcast:recv q");
    assert!(parse(&format!("{head}{video}")).unwrap().media[1].send_rids.is_empty());
}

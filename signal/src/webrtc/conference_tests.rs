use super::*;
use crate::fake_media::FakeMedia;
use crate::webrtc::sdp::tests::CHROME_OFFER;

fn of_type<'a>(out: &'a [Out], to: ConnId, t: &str) -> Option<&'a Value> {
    out.iter().find(|o| o.to == to && o.msg["type"] == t).map(|o| &o.msg)
}

/// A browser's answer to a subscriber offer: the offer with its own ICE/DTLS.
fn answer_to(offer: &str) -> String {
    offer.replace("a=ice-lite\r\n", "").replace("a=setup:actpass", "a=setup:active").replace("sendonly", "recvonly")
}

#[test]
fn two_publishers_each_get_the_others_tracks() {
    let (mut hub, mut m) = (Hub::new(HashMap::new(), Default::default()), FakeMedia::default());
    let out = hub.handle(1, &json!({"type": "join", "room": "4242", "name": "ann"}), &mut m);
    assert_eq!(of_type(&out, 1, "joined").unwrap()["participants"], json!([]));
    assert_eq!(of_type(&out, 1, "joined").unwrap()["ice_servers"], json!([]), "no TURN configured");
    let out = hub.handle(1, &json!({"type": "publish", "sdp": CHROME_OFFER}), &mut m);
    let answer = of_type(&out, 1, "answer").unwrap()["sdp"].as_str().unwrap().to_string();
    assert!(answer.contains("a=recvonly") && answer.contains("a=setup:passive"), "{answer}");
    assert_eq!(answer.matches("a=extmap:").count(), 1, "audio levels only: {answer}");
    assert!(answer.contains("a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"));
    let pub1 = &m.created[0];
    assert!(pub1.sendonly && pub1.webrtc.as_ref().unwrap().ice_ufrag == "Wq3x");
    assert_eq!(pub1.streams.iter().map(|s| s.payload_types[0]).collect::<Vec<_>>(), vec![111, 96]);
    assert_eq!(pub1.streams.iter().map(|s| s.audio_level_ext).collect::<Vec<_>>(), vec![Some(1), None]);
    assert!(of_type(&out, 1, "offer").is_none(), "nobody to receive yet");

    let out = hub.handle(2, &json!({"type": "join", "room": "4242", "name": "bob"}), &mut m);
    assert_eq!(of_type(&out, 1, "participant_joined").unwrap()["name"], "bob");
    let out = hub.handle(2, &json!({"type": "publish", "sdp": CHROME_OFFER}), &mut m);
    assert_eq!(of_type(&out, 1, "track_published").unwrap()["kinds"], json!(["audio", "video"]));
    // Both now get a subscriber offer carrying the other's SSRCs (legs 1 and 2 publish,
    // 3 and 4 are the subscriber legs).
    let to1 = of_type(&out, 1, "offer").unwrap()["sdp"].as_str().unwrap().to_string();
    let to2 = of_type(&out, 2, "offer").unwrap()["sdp"].as_str().unwrap().to_string();
    assert!(to1.contains("a=ssrc:200 ") && to1.contains("a=ssrc:201 ") && !to1.contains("a=ssrc:100 "), "{to1}");
    assert!(to2.contains("a=ssrc:100 ") && to2.contains("a=ssrc:101 "), "{to2}");
    assert!(to1.contains("a=setup:actpass") && to1.contains("a=sendonly"));
    let sub1 = m.created.iter().find(|c| c.label.as_deref() == Some("ann/sub")).unwrap();
    assert_eq!(sub1.skip_source, Some(1), "ann's own publisher is skipped");

    // mediad names bob's publisher (leg 2) the active speaker: both hear it; a leg
    // that publishes nothing here is ignored.
    let out = hub.active_speaker("4242", 2);
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|o| o.msg == json!({"type": "active_speaker", "id": 2})));
    assert!(hub.active_speaker("4242", 3).is_empty() && hub.active_speaker("nope", 2).is_empty());
    let out = hub.handle(9, &json!({"type": "join", "room": "4242", "name": "late"}), &mut m);
    assert_eq!(of_type(&out, 9, "joined").unwrap()["speaker"], 2, "a late joiner learns who speaks");
    hub.leave(9, &mut m);

    // bob leaves before ann answers: the change waits for her answer.
    let out = hub.handle(2, &json!({"type": "leave"}), &mut m);
    assert!(of_type(&out, 1, "participant_left").is_some());
    assert!(of_type(&out, 1, "offer").is_none(), "an offer is still unanswered");
    assert!(m.deleted.contains(&2));
    let out = hub.handle(1, &json!({"type": "answer", "sdp": answer_to(&to1)}), &mut m);
    assert_eq!(m.updated.last().unwrap().webrtc.as_ref().unwrap().ice_ufrag, "u3");
    let re = of_type(&out, 1, "offer").unwrap()["sdp"].as_str().unwrap();
    assert!(re.contains("a=group:BUNDLE 0 1\r\n") && re.matches("a=inactive").count() == 2 && !re.contains("a=ssrc:"), "{re}");
    assert!(re.contains(" 2 IN IP4") && to1.contains(" 1 IN IP4"), "version bumps");

    hub.handle(1, &json!({"type": "answer", "sdp": answer_to(re)}), &mut m);
    // Someone new publishes: ann's two idle m-lines are reused, none added.
    hub.handle(3, &json!({"type": "join", "room": "4242", "name": "cy"}), &mut m);
    let out = hub.handle(3, &json!({"type": "publish", "sdp": CHROME_OFFER}), &mut m);
    let again = of_type(&out, 1, "offer").unwrap()["sdp"].as_str().unwrap();
    assert_eq!(again.matches("m=").count(), 2, "{again}");
    assert!(again.contains("a=ssrc:500 ") && !again.contains("a=inactive"), "{again}");
    hub.leave(3, &mut m);
    hub.leave(1, &mut m);
    assert_eq!(m.rooms_deleted, vec!["4242"]);
}

#[test]
fn receive_only_joiner_is_offered_existing_tracks() {
    let (mut hub, mut m) = (Hub::new(HashMap::new(), Default::default()), FakeMedia::default());
    hub.handle(1, &json!({"type": "join", "room": "r1"}), &mut m);
    hub.handle(1, &json!({"type": "publish", "sdp": CHROME_OFFER}), &mut m);
    let out = hub.handle(2, &json!({"type": "join", "room": "r1", "publish": false}), &mut m);
    let offer = of_type(&out, 2, "offer").expect("offered right away")["sdp"].as_str().unwrap();
    assert!(offer.contains("a=ssrc:100 ") && offer.contains("a=rtpmap:96 VP8/90000"), "{offer}");
    assert_eq!(m.created.last().unwrap().skip_source, None);
}

#[test]
fn bad_requests_get_errors_and_change_nothing() {
    let pins = HashMap::from([("secret".to_string(), "1234".to_string())]);
    let (mut hub, mut m) = (Hub::new(pins, Default::default()), FakeMedia::default());
    let err = |out: Vec<Out>| out[0].msg["message"].as_str().unwrap().to_string();
    assert!(err(hub.handle(1, &json!({"type": "join", "room": "secret", "pin": "0000"}), &mut m)).contains("PIN"));
    assert!(err(hub.handle(1, &json!({"type": "join", "room": "../etc"}), &mut m)).contains("conference id"));
    assert!(err(hub.handle(1, &json!({"type": "publish", "sdp": CHROME_OFFER}), &mut m)).contains("join first"));
    assert!(err(hub.handle(1, &json!({"type": "nonsense"}), &mut m)).contains("unknown"));
    assert!(of_type(&hub.handle(1, &json!({"type": "join", "room": "secret", "pin": "1234"}), &mut m), 1, "joined").is_some());
    assert!(err(hub.handle(1, &json!({"type": "publish", "sdp": "v=0"}), &mut m)).contains("SDP"));
    let no_codecs = CHROME_OFFER.replace("opus", "foo").replace("VP8", "bar").replace("H264", "baz");
    assert!(err(hub.handle(1, &json!({"type": "publish", "sdp": no_codecs}), &mut m)).contains("forward"));
    assert!(err(hub.handle(1, &json!({"type": "answer", "sdp": CHROME_OFFER}), &mut m)).contains("no subscriber offer"));
    assert!(m.created.is_empty());
}

#[test]
fn simulcast_publisher_gets_layers_in_mediad_and_in_the_answer() {
    use crate::webrtc::sdp::tests::SIMULCAST_VIDEO;
    let (mut hub, mut m) = (Hub::new(HashMap::new(), Default::default()), FakeMedia::default());
    hub.handle(1, &json!({"type": "join", "room": "sc", "name": "ann"}), &mut m);
    let head = CHROME_OFFER.split("m=video").next().unwrap();
    let out = hub.handle(1, &json!({"type": "publish", "sdp": format!("{head}{SIMULCAST_VIDEO}")}), &mut m);
    let spec = &m.created[0];
    assert_eq!(spec.streams[1].rids, vec!["q", "h", "f"]);
    assert_eq!(spec.streams[1].rid_ext, Some(10));
    assert!(spec.streams[0].rids.is_empty(), "audio has no layers");
    assert_eq!(spec.twcc_ext, Some(3), "TWCC feedback asked for");
    let answer = of_type(&out, 1, "answer").unwrap()["sdp"].as_str().unwrap();
    assert!(answer.contains("a=simulcast:recv q;h;f"), "{answer}");
    assert!(answer.contains("a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid"));
    // Without the RID extension the layers cannot be told apart: no simulcast.
    let no_rid = SIMULCAST_VIDEO.replace("a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n", "");
    hub.handle(2, &json!({"type": "join", "room": "sc", "name": "bob"}), &mut m);
    let out = hub.handle(2, &json!({"type": "publish", "sdp": format!("{head}{no_rid}")}), &mut m);
    let spec = m.created.iter().rev().find(|s| !s.streams.is_empty()).unwrap();
    assert!(spec.streams[1].rids.is_empty() && spec.streams[1].rid_ext.is_none());
    assert!(!of_type(&out, 2, "answer").unwrap()["sdp"].as_str().unwrap().contains("a=simulcast"));
}

#[test]
fn a_mix_participant_hears_the_mix_on_its_publisher_and_no_sfu_audio() {
    let (mut hub, mut m) = (Hub::new(HashMap::new(), Default::default()), FakeMedia::default());
    hub.handle(1, &json!({"type": "join", "room": "mixed", "name": "ann", "audio": "mix"}), &mut m);
    let sendrecv = CHROME_OFFER.replacen("a=sendonly", "a=sendrecv", 1);
    let out = hub.handle(1, &json!({"type": "publish", "sdp": sendrecv}), &mut m);
    let answer = of_type(&out, 1, "answer").unwrap()["sdp"].as_str().unwrap().to_string();
    let (audio, video) = answer.split_once("m=video").unwrap();
    assert!(audio.contains("a=sendrecv") && audio.contains("a=ssrc:7001 "), "the mix goes out on the audio m-line: {audio}");
    assert!(video.contains("a=recvonly") && !video.contains("a=ssrc:"), "{video}");
    let a = m.created[0].audio.as_ref().expect("the publisher is a mix participant");
    assert_eq!((a.receive[0].pt, a.send.as_ref().map(|s| s.pt), a.level_ext), (111, Some(111), Some(1)));

    // bob keeps SFU audio: he still feeds the mix (phones hear him) but takes none.
    hub.handle(2, &json!({"type": "join", "room": "mixed", "name": "bob"}), &mut m);
    let out = hub.handle(2, &json!({"type": "publish", "sdp": CHROME_OFFER}), &mut m);
    let bob = m.created.iter().find(|c| c.label.as_deref() == Some("bob/pub")).unwrap();
    assert!(bob.audio.as_ref().is_some_and(|a| a.send.is_none() && a.receive.len() == 1));
    let to_ann = of_type(&out, 1, "offer").unwrap()["sdp"].as_str().unwrap();
    let to_bob = of_type(&out, 2, "offer").unwrap()["sdp"].as_str().unwrap();
    assert!(!to_ann.contains("m=audio") && to_ann.contains("m=video"), "ann gets bob's video only: {to_ann}");
    assert!(to_bob.contains("m=audio") && to_bob.contains("m=video"), "bob gets ann's audio and video: {to_bob}");

    // Asking for the mix with a send-only microphone gets SFU audio instead.
    hub.handle(3, &json!({"type": "join", "room": "mixed", "name": "cat", "audio": "mix"}), &mut m);
    let out = hub.handle(3, &json!({"type": "publish", "sdp": CHROME_OFFER}), &mut m);
    let answer = of_type(&out, 3, "answer").unwrap()["sdp"].as_str().unwrap();
    assert!(!answer.contains("a=sendrecv") && !answer.contains("a=ssrc:"), "{answer}");
    assert!(of_type(&out, 3, "offer").unwrap()["sdp"].as_str().unwrap().contains("m=audio"));
}

#[test]
fn mcu_view_is_one_more_video_m_line_without_the_viewers_own_picture() {
    let (mut hub, mut m) = (Hub::new(HashMap::new(), Default::default()), FakeMedia::default());
    hub.handle(1, &json!({"type": "join", "room": "v", "name": "ann"}), &mut m);
    hub.handle(1, &json!({"type": "publish", "sdp": CHROME_OFFER}), &mut m);
    // ann's camera (VP8, pt 96) is a picture of the room's composition, named after her.
    let v = m.created[0].video.as_deref().expect("a picture of the composition");
    assert_eq!((v.receive[0].pt, v.receive[0].codec.as_str(), v.name.as_deref(), v.send.is_none()), (96, "VP8", Some("ann"), true));
    let out = hub.handle(2, &json!({"type": "join", "room": "v", "name": "bob", "mcu": {"width": 640, "height": 360}}), &mut m);
    assert_eq!(of_type(&out, 2, "joined").unwrap()["mcu"], true);
    let out = hub.handle(2, &json!({"type": "publish", "sdp": CHROME_OFFER}), &mut m);
    let offer = of_type(&out, 2, "offer").unwrap()["sdp"].as_str().unwrap().to_string();
    // bob's subscriber leg (4; 2 is his publisher, 3 ann's subscriber) takes the composite without his own
    // picture, and keeps the SFU video.
    let sub = m.created.iter().find(|c| c.label.as_deref() == Some("bob/sub")).unwrap();
    let v = sub.video.as_deref().expect("takes the composite");
    let send = v.send.as_ref().unwrap();
    assert_eq!((send.codec.as_str(), send.pt, send.width, send.height, send.class, send.exclude_self), ("VP8", 96, 640, 360, OutputClass::Webrtc, true));
    assert_eq!((v.own_picture, v.sfu_video, v.receive.is_empty()), (Some(2), true, true));
    assert_eq!(send.bitrate, 375_000, "1.5 Mbit/s at 720p, by area");
    // The offer: ann's audio and video, then the MCU view (mid 2) with the composite's
    // SSRC (fake: 9000 + leg), VP8 under ann's VP8 payload type, NACK, PLI, FIR.
    assert!(offer.contains("a=group:BUNDLE 0 1 2\r\n"), "{offer}");
    let mcu = &offer[offer.find("a=mid:2").unwrap()..];
    assert!(mcu.contains("a=msid:mcu mcu-view\r\na=ssrc:9004 cname:mcu\r\n") && mcu.contains("a=rtpmap:96 VP8/90000\r\n"), "{offer}");
    assert!(mcu.contains("a=rtcp-fb:96 nack pli\r\n") && mcu.contains("a=rtcp-fb:96 ccm fir\r\n") && mcu.contains("a=rtcp-fb:96 nack\r\n"), "{offer}");
    // Someone leaving changes SFU m-lines only: the MCU view stays active.
    hub.handle(2, &json!({"type": "answer", "sdp": answer_to(&offer)}), &mut m);
    let out = hub.handle(1, &json!({"type": "leave"}), &mut m);
    let re = of_type(&out, 2, "offer").unwrap()["sdp"].as_str().unwrap();
    assert!(re.matches("a=inactive").count() == 2 && re.contains("a=ssrc:9004 "), "{re}");
}

#[test]
fn mcu_view_is_refused_politely_where_nothing_composes_video() {
    let (mut hub, mut m) = (Hub::new(HashMap::new(), Default::default()), FakeMedia { no_video: true, ..Default::default() });
    let out = hub.handle(1, &json!({"type": "join", "room": "v", "name": "ann", "mcu": true}), &mut m);
    assert_eq!(of_type(&out, 1, "joined").unwrap()["mcu"], false);
    let out = hub.handle(1, &json!({"type": "publish", "sdp": CHROME_OFFER}), &mut m);
    assert!(of_type(&out, 1, "offer").is_none() && m.created.iter().all(|c| c.video.is_none()), "{out:?}");
    for bad in [json!({"width": 641, "height": 360}), json!({"width": 8000}), json!("big")] {
        let out = hub.handle(2, &json!({"type": "join", "room": "v", "name": "bob", "mcu": bad}), &mut m);
        assert!(of_type(&out, 2, "error").unwrap()["message"].as_str().unwrap().starts_with("mcu:"), "{out:?}");
    }
}

#[test]
fn a_shared_screen_is_an_sfu_track_and_the_content_picture() {
    let (mut hub, mut m) = (Hub::new(HashMap::new(), Default::default()), FakeMedia::default());
    hub.handle(1, &json!({"type": "join", "room": "s", "name": "ann"}), &mut m);
    hub.handle(1, &json!({"type": "publish", "sdp": CHROME_OFFER}), &mut m);
    let out = hub.handle(2, &json!({"type": "join", "room": "s", "name": "bob", "publish": false}), &mut m);
    let first = of_type(&out, 2, "offer").unwrap()["sdp"].as_str().unwrap().to_string();
    hub.handle(2, &json!({"type": "answer", "sdp": answer_to(&first)}), &mut m);
    // ann shares (the offer's audio m-line is refused, its video is the screen).
    let out = hub.handle(1, &json!({"type": "share", "sdp": CHROME_OFFER}), &mut m);
    let answer = of_type(&out, 1, "share_answer").unwrap()["sdp"].as_str().unwrap();
    assert!(answer.contains("m=audio 0 ") && answer.contains("a=group:BUNDLE 1\r\n") && answer.contains("a=recvonly"), "{answer}");
    let screen = m.created.last().unwrap();
    assert_eq!((screen.label.as_deref(), screen.sendonly, screen.streams.len()), (Some("ann/screen"), true, 1));
    let v = screen.video.as_deref().unwrap();
    assert_eq!((v.content, v.name.as_deref(), v.receive[0].codec.as_str()), (true, Some("ann (screen)"), "VP8"));
    assert_eq!(of_type(&out, 2, "track_published").unwrap()["screen"], true);
    let to_bob = of_type(&out, 2, "offer").unwrap()["sdp"].as_str().unwrap().to_string();
    let screen_ssrc = m.created.len() as u32 * 100;
    assert!(to_bob.contains(&format!("a=ssrc:{screen_ssrc} msid:1-screen ")), "{to_bob}");
    assert!(of_type(&hub.handle(1, &json!({"type": "share", "sdp": CHROME_OFFER}), &mut m), 1, "error").is_some(), "one screen each");
    // unshare: its leg goes and bob's screen m-line turns inactive.
    hub.handle(2, &json!({"type": "answer", "sdp": answer_to(&to_bob)}), &mut m);
    let screen_leg = m.created.len() as u64;
    let out = hub.handle(1, &json!({"type": "unshare"}), &mut m);
    assert!(m.deleted.contains(&screen_leg));
    let re = of_type(&out, 2, "offer").unwrap()["sdp"].as_str().unwrap();
    assert!(re.matches("a=inactive").count() == 1 && !re.contains("1-screen"), "{re}");
    assert!(of_type(&hub.handle(1, &json!({"type": "unshare"}), &mut m), 1, "error").is_some());
}

use super::*;
use crate::sip::message::param;
use std::net::SocketAddr;
use crate::fake_media::FakeMedia;

pub(super) const PHONE: &str = "127.0.0.1:6060";
pub(super) const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";

pub(super) fn endpoint(delay_ms: u64) -> Endpoint {
    let pins = [("777".to_string(), "1234".to_string())].into_iter().collect();
    let users = [("room1".to_string(), "s3cret-pw".to_string())].into_iter().collect();
    let trunks = crate::sip::trunks::parse(
        "[[trunk]]\nname='pbx'\nhost='127.0.0.1:5070'\nuser='mediad'\npassword='pw'\ncodecs=['pcma','pcmu']\ndefault=true\n[[trunk.rewrite]]\npattern='8X{10}'\nstrip=1\nprefix='+7'\n",
    )
    .unwrap();
    Endpoint::new(Config {
        local: "127.0.0.1:5060".parse().unwrap(),
        default_conference: Some("lobby".into()),
        pins,
        answer_delay: Duration::from_millis(delay_ms),
        realm: "mediad".into(),
        users,
        digest: vec![crate::sip::digest::Algorithm::Sha256, crate::sip::digest::Algorithm::Md5],
        trunks,
        prompts: "/p".into(),
        srtp: Default::default(),
    })
}

pub(super) fn request(method: &str, user: &str, call: &str, cseq: u32, branch: &str, to_tag: &str, body: &str) -> Vec<u8> {
    format!(
        "{method} sip:{user}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9:6060;branch={branch};rport\r\nMax-Forwards: 70\r\n\
f: \"Ann\" <sip:ann@10.0.0.9>;tag=a1\r\nt: <sip:{user}@127.0.0.1>{to_tag}\r\ni: {call}\r\nCSeq: {cseq} {method}\r\n\
m: <sip:ann@10.0.0.9:6060>\r\nc: application/sdp\r\nl: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The responses sent so far (status line first words), drained.
pub(super) fn sent(ep: &mut Endpoint) -> Vec<Message> {
    ep.out.drain(..).map(|(to, b)| {
        assert_eq!(to, PHONE.parse().unwrap(), "answers go back where the request came from");
        Message::parse(&b).expect("ours parse")
    }).collect()
}

pub(super) fn codes(ms: &[Message]) -> Vec<u16> {
    ms.iter().filter_map(Message::code).collect()
}

#[test]
fn dial_in_answer_ack_and_bye() {
    let (mut ep, mut m, t0) = (endpoint(0), FakeMedia::default(), Instant::now());
    let from = PHONE.parse().unwrap();
    ep.receive(&request("INVITE", "0012345", "c1", 1, "z9hG4bK1", "", SDP), from, t0, &mut m);
    let r = sent(&mut ep);
    assert_eq!(codes(&r), [100, 180, 200]);
    let ok = &r[2];
    let via = ok.header("Via").unwrap();
    assert!(via.contains("rport=6060") && via.contains("received=127.0.0.1"), "{via}");
    let tag = param(ok.header("To").unwrap(), "tag").unwrap().to_string();
    let answer = String::from_utf8(ok.body.clone()).unwrap();
    assert!(answer.contains("m=audio 50002 RTP/AVP 0 101"), "{answer}");
    let leg = &m.created[0];
    assert_eq!(leg.room.as_deref(), Some("12345"));
    assert_eq!(leg.remote, Some("127.0.0.1:6000".parse().unwrap()));
    let a = leg.audio.as_ref().unwrap();
    assert_eq!((a.receive[0].codec.as_str(), a.telephone_event, a.inband_dtmf), ("pcmu", Some(101), false), "RFC 4733 offered: no tone detector");
    // No ACK yet: the 200 is resent at T1, then 2·T1.
    ep.tick(t0 + Duration::from_millis(510), &mut m);
    assert_eq!(codes(&sent(&mut ep)), [200]);
    ep.receive(&request("ACK", "0012345", "c1", 1, "z9hG4bK2", &format!(";tag={tag}"), ""), from, t0, &mut m);
    ep.tick(t0 + Duration::from_secs(5), &mut m);
    assert!(sent(&mut ep).is_empty(), "the ACK stopped the retransmissions");
    // A re-INVITE putting the call on hold mutes the leg; resuming unmutes it.
    let hold = SDP.replace("m=audio", "a=sendonly\r\nm=audio");
    ep.receive(&request("INVITE", "0012345", "c1", 2, "z9hG4bK3", &format!(";tag={tag}"), &hold), from, t0, &mut m);
    let r = sent(&mut ep);
    assert_eq!(codes(&r), [100, 200]);
    assert!(String::from_utf8_lossy(&r[1].body).contains("a=recvonly"));
    assert_eq!(m.updated.last().unwrap().muted, Some(true));
    assert!(ep.events.contains(&CallEvent::Held { call: "c1".into(), held: true }));
    ep.receive(&request("ACK", "0012345", "c1", 2, "z9hG4bK4", &format!(";tag={tag}"), ""), from, t0, &mut m);
    ep.receive(&request("BYE", "0012345", "c1", 3, "z9hG4bK5", &format!(";tag={tag}"), ""), from, t0, &mut m);
    assert_eq!(codes(&sent(&mut ep)), [200]);
    assert_eq!(m.deleted, [1]);
    assert_eq!(ep.calls(), 0);
    // The BYE retransmitted: the same 200 again, nothing deleted twice.
    ep.receive(&request("BYE", "0012345", "c1", 3, "z9hG4bK5", &format!(";tag={tag}"), ""), from, t0, &mut m);
    assert_eq!(codes(&sent(&mut ep)), [200]);
    assert_eq!(m.deleted, [1]);
}

#[test]
fn cancel_before_answer_late_offer_and_our_bye() {
    let (mut ep, mut m, t0) = (endpoint(2000), FakeMedia::default(), Instant::now());
    let from = PHONE.parse().unwrap();
    ep.receive(&request("INVITE", "12345", "c2", 1, "z9hG4bKa", "", SDP), from, t0, &mut m);
    assert_eq!(codes(&sent(&mut ep)), [100, 180]);
    ep.receive(&request("CANCEL", "12345", "c2", 1, "z9hG4bKa", "", ""), from, t0, &mut m);
    assert_eq!(codes(&sent(&mut ep)), [200, 487]);
    assert_eq!((m.deleted.as_slice(), ep.calls()), (&[1][..], 0));
    ep.tick(t0 + Duration::from_secs(3), &mut m);
    assert!(sent(&mut ep).is_empty(), "a cancelled call is never answered");

    // Late offer: our offer in the 200, the phone's answer in the ACK.
    ep.receive(&request("INVITE", "12345", "c3", 1, "z9hG4bKb", "", ""), from, t0, &mut m);
    ep.tick(t0 + Duration::from_secs(2), &mut m);
    let r = sent(&mut ep);
    assert_eq!(codes(&r), [100, 180, 200]);
    assert!(String::from_utf8_lossy(&r[2].body).contains("m=audio 50004 RTP/AVP 111 9 8 0 18 101"), "every codec offered");
    let tag = param(r[2].header("To").unwrap(), "tag").unwrap().to_string();
    ep.receive(&request("ACK", "12345", "c3", 1, "z9hG4bKc", &format!(";tag={tag}"), &SDP.replace("6000", "7000")), from, t0, &mut m);
    let upd = m.updated.last().unwrap();
    assert_eq!(upd.remote, Some("127.0.0.1:7000".parse().unwrap()));
    assert_eq!(upd.audio.as_ref().unwrap().send.as_ref().unwrap().codec, "pcmu", "the leg takes the answer's codec");
    // We hang up: a BYE to the phone's Contact, resent until answered.
    ep.hangup("c3", t0, &mut m, "operator");
    let (to, bye) = ep.out.pop().unwrap();
    let bye = Message::parse(&bye).unwrap();
    assert_eq!((to, bye.method(), bye.uri()), (from, Some("BYE"), Some("sip:ann@10.0.0.9:6060")));
    assert!(bye.header("From").unwrap().contains(&tag) && bye.header("To").unwrap().contains("tag=a1"));
    ep.tick(t0 + Duration::from_millis(600), &mut m);
    assert_eq!(ep.out.len(), 1, "BYE resent");
}

#[test]
fn pins_dial_plan_and_refusals() {
    let (mut ep, mut m, t0) = (endpoint(0), FakeMedia::default(), Instant::now());
    let from = PHONE.parse().unwrap();
    ep.receive(&request("INVITE", "00777,1234", "p1", 1, "z9hG4bKp1", "", SDP), from, t0, &mut m);
    assert_eq!(codes(&sent(&mut ep)), [100, 180, 200]);
    ep.receive(&request("INVITE", "00777,9999", "p2", 1, "z9hG4bKp2", "", SDP), from, t0, &mut m);
    assert_eq!(codes(&sent(&mut ep)), [100, 403]);
    ep.receive(&request("INVITE", "00777", "p3", 1, "z9hG4bKp3", "", SDP), from, t0, &mut m);
    assert_eq!(codes(&sent(&mut ep)), [100, 180, 200], "no PIN dialled: answered, to be asked for it");
    assert_eq!(m.created.last().unwrap().room, None, "outside the conference until the PIN is right");
    // The bare host goes to the default conference.
    let bare = String::from_utf8(request("INVITE", "x", "p4", 1, "z9hG4bKp4", "", SDP)).unwrap().replacen("sip:x@127.0.0.1", "sip:127.0.0.1", 1);
    ep.receive(bare.as_bytes(), from, t0, &mut m);
    assert_eq!(codes(&sent(&mut ep)), [100, 180, 200]);
    assert_eq!(m.created.last().unwrap().room.as_deref(), Some("lobby"));
    // Nothing to mix: 488, and the 488 is resent to a retransmitted INVITE.
    let ilbc = SDP.replace("RTP/AVP 0 101", "RTP/AVP 97").replace("a=rtpmap:101 telephone-event/8000", "a=rtpmap:97 iLBC/8000");
    ep.receive(&request("INVITE", "12345", "p5", 1, "z9hG4bKp5", "", &ilbc), from, t0, &mut m);
    assert_eq!(codes(&sent(&mut ep)), [100, 488]);
    ep.receive(&request("INVITE", "12345", "p5", 1, "z9hG4bKp5", "", &ilbc), from, t0, &mut m);
    assert_eq!(codes(&sent(&mut ep)), [488]);
    assert_eq!(m.created.len(), 3, "no leg for refused calls");
}

#[test]
fn hostile_messages_get_400_or_are_dropped_and_leak_nothing() {
    let (mut ep, mut m, t0) = (endpoint(0), FakeMedia::default(), Instant::now());
    let from = PHONE.parse().unwrap();
    let good = String::from_utf8(request("OPTIONS", "x", "h1", 1, "z9hG4bKh1", "", "")).unwrap();
    ep.receive(good.as_bytes(), from, t0, &mut m);
    let r = sent(&mut ep);
    assert_eq!(codes(&r), [200]);
    assert!(r[0].header("Allow").unwrap().contains("INVITE"));
    // Content-Length beyond the datagram: 400 with a Warning.
    let long = good.replace("l: 0", "l: 500");
    ep.receive(long.as_bytes(), from, t0, &mut m);
    let r = sent(&mut ep);
    assert_eq!(codes(&r), [400]);
    assert!(r[0].header("Warning").unwrap().contains("Content-Length"));
    // CSeq naming another method: 400.
    ep.receive(good.replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE").as_bytes(), from, t0, &mut m);
    assert_eq!(codes(&sent(&mut ep)), [400]);
    // Without Call-ID or Via nothing can be answered: dropped and counted.
    let before = ep.counters.malformed;
    ep.receive(good.replace("i: h1\r\n", "").as_bytes(), from, t0, &mut m);
    ep.receive(good.replace("Via: SIP/2.0/UDP 10.0.0.9:6060;branch=z9hG4bKh1;rport\r\n", "").as_bytes(), from, t0, &mut m);
    let huge = good.replace("Max-Forwards: 70", &format!("X-Big: {}", "a".repeat(70_000)));
    ep.receive(huge.as_bytes(), from, t0, &mut m);
    ep.receive(b"INVITE sip:x SIP/2.0\r\n\r\n", from, t0, &mut m);
    ep.receive(&[0xff; 300], from, t0, &mut m);
    assert!(sent(&mut ep).is_empty());
    assert_eq!(ep.counters.malformed, before + 5);
    // A broken request URI: 400; an unknown dialog: 481; unknown methods: 405.
    let broken = String::from_utf8(request("INVITE", "x", "h2", 1, "z9hG4bKh2", "", SDP)).unwrap().replacen("sip:x@127.0.0.1", "sip:x@[nope", 1);
    ep.receive(broken.as_bytes(), from, t0, &mut m);
    assert_eq!(codes(&sent(&mut ep)), [100, 400]);
    ep.receive(&request("BYE", "x", "nodialog", 2, "z9hG4bKh3", ";tag=zz", ""), from, t0, &mut m);
    assert_eq!(codes(&sent(&mut ep)), [481]);
    ep.receive(&request("SUBSCRIBE", "x", "h4", 1, "z9hG4bKh4", "", ""), from, t0, &mut m);
    assert_eq!(codes(&sent(&mut ep)), [405]);
    assert!(m.created.is_empty() && ep.calls() == 0, "no leg and no dialog from any of it");
    // Completed transactions are forgotten after 64·T1.
    ep.tick(t0 + Duration::from_secs(33), &mut m);
    assert!(ep.completed.is_empty());
}

/// Answer a call to the PIN-protected 777 without a PIN and ACK it; returns its To tag.
fn lobby_call(ep: &mut Endpoint, m: &mut FakeMedia, call: &str, t0: Instant) -> String {
    let from = PHONE.parse().unwrap();
    ep.receive(&request("INVITE", "00777", call, 1, &format!("z9hG4bK{call}"), "", SDP), from, t0, m);
    let r = sent(ep);
    let tag = param(r[2].header("To").unwrap(), "tag").unwrap().to_string();
    let played = m.prompts.len();
    ep.receive(&request("ACK", "00777", call, 1, &format!("z9hG4bK{call}a"), &format!(";tag={tag}"), ""), from, t0, m);
    assert_eq!(m.prompts.len(), played + 1, "the prompt waits for the ACK");
    tag
}

fn press(ep: &mut Endpoint, m: &mut FakeMedia, leg: LegId, keys: &str, now: Instant) {
    for k in keys.chars() {
        let ev = control::Event::Dtmf { leg, digit: k.to_string(), duration_ms: 100, source: control::DtmfSource::Rfc4733 };
        ep.media_event(&ev, now, m);
    }
}

#[test]
fn pin_entry_by_dtmf_lets_the_caller_in() {
    let (mut ep, mut m, t0) = (endpoint(0), FakeMedia::default(), Instant::now());
    lobby_call(&mut ep, &mut m, "k1", t0);
    assert_eq!(m.prompts, [(1, "enter-pin".to_string())]);
    assert!(ep.events.contains(&CallEvent::PinRequested { call: "k1".into() }));
    // The first key stops the prompt; the PIN complete lets the caller in, no # needed.
    press(&mut ep, &mut m, 1, "12", t0);
    assert_eq!(m.prompts_stopped, [1]);
    assert!(m.attached.is_empty());
    press(&mut ep, &mut m, 1, "34", t0);
    assert_eq!(m.attached, [("777".to_string(), 1)]);
    assert!(ep.events.contains(&CallEvent::Joined { call: "k1".into(), conference: "777".into() }));
    assert_eq!(m.prompts.last().unwrap().1, "welcome");
    assert!(!ep.events.iter().any(|e| matches!(e, CallEvent::Dtmf { .. })), "PIN digits are not reported");
    // Keys in the conference are ordinary DTMF events.
    press(&mut ep, &mut m, 1, "5", t0);
    assert!(ep.events.contains(&CallEvent::Dtmf { call: "k1".into(), digit: '5' }));
    // SIP INFO digits reach PIN entry the same way (another caller).
    let tag = lobby_call(&mut ep, &mut m, "k2", t0);
    let info = request("INFO", "00777", "k2", 2, "z9hG4bKk2i", &format!(";tag={tag}"), "Signal=1\r\nDuration=160\r\n");
    let info = String::from_utf8(info).unwrap().replace("c: application/sdp", "c: application/dtmf-relay");
    ep.receive(info.as_bytes(), PHONE.parse().unwrap(), t0, &mut m);
    assert_eq!(codes(&sent(&mut ep)), [200]);
    press(&mut ep, &mut m, 2, "234#", t0);
    assert_eq!(m.attached.last(), Some(&("777".to_string(), 2)));
}

#[test]
fn three_wrong_pins_end_the_call_after_the_goodbye() {
    let (mut ep, mut m, t0) = (endpoint(0), FakeMedia::default(), Instant::now());
    lobby_call(&mut ep, &mut m, "w1", t0);
    press(&mut ep, &mut m, 1, "9999", t0);
    assert!(ep.events.iter().all(|e| !matches!(e, CallEvent::PinRejected { .. })), "a wrong PIN waits for # or a pause");
    press(&mut ep, &mut m, 1, "#", t0);
    assert!(ep.events.contains(&CallEvent::PinRejected { call: "w1".into(), tries_left: 2 }));
    assert_eq!(m.prompts.last().unwrap().1, "wrong-pin");
    press(&mut ep, &mut m, 1, "1#", t0);
    // Silence counts as the third try.
    ep.tick(t0 + Duration::from_secs(16), &mut m);
    assert!(ep.events.contains(&CallEvent::PinRejected { call: "w1".into(), tries_left: 0 }));
    assert_eq!(m.prompts.last().unwrap().1, "pin-failed");
    ep.out.clear();
    // Keys during the goodbye change nothing; its end sends the BYE.
    press(&mut ep, &mut m, 1, "1234", t0);
    assert!(m.attached.is_empty() && ep.calls() == 1);
    let goodbye = m.prompts.len() as u64;
    ep.media_event(&control::Event::PromptDone { id: goodbye }, t0 + Duration::from_secs(19), &mut m);
    let bye = Message::parse(&ep.out.pop().unwrap().1).unwrap();
    assert_eq!(bye.method(), Some("BYE"));
    assert_eq!(m.deleted, [1]);
    match ep.events.last().unwrap() {
        CallEvent::Ended { cause, qos: Some(q), .. } => assert_eq!((cause.as_str(), q.rx_packets, q.lost), ("wrong PIN", 100, 1)),
        other => panic!("{other:?}"),
    }
    // A goodbye that never reports its end still ends the call.
    lobby_call(&mut ep, &mut m, "w2", t0);
    press(&mut ep, &mut m, 2, "0#0#0#", t0);
    ep.tick(t0 + Duration::from_secs(11), &mut m);
    assert_eq!(ep.calls(), 0);
}

#[path = "calls_out_tests.rs"]
mod calls_out;

#[test]
fn g711_without_telephone_events_gets_inband_detection() {
    let (mut ep, mut m, t0) = (endpoint(0), FakeMedia::default(), Instant::now());
    let plain = SDP.replace("RTP/AVP 0 101", "RTP/AVP 8").replace("a=rtpmap:101 telephone-event/8000\r\n", "");
    ep.receive(&request("INVITE", "12345", "t1", 1, "z9hG4bKt1", "", &plain), PHONE.parse().unwrap(), t0, &mut m);
    let a = m.created[0].audio.as_ref().unwrap();
    assert_eq!((a.receive[0].codec.as_str(), a.telephone_event, a.inband_dtmf), ("pcma", None, true));
}

#[test]
fn session_timers_end_silent_calls_and_we_refresh_with_update() {
    let (mut ep, mut m, t0) = (endpoint(0), FakeMedia::default(), Instant::now());
    let from: SocketAddr = PHONE.parse().unwrap();
    let with = |extra: &str, req: Vec<u8>| String::from_utf8(req).unwrap().replacen("Max-Forwards: 70\r\n", &format!("Max-Forwards: 70\r\n{extra}"), 1).into_bytes();
    // Too short: 422 with our Min-SE, no call.
    ep.receive(&with("x: 30\r\n", request("INVITE", "12345", "s0", 1, "z9hG4bKs0", "", SDP)), from, t0, &mut m);
    let r = sent(&mut ep);
    assert_eq!((codes(&r), r[1].header("Min-SE")), (vec![100, 422], Some("90")));
    // The phone refreshes (it supports timers): our 200 says so.
    ep.receive(&with("Supported: timer\r\nSession-Expires: 120;refresher=uac\r\n", request("INVITE", "12345", "s1", 1, "z9hG4bKs1", "", SDP)), from, t0, &mut m);
    let r = sent(&mut ep);
    assert_eq!((r[2].header("Session-Expires"), r[2].header("Require")), (Some("120;refresher=uac"), Some("timer")));
    let tag = format!(";tag={}", param(r[2].header("To").unwrap(), "tag").unwrap());
    ep.receive(&request("ACK", "12345", "s1", 1, "z9hG4bKs1a", &tag, ""), from, t0, &mut m);
    // An UPDATE at 60 s refreshes it: nothing at 88 s; BYE 32 s before the new expiry.
    let upd = with("Session-Expires: 120;refresher=uac\r\nSupported: timer\r\n", request("UPDATE", "12345", "s1", 2, "z9hG4bKs1u", &tag, ""));
    ep.receive(&upd, from, t0 + Duration::from_secs(60), &mut m);
    assert_eq!(codes(&sent(&mut ep)), [200]);
    ep.tick(t0 + Duration::from_secs(89), &mut m);
    assert!(ep.out.is_empty() && ep.calls() == 1);
    ep.tick(t0 + Duration::from_secs(60 + 88), &mut m);
    let bye = Message::parse(&ep.out.pop().unwrap().1).unwrap();
    assert_eq!(bye.method(), Some("BYE"));
    assert!(matches!(ep.events.last(), Some(CallEvent::Ended { cause, .. }) if cause == "session timer expired"));
    // A phone without timers that allows UPDATE: we refresh at half the interval.
    ep.out.clear();
    ep.receive(&with("Allow: INVITE, ACK, BYE, UPDATE\r\n", request("INVITE", "12345", "s2", 1, "z9hG4bKs2", "", SDP)), from, t0, &mut m);
    let r = sent(&mut ep);
    assert_eq!((r[2].header("Session-Expires"), r[2].header("Require")), (Some("1800;refresher=uas"), None));
    let tag = format!(";tag={}", param(r[2].header("To").unwrap(), "tag").unwrap());
    ep.receive(&request("ACK", "12345", "s2", 1, "z9hG4bKs2a", &tag, ""), from, t0, &mut m);
    ep.tick(t0 + Duration::from_secs(900), &mut m);
    let update = Message::parse(&ep.out.pop().unwrap().1).unwrap();
    assert_eq!((update.method(), update.header("Session-Expires")), (Some("UPDATE"), Some("1800;refresher=uas")));
    let ok = update.response(200, "OK", None).to_bytes();
    ep.receive(&ok, from, t0 + Duration::from_secs(900), &mut m);
    ep.tick(t0 + Duration::from_secs(1000), &mut m);
    assert!(ep.out.is_empty(), "refreshed: the next refresh is 900 s later");
    // Our next refresh goes unanswered: the call ends once it gives up.
    ep.tick(t0 + Duration::from_secs(1800), &mut m);
    assert_eq!(Message::parse(&ep.out.pop().unwrap().1).unwrap().method(), Some("UPDATE"));
    ep.tick(t0 + Duration::from_secs(1800 + 33), &mut m);
    ep.tick(t0 + Duration::from_secs(1800 + 34), &mut m);
    assert_eq!(ep.calls(), 0);
    assert!(matches!(ep.events.last(), Some(CallEvent::Ended { cause, .. }) if cause == "session refresh unanswered"));
}

#[test]
fn reliable_ringing_when_the_phone_requires_100rel_and_420_for_unknown_extensions() {
    let (mut ep, mut m, t0) = (endpoint(2000), FakeMedia::default(), Instant::now());
    let from: SocketAddr = PHONE.parse().unwrap();
    let with = |extra: &str, req: Vec<u8>| String::from_utf8(req).unwrap().replacen("Max-Forwards: 70\r\n", &format!("Max-Forwards: 70\r\n{extra}"), 1).into_bytes();
    ep.receive(&with("Require: 100rel, foo\r\n", request("INVITE", "12345", "r0", 1, "z9hG4bKr0", "", SDP)), from, t0, &mut m);
    let r = sent(&mut ep);
    assert_eq!((codes(&r), r[1].header("Unsupported")), (vec![100, 420], Some("foo")));
    assert!(m.created.is_empty());
    ep.receive(&with("Require: 100rel\r\n", request("INVITE", "12345", "r1", 1, "z9hG4bKr1", "", SDP)), from, t0, &mut m);
    let r = sent(&mut ep);
    assert_eq!(codes(&r), [100, 180]);
    assert_eq!(r[1].header("Require"), Some("100rel"));
    let rseq = r[1].header("RSeq").unwrap().to_string();
    let tag = format!(";tag={}", param(r[1].header("To").unwrap(), "tag").unwrap());
    ep.tick(t0 + Duration::from_millis(510), &mut m);
    assert_eq!(codes(&sent(&mut ep)), [180], "resent until PRACKed");
    // A PRACK for another RSeq is refused; the right one stops the 180.
    let prack = |rack: &str| with(&format!("RAck: {rack}\r\n"), request("PRACK", "12345", "r1", 2, &format!("z9hG4bKp{}", rack.len()), &tag, ""));
    ep.receive(&prack("999 1 INVITE"), from, t0, &mut m);
    assert_eq!(codes(&sent(&mut ep)), [481]);
    ep.receive(&prack(&format!("{rseq} 1 INVITE")), from, t0, &mut m);
    assert_eq!(codes(&sent(&mut ep)), [200]);
    ep.tick(t0 + Duration::from_millis(1600), &mut m);
    assert!(sent(&mut ep).is_empty(), "PRACKed: no more 180");
    ep.tick(t0 + Duration::from_millis(2000), &mut m);
    let r = sent(&mut ep);
    assert_eq!(codes(&r), [200]);
    assert!(r[0].header("Supported").unwrap().contains("100rel"));
}

#[test]
fn sdes_keys_go_to_the_leg_and_unusable_offers_get_488() {
    let (mut ep, mut m, t0) = (endpoint(0), FakeMedia::default(), Instant::now());
    let from = PHONE.parse().unwrap();
    let key = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";
    let savp = SDP.replace("RTP/AVP", "RTP/SAVP") + &format!("a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:{key}\r\na=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:{key}|2^31\r\n");
    ep.receive(&request("INVITE", "12345", "s1", 1, "z9hG4bKs1", "", &savp), from, t0, &mut m);
    let r = sent(&mut ep);
    assert_eq!(codes(&r), [100, 180, 200]);
    let answer = String::from_utf8(r[2].body.clone()).unwrap();
    assert!(answer.contains("m=audio 50002 RTP/SAVP 0 101"), "{answer}");
    let ours = answer.lines().find_map(|l| l.strip_prefix("a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:")).expect("our key under the chosen tag");
    let sdes = m.created[0].sdes.as_ref().expect("keys in leg.create");
    assert_eq!((sdes.recv_key.as_str(), sdes.send_key.as_str()), (key, ours));
    assert_ne!(ours, key);
    // A re-INVITE with a new key of theirs rekeys the leg; ours stays.
    let tag = param(r[2].header("To").unwrap(), "tag").unwrap().to_string();
    ep.receive(&request("ACK", "12345", "s1", 1, "z9hG4bKs2", &format!(";tag={tag}"), ""), from, t0, &mut m);
    let key2 = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk";
    let rekey = SDP.replace("RTP/AVP", "RTP/SAVP") + &format!("a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:{key2}\r\n");
    ep.receive(&request("INVITE", "12345", "s1", 2, "z9hG4bKs3", &format!(";tag={tag}"), &rekey), from, t0, &mut m);
    assert_eq!(codes(&sent(&mut ep)), [100, 200]);
    let sdes = m.updated.last().unwrap().sdes.as_ref().expect("rekeyed");
    assert_eq!((sdes.recv_key.as_str(), sdes.send_key.as_str()), (key2, ours));
    // Dropping SRTP mid-call is refused.
    ep.receive(&request("INVITE", "12345", "s1", 3, "z9hG4bKs4", &format!(";tag={tag}"), SDP), from, t0, &mut m);
    assert_eq!(codes(&sent(&mut ep)), [100, 488]);

    // RTP/SAVP with only suites we lack: 488 and no leg.
    let legs = m.created.len();
    let bad = SDP.replace("RTP/AVP", "RTP/SAVP") + &format!("a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:{key}\r\n");
    ep.receive(&request("INVITE", "12345", "s2", 1, "z9hG4bKs5", "", &bad), from, t0, &mut m);
    let r = sent(&mut ep);
    assert_eq!(codes(&r), [100, 488]);
    assert!(r[1].header("Warning").unwrap().contains("crypto"), "{:?}", r[1].header("Warning"));
    assert_eq!(m.created.len(), legs);
    // Best effort: a key on RTP/AVP is taken, and the answer stays RTP/AVP.
    let be = SDP.to_string() + &format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key}\r\n");
    ep.receive(&request("INVITE", "12345", "s3", 1, "z9hG4bKs6", "", &be), from, t0, &mut m);
    let r = sent(&mut ep);
    let answer = String::from_utf8(r[2].body.clone()).unwrap();
    assert!(answer.contains("RTP/AVP 0 101") && answer.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"), "{answer}");
    assert!(m.created.last().unwrap().sdes.is_some());
}

#[test]
fn record_route_is_echoed_and_routes_our_requests() {
    let (mut ep, mut m, t0) = (endpoint(0), FakeMedia::default(), Instant::now());
    let from = PHONE.parse().unwrap();
    let invite = String::from_utf8(request("INVITE", "12345", "rr1", 1, "z9hG4bKr1", "", SDP)).unwrap();
    let invite = invite.replacen("Max-Forwards: 70\r\n", "Max-Forwards: 70\r\nRecord-Route: <sip:10.0.0.1;lr>, \"edge, west\" <sip:10.0.0.2:5070;lr>\r\nRecord-Route: <sip:10.0.0.3;lr>\r\n", 1);
    ep.receive(invite.as_bytes(), from, t0, &mut m);
    let r = sent(&mut ep);
    assert_eq!(codes(&r), [100, 180, 200]);
    assert!(r[0].header("Record-Route").is_none(), "not in the 100");
    for resp in &r[1..] {
        assert_eq!(resp.header_lines("Record-Route"), ["<sip:10.0.0.1;lr>, \"edge, west\" <sip:10.0.0.2:5070;lr>", "<sip:10.0.0.3;lr>"]);
    }
    let tag = param(r[2].header("To").unwrap(), "tag").unwrap().to_string();
    ep.receive(&request("ACK", "12345", "rr1", 1, "z9hG4bKr2", &format!(";tag={tag}"), ""), from, t0, &mut m);
    ep.hangup("rr1", t0, &mut m, "operator");
    let (to, bye) = ep.out.pop().unwrap();
    let bye = Message::parse(&bye).unwrap();
    assert_eq!(to, from, "sent where the dialog's requests came from");
    assert_eq!(bye.method(), Some("BYE"));
    assert_eq!(bye.header_lines("Route"), ["<sip:10.0.0.1;lr>", "\"edge, west\" <sip:10.0.0.2:5070;lr>", "<sip:10.0.0.3;lr>"], "the route set in order");
    assert_eq!(bye.uri(), Some("sip:ann@10.0.0.9:6060"), "the remote target stays the Request-URI (loose routing)");
}

#[test]
fn info_picture_fast_update_asks_the_calls_composite_for_a_key_frame() {
    let (mut ep, mut m, t0) = (endpoint(0), FakeMedia::default(), Instant::now());
    let from = PHONE.parse().unwrap();
    let video = format!("{SDP}m=video 6002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 profile-level-id=42e01e;packetization-mode=1\r\n");
    ep.receive(&request("INVITE", "0012345", "v1", 1, "z9hG4bKv1", "", &video), from, t0, &mut m);
    let r = sent(&mut ep);
    let tag = param(r[2].header("To").unwrap(), "tag").unwrap().to_string();
    // Leg 1 carries the call's audio, leg 2 its video (the composite).
    assert!(m.created[1].video.as_ref().is_some_and(|v| v.send.is_some()));
    ep.receive(&request("ACK", "0012345", "v1", 1, "z9hG4bKv2", &format!(";tag={tag}"), ""), from, t0, &mut m);
    const FPU: &str = "<?xml version=\"1.0\" encoding=\"utf-8\" ?>\r\n<media_control><vc_primitive><to_encoder><picture_fast_update/></to_encoder></vc_primitive></media_control>\r\n";
    let info = |call: &str, cseq: u32, branch: &str, tag: &str, kind: &str| {
        let r = String::from_utf8(request("INFO", "0012345", call, cseq, branch, &format!(";tag={tag}"), FPU)).unwrap();
        r.replace("c: application/sdp", &format!("c: {kind}"))
    };
    ep.receive(info("v1", 2, "z9hG4bKv3", &tag, "application/media_control+xml").as_bytes(), from, t0, &mut m);
    assert_eq!(codes(&sent(&mut ep)), [200]);
    assert_eq!(m.keyframes, [2]);
    // The same body under another type is not a key-frame request.
    ep.receive(info("v1", 3, "z9hG4bKv4", &tag, "application/xml").as_bytes(), from, t0, &mut m);
    assert_eq!((codes(&sent(&mut ep)), m.keyframes.len()), (vec![200], 1));
    // An audio-only call's request is answered and asks nothing of mediad.
    ep.receive(&request("INVITE", "0012345", "a1", 1, "z9hG4bKa1", "", SDP), from, t0, &mut m);
    let r = sent(&mut ep);
    let tag = param(r[2].header("To").unwrap(), "tag").unwrap().to_string();
    ep.receive(info("a1", 2, "z9hG4bKa2", &tag, "application/media_control+xml").as_bytes(), from, t0, &mut m);
    assert_eq!((codes(&sent(&mut ep)), m.keyframes.len()), (vec![200], 1));
}

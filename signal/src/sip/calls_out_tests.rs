//! Calls out through a trunk (407 answered with credentials, 180, 200, ACK, codec
//! from the answer), the registrar (401, 200, 423, a device called by its name),
//! failures and the ring limit.

use super::*;
use crate::sip::calls_out::{Dial, RING_LIMIT};
use crate::sip::digest;

const PBX: &str = "127.0.0.1:5070";

/// A response from the far end to our request `req`.
fn answer(req: &Message, code: u16, reason: &str, extra: &[(&str, String)], body: &str) -> Vec<u8> {
    let mut r = req.response(code, reason, (code > 100).then_some("far1"));
    for (n, v) in extra {
        r.push(n, v.clone());
    }
    r.body = body.as_bytes().to_vec();
    if !body.is_empty() {
        r.push("Content-Type", "application/sdp");
    }
    r.to_bytes()
}

fn last_to(ep: &mut Endpoint, addr: &str) -> Message {
    let (to, bytes) = ep.out.pop().expect("something sent");
    assert_eq!(to, addr.parse().unwrap());
    Message::parse(&bytes).unwrap()
}

#[test]
fn a_number_through_the_trunk_with_proxy_auth() {
    let (mut ep, mut m, t0) = (endpoint(0), FakeMedia::default(), Instant::now());
    let pbx: SocketAddr = PBX.parse().unwrap();
    let call = ep.dial(&Dial { to: "84951234567".into(), conference: "12345".into(), trunk: None }, t0, &mut m).unwrap();
    let inv = last_to(&mut ep, PBX);
    assert_eq!(inv.uri(), Some("sip:+74951234567@127.0.0.1:5070"), "rewritten by the trunk's rule");
    let offer = String::from_utf8(inv.body.clone()).unwrap();
    assert!(offer.contains("m=audio 50002 RTP/AVP 8 0 101"), "the trunk's codecs only: {offer}");
    let leg = &m.created[0];
    assert_eq!(leg.room.as_deref(), Some("12345"));
    assert_eq!(leg.audio.as_ref().unwrap().receive.len(), 2, "ready for either codec until the answer");
    // Not answered: Timer A resends the INVITE.
    ep.tick(t0 + Duration::from_millis(600), &mut m);
    assert_eq!(last_to(&mut ep, PBX).method(), Some("INVITE"));
    // 407: ACKed, then the INVITE again with credentials and CSeq 2.
    let v = digest::Verifier::new("pbx", &[digest::Algorithm::Sha256, digest::Algorithm::Md5]);
    let ch: Vec<(&str, String)> = v.challenges(false).into_iter().map(|c| ("Proxy-Authenticate", c)).collect();
    ep.receive(&answer(&inv, 407, "Proxy Authentication Required", &ch, ""), pbx, t0, &mut m);
    let retry = last_to(&mut ep, PBX);
    let ack = last_to(&mut ep, PBX);
    assert_eq!((ack.method(), ack.cseq().unwrap().0, ack.branch()), (Some("ACK"), 1, inv.branch()), "the 407 is ACKed in its transaction");
    assert_eq!((retry.method(), retry.cseq().unwrap().0), (Some("INVITE"), 2));
    assert_ne!(retry.branch(), inv.branch());
    let auth = retry.header("Proxy-Authorization").unwrap();
    assert_eq!(v.check(auth, "INVITE", |u| (u == "mediad").then(|| "pw".to_string())), digest::Check::Ok { user: "mediad".into() });
    // 180, then 200 with PCMU: ACK, the leg learns the address and the codec.
    ep.receive(&answer(&retry, 180, "Ringing", &[], ""), pbx, t0, &mut m);
    assert!(ep.events.contains(&CallEvent::Ringing { call: call.clone() }));
    let sdp = SDP;
    let ok = answer(&retry, 200, "OK", &[("Contact", "<sip:pbx@127.0.0.1:5070>".into())], sdp);
    ep.receive(&ok, pbx, t0, &mut m);
    let ack = last_to(&mut ep, PBX);
    assert_eq!((ack.method(), ack.uri(), ack.cseq().unwrap().0), (Some("ACK"), Some("sip:pbx@127.0.0.1:5070"), 2));
    assert!(ack.header("To").unwrap().contains("tag=far1"));
    let upd = m.updated.last().unwrap();
    assert_eq!(upd.remote, Some("127.0.0.1:6000".parse().unwrap()));
    assert_eq!(upd.audio.as_ref().unwrap().send.as_ref().unwrap().codec, "pcmu");
    assert!(ep.events.contains(&CallEvent::Answered { call: call.clone(), leg: 1, codec: "pcmu".into() }));
    // A retransmitted 200 gets the same ACK again; nothing else happens.
    ep.receive(&ok, pbx, t0, &mut m);
    assert_eq!(last_to(&mut ep, PBX).to_bytes(), ack.to_bytes());
    // Our BYE continues our CSeq space.
    ep.hangup(&call, t0, &mut m, "done");
    let bye = last_to(&mut ep, PBX);
    assert_eq!((bye.method(), bye.cseq().unwrap().0), (Some("BYE"), 3));
}

#[test]
fn failures_and_the_ring_limit_end_calls_out() {
    let (mut ep, mut m, t0) = (endpoint(0), FakeMedia::default(), Instant::now());
    let pbx: SocketAddr = PBX.parse().unwrap();
    let busy = ep.dial(&Dial { to: "sip:200@127.0.0.1:5070".into(), conference: "1".into(), trunk: None }, t0, &mut m).unwrap();
    let inv = last_to(&mut ep, PBX);
    assert_eq!(inv.uri(), Some("sip:200@127.0.0.1:5070"));
    ep.receive(&answer(&inv, 486, "Busy Here", &[], ""), pbx, t0, &mut m);
    assert_eq!(last_to(&mut ep, PBX).method(), Some("ACK"));
    assert!(matches!(ep.events.last().unwrap(), CallEvent::Ended { call, cause, .. } if call == &busy && cause == "486 Busy Here"));
    assert_eq!(m.deleted, [1]);
    // Ringing past the limit: CANCEL; the 487 that follows is ACKed.
    let slow = ep.dial(&Dial { to: "sip:300@127.0.0.1:5070".into(), conference: "1".into(), trunk: None }, t0, &mut m).unwrap();
    let inv = last_to(&mut ep, PBX);
    ep.receive(&answer(&inv, 180, "Ringing", &[], ""), pbx, t0, &mut m);
    ep.tick(t0 + RING_LIMIT, &mut m);
    let cancel = last_to(&mut ep, PBX);
    assert_eq!((cancel.method(), cancel.branch(), cancel.cseq().unwrap().0), (Some("CANCEL"), inv.branch(), 1));
    assert!(matches!(ep.events.last().unwrap(), CallEvent::Ended { call, cause, .. } if call == &slow && cause == "no answer"));
    ep.receive(&answer(&inv, 487, "Request Terminated", &[], ""), pbx, t0, &mut m);
    assert_eq!(last_to(&mut ep, PBX).method(), Some("ACK"));
    // Unroutable targets are refused at once.
    assert!(ep.dial(&Dial { to: "sip:x@pbx.example".into(), conference: "1".into(), trunk: None }, t0, &mut m).unwrap_err().contains("host names"));
    assert!(ep.dial(&Dial { to: "123".into(), conference: "1".into(), trunk: Some("nope".into()) }, t0, &mut m).unwrap_err().contains("no trunk"));
    assert!(ep.dial(&Dial { to: "1 2".into(), conference: "1".into(), trunk: None }, t0, &mut m).is_err());
}

fn register(user: &str, cseq: u32, expires: &str, auth: Option<String>) -> Vec<u8> {
    let mut s = format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9:6060;branch=z9hG4bKr{cseq};rport\r\nFrom: <sip:{user}@127.0.0.1>;tag=r1\r\n\
To: <sip:{user}@127.0.0.1>\r\nCall-ID: reg1\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{user}@10.0.0.9:6060>;expires={expires}\r\nMax-Forwards: 70\r\n"
    );
    if let Some(a) = auth {
        s.push_str(&format!("Authorization: {a}\r\n"));
    }
    s.push_str("Content-Length: 0\r\n\r\n");
    s.into_bytes()
}

#[test]
fn registrar_challenges_binds_and_calls_the_device_by_name() {
    let (mut ep, mut m, t0) = (endpoint(0), FakeMedia::default(), Instant::now());
    let from: SocketAddr = PHONE.parse().unwrap();
    ep.receive(&register("room1", 1, "600", None), from, t0, &mut m);
    let r = sent(&mut ep);
    assert_eq!(codes(&r), [401]);
    let ch = r[0].header_lines("WWW-Authenticate");
    assert!(ch[0].contains("SHA-256") && ch[1].contains("MD5"));
    let auth = |pw: &str, ch: &[&str]| digest::answer(ch, "room1", pw, "REGISTER", "sip:127.0.0.1", "cn").unwrap();
    ep.receive(&register("room1", 2, "600", Some(auth("wrong-pw", &ch))), from, t0, &mut m);
    assert_eq!(codes(&sent(&mut ep)), [403]);
    ep.receive(&register("room1", 3, "10", Some(auth("s3cret-pw", &ch))), from, t0, &mut m);
    let r = sent(&mut ep);
    assert_eq!(codes(&r), [423]);
    assert_eq!(r[0].header("Min-Expires"), Some("60"));
    ep.receive(&register("room1", 4, "7200", Some(auth("s3cret-pw", &ch[1..]))), from, t0, &mut m);
    let r = sent(&mut ep);
    assert_eq!(codes(&r), [200]);
    assert_eq!(r[0].header("Contact"), Some("<sip:room1@10.0.0.9:6060>;expires=3600"), "capped at an hour");
    assert_eq!(ep.registered(t0)[0].0, "room1");
    // Called by its name: to its Contact, sent where its REGISTER came from.
    ep.dial(&Dial { to: "room1".into(), conference: "12345".into(), trunk: None }, t0, &mut m).unwrap();
    let inv = last_to(&mut ep, PHONE);
    assert_eq!(inv.uri(), Some("sip:room1@10.0.0.9:6060"));
    // Someone else's credentials do not register room1's address.
    ep.receive(&register("room2", 5, "600", Some(auth("s3cret-pw", &ch))), from, t0, &mut m);
    assert_eq!(codes(&sent(&mut ep)), [403]);
    // Expired bindings are gone; unregistering works.
    ep.tick(t0 + Duration::from_secs(3601), &mut m);
    assert!(ep.registered(t0 + Duration::from_secs(3601)).is_empty());
    ep.receive(&register("room1", 6, "0", Some(auth("s3cret-pw", &ch))), from, t0, &mut m);
    assert_eq!(codes(&sent(&mut ep)), [200]);
}

#[test]
fn a_trunk_that_requires_srtp_offers_savp_and_hangs_up_on_a_plain_answer() {
    let (mut ep, mut m, t0) = (endpoint(0), FakeMedia::default(), Instant::now());
    ep.trunks[0].srtp = crate::sip::sdes::Policy::Required;
    let pbx: SocketAddr = PBX.parse().unwrap();
    // Keyed: the answer's key (same tag and suite) and ours go to the leg.
    let call = ep.dial(&Dial { to: "84951234567".into(), conference: "12345".into(), trunk: None }, t0, &mut m).unwrap();
    let inv = last_to(&mut ep, PBX);
    let offer = String::from_utf8(inv.body.clone()).unwrap();
    assert!(offer.contains("m=audio 50002 RTP/SAVP 8 0 101"), "{offer}");
    let ours = offer.lines().find_map(|l| l.strip_prefix("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:")).expect("our key").to_string();
    let theirs = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";
    let keyed = SDP.replace("RTP/AVP", "RTP/SAVP") + &format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{theirs}\r\n");
    ep.receive(&answer(&inv, 200, "OK", &[("Contact", "<sip:pbx@127.0.0.1:5070>".into())], &keyed), pbx, t0, &mut m);
    let sdes = m.updated.last().unwrap().sdes.as_ref().expect("keys once answered");
    assert_eq!((sdes.send_key.as_str(), sdes.recv_key.as_str()), (ours.as_str(), theirs));
    assert!(ep.events.iter().any(|e| matches!(e, CallEvent::Answered { call: c, .. } if *c == call)));
    // A plain answer: ACK, then BYE, the call ends with the reason.
    ep.out.clear();
    let call2 = ep.dial(&Dial { to: "84951234568".into(), conference: "12345".into(), trunk: None }, t0, &mut m).unwrap();
    let inv = last_to(&mut ep, PBX);
    ep.receive(&answer(&inv, 200, "OK", &[("Contact", "<sip:pbx@127.0.0.1:5070>".into())], SDP), pbx, t0, &mut m);
    let methods: Vec<_> = ep.out.drain(..).filter_map(|(_, b)| Message::parse(&b).ok()?.method().map(str::to_string)).collect();
    assert_eq!(methods, ["ACK", "BYE"]);
    assert!(ep.events.iter().any(|e| matches!(e, CallEvent::Ended { call: c, cause, .. } if *c == call2 && cause.contains("SRTP is required"))), "{:?}", ep.events);
}

#[test]
fn a_record_routed_answer_sends_our_ack_and_bye_through_the_proxies() {
    let (mut ep, mut m, t0) = (endpoint(0), FakeMedia::default(), Instant::now());
    let pbx: SocketAddr = PBX.parse().unwrap();
    let call = ep.dial(&Dial { to: "84951234567".into(), conference: "12345".into(), trunk: None }, t0, &mut m).unwrap();
    let inv = last_to(&mut ep, PBX);
    let rr = [("Record-Route", "<sip:10.0.0.2;lr>".to_string()), ("Record-Route", "<sip:127.0.0.1:5080;lr>".to_string()), ("Contact", "<sip:pbx@10.9.9.9:5070>".into())];
    ep.receive(&answer(&inv, 200, "OK", &rr, SDP), pbx, t0, &mut m);
    let ack = last_to(&mut ep, "127.0.0.1:5080");
    assert_eq!(ack.method(), Some("ACK"));
    assert_eq!(ack.header_lines("Route"), ["<sip:127.0.0.1:5080;lr>", "<sip:10.0.0.2;lr>"], "reversed: our side first");
    assert_eq!(ack.uri(), Some("sip:pbx@10.9.9.9:5070"));
    ep.hangup(&call, t0, &mut m, "operator");
    let bye = last_to(&mut ep, "127.0.0.1:5080");
    assert_eq!((bye.method(), bye.header_lines("Route").len()), (Some("BYE"), 2));
}

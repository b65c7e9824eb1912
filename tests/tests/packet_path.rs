//! The packet path against hostile input and the RTP/RTCP behaviour receivers rely
//! on: malformed datagrams are counted and dropped without harming forwarding;
//! sender/receiver reports are generated; PLI and NACK reach the source in its own
//! numbering; an SSRC change of the source is invisible to receivers.

use control::{Event, LegCreate, LegInfo, LegUpdate, Op};
use rtcp_types::prelude::*;
use rtcp_types::{Compound, Nack, Packet, PayloadFeedback, Pli, ReceiverReport, ReportBlock, TransportFeedback};
use std::net::UdpSocket;
use std::time::{Duration, Instant};
use system_tests::Mediad;

fn sock() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(1500))).unwrap();
    s
}

fn rtp(ssrc: u32, seq: u16, ts: u32, payload: usize) -> Vec<u8> {
    let mut p = vec![0x80, 96];
    p.extend(seq.to_be_bytes());
    p.extend(ts.to_be_bytes());
    p.extend(ssrc.to_be_bytes());
    p.extend(std::iter::repeat_n(0x5a, payload));
    p
}

/// A room with a source leg A (learns its remote) and a receiver leg B sending to `rx`.
fn pair(m: &Mediad, rx: &UdpSocket, rx_rtcp: Option<&UdpSocket>, cores: (usize, usize)) -> (LegInfo, LegInfo) {
    let mut c = m.client();
    c.room_create(Some("r")).unwrap();
    let a = c.leg_create(LegCreate { room: Some("r".into()), core: Some(cores.0), ..Default::default() }).unwrap();
    let b = c
        .leg_create(LegCreate {
            room: Some("r".into()),
            core: Some(cores.1),
            remote: Some(rx.local_addr().unwrap()),
            remote_rtcp: rx_rtcp.map(|s| s.local_addr().unwrap()),
            ..Default::default()
        })
        .unwrap();
    (a, b)
}

fn header(d: &[u8]) -> (u16, u32, u32) {
    (u16::from_be_bytes([d[2], d[3]]), u32::from_be_bytes(d[4..8].try_into().unwrap()), u32::from_be_bytes(d[8..12].try_into().unwrap()))
}

#[test]
fn malformed_datagrams_are_counted_and_dropped() {
    for io in ["epoll", "uring"] {
        let mut m = Mediad::start(1, io, &[]);
        let rx = sock();
        let (a, _b) = pair(&m, &rx, None, (0, 0));
        let tx = sock();
        let dst = ("127.0.0.1", a.rtp_port);
        let mut bad: Vec<Vec<u8>> = vec![
            vec![],                                   // empty datagram
            vec![0x80],                               // too short to classify
            vec![0x40, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1], // RTP version 1
            { let mut p = rtp(1, 1, 1, 0); p[0] |= 0x0f; p }, // 15 CSRCs announced, none present
            { let mut p = rtp(1, 1, 1, 2); p[0] |= 0x10; p }, // extension bit, no extension header
            { let mut p = rtp(1, 1, 1, 4); p[0] |= 0x20; *p.last_mut().unwrap() = 0; p }, // padding length 0
            { let mut p = rtp(1, 1, 1, 4); p[0] |= 0x20; *p.last_mut().unwrap() = 200; p }, // padding past the start
            vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42], // STUN on a plain RTP leg
            vec![22, 0xfe, 0xfd, 0, 0],               // DTLS on a plain RTP leg
            vec![0x80, 200, 0xff, 0xff, 0, 0, 0, 1],  // RTCP whose length runs past the datagram
            vec![0xff; 40],                           // first byte outside every range
            vec![0x80; 3000],                         // larger than any media datagram
        ];
        let crafted = bad.len() as u64;
        // Random bytes too; some may look valid, so only survival is asserted for them.
        let mut x: u64 = 0x1234_5678;
        for _ in 0..2000 {
            let len = (x % 300) as usize;
            let mut p = Vec::with_capacity(len);
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                p.push(x as u8);
            }
            bad.push(p);
        }
        for p in &bad[..crafted as usize] {
            tx.send_to(p, dst).unwrap();
        }
        std::thread::sleep(Duration::from_millis(200));
        let mut c = m.client();
        let s = c.leg_stats(a.leg).unwrap();
        assert_eq!(s.malformed, crafted, "{io}: every crafted bad datagram counted once: {s:?}");
        assert_eq!(s.rx_packets, 0, "{io}: none of them counted as media");
        for p in &bad[crafted as usize..] {
            tx.send_to(p, dst).unwrap();
        }
        // The core survived and still forwards.
        tx.send_to(&rtp(7, 1, 1, 50), dst).unwrap();
        let mut buf = [0u8; 2048];
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let n = rx.recv(&mut buf).expect("valid packet forwarded after the flood");
            if n == 62 && buf[12] == 0x5a {
                break;
            }
            assert!(Instant::now() < deadline);
        }
        assert!(m.proc_alive(), "{io}: mediad is alive");
        assert!(c.daemon_stats().unwrap().workers[0].malformed >= crafted);
    }
}

#[test]
fn ssrc_switch_is_invisible_to_receivers() {
    let m = Mediad::start(2, "epoll", &[]);
    let rx = sock();
    let (a, _b) = pair(&m, &rx, None, (0, 1));
    let mut ev = m.client();
    let _: serde_json::Value = ev.call_value(Op::EventsSubscribe { events: vec!["leg.ssrc".into()] }).unwrap();
    let tx = sock();
    let mut out = vec![];
    let mut buf = [0u8; 2048];
    for i in 0..10u16 {
        tx.send_to(&rtp(0x1111, 100 + i, 1000 + 160 * i as u32, 20), ("127.0.0.1", a.rtp_port)).unwrap();
        let n = rx.recv(&mut buf).unwrap();
        out.push(header(&buf[..n]));
        std::thread::sleep(Duration::from_millis(20));
    }
    for i in 0..10u16 {
        tx.send_to(&rtp(0x2222, 60000 + i, 9_000_000 + 160 * i as u32, 20), ("127.0.0.1", a.rtp_port)).unwrap();
        let n = rx.recv(&mut buf).unwrap();
        out.push(header(&buf[..n]));
        std::thread::sleep(Duration::from_millis(20));
    }
    let ssrc = out[0].2;
    assert!(out.iter().all(|h| h.2 == ssrc), "one outgoing SSRC: {out:x?}");
    for w in out.windows(2) {
        assert_eq!(w[1].0, w[0].0.wrapping_add(1), "sequence continues: {out:?}");
        let dt = w[1].1.wrapping_sub(w[0].1);
        assert!(dt > 0 && dt < 48_000, "timestamps advance with time across the switch: {out:?}");
    }
    let e = ev.next_event(Duration::from_secs(2)).unwrap();
    assert_eq!(e, Some(Event::SsrcChanged { leg: a.leg, old: Some(0x1111), new: 0x2222 }));
}

/// Collect RTCP packets arriving on `s` for up to `d`.
fn rtcp_items(s: &UdpSocket, d: Duration, mut f: impl FnMut(&Packet) -> bool) -> bool {
    let end = Instant::now() + d;
    let mut buf = [0u8; 2048];
    while Instant::now() < end {
        let Ok(n) = s.recv(&mut buf) else { continue };
        let Ok(c) = Compound::parse(&buf[..n]) else { panic!("mediad sent invalid RTCP: {:x?}", &buf[..n]) };
        for p in c {
            if f(&p.expect("valid RTCP packet")) {
                return true;
            }
        }
    }
    false
}

#[test]
fn reports_and_feedback_reach_the_right_ends() {
    let m = Mediad::start(2, "epoll", &["--rtcp-interval-ms", "300"]);
    let (rx, rx_rtcp) = (sock(), sock());
    let (a, b) = pair(&m, &rx, Some(&rx_rtcp), (1, 0));
    // The source sends RTP from one socket and RTCP from another (symmetric RTCP).
    let (src, src_rtcp) = (sock(), sock());
    let mut buf = [0u8; 2048];
    let mut out_ssrc = 0;
    let mut last_out_seq = 0;
    for i in 0..50u16 {
        src.send_to(&rtp(0xabcd, 500 + i, 160 * i as u32, 100), ("127.0.0.1", a.rtp_port)).unwrap();
        let n = rx.recv(&mut buf).unwrap();
        (last_out_seq, _, out_ssrc) = header(&buf[..n]);
    }
    // A receiver report from the source about nothing in particular latches its RTCP address.
    let rr = ReceiverReport::builder(0xabcd);
    let mut pkt = [0u8; 1500];
    let n = rr.write_into(&mut pkt).unwrap();
    src_rtcp.send_to(&pkt[..n], ("127.0.0.1", a.rtcp_port)).unwrap();

    // The receiver gets sender reports for the outgoing stream.
    let mut sr_seen = None;
    assert!(rtcp_items(&rx_rtcp, Duration::from_secs(3), |p| {
        if let Packet::Sr(sr) = p {
            if sr.ssrc() == out_ssrc && sr.packet_count() == 50 {
                sr_seen = Some(sr.ntp_timestamp());
                return true;
            }
        }
        false
    }), "receiver got an SR for the stream it receives");
    // It answers with an RR carrying LSR, and mediad measures RTT from it.
    let lsr = (sr_seen.unwrap() >> 16) as u32;
    let rr = ReceiverReport::builder(0x7777).add_report_block(
        ReportBlock::builder(out_ssrc).last_sender_report_timestamp(lsr).delay_since_last_sender_report_timestamp(0),
    );
    let n = rr.write_into(&mut pkt).unwrap();
    rx_rtcp.send_to(&pkt[..n], ("127.0.0.1", b.rtcp_port)).unwrap();

    // The source gets receiver reports about its own SSRC with its sequence numbers.
    assert!(rtcp_items(&src_rtcp, Duration::from_secs(3), |p| match p {
        Packet::Rr(rr) => rr.report_blocks().any(|b| b.ssrc() == 0xabcd && b.extended_sequence_number() == 549),
        Packet::Sr(sr) => sr.report_blocks().any(|b| b.ssrc() == 0xabcd && b.extended_sequence_number() == 549),
        _ => false,
    }), "source got an RR about 0xabcd");

    // PLI from the receiver about the outgoing SSRC reaches the source about 0xabcd.
    let pli = Pli::builder();
    let n = PayloadFeedback::builder(&pli).sender_ssrc(0x7777).media_ssrc(out_ssrc).write_into(&mut pkt).unwrap();
    rx_rtcp.send_to(&pkt[..n], ("127.0.0.1", b.rtcp_port)).unwrap();
    assert!(rtcp_items(&src_rtcp, Duration::from_secs(2), |p| matches!(p,
        Packet::PayloadFeedback(fb) if fb.media_ssrc() == 0xabcd && fb.parse_fci::<Pli>().is_ok())),
        "PLI relayed to the source across cores");

    // NACK for two outgoing sequence numbers arrives in the source's numbering.
    let nack = Nack::builder().add_rtp_sequence(last_out_seq).add_rtp_sequence(last_out_seq.wrapping_sub(3));
    let n = TransportFeedback::builder(&nack).sender_ssrc(0x7777).media_ssrc(out_ssrc).write_into(&mut pkt).unwrap();
    rx_rtcp.send_to(&pkt[..n], ("127.0.0.1", b.rtcp_port)).unwrap();
    let mut got = vec![];
    assert!(rtcp_items(&src_rtcp, Duration::from_secs(2), |p| {
        if let Packet::TransportFeedback(fb) = p {
            if let Ok(n) = fb.parse_fci::<Nack>() {
                got = n.entries().collect();
                return fb.media_ssrc() == 0xabcd;
            }
        }
        false
    }));
    got.sort();
    assert_eq!(got, vec![546, 549], "NACK mapped back to the source's sequence numbers");

    let mut c = m.client();
    let sb = c.leg_stats(b.leg).unwrap();
    assert!(sb.rtt_us.is_some(), "RTT measured from the receiver's RR: {sb:?}");
    assert_eq!(sb.feedback_relayed, 2);
    let sa = c.leg_stats(a.leg).unwrap();
    assert_eq!((sa.rx_packets, sa.lost, sa.expected), (50, 0, 50));
    // Updating remote_rtcp fixes the address (no more latching).
    c.leg_update(LegUpdate { leg: a.leg, remote_rtcp: Some(src_rtcp.local_addr().unwrap()), ..Default::default() }).unwrap();
}

#[test]
fn nacks_for_video_are_answered_from_the_cache_and_the_rest_goes_to_the_source() {
    // Video legs on one core and across cores: the core serving the receiver keeps
    // what it forwarded.
    for cores in [(0, 0), (1, 0)] {
        let m = Mediad::start(2, "epoll", &[]);
        let (rx, rx_rtcp, src, src_rtcp) = (sock(), sock(), sock(), sock());
        let mut c = m.client();
        c.room_create(Some("v")).unwrap();
        let video = |core: usize, remote: Option<&UdpSocket>, rtcp: Option<&UdpSocket>| LegCreate {
            media: control::Media::Video,
            room: Some("v".into()),
            core: Some(core),
            remote: remote.map(|s| s.local_addr().unwrap()),
            remote_rtcp: rtcp.map(|s| s.local_addr().unwrap()),
            ..Default::default()
        };
        let a = c.leg_create(video(cores.0, None, None)).unwrap();
        let b = c.leg_create(video(cores.1, Some(&rx), Some(&rx_rtcp))).unwrap();
        let mut buf = [0u8; 2048];
        let mut sent = vec![];
        for i in 0..20u16 {
            src.send_to(&rtp(0xbeef, 1000 + i, 3000 * i as u32, 300), ("127.0.0.1", a.rtp_port)).unwrap();
            let n = rx.recv(&mut buf).unwrap();
            sent.push(buf[..n].to_vec());
        }
        // Latch the source's RTCP address, then NACK one forwarded packet and one
        // that never existed.
        let mut pkt = [0u8; 1500];
        let n = ReceiverReport::builder(0xbeef).write_into(&mut pkt).unwrap();
        src_rtcp.send_to(&pkt[..n], ("127.0.0.1", a.rtcp_port)).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let (held_seq, _, out_ssrc) = header(&sent[7]);
        let never = held_seq.wrapping_add(1000);
        let nack = Nack::builder().add_rtp_sequence(held_seq).add_rtp_sequence(never);
        let n = TransportFeedback::builder(&nack).sender_ssrc(0x7777).media_ssrc(out_ssrc).write_into(&mut pkt).unwrap();
        rx_rtcp.send_to(&pkt[..n], ("127.0.0.1", b.rtcp_port)).unwrap();
        let n = rx.recv(&mut buf).expect("the retransmission");
        assert_eq!(&buf[..n], &sent[7][..], "the same bytes again, cores {cores:?}");
        // Only the packet the cache lacks is asked of the source, in its numbering.
        let mut got = vec![];
        assert!(rtcp_items(&src_rtcp, Duration::from_secs(2), |p| {
            if let Packet::TransportFeedback(fb) = p {
                if let Ok(n) = fb.parse_fci::<Nack>() {
                    got = n.entries().collect();
                    return true;
                }
            }
            false
        }));
        assert_eq!(got, vec![never.wrapping_sub(held_seq).wrapping_add(1007)], "cores {cores:?}");
        assert_eq!(c.leg_stats(b.leg).unwrap().retransmitted, 1);
    }
}

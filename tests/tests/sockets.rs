//! Socket-level promises: DSCP marks as configured (EF audio, AF41 video), UDP GSO
//! batches arrive as the original datagrams, IPv6 legs relay to IPv4 legs.

use control::{Family, LegCreate, Media};
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::time::Duration;
use system_tests::Mediad;

fn rtp(seq: u16, len: usize) -> Vec<u8> {
    let mut p = vec![0x80u8, 96];
    p.extend(seq.to_be_bytes());
    p.extend([0, 0, 0, 1, 0, 0, 0, 9]);
    p.resize(len, (seq % 251) as u8);
    p
}

/// Receive one datagram and the IP TOS byte it carried.
fn recv_with_tos(s: &UdpSocket) -> (Vec<u8>, u8) {
    let mut buf = [0u8; 2048];
    let mut cmsg = [0u8; 64];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr() as *mut _, iov_len: buf.len() };
    // SAFETY: recvmsg into local buffers; cmsgs read through the libc macros.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cmsg.as_mut_ptr() as *mut _;
        msg.msg_controllen = cmsg.len() as _;
        let n = libc::recvmsg(s.as_raw_fd(), &mut msg, 0);
        assert!(n > 0, "recvmsg: {}", std::io::Error::last_os_error());
        let mut tos = None;
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::IPPROTO_IP && (*c).cmsg_type == libc::IP_TOS {
                tos = Some(*libc::CMSG_DATA(c));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
        (buf[..n as usize].to_vec(), tos.expect("IP_TOS control message"))
    }
}

#[test]
fn dscp_marks_audio_ef_and_video_af41() {
    let m = Mediad::start(1, "epoll", &[]);
    let mut c = m.client();
    for (media, dscp) in [(Media::Audio, 46u8), (Media::Video, 34u8)] {
        let room = format!("{media:?}");
        c.room_create(Some(&room)).unwrap();
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let on: libc::c_int = 1;
        // SAFETY: enabling IP_RECVTOS on our socket.
        unsafe { libc::setsockopt(rx.as_raw_fd(), libc::IPPROTO_IP, libc::IP_RECVTOS, &on as *const _ as *const _, 4) };
        let src = c.leg_create(LegCreate { media, room: Some(room.clone()), ..Default::default() }).unwrap();
        c.leg_create(LegCreate { media, room: Some(room), remote: Some(rx.local_addr().unwrap()), ..Default::default() }).unwrap();
        UdpSocket::bind("127.0.0.1:0").unwrap().send_to(&rtp(1, 100), ("127.0.0.1", src.rtp_port)).unwrap();
        let (_, tos) = recv_with_tos(&rx);
        assert_eq!(tos >> 2, dscp, "{media:?} leaves with DSCP {dscp}");
    }
}

#[test]
fn gso_batches_arrive_as_the_original_datagrams() {
    for io in ["epoll", "uring"] {
        let m = Mediad::start(1, io, &[]);
        let mut c = m.client();
        c.room_create(Some("g")).unwrap();
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let src = c.leg_create(LegCreate { room: Some("g".into()), ..Default::default() }).unwrap();
        c.leg_create(LegCreate { room: Some("g".into()), remote: Some(rx.local_addr().unwrap()), ..Default::default() }).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let dst = std::net::SocketAddr::from(([127, 0, 0, 1], src.rtp_port));
        // Bursts of equal-size packets (what a video frame looks like) with a short
        // odd-size one at the end of each, sent with one syscall per burst.
        let mut sent = vec![];
        for burst in 0..20u16 {
            let pkts: Vec<Vec<u8>> = (0..40u16).map(|i| rtp(burst * 40 + i, if i == 39 { 333 } else { 1200 })).collect();
            let mut iovs: Vec<libc::iovec> = pkts.iter().map(|p| libc::iovec { iov_base: p.as_ptr() as *mut _, iov_len: p.len() }).collect();
            let addr = socket2::SockAddr::from(dst);
            let mut msgs: Vec<libc::mmsghdr> = iovs
                .iter_mut()
                .map(|iov| {
                    // SAFETY: header over local buffers, alive across sendmmsg.
                    let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
                    m.msg_hdr.msg_name = addr.as_ptr() as *mut _;
                    m.msg_hdr.msg_namelen = addr.len();
                    m.msg_hdr.msg_iov = iov;
                    m.msg_hdr.msg_iovlen = 1;
                    m
                })
                .collect();
            // SAFETY: msgs point to live buffers.
            let n = unsafe { libc::sendmmsg(tx.as_raw_fd(), msgs.as_mut_ptr(), msgs.len() as u32, 0) };
            assert_eq!(n, 40);
            sent.extend(pkts);
            // Drain as we go so the test's own receive buffer never overflows.
            let mut buf = [0u8; 2048];
            for _ in 0..40 {
                let n = rx.recv(&mut buf).expect("forwarded");
                let seq = u16::from_be_bytes([buf[2], buf[3]]) as usize;
                assert_eq!(n, sent[seq].len(), "{io}: datagram {seq} keeps its size");
                assert_eq!(&buf[12..n], &sent[seq][12..], "{io}: datagram {seq} keeps its payload");
            }
        }
        let st = c.daemon_stats().unwrap();
        assert!(st.workers[0].gso_sends > 0, "{io}: bursts went out as GSO sends: {st:?}");
        assert_eq!(st.workers[0].tx_packets, 800, "{io}: {st:?}");
    }
}

#[test]
fn ipv6_leg_relays_to_ipv4_leg() {
    let m = Mediad::start(1, "epoll", &["--bind6", "::1", "--advertise6", "2001:db8::7"]);
    let mut c = m.client();
    c.room_create(Some("v6")).unwrap();
    let src = c.leg_create(LegCreate { family: Family::Ipv6, room: Some("v6".into()), ..Default::default() }).unwrap();
    assert_eq!(src.local_ip.to_string(), "::1");
    assert_eq!(src.advertised_ip.to_string(), "2001:db8::7", "advertised address is separate from the bind address");
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    c.leg_create(LegCreate { room: Some("v6".into()), remote: Some(rx.local_addr().unwrap()), ..Default::default() }).unwrap();
    let tx = UdpSocket::bind("[::1]:0").unwrap();
    tx.send_to(&rtp(5, 160), ("::1", src.rtp_port)).unwrap();
    let mut buf = [0u8; 2048];
    let n = rx.recv(&mut buf).expect("relayed from IPv6 to IPv4");
    assert_eq!(n, 160);
    // The learned address reaches the registry through the event pump: allow it a moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while c.leg_stats(src.leg).unwrap().remote != Some(tx.local_addr().unwrap()) {
        assert!(std::time::Instant::now() < deadline, "learned the IPv6 remote");
        std::thread::sleep(Duration::from_millis(20));
    }
}

//! mediad's STUN/TURN server against coturn's own client tools: turnutils_stunclient
//! (reflexive address) and turnutils_uclient through turnutils_peer (UDP allocations,
//! static users and the REST shared-secret scheme, client-to-client), with zero loss;
//! a wrong password fails as it does against coturn.

use std::process::{Command, Stdio};
use std::time::Duration;
use system_tests::{free_tcp_port, free_udp_port, free_udp_tcp_port, port_block, Mediad, Proc, TempDir};

struct Turn {
    m: Mediad,
    port: u16,
    tls_port: u16,
}

fn start(extra: &[&str]) -> Turn {
    start_on(2, extra)
}

fn start_on(workers: usize, extra: &[&str]) -> Turn {
    start_with(workers, "epoll", extra)
}

fn start_with(workers: usize, io: &str, extra: &[&str]) -> Turn {
    let (port, tls_port) = (free_udp_tcp_port(), free_tcp_port());
    let (lo, hi) = port_block();
    let relay = format!("{}-{}", lo + 100, hi);
    let mut args = vec!["--turn-port".to_string(), port.to_string(), "--turn-realm".into(), "test.local".into()];
    args.extend(["--turn-tls-port".into(), tls_port.to_string()]);
    args.extend(["--turn-relay-ports".into(), relay, "--turn-allow-loopback-peers".into()]);
    args.extend(["--rtp-ports".into(), format!("{lo}-{}", lo + 99)]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Turn { m: Mediad::start(workers, io, &refs), port, tls_port }
}

/// A turnutils_peer echoing on a fresh port. The port is picked free and then bound by
/// the child, so a parallel test's daemon may take it in between; an echo proves the
/// peer really holds it (turnutils_peer keeps running when its bind fails).
fn peer() -> (Proc, u16) {
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    probe.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    for _ in 0..5 {
        let port = free_udp_port();
        let p = Proc::spawn(
            "turnutils_peer",
            Command::new("turnutils_peer").args(["-L", "127.0.0.1", "-p", &port.to_string()]).stdout(Stdio::null()).stderr(Stdio::null()),
        );
        for _ in 0..40 {
            probe.send_to(b"echo?", ("127.0.0.1", port)).unwrap();
            let mut buf = [0u8; 64];
            if let Ok((n, from)) = probe.recv_from(&mut buf) {
                if from.port() == port && &buf[..n] == b"echo?" {
                    return (p, port);
                }
            }
        }
    }
    panic!("turnutils_peer never echoed on a free port");
}

fn uclient_cmd(t: &Turn, args: &[&str]) -> Command {
    uclient_at(t.port, args)
}

fn uclient_at(port: u16, args: &[&str]) -> Command {
    let mut c = Command::new("timeout");
    c.args(["-s", "KILL", "60", "turnutils_uclient"]).args(args).args(["-p", &port.to_string(), "127.0.0.1"]);
    c
}

/// Run turnutils_uclient with a time bound; returns (exit code, output).
fn uclient(t: &Turn, args: &[&str]) -> (i32, String) {
    output(uclient_cmd(t, args).output().expect("turnutils_uclient (apt-get install coturn)"))
}

fn output(out: std::process::Output) -> (i32, String) {
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

fn field(text: &str, name: &str) -> u64 {
    let at = text.rfind(name).unwrap_or_else(|| panic!("{name} missing:\n{text}"));
    text[at + name.len()..].trim_start_matches(['=', ' ', ':']).split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
}

fn assert_lossless(code: i32, text: &str, what: &str) {
    assert_eq!(code, 0, "{what}: uclient failed:\n{text}");
    let sent = field(text, "tot_send_msgs");
    let recv = field(text, "tot_recv_msgs");
    assert!(sent > 0, "{what}: nothing sent:\n{text}");
    assert_eq!(recv, sent, "{what}: every message came back:\n{text}");
    assert_eq!(field(text, "Total lost packets"), 0, "{what}:\n{text}");
}

#[test]
fn stunclient_gets_its_reflexive_address() {
    let t = start(&["--turn-user", "alice:alicepass"]);
    let out = Command::new("timeout")
        .args(["10", "turnutils_stunclient", "-p", &t.port.to_string(), "127.0.0.1"])
        .output()
        .expect("turnutils_stunclient (apt-get install coturn)");
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("UDP reflexive addr: 127.0.0.1:"), "{text}");
}

#[test]
fn udp_allocations_with_static_user_relay_without_loss() {
    let t = start(&["--turn-user", "alice:alicepass"]);
    let (_peer, pport) = peer();
    let (code, text) = uclient(&t, &["-u", "alice", "-w", "alicepass", "-e", "127.0.0.1", "-r", &pport.to_string(), "-n", "500", "-m", "10", "-l", "170", "-z", "5", "-c"]);
    assert_lossless(code, &text, "static user");
    let st = t.m.client().daemon_stats().unwrap();
    assert!(st.workers.iter().map(|w| w.rx_packets).sum::<u64>() >= 5000, "{st:?}");
}

#[test]
fn rest_secret_and_client_to_client() {
    let t = start(&["--turn-secret", "s3cr3t", "--turn-secret", "older-secret"]);
    let (_peer, pport) = peer();
    let (code, text) = uclient(&t, &["-u", "alice", "-W", "s3cr3t", "-e", "127.0.0.1", "-r", &pport.to_string(), "-n", "300", "-m", "5", "-l", "170", "-z", "5", "-c"]);
    assert_lossless(code, &text, "REST secret");
    // The rotated-out secret still works while configured.
    let (code, text) = uclient(&t, &["-u", "bob", "-W", "older-secret", "-e", "127.0.0.1", "-r", &pport.to_string(), "-n", "100", "-m", "2", "-l", "100", "-z", "5", "-c"]);
    assert_lossless(code, &text, "older secret");
    // Client to client: pairs of allocations talk to each other through the relay.
    let (code, text) = uclient(&t, &["-u", "carol", "-W", "s3cr3t", "-y", "-n", "300", "-m", "4", "-l", "170", "-z", "5", "-c"]);
    assert_lossless(code, &text, "client-to-client");
}

#[test]
fn wrong_password_fails_like_coturn() {
    let t = start(&["--turn-user", "alice:alicepass"]);
    let (_peer, pport) = peer();
    let (code, text) = uclient(&t, &["-u", "alice", "-w", "nope", "-e", "127.0.0.1", "-r", &pport.to_string(), "-n", "10", "-m", "1", "-l", "100", "-c"]);
    assert_ne!(code, 0, "{text}");
    assert!(text.contains("Cannot complete Allocation"), "{text}");
}

#[test]
fn allocation_counters_are_live_over_the_control_socket() {
    let t = start(&["--turn-user", "alice:alicepass"]);
    let (_peer, pport) = peer();
    let mut client = Proc::spawn(
        "turnutils_uclient",
        Command::new("turnutils_uclient")
            .args(["-u", "alice", "-w", "alicepass", "-e", "127.0.0.1", "-r", &pport.to_string()])
            .args(["-n", "1000", "-m", "4", "-l", "120", "-z", "10", "-c", "-p", &t.port.to_string(), "127.0.0.1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    // While the client runs (about 10 s), its allocations and their traffic are visible
    // and the counters move between two looks. Wait for traffic rather than guess when
    // the client starts sending (it is slower to start on a loaded machine).
    let mut c = t.m.client();
    let relayed = |c: &mut control::Client| -> (usize, u64) {
        let live: Vec<control::AllocationInfo> = c.call(control::Op::TurnAllocations).unwrap();
        assert!(live.iter().all(|a| a.user == "alice"), "{live:?}");
        (live.len(), live.iter().map(|a| a.to_peer_packets + a.from_peer_packets).sum())
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let (n1, p1) = loop {
        let (n, p) = relayed(&mut c);
        if p > 0 {
            break (n, p);
        }
        assert!(std::time::Instant::now() < deadline, "no relayed traffic seen");
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(Duration::from_millis(500));
    let (n2, p2) = relayed(&mut c);
    assert!(n1 >= 4 && n2 == n1, "one or more allocations per client: {n1} {n2}");
    assert!(p2 > p1, "live counters grow while relaying: {p1} then {p2}");
    let users: Vec<control::TurnUserStats> = c.call(control::Op::TurnUsers).unwrap();
    assert_eq!((users.len(), users[0].allocations), (1, n1));
    let st = client.wait_timeout(Duration::from_secs(60)).expect("uclient finished");
    assert!(st.success());
    // After a tick the per-core counters add up to what the client sent.
    std::thread::sleep(Duration::from_millis(300));
    let d = c.daemon_stats().unwrap();
    let to_peer: u64 = d.workers.iter().map(|w| w.turn.relayed_to_peer).sum();
    let from_peer: u64 = d.workers.iter().map(|w| w.turn.relayed_from_peer).sum();
    assert_eq!((to_peer, from_peer), (4000, 4000), "4 clients x 1000 messages, echoed: {d:?}");
}

#[test]
fn multiplexed_relay_serves_two_clients_on_one_socket() {
    // One core, one shared relay socket: both allocations get the same relayed address
    // and each peer's echo must still reach the right client.
    let t = start_on(1, &["--turn-user", "alice:alicepass", "--turn-relay-mode", "multiplexed", "--turn-mux-sockets", "1"]);
    let ((_p1, port1), (_p2, port2)) = (peer(), peer());
    let run = |pport: u16| {
        uclient_cmd(&t, &["-u", "alice", "-w", "alicepass", "-e", "127.0.0.1", "-r", &pport.to_string(), "-n", "500", "-m", "1", "-l", "170", "-z", "5", "-c"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("turnutils_uclient (apt-get install coturn)")
    };
    let (a, b) = (run(port1), run(port2));
    let mut c = t.m.client();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let relays = loop {
        let live: Vec<control::AllocationInfo> = c.call(control::Op::TurnAllocations).unwrap();
        if live.len() == 2 {
            break live.into_iter().map(|a| a.relay).collect::<Vec<_>>();
        }
        assert!(std::time::Instant::now() < deadline, "two allocations never coexisted: {live:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(relays[0], relays[1], "one shared relay socket");
    for (child, what) in [(a, "client 1"), (b, "client 2")] {
        let (code, text) = output(child.wait_with_output().unwrap());
        assert_lossless(code, &text, what);
    }
    let d = c.daemon_stats().unwrap();
    assert_eq!(d.workers[0].turn.dropped_ambiguous_peer, 0, "{d:?}");
}

#[test]
fn tcp_and_tls_transports_relay_without_loss() {
    let t = start(&["--turn-user", "alice:alicepass", "--turn-secret", "s3cr3t"]);
    let (_peer, pport) = peer();
    let pport = pport.to_string();
    let common = ["-e", "127.0.0.1", "-r", pport.as_str(), "-n", "300", "-m", "4", "-l", "170", "-z", "5", "-c"];
    // TCP to the server (RFC 8656 framing), UDP relay.
    let (code, text) = uclient(&t, &[&["-t", "-u", "alice", "-w", "alicepass"][..], &common].concat());
    assert_lossless(code, &text, "TCP");
    let (code, text) = uclient(&t, &["-t", "-u", "carol", "-W", "s3cr3t", "-y", "-n", "300", "-m", "2", "-l", "170", "-z", "5", "-c"]);
    assert_lossless(code, &text, "TCP client-to-client, REST secret");
    // TLS on its own port (a generated certificate: dev mode).
    let out = uclient_at(t.tls_port, &[&["-S", "-t", "-u", "alice", "-w", "alicepass"][..], &common].concat()).output().unwrap();
    let (code, text) = output(out);
    assert!(text.contains("tls_connect: client session connected"), "{text}");
    assert_lossless(code, &text, "TLS");
    // Allocations over a stream end with their connection, not at their lifetime.
    std::thread::sleep(Duration::from_millis(300));
    let d = t.m.client().daemon_stats().unwrap();
    let live: u64 = d.workers.iter().map(|w| w.turn.allocations).sum();
    let created: u64 = d.workers.iter().map(|w| w.turn.allocations_total).sum();
    // (uclient makes more allocations than clients in some modes: at least 12.)
    assert!(live == 0 && created >= 12, "live {live}, created {created}: {d:?}");
    // A wrong password over TCP fails as over UDP.
    let (code, text) = uclient(&t, &[&["-t", "-u", "alice", "-w", "nope"][..], &common].concat());
    assert_ne!(code, 0, "{text}");
}

#[test]
fn rtp_rtcp_pairs_get_even_ports_and_reservations() {
    // Without -c, uclient allocates RTP with EVEN-PORT (reserve the next port) and RTCP
    // with the RESERVATION-TOKEN it got; with two cores the second Allocate may land on
    // the other one.
    let t = start(&["--turn-user", "alice:alicepass"]);
    let (_peer, pport) = peer();
    let pport = pport.to_string();
    for transport in [&[][..], &["-t"][..]] {
        let args = [transport, &["-v", "-u", "alice", "-w", "alicepass", "-e", "127.0.0.1", "-r", &pport, "-n", "200", "-m", "4", "-l", "170", "-z", "5"]].concat();
        let (code, text) = uclient(&t, &args);
        assert_lossless(code, &text, &format!("RTP/RTCP pairs {transport:?}"));
        let ports: Vec<u16> = text
            .lines()
            .filter_map(|l| l.split("Received relay addr: 127.0.0.1:").nth(1))
            .map(|p| p.trim().parse().unwrap())
            .collect();
        let tokens: Vec<bool> = text.lines().filter_map(|l| l.split("rtv=").nth(1)).map(|v| v.trim() != "0").collect();
        assert_eq!(ports.len(), tokens.len(), "{text}");
        let reserved: Vec<u16> = ports.iter().zip(&tokens).filter(|(_, t)| **t).map(|(p, _)| *p).collect();
        assert!(reserved.len() >= 2, "reservations for the RTP allocations uclient logs: {ports:?}");
        for p in reserved {
            assert!(p % 2 == 0 && ports.contains(&(p + 1)), "{p} is even and its RTCP got {}: {ports:?}", p + 1);
        }
    }
}

/// coturn itself on free ports, for behaviour to compare against.
fn coturn() -> (Proc, u16, TempDir) {
    let (port, dir) = (free_udp_tcp_port(), TempDir::new("coturn"));
    let (lo, hi) = port_block();
    let p = Proc::spawn(
        "turnserver",
        Command::new("turnserver")
            .args(["-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", "--lt-cred-mech", "--realm=test.local"])
            .args(["--allow-loopback-peers", "--user=alice:alicepass", "--no-tls", "--no-dtls", "--no-cli"])
            .arg(format!("--listening-port={port}"))
            .arg(format!("--min-port={lo}"))
            .arg(format!("--max-port={hi}"))
            .arg(format!("--userdb={}", dir.path("db").display()))
            .arg(format!("--pidfile={}", dir.path("pid").display()))
            .arg(format!("--log-file={}", dir.path("log").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    std::thread::sleep(Duration::from_millis(500));
    (p, port, dir)
}

#[test]
fn tcp_relays_rfc6062_over_tcp_and_tls() {
    let t = start(&["--turn-user", "alice:alicepass"]);
    let args = ["-u", "alice", "-w", "alicepass", "-n", "200", "-m", "4", "-l", "170", "-z", "5"];
    // Active: the client Connects to peers (here: its own relayed addresses, -T implies
    // client-to-client), then binds data connections; over TCP and over TLS.
    let (code, text) = uclient(&t, &[&["-T"][..], &args].concat());
    assert_lossless(code, &text, "RFC 6062 over TCP");
    let (code, text) = output(uclient_at(t.tls_port, &[&["-T", "-S"][..], &args].concat()).output().unwrap());
    assert_lossless(code, &text, "RFC 6062 over TLS");
    // Passive (-P: the peer connects in, announced by ConnectionAttempt). uclient counts
    // only one direction as received in this mode (against coturn as well): compare.
    let passive = ["-P", "-u", "alice", "-w", "alicepass", "-n", "50", "-m", "2", "-l", "170", "-z", "5"];
    let (code, ours) = uclient(&t, &passive);
    assert_eq!(code, 0, "{ours}");
    let (_c, cport, _dir) = coturn();
    let (code, theirs) = output(uclient_at(cport, &passive).output().unwrap());
    assert_eq!(code, 0, "coturn: {theirs}");
    for f in ["tot_send_msgs", "tot_recv_msgs"] {
        assert_eq!(field(&ours, f), field(&theirs, f), "{f}: ours\n{ours}\ncoturn\n{theirs}");
    }
    assert!(field(&ours, "tot_recv_msgs") > 0, "{ours}");
    // Connections end with their allocations.
    std::thread::sleep(Duration::from_millis(300));
    let d = t.m.client().daemon_stats().unwrap();
    assert_eq!(d.workers.iter().map(|w| w.turn.allocations + w.turn.stream_connections).sum::<u64>(), 0, "{d:?}");
}

#[test]
fn streams_work_under_the_io_uring_backend() {
    // The stream set is watched by a multishot poll there instead of epoll.
    let t = start_with(2, "uring", &["--turn-user", "alice:alicepass"]);
    let (_peer, pport) = peer();
    let pport = pport.to_string();
    let args = ["-u", "alice", "-w", "alicepass", "-n", "200", "-m", "4", "-l", "170", "-z", "5"];
    let (code, text) = uclient(&t, &[&["-t", "-c", "-e", "127.0.0.1", "-r", &pport][..], &args].concat());
    assert_lossless(code, &text, "TCP on io_uring");
    let (code, text) = output(uclient_at(t.tls_port, &[&["-T", "-S"][..], &args].concat()).output().unwrap());
    assert_lossless(code, &text, "RFC 6062 over TLS on io_uring");
}

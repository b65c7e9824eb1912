//! SIP over UDP: the one place SIP touches a socket. A thread receives datagrams,
//! feeds the sans-IO endpoint with the time, sends what it answers and runs its
//! timers; call events are logged (the event API and CDRs come with their issue).

use super::endpoint::{CallEvent, Endpoint};
use crate::mediad_link::{LinkOps, MediadLink};
use std::net::UdpSocket;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Serve SIP on `sock` until the process ends.
pub fn serve(sock: UdpSocket, mut ep: Endpoint, link: Arc<MediadLink>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let now = Instant::now();
        let wait = ep.next_due().map_or(Duration::from_millis(200), |d| d.saturating_duration_since(now)).clamp(Duration::from_millis(1), Duration::from_millis(200));
        let _ = sock.set_read_timeout(Some(wait));
        match sock.recv_from(&mut buf) {
            Ok((n, from)) => ep.receive(&buf[..n], from, Instant::now(), &mut LinkOps(&link)),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) => tracing::warn!("SIP socket: {e}"),
        }
        ep.tick(Instant::now(), &mut LinkOps(&link));
        for (to, bytes) in ep.out.drain(..) {
            if let Err(e) = sock.send_to(&bytes, to) {
                tracing::debug!("SIP send to {to}: {e}");
            }
        }
        for e in ep.events.drain(..) {
            match e {
                CallEvent::Ended { call, cause } => tracing::info!(%call, %cause, "SIP call ended"),
                other => tracing::info!("SIP {other:?}"),
            }
        }
    }
}

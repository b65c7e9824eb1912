//! Prometheus `/metrics`, encoded on each scrape from the live counters (a collector,
//! so there is no second copy of any counter to keep in step).

use crate::control::Daemon;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::sync::Arc;

#[derive(Debug)]
struct DaemonCollector(Arc<DaemonRef>);

struct DaemonRef(Arc<Daemon>);
impl std::fmt::Debug for DaemonRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Daemon")
    }
}

fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, rows: &[(Vec<(&str, String)>, u64)]) -> std::fmt::Result {
    let mut m = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, v) in rows {
        ConstCounter::new(*v).encode(m.encode_family(labels)?)?;
    }
    Ok(())
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, rows: &[(Vec<(&str, String)>, i64)]) -> std::fmt::Result {
    let mut m = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, v) in rows {
        if labels.is_empty() {
            // An empty label family encodes no sample at all: write it bare.
            ConstGauge::new(*v).encode(m)?;
            return Ok(());
        }
        ConstGauge::new(*v).encode(m.encode_family(labels)?)?;
    }
    Ok(())
}

impl Collector for DaemonCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        let d = &self.0 .0;
        let workers: Vec<_> = d.workers.iter().enumerate().map(|(i, w)| w.counters.snapshot(i)).collect();
        let per_core = |f: fn(&control::WorkerStats) -> u64| -> Vec<(Vec<(&str, String)>, u64)> {
            workers.iter().map(|w| (vec![("core", w.core.to_string())], f(w))).collect()
        };
        counter(&mut e, "mediad_core_rx_packets", "Datagrams received per core", &per_core(|w| w.rx_packets))?;
        counter(&mut e, "mediad_core_tx_packets", "Datagrams sent per core", &per_core(|w| w.tx_packets))?;
        counter(&mut e, "mediad_core_tx_syscalls", "sendmmsg/io_uring send operations per core", &per_core(|w| w.tx_syscalls))?;
        counter(&mut e, "mediad_core_gso_sends", "GSO super-datagrams per core", &per_core(|w| w.gso_sends))?;
        counter(&mut e, "mediad_core_malformed", "Malformed or unknown datagrams dropped per core", &per_core(|w| w.malformed))?;
        counter(&mut e, "mediad_core_handoff_out", "Packets handed to other cores", &per_core(|w| w.handoff_out))?;
        counter(&mut e, "mediad_core_handoff_dropped", "Hand-offs dropped on a full ring", &per_core(|w| w.handoff_dropped))?;
        counter(&mut e, "mediad_core_tx_dropped", "Sends dropped by the kernel (buffer full)", &per_core(|w| w.tx_dropped))?;
        gauge(&mut e, "mediad_core_legs", "Legs owned per core", &per_core(|w| w.legs).into_iter().map(|(l, v)| (l, v as i64)).collect::<Vec<_>>())?;
        gauge(&mut e, "mediad_rooms", "Rooms", &[(vec![], d.room_count() as i64)])?;
        if d.cfg.turn.is_some() {
            let turn = |f: fn(&control::TurnCounters) -> u64| -> Vec<(Vec<(&str, String)>, u64)> {
                workers.iter().map(|w| (vec![("core", w.core.to_string())], f(&w.turn))).collect()
            };
            gauge(&mut e, "mediad_turn_allocations", "Live TURN allocations per core", &turn(|t| t.allocations).into_iter().map(|(l, v)| (l, v as i64)).collect::<Vec<_>>())?;
            counter(&mut e, "mediad_turn_allocations_created", "TURN allocations created", &turn(|t| t.allocations_total))?;
            counter(&mut e, "mediad_turn_relayed_to_peer", "Datagrams relayed client to peer", &turn(|t| t.relayed_to_peer))?;
            counter(&mut e, "mediad_turn_relayed_from_peer", "Datagrams relayed peer to client", &turn(|t| t.relayed_from_peer))?;
            counter(&mut e, "mediad_turn_bad_credentials", "Requests refused for wrong credentials", &turn(|t| t.bad_credentials))?;
            counter(&mut e, "mediad_turn_quota_refusals", "Allocations refused by quota", &turn(|t| t.quota_refusals))?;
            counter(&mut e, "mediad_turn_bindings", "STUN binding requests answered", &turn(|t| t.bindings))?;
            counter(&mut e, "mediad_turn_dropped_no_permission", "Datagrams dropped: no permission or channel", &turn(|t| t.dropped_no_permission))?;
            counter(&mut e, "mediad_turn_dropped_ambiguous_peer", "Multiplexed mode: peer datagrams matching several allocations", &turn(|t| t.dropped_ambiguous_peer))?;
            counter(&mut e, "mediad_turn_mux_rebinds", "Multiplexed mode: peer addresses taken over by another allocation", &turn(|t| t.mux_rebinds))?;
            gauge(&mut e, "mediad_turn_stream_connections", "Open TURN TCP/TLS connections per core", &turn(|t| t.stream_connections).into_iter().map(|(l, v)| (l, v as i64)).collect::<Vec<_>>())?;
            counter(&mut e, "mediad_turn_stream_refused", "TCP/TLS connections refused at the per-core limit", &turn(|t| t.stream_refused))?;
            counter(&mut e, "mediad_turn_tls_failures", "TLS handshakes that failed", &turn(|t| t.tls_failures))?;
            counter(&mut e, "mediad_turn_stream_moves", "RFC 6062 data connections moved to the core owning their peer connection", &turn(|t| t.stream_moves))?;
            if let Ok(users) = d.turn_users() {
                let rows: Vec<_> = users.iter().map(|u| (vec![("user", u.user.clone())], u.allocations as i64)).collect();
                gauge(&mut e, "mediad_turn_user_allocations", "Live TURN allocations per user", &rows)?;
                let rows: Vec<_> = users.iter().map(|u| (vec![("user", u.user.clone())], (u.to_peer_bytes + u.from_peer_bytes) as i64)).collect();
                gauge(&mut e, "mediad_turn_user_bytes", "Bytes relayed by the user's live allocations", &rows)?;
            }
        }

        let legs = d.snapshot();
        let label = |s: &control::LegStats| {
            vec![("leg", s.leg.to_string()), ("room", s.room.clone().unwrap_or_default()), ("label", s.label.clone().unwrap_or_default())]
        };
        let rows = |f: fn(&control::LegStats) -> u64| legs.iter().map(|s| (label(s), f(s))).collect::<Vec<_>>();
        counter(&mut e, "mediad_leg_rx_packets", "RTP packets received per leg", &rows(|s| s.rx_packets))?;
        counter(&mut e, "mediad_leg_rx_bytes", "Bytes received per leg", &rows(|s| s.rx_bytes))?;
        counter(&mut e, "mediad_leg_tx_packets", "RTP packets sent per leg", &rows(|s| s.tx_packets))?;
        counter(&mut e, "mediad_leg_tx_bytes", "Bytes sent per leg", &rows(|s| s.tx_bytes))?;
        counter(&mut e, "mediad_leg_malformed", "Malformed packets per leg", &rows(|s| s.malformed))?;
        let lost: Vec<_> = legs.iter().map(|s| (label(s), s.lost)).collect();
        gauge(&mut e, "mediad_leg_lost_packets", "Cumulative packets lost toward us (RFC 3550)", &lost)?;
        let jitter: Vec<_> = legs.iter().map(|s| (label(s), s.jitter_us as i64)).collect();
        gauge(&mut e, "mediad_leg_jitter_microseconds", "Interarrival jitter of what the leg sends us", &jitter)?;
        let rtt: Vec<_> = legs.iter().filter_map(|s| s.rtt_us.map(|r| (label(s), r as i64))).collect();
        gauge(&mut e, "mediad_leg_rtt_microseconds", "Round-trip time from RTCP", &rtt)?;
        Ok(())
    }
}

/// Serve /metrics on `addr` from a thread of its own.
pub fn serve(addr: &str, daemon: Arc<Daemon>) -> Result<(), String> {
    let server = tiny_http::Server::http(addr).map_err(|e| format!("metrics on {addr}: {e}"))?;
    let mut registry = Registry::default();
    registry.register_collector(Box::new(DaemonCollector(Arc::new(DaemonRef(daemon)))));
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for req in server.incoming_requests() {
                let resp = if req.url() == "/metrics" {
                    let mut body = String::new();
                    match prometheus_client::encoding::text::encode(&mut body, &registry) {
                        Ok(()) => tiny_http::Response::from_string(body).with_header(
                            "Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8"
                                .parse::<tiny_http::Header>()
                                .expect("static header"),
                        ),
                        Err(_) => tiny_http::Response::from_string("encode error").with_status_code(500),
                    }
                } else {
                    tiny_http::Response::from_string("see /metrics\n").with_status_code(404)
                };
                let _ = req.respond(resp);
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(())
}

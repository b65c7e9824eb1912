//! Periodic work of a core, run from its coarse tick: RTCP reports per leg (RFC 3550
//! intervals with 0.5-1.5 randomisation), live loss/jitter counters, inactivity.

use super::counters::set;
use super::Engine;
use crate::rtp::ntp::duration_to_mid32;
use crate::rtp::rtcp::{self, Reception, SenderInfo};
use control::Event;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

/// Streams we stopped sending more than this long ago leave the sender reports.
const SENDER_TIMEOUT: Duration = Duration::from_secs(10);

impl Engine {
    pub fn on_tick(&mut self) {
        let now = self.now;
        let interval = self.cfg.rtcp_interval();
        let timeout = Duration::from_secs(self.cfg.media_timeout_s.max(1));
        let ntp = self.ntp.ntp(now);
        let mut slots = std::mem::take(&mut self.tick_slots);
        slots.clear();
        slots.extend(self.legs.iter().map(|(k, _)| k as u32));
        for &slot in &slots {
            let jitter = self.random() % 1000;
            let Some(leg) = self.legs.get_mut(slot as usize) else { continue };
            // Live receive statistics for stats readers: loss summed over the leg's
            // streams, jitter of the first (the only one on plain legs).
            let c = &leg.counters;
            c.lost.store(leg.streams.iter().map(|s| s.rx.lost()).sum(), Relaxed);
            set(&c.expected, leg.streams.iter().map(|s| s.rx.expected()).sum());
            let s0 = &leg.streams[0];
            set(&c.jitter_us, s0.rx.jitter() as u64 * 1_000_000 / s0.clock_rate as u64);
            let (since, rx0, tx0) = leg.rate_window;
            let span = now.saturating_duration_since(since);
            if span >= Duration::from_secs(1) {
                let (rx, tx) = (c.rx_bytes.load(Relaxed), c.tx_bytes.load(Relaxed));
                set(&c.rx_bps, rx.wrapping_sub(rx0) * 8_000_000 / span.as_micros().max(1) as u64);
                set(&c.tx_bps, tx.wrapping_sub(tx0) * 8_000_000 / span.as_micros().max(1) as u64);
                leg.rate_window = (now, rx, tx);
            }
            let loud = leg.streams.iter_mut().filter(|s| s.audio_level_id.is_some()).map(|s| s.tick_loudness()).fold(0.0f32, f32::max);
            set(&leg.counters.loudness, loud as u64);
            if let Some(last) = leg.last_rx {
                let idle = now.saturating_duration_since(last);
                if idle >= timeout && !leg.inactive_reported {
                    leg.inactive_reported = true;
                    let e = Event::Inactive { leg: leg.id, idle_s: idle.as_secs_f64() };
                    self.emit(e);
                }
            }
            self.webrtc_tick(slot);
            self.choose_layers(slot);
            self.send_twcc(slot);
            let Some(leg) = self.legs.get_mut(slot as usize) else { continue };
            if now < leg.next_rtcp {
                continue;
            }
            leg.next_rtcp = now + interval.mul_f64(0.5 + jitter as f64 / 1000.0);
            if leg.remote_rtcp.is_none() {
                continue;
            }
            leg.tx_streams.retain(|s| now.saturating_duration_since(s.last_at) < SENDER_TIMEOUT);
            let senders: Vec<SenderInfo> = leg
                .tx_streams
                .iter()
                .take(31)
                .map(|s| {
                    let ticks = now.saturating_duration_since(s.last_at).as_micros() as u64 * s.clock_rate as u64 / 1_000_000;
                    SenderInfo { ssrc: s.ssrc, packets: s.packets, octets: s.octets, rtp_ts: s.last_ts.wrapping_add(ticks as u32) }
                })
                .collect();
            let reception: Vec<Reception> = leg
                .streams
                .iter_mut()
                .filter(|s| s.rx.received > 0)
                .filter_map(|s| {
                    let ssrc = s.rx.ssrc?;
                    let (lsr, dlsr) = match s.rx.last_sr {
                        Some((lsr, at)) => (lsr, duration_to_mid32(now.saturating_duration_since(at))),
                        None => (0, 0),
                    };
                    Some(Reception {
                        ssrc,
                        fraction_lost: s.rx.take_fraction_lost(),
                        cumulative_lost: s.rx.lost(),
                        extended_max: s.rx.extended_max(),
                        jitter: s.rx.jitter(),
                        lsr,
                        dlsr,
                    })
                })
                .collect();
            let local_ssrc = leg.local_ssrc;
            let mut buf = self.take_buf();
            match rtcp::write_report(&mut buf.data, local_ssrc, ntp, &senders, &reception, &self.cfg.cname) {
                Ok(n) => {
                    buf.len = n as u16;
                    self.queue_rtcp(slot, buf);
                }
                Err(_) => self.recycle(buf),
            }
        }
        self.tick_slots = slots;
        self.turn_tick();
    }
}

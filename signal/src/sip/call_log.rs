//! What signal remembers of SIP calls: every call event with a sequence number (the
//! event feed integrators poll or long-poll), and one CDR per call, open while the
//! call lasts and closed at its end. Bounded: the oldest entries go first.

use super::endpoint::CallEvent;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};

/// Events and closed CDRs kept (a day of a busy node's calls fits in a few MB).
const KEEP: usize = 20_000;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Logged {
    pub seq: u64,
    /// Unix time in milliseconds.
    pub at_ms: u64,
    #[serde(flatten)]
    pub event: CallEvent,
}

/// Media quality of a leg at its end, from mediad's leg stats.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Qos {
    pub rx_packets: u64,
    pub tx_packets: u64,
    /// Packets lost on the way to us (RFC 3550 A.3) and the fraction of expected.
    pub lost: i64,
    pub loss: f64,
    pub jitter_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
}

impl Qos {
    pub fn from_stats(s: &control::LegStats) -> Self {
        Qos {
            rx_packets: s.rx_packets,
            tx_packets: s.tx_packets,
            lost: s.lost,
            loss: if s.expected > 0 { s.lost.max(0) as f64 / s.expected as f64 } else { 0.0 },
            jitter_ms: s.jitter_us as f64 / 1000.0,
            rtt_ms: s.rtt_us.map(|r| r as f64 / 1000.0),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Cdr {
    pub call: String,
    /// `in` (dialled into a conference) or `out` (invited by the API).
    pub direction: String,
    pub from: String,
    pub to: String,
    pub conference: String,
    pub start_ms: u64,
    pub answer_ms: Option<u64>,
    pub end_ms: Option<u64>,
    /// Answer to end, in seconds (0 for unanswered calls).
    pub duration_s: f64,
    pub codec: Option<String>,
    pub cause: Option<String>,
    pub qos: Option<Qos>,
}

#[derive(Default)]
pub struct CallLog {
    next_seq: u64,
    events: VecDeque<Logged>,
    open: HashMap<String, Cdr>,
    closed: VecDeque<Cdr>,
}

impl CallLog {
    pub fn record(&mut self, event: CallEvent, at_ms: u64) {
        match &event {
            CallEvent::Trying { call, direction, from, to, conference } => {
                let cdr = Cdr { call: call.clone(), direction: direction.clone(), from: from.clone(), to: to.clone(), conference: conference.clone(), start_ms: at_ms, ..Default::default() };
                self.open.insert(call.clone(), cdr);
            }
            CallEvent::Answered { call, codec, .. } => {
                if let Some(c) = self.open.get_mut(call) {
                    c.answer_ms = Some(at_ms);
                    c.codec = Some(codec.clone());
                }
            }
            CallEvent::Codec { call, codec } => {
                if let Some(c) = self.open.get_mut(call) {
                    c.codec = Some(codec.clone());
                }
            }
            CallEvent::Ended { call, cause, qos, .. } => {
                if let Some(mut c) = self.open.remove(call) {
                    c.end_ms = Some(at_ms);
                    c.duration_s = c.answer_ms.map_or(0.0, |a| at_ms.saturating_sub(a) as f64 / 1000.0);
                    c.cause = Some(cause.clone());
                    c.qos = qos.clone();
                    if self.closed.len() >= KEEP {
                        self.closed.pop_front();
                    }
                    self.closed.push_back(c);
                }
            }
            _ => {}
        }
        self.next_seq += 1;
        if self.events.len() >= KEEP {
            self.events.pop_front();
        }
        self.events.push_back(Logged { seq: self.next_seq, at_ms, event });
    }

    /// The newest event's sequence number (0 before the first).
    pub fn last_seq(&self) -> u64 {
        self.next_seq
    }

    /// Events after `seq`, oldest first, at most `limit`.
    pub fn events_after(&self, seq: u64, limit: usize) -> Vec<Logged> {
        let start = self.events.partition_point(|e| e.seq <= seq);
        self.events.iter().skip(start).take(limit).cloned().collect()
    }

    /// CDRs of calls that ended, newest last, at most the last `limit`.
    pub fn cdrs(&self, limit: usize) -> Vec<Cdr> {
        self.closed.iter().skip(self.closed.len().saturating_sub(limit)).cloned().collect()
    }

    /// CDRs of calls in progress (no end yet).
    pub fn active(&self) -> Vec<Cdr> {
        let mut v: Vec<Cdr> = self.open.values().cloned().collect();
        v.sort_by_key(|c| c.start_ms);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_becomes_one_cdr_and_events_page_by_sequence() {
        let mut log = CallLog::default();
        let call = "c1".to_string();
        log.record(CallEvent::Trying { call: call.clone(), direction: "in".into(), from: "alice".into(), to: "sip:0012345@h".into(), conference: "12345".into() }, 1_000);
        log.record(CallEvent::Ringing { call: call.clone() }, 1_010);
        log.record(CallEvent::Answered { call: call.clone(), leg: 3, codec: "pcmu".into() }, 2_000);
        assert_eq!(log.active().len(), 1);
        let qos = Qos { rx_packets: 500, tx_packets: 499, ..Default::default() };
        log.record(CallEvent::Ended { call: call.clone(), cause: "remote BYE".into(), qos: Some(qos.clone()) }, 12_500);
        assert!(log.active().is_empty());
        let cdr = &log.cdrs(10)[0];
        assert_eq!((cdr.start_ms, cdr.answer_ms, cdr.end_ms, cdr.duration_s), (1_000, Some(2_000), Some(12_500), 10.5));
        assert_eq!((cdr.codec.as_deref(), cdr.cause.as_deref(), cdr.qos.as_ref()), (Some("pcmu"), Some("remote BYE"), Some(&qos)));
        assert_eq!(log.last_seq(), 4);
        let after2: Vec<u64> = log.events_after(2, 10).iter().map(|e| e.seq).collect();
        assert_eq!(after2, vec![3, 4]);
        let json = serde_json::to_value(&log.events_after(0, 1)[0]).unwrap();
        assert_eq!(json["event"], "trying");
        assert_eq!(json["conference"], "12345");
    }

    #[test]
    fn bounded() {
        let mut log = CallLog::default();
        for i in 0..(KEEP + 5) {
            let call = format!("c{i}");
            log.record(CallEvent::Trying { call: call.clone(), direction: "in".into(), from: "a".into(), to: "b".into(), conference: "x".into() }, i as u64);
            log.record(CallEvent::Ended { call, cause: "cancelled".into(), qos: None }, i as u64);
        }
        assert_eq!(log.cdrs(usize::MAX).len(), KEEP);
        assert_eq!(log.events_after(0, usize::MAX).len(), KEEP);
        assert_eq!(log.cdrs(usize::MAX)[0].call, "c5");
    }
}

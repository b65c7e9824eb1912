//! RTCP we generate (SR/RR + SDES, RFC 3550) and RTCP we terminate: reports give RTT
//! and the remote's loss view; PLI/FIR/NACK (RFC 4585/5104) are relayed to the source
//! after their SSRCs (and NACK'd sequence numbers) are mapped back.

use rtcp_types::prelude::*;
use rtcp_types::{
    Compound, Fir, Nack, Packet, PayloadFeedback, Pli, ReceiverReport, ReportBlock, RtcpParseError, Sdes,
    SdesChunk, SdesItem, SenderReport, TransportFeedback,
};

/// One outgoing stream as a sender report describes it.
#[derive(Debug, Clone, Copy)]
pub struct SenderInfo {
    pub ssrc: u32,
    pub packets: u32,
    pub octets: u32,
    pub rtp_ts: u32,
}

/// One reception report about a source we receive.
#[derive(Debug, Clone, Copy)]
pub struct Reception {
    pub ssrc: u32,
    pub fraction_lost: u8,
    pub cumulative_lost: i64,
    pub extended_max: u32,
    pub jitter: u32,
    pub lsr: u32,
    pub dlsr: u32,
}

fn block(r: &Reception) -> rtcp_types::ReportBlockBuilder {
    // Cumulative loss is a signed 24-bit field.
    let lost = r.cumulative_lost.clamp(-0x80_0000, 0x7f_ffff) as i32 as u32 & 0x00ff_ffff;
    ReportBlock::builder(r.ssrc)
        .fraction_lost(r.fraction_lost)
        .cumulative_lost(lost)
        .extended_sequence_number(r.extended_max)
        .interarrival_jitter(r.jitter)
        .last_sender_report_timestamp(r.lsr)
        .delay_since_last_sender_report_timestamp(r.dlsr)
}

/// Write a compound report into `buf`: one SR per stream we send on this leg (the
/// first carries the reception blocks), or an RR when we send nothing; then SDES CNAME.
pub fn write_report(
    buf: &mut [u8],
    local_ssrc: u32,
    ntp: u64,
    senders: &[SenderInfo],
    reception: &[Reception],
    cname: &str,
) -> Result<usize, rtcp_types::RtcpWriteError> {
    let mut compound = Compound::builder();
    let first_ssrc;
    if senders.is_empty() {
        first_ssrc = local_ssrc;
        let mut rr = ReceiverReport::builder(local_ssrc);
        for r in reception {
            rr = rr.add_report_block(block(r));
        }
        compound = compound.add_packet(rr);
    } else {
        first_ssrc = senders[0].ssrc;
        for (i, s) in senders.iter().enumerate() {
            let mut sr = SenderReport::builder(s.ssrc)
                .ntp_timestamp(ntp)
                .rtp_timestamp(s.rtp_ts)
                .packet_count(s.packets)
                .octet_count(s.octets);
            if i == 0 {
                for r in reception {
                    sr = sr.add_report_block(block(r));
                }
            }
            compound = compound.add_packet(sr);
        }
    }
    let sdes = Sdes::builder().add_chunk(SdesChunk::builder(first_ssrc).add_item(SdesItem::builder(1, cname)));
    compound = compound.add_packet(sdes);
    compound.write_into(buf)
}

/// What an incoming compound packet asks of us.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// An SR from the source: remember its NTP time for our LSR/DLSR.
    SenderReport { ssrc: u32, ntp: u64 },
    /// A report block about one of our outgoing SSRCs.
    Report { about: u32, fraction_lost: u8, lsr: u32, dlsr: u32 },
    Pli { media_ssrc: u32 },
    Fir { ssrc: u32, seq: u8 },
    Nack { media_ssrc: u32, seqs: Vec<u16> },
    Bye { ssrc: u32 },
    /// REMB: the receiver's estimate of what it can take, for the SSRCs listed.
    Remb { bps: u64 },
}

/// REMB (draft-alvestrand-rmcat-remb-03 §2): application-layer feedback (PSFB FMT 15)
/// with the `REMB` identifier, a 6-bit exponent and an 18-bit mantissa.
/// rtcp-types reads no REMB; this is its FCI parser.
struct Remb {
    bps: u64,
}

impl<'a> FciParser<'a> for Remb {
    const PACKET_TYPE: rtcp_types::FciFeedbackPacketType = rtcp_types::FciFeedbackPacketType::PAYLOAD;
    const FCI_FORMAT: u8 = 15;

    fn parse(data: &'a [u8]) -> Result<Self, RtcpParseError> {
        if data.len() < 8 {
            return Err(RtcpParseError::Truncated { expected: 8, actual: data.len() });
        }
        if &data[..4] != b"REMB" {
            return Err(RtcpParseError::WrongImplementation);
        }
        let exp = data[5] >> 2;
        let mantissa = ((data[5] as u64 & 3) << 16) | (data[6] as u64) << 8 | data[7] as u64;
        Ok(Remb { bps: mantissa.checked_shl(exp as u32).filter(|v| v >> exp == mantissa).unwrap_or(u64::MAX) })
    }
}

/// Parse a compound packet and hand each item we act on to `f`. Packets we do not
/// act on (SDES, APP, XR, unknown) are skipped; a malformed compound is an error.
pub fn parse(data: &[u8], mut f: impl FnMut(Item)) -> Result<(), RtcpParseError> {
    for packet in Compound::parse(data)? {
        match packet? {
            Packet::Sr(sr) => {
                f(Item::SenderReport { ssrc: sr.ssrc(), ntp: sr.ntp_timestamp() });
                for b in sr.report_blocks() {
                    f(report_item(&b));
                }
            }
            Packet::Rr(rr) => {
                for b in rr.report_blocks() {
                    f(report_item(&b));
                }
            }
            Packet::PayloadFeedback(fb) => payload_feedback(&fb, &mut f),
            Packet::TransportFeedback(fb) => transport_feedback(&fb, &mut f),
            Packet::Bye(bye) => {
                for ssrc in bye.ssrcs() {
                    f(Item::Bye { ssrc });
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn report_item(b: &ReportBlock<'_>) -> Item {
    Item::Report {
        about: b.ssrc(),
        fraction_lost: b.fraction_lost(),
        lsr: b.last_sender_report_timestamp(),
        dlsr: b.delay_since_last_sender_report_timestamp(),
    }
}

fn payload_feedback(fb: &PayloadFeedback<'_>, f: &mut impl FnMut(Item)) {
    if fb.parse_fci::<Pli>().is_ok() {
        f(Item::Pli { media_ssrc: fb.media_ssrc() });
    } else if let Ok(remb) = fb.parse_fci::<Remb>() {
        f(Item::Remb { bps: remb.bps });
    } else if let Ok(fir) = fb.parse_fci::<Fir>() {
        for e in fir.entries() {
            f(Item::Fir { ssrc: e.ssrc(), seq: e.sequence() });
        }
    }
}

fn transport_feedback(fb: &TransportFeedback<'_>, f: &mut impl FnMut(Item)) {
    if let Ok(nack) = fb.parse_fci::<Nack>() {
        let seqs: Vec<u16> = nack.entries().collect();
        if !seqs.is_empty() {
            f(Item::Nack { media_ssrc: fb.media_ssrc(), seqs });
        }
    }
}

pub fn write_pli(buf: &mut [u8], sender: u32, media: u32) -> Result<usize, rtcp_types::RtcpWriteError> {
    let pli = Pli::builder();
    let n = PayloadFeedback::builder(&pli).sender_ssrc(sender).media_ssrc(media).write_into(buf);
    n
}

pub fn write_fir(buf: &mut [u8], sender: u32, media: u32, seq: u8) -> Result<usize, rtcp_types::RtcpWriteError> {
    let fir = Fir::builder().add_ssrc(media, seq);
    // RFC 5104 §4.3.1.2: the media SSRC field of a FIR is unused and set to 0.
    let n = PayloadFeedback::builder(&fir).sender_ssrc(sender).media_ssrc(0).write_into(buf);
    n
}

pub fn write_nack(buf: &mut [u8], sender: u32, media: u32, seqs: &[u16]) -> Result<usize, rtcp_types::RtcpWriteError> {
    let mut nack = Nack::builder();
    for &s in seqs {
        nack = nack.add_rtp_sequence(s);
    }
    let n = TransportFeedback::builder(&nack).sender_ssrc(sender).media_ssrc(media).write_into(buf);
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(data: &[u8]) -> Vec<Item> {
        let mut v = vec![];
        parse(data, |i| v.push(i)).unwrap();
        v
    }

    #[test]
    fn report_roundtrip() {
        let mut buf = [0u8; 1500];
        let rec = Reception { ssrc: 9, fraction_lost: 3, cumulative_lost: -2, extended_max: 70000, jitter: 5, lsr: 0x1234, dlsr: 0x10 };
        let n = write_report(&mut buf, 1, 0xAAAA_BBBB_CCCC_DDDD, &[SenderInfo { ssrc: 77, packets: 10, octets: 1000, rtp_ts: 5 }], &[rec], "mediad").unwrap();
        let got = items(&buf[..n]);
        assert_eq!(got[0], Item::SenderReport { ssrc: 77, ntp: 0xAAAA_BBBB_CCCC_DDDD });
        assert_eq!(got[1], Item::Report { about: 9, fraction_lost: 3, lsr: 0x1234, dlsr: 0x10 });
        let n = write_report(&mut buf, 1, 0, &[], &[], "mediad").unwrap();
        assert!(items(&buf[..n]).is_empty());
    }

    #[test]
    fn feedback_roundtrip() {
        let mut buf = [0u8; 256];
        let n = write_pli(&mut buf, 1, 2).unwrap();
        assert_eq!(items(&buf[..n]), vec![Item::Pli { media_ssrc: 2 }]);
        let n = write_fir(&mut buf, 1, 3, 7).unwrap();
        assert_eq!(items(&buf[..n]), vec![Item::Fir { ssrc: 3, seq: 7 }]);
        let n = write_nack(&mut buf, 1, 4, &[100, 101, 105, 140]).unwrap();
        assert_eq!(items(&buf[..n]), vec![Item::Nack { media_ssrc: 4, seqs: vec![100, 101, 105, 140] }]);
    }

    #[test]
    fn remb_is_read() {
        // PSFB FMT 15, length 5 words: sender 1, media 0, "REMB", 1 SSRC, exp 3,
        // mantissa 0x1_2345 → 0x1_2345 << 3 bit/s, SSRC 77.
        let p = [0x8f, 206, 0, 5, 0, 0, 0, 1, 0, 0, 0, 0, b'R', b'E', b'M', b'B', 1, (3 << 2) | 1, 0x23, 0x45, 0, 0, 0, 77];
        assert_eq!(items(&p), vec![Item::Remb { bps: 0x1_2345 << 3 }]);
        let mut huge = p;
        huge[17] = 63 << 2 | 3;
        assert_eq!(items(&huge), vec![Item::Remb { bps: u64::MAX }], "overflow saturates");
        let mut other = p;
        other[12] = b'X';
        assert!(items(&other).is_empty(), "other application feedback is skipped");
    }

    #[test]
    fn hostile_compounds_are_errors_not_panics() {
        let mut buf = [0u8; 256];
        let n = write_pli(&mut buf, 1, 2).unwrap();
        for cut in 0..n {
            let _ = parse(&buf[..cut], |_| {});
        }
        let mut bad = buf[..n].to_vec();
        bad[3] = 0xff; // length far beyond the datagram
        assert!(parse(&bad, |_| {}).is_err());
    }
}

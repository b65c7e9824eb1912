//! Sans-IO RTP/RTCP logic: no sockets, no clocks of its own. Callers feed bytes and
//! `Instant`s and get decisions and bytes back, so every piece is testable offline.

pub mod bwe;
pub mod demux;
pub mod extensions;
pub mod keyframe;
pub mod ntp;
pub mod packet_cache;
pub mod receive_stats;
pub mod rewrite;
pub mod rtcp;
pub mod simulcast;
pub mod twcc;

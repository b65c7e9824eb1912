//! Real third-party peers: ffmpeg senders and receivers over plain RTP.

use crate::{Proc, TempDir};
use std::process::{Command, Stdio};
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
pub enum Codec {
    H264,
    Opus,
}

impl Codec {
    fn sdp(&self, port: u16) -> String {
        match self {
            Codec::H264 => format!(
                "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=t\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video {port} RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\n"
            ),
            Codec::Opus => format!(
                "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=t\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 97\r\na=rtpmap:97 opus/48000/2\r\n"
            ),
        }
    }
}

/// An ffmpeg that receives one RTP stream on `port` and writes one line per decoded
/// frame (framecrc, flushed per frame), so the test sees exactly what was decoded.
/// A plain RTP receiver never learns that a stream ended and its H.264 parser holds
/// the last frame until the next one starts, so senders run one second longer than
/// the window a test checks (see `decoded_window`).
pub struct Receiver {
    pub proc: Proc,
    out: std::path::PathBuf,
    err: std::path::PathBuf,
}

impl Receiver {
    pub fn start(dir: &TempDir, tag: &str, codec: Codec, port: u16) -> Receiver {
        let sdp = dir.path(&format!("{tag}.sdp"));
        std::fs::write(&sdp, codec.sdp(port)).unwrap();
        let out = dir.path(&format!("{tag}.framecrc"));
        let err = dir.path(&format!("{tag}.log"));
        let proc = Proc::spawn(
            "ffmpeg-rx",
            Command::new("ffmpeg")
                .args(["-hide_banner", "-nostdin", "-loglevel", "info", "-protocol_whitelist", "file,rtp,udp"])
                // One decoder thread: frame threading would hold frames back.
                .args(["-reorder_queue_size", "0", "-buffer_size", "4194304", "-threads", "1"])
                .arg("-i")
                .arg(&sdp)
                .args(["-f", "framecrc", "-flush_packets", "1", "-"])
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(&out).unwrap())
                .stderr(std::fs::File::create(&err).unwrap()),
        );
        Receiver { proc, out, err }
    }

    /// Stop the receiver and return the presentation timestamps of every decoded
    /// frame, in decode order, with ffmpeg's log.
    pub fn finish(mut self) -> (Vec<i64>, String) {
        self.proc.signal(libc::SIGKILL);
        self.proc.wait_timeout(Duration::from_secs(5));
        let text = std::fs::read_to_string(&self.out).unwrap_or_default();
        let pts = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split(',').nth(1).and_then(|v| v.trim().parse().ok()))
            .collect();
        (pts, std::fs::read_to_string(&self.err).unwrap_or_default())
    }
}

/// Check that the first `want` decoded frames start at pts 0 and follow each other
/// without a gap; returns a description of the first problem.
pub fn decoded_window(pts: &[i64], want: usize) -> Result<(), String> {
    if pts.len() < want {
        return Err(format!("decoded {} frames, want at least {want}", pts.len()));
    }
    if pts[0] != 0 {
        return Err(format!("first decoded frame has pts {}, the first frame sent was lost", pts[0]));
    }
    let step = pts[1] - pts[0];
    for i in 1..want {
        if pts[i] - pts[i - 1] != step {
            return Err(format!("gap after frame {}: pts {} then {}", i - 1, pts[i - 1], pts[i]));
        }
    }
    Ok(())
}

/// Frames an ffmpeg sender produces for `seconds` of the given codec.
pub fn expected_frames(codec: Codec, seconds: u32) -> usize {
    match codec {
        Codec::H264 => 25 * seconds as usize,
        Codec::Opus => 50 * seconds as usize, // 20 ms frames
    }
}

/// Send `seconds` of a synthetic source to 127.0.0.1:`port` in real time.
pub fn send(dir: &TempDir, tag: &str, codec: Codec, port: u16, seconds: u32) -> Proc {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-nostdin", "-loglevel", "error", "-re"]);
    match codec {
        Codec::H264 => {
            cmd.args(["-f", "lavfi", "-i", &format!("testsrc=size=320x240:rate=25:duration={seconds}")]);
            cmd.args(["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-pix_fmt", "yuv420p"]);
            cmd.args(["-x264-params", "repeat-headers=1", "-payload_type", "96"]);
        }
        Codec::Opus => {
            cmd.args(["-f", "lavfi", "-i", &format!("sine=frequency=440:sample_rate=48000:duration={seconds}")]);
            cmd.args(["-c:a", "libopus", "-frame_duration", "20", "-ac", "2", "-payload_type", "97"]);
        }
    }
    cmd.args(["-f", "rtp", &format!("rtp://127.0.0.1:{port}?pkt_size=1200")]);
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(std::fs::File::create(dir.path(&format!("{tag}.send.log"))).unwrap());
    Proc::spawn("ffmpeg-tx", &mut cmd)
}

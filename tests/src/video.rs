//! What the video tests with ffmpeg share: solid-colour ffmpeg RTP senders (H.264,
//! VP8), ffmpeg RTP receivers (through an SDP file) that write raw I420 frames, and
//! checks of a decoded picture against a layout (each tile's colour at its place).

use crate::{Proc, TempDir};
use gpu::layout::Library;
use gpu::Yuv;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

/// The participants' colours (ffmpeg colour names and RGB).
pub const COLOURS: [(&str, (u8, u8, u8)); 4] = [("red", (255, 0, 0)), ("lime", (0, 255, 0)), ("blue", (0, 0, 255)), ("yellow", (255, 255, 0))];

/// The layouts shipped in the source tree.
pub fn layouts() -> Library {
    Library::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../layouts")).expect("layouts")
}

/// ffmpeg sending `colour` at 320x240, 25 frames/s, for `seconds`, as `codec` (`H264`
/// or `VP8`) RTP with payload type 96 to 127.0.0.1:`port`.
pub fn sender(colour: &str, codec: &str, port: u16, seconds: u32) -> Proc {
    let enc: &[&str] = match codec {
        "H264" => &["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-bf", "0"],
        _ => &["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-g", "25", "-b:v", "500k"],
    };
    Proc::spawn(
        "ffmpeg",
        Command::new("timeout")
            .args(["-s", "KILL", &(seconds + 20).to_string(), "ffmpeg", "-hide_banner", "-v", "error", "-re", "-f", "lavfi", "-i"])
            .arg(format!("color=c={colour}:size=320x240:rate=25"))
            .args(["-t", &seconds.to_string(), "-pix_fmt", "yuv420p"])
            .args(enc)
            .args(["-payload_type", "96", "-f", "rtp", "-pkt_size", "1200"])
            .arg(format!("rtp://127.0.0.1:{port}?rtcpport={}", port + 1))
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
}

/// SDP for `codec` (`H264` packetization-mode 1 or `VP8`) RTP, payload type 96, on
/// 127.0.0.1:`port`.
pub fn sdp(port: u16, codec: &str) -> String {
    let format = if codec == "H264" { "H264/90000\r\na=fmtp:96 packetization-mode=1" } else { "VP8/90000" };
    format!("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=mediad\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video {port} RTP/AVP 96\r\na=rtpmap:96 {format}\r\n")
}

/// ffmpeg receiving `codec` RTP on `port` (RTCP on the next), writing `frames` raw
/// I420 frames to its stdout.
pub fn receiver(dir: &TempDir, port: u16, tag: &str, codec: &str, frames: usize) -> Proc {
    let file = dir.path(&format!("{tag}.sdp"));
    std::fs::write(&file, sdp(port, codec)).unwrap();
    Proc::spawn(
        "ffmpeg",
        Command::new("timeout")
            .args(["-s", "KILL", "60", "ffmpeg", "-hide_banner", "-v", "error", "-protocol_whitelist", "file,udp,rtp", "-analyzeduration", "400000", "-i"])
            .arg(&file)
            // One output frame per decoded frame: with the default constant-rate output
            // ffmpeg takes the frame rate its probe guessed, and a short probe of a
            // stream that just started guesses 90000/s and fills the gap to the second
            // frame with copies of the first.
            .args(["-fps_mode", "passthrough", "-frames:v", &frames.to_string(), "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    )
}

/// A decoded I420 picture of `w`x`h`.
pub struct Picture<'a> {
    pub data: &'a [u8],
    pub w: usize,
    pub h: usize,
}

/// Everything a receiver wrote, cut into frames of `w`x`h`.
pub fn frames(p: &mut Proc, w: usize, h: usize) -> Vec<Vec<u8>> {
    let mut raw = Vec::new();
    p.child.stdout.take().expect("piped").read_to_end(&mut raw).unwrap();
    raw.chunks_exact(w * h * 3 / 2).map(<[u8]>::to_vec).collect()
}

impl Picture<'_> {
    pub fn at(&self, x: usize, y: usize) -> Yuv {
        let (w, h, f) = (self.w, self.h, self.data);
        Yuv(f[y * w + x], f[w * h + (y / 2) * (w / 2) + x / 2], f[w * h + w * h / 4 + (y / 2) * (w / 2) + x / 2])
    }

    /// Whether tile `t` of `layout` shows input `inputs[t]` (colour index; None: the
    /// background), sampled in each tile's middle column, a third down.
    pub fn shows(&self, lib: &Library, layout: &str, inputs: &[Option<usize>]) -> Result<(), String> {
        let l = &lib.layouts[layout];
        for (t, r) in l.tile_rects(self.w, self.h).iter().enumerate() {
            let want = inputs.get(t).copied().flatten().map_or(l.background, colour);
            let got = self.at(r.x + r.w / 2, r.y + r.h / 3);
            if !near(got, want) {
                return Err(format!("{layout} tile {t}: {got:?}, want {want:?}"));
            }
        }
        Ok(())
    }

    /// Whether colour `i` appears anywhere on a 16-pixel grid.
    pub fn contains(&self, i: usize) -> bool {
        (4..self.h).step_by(16).any(|y| (4..self.w).step_by(16).any(|x| near(self.at(x, y), colour(i))))
    }
}

pub fn near(a: Yuv, b: Yuv) -> bool {
    a.0.abs_diff(b.0) <= 16 && a.1.abs_diff(b.1) <= 16 && a.2.abs_diff(b.2) <= 16
}

pub fn colour(i: usize) -> Yuv {
    let (r, g, b) = COLOURS[i].1;
    Yuv::from_rgb(r, g, b)
}

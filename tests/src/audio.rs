//! Real audio peers for the audio MCU tests: ffmpeg tone senders and recorders in
//! each codec, sipp playing its RFC 2833 pcaps, and tone analysis of recordings.

use crate::{Netns, Proc, TempDir};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A codec as ffmpeg and SDP name it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AudioCodec {
    /// mediad's name.
    pub name: &'static str,
    pub pt: u8,
    encoder: &'static str,
    rate: u32,
    rtpmap: &'static str,
}

pub const OPUS: AudioCodec = AudioCodec { name: "opus", pt: 111, encoder: "libopus", rate: 48_000, rtpmap: "opus/48000/2" };
pub const PCMU: AudioCodec = AudioCodec { name: "pcmu", pt: 0, encoder: "pcm_mulaw", rate: 8_000, rtpmap: "PCMU/8000" };
pub const PCMA: AudioCodec = AudioCodec { name: "pcma", pt: 8, encoder: "pcm_alaw", rate: 8_000, rtpmap: "PCMA/8000" };
pub const G722: AudioCodec = AudioCodec { name: "g722", pt: 9, encoder: "g722", rate: 16_000, rtpmap: "G722/8000" };

/// Rate recordings are written at.
pub const RECORD_RATE: u32 = 16_000;

/// ffmpeg, inside `ns` when given.
fn ffmpeg(ns: Option<&Netns>) -> Command {
    ns.map_or_else(|| Command::new("ffmpeg"), |ns| ns.command("ffmpeg"))
}

/// ffmpeg sending `source` (a lavfi audio graph) in `codec`, 20 ms packets, in real time.
pub fn send_lavfi(dir: &TempDir, tag: &str, codec: AudioCodec, source: &str, port: u16) -> Proc {
    send_lavfi_in(None, dir, tag, codec, source, port)
}

/// The same, inside `ns` when given.
pub fn send_lavfi_in(ns: Option<&Netns>, dir: &TempDir, tag: &str, codec: AudioCodec, source: &str, port: u16) -> Proc {
    let mut cmd = ffmpeg(ns);
    cmd.args(["-hide_banner", "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi", "-i", source]);
    cmd.args(["-ac", "1", "-ar", &codec.rate.to_string(), "-c:a", codec.encoder]);
    if codec.name == "opus" {
        cmd.args(["-frame_duration", "20", "-application", "voip"]);
    }
    cmd.args(["-payload_type", &codec.pt.to_string(), "-f", "rtp", &format!("rtp://127.0.0.1:{port}")]);
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(std::fs::File::create(dir.path(&format!("{tag}.send.log"))).unwrap());
    Proc::spawn("ffmpeg-audio-tx", &mut cmd)
}

/// A sine of `hz` for `seconds`, in 20 ms frames of the codec's rate.
pub fn sine(codec: AudioCodec, hz: u32, seconds: u32) -> String {
    format!("sine=frequency={hz}:sample_rate={}:duration={seconds}:samples_per_frame={}", codec.rate, codec.rate / 50)
}

/// An ffmpeg receiving `codec` on `port` and writing 16 kHz mono s16le.
pub struct Recorder {
    proc: Proc,
    raw: std::path::PathBuf,
    log: std::path::PathBuf,
}

impl Recorder {
    pub fn start(dir: &TempDir, tag: &str, codec: AudioCodec, port: u16) -> Recorder {
        Recorder::start_in(None, dir, tag, codec, port)
    }

    /// The same, inside `ns` when given.
    pub fn start_in(ns: Option<&Netns>, dir: &TempDir, tag: &str, codec: AudioCodec, port: u16) -> Recorder {
        let sdp = dir.path(&format!("{tag}.sdp"));
        std::fs::write(
            &sdp,
            format!(
                "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=t\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP {pt}\r\na=rtpmap:{pt} {map}\r\n",
                pt = codec.pt,
                map = codec.rtpmap
            ),
        )
        .unwrap();
        let raw = dir.path(&format!("{tag}.s16"));
        let log = dir.path(&format!("{tag}.rx.log"));
        let proc = Proc::spawn(
            "ffmpeg-audio-rx",
            ffmpeg(ns)
                .args(["-hide_banner", "-nostdin", "-loglevel", "info", "-protocol_whitelist", "file,rtp,udp", "-i"])
                .arg(&sdp)
                .args(["-ac", "1", "-ar", &RECORD_RATE.to_string(), "-f", "s16le", "-flush_packets", "1", "-y"])
                .arg(&raw)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap()),
        );
        Recorder { proc, raw, log }
    }

    /// Stop and return the recording with ffmpeg's log.
    pub fn finish(mut self) -> (Vec<i16>, String) {
        self.proc.signal(libc::SIGINT);
        if self.proc.wait_timeout(Duration::from_secs(5)).is_none() {
            self.proc.signal(libc::SIGKILL);
            self.proc.wait_timeout(Duration::from_secs(5));
        }
        let bytes = std::fs::read(&self.raw).unwrap_or_default();
        let pcm = bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
        (pcm, std::fs::read_to_string(&self.log).unwrap_or_default())
    }
}

/// Share of a recording's power at `hz` (Goertzel over 100 ms blocks, averaged):
/// a lone full tone gives about 1, a tone among four about 0.25, its absence ~0.
pub fn tone_share(pcm: &[i16], rate: u32, hz: f32) -> f32 {
    let block = rate as usize / 10;
    let k = 2.0 * (std::f32::consts::TAU * hz / rate as f32).cos();
    let (mut tone, mut total) = (0f64, 0f64);
    for b in pcm.chunks_exact(block) {
        let (mut s1, mut s2) = (0f32, 0f32);
        for &v in b {
            let s0 = v as f32 + k * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        tone += ((s1 * s1 + s2 * s2 - k * s1 * s2) * 2.0 / block as f32) as f64;
        total += b.iter().map(|&v| (v as f64).powi(2)).sum::<f64>();
    }
    (tone / total.max(1.0)) as f32
}

/// A WAV file's samples, mono at `rate` (ffmpeg converts).
pub fn wav_pcm(path: &std::path::Path, rate: u32) -> Vec<i16> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-i"])
        .arg(path)
        .args(["-ac", "1", "-ar", &rate.to_string(), "-f", "s16le", "-"])
        .output()
        .expect("ffmpeg");
    out.stdout.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect()
}

/// RMS of a recording, in dBFS.
pub fn rms_dbfs(pcm: &[i16]) -> f32 {
    let p = pcm.iter().map(|&v| (v as f64 / 32768.0).powi(2)).sum::<f64>() / pcm.len().max(1) as f64;
    (10.0 * p.max(1e-12).log10()) as f32
}

/// sipp as a UAS whose answer points the media at `media_port` (a mediad leg), and
/// sipp as a UAC that plays RFC 2833 pcaps of `digits` there once answered.
pub fn sipp_dtmf(dir: &TempDir, media_port: u16, digits: &str) -> (Proc, Proc) {
    let uas_port = crate::free_udp_port();
    let uac_port = crate::free_udp_port();
    let uas = dir.path("uas.xml");
    std::fs::write(&uas, include_str!("../sipp/uas_answer_to.xml").replace("MEDIA_PORT", &media_port.to_string())).unwrap();
    let uac = dir.path("uac.xml");
    std::fs::write(&uac, crate::sip::uac_digits(digits, include_str!("../sipp/end_our_bye.xml"))).unwrap();
    let spawn = |name: &str, args: Vec<String>| {
        Proc::spawn(
            name,
            Command::new("sipp")
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.path(&format!("{name}.log"))).unwrap()),
        )
    };
    let s = |v: &str| v.to_string();
    let uas_proc = spawn("sipp-uas", vec![s("-sf"), uas.display().to_string(), s("-i"), s("127.0.0.1"), s("-p"), uas_port.to_string(), s("-m"), s("1"), s("-nostdin")]);
    std::thread::sleep(Duration::from_millis(300));
    let uac_proc = spawn(
        "sipp-uac",
        vec![s("-sf"), uac.display().to_string(), format!("127.0.0.1:{uas_port}"), s("-i"), s("127.0.0.1"), s("-p"), uac_port.to_string(), s("-m"), s("1"), s("-nostdin"), s("-timeout"), s("30")],
    );
    (uas_proc, uac_proc)
}

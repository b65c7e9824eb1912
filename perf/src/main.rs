//! perf: side-by-side benchmarks. `cargo run --release -p perf -- relay --duration 5`.

mod load;
mod ng;
mod relay;
mod report;
mod sut;
mod sys;
mod audio_mix;
mod video_mcu;
mod janus;
mod janus_audio;
mod sfu;
mod sip_calls;
mod turn;
mod turn_client;
mod turn_hold;
mod webrtc_client;

use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(about = "Benchmarks of mediad against peers and the raw socket ceiling")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
    /// Seconds per measurement phase.
    #[arg(long, global = true, default_value_t = 5.0)]
    duration: f64,
    /// Print one JSON object per measured system and case.
    #[arg(long, global = true)]
    json: bool,
    /// Markdown file to append the results table to ("" to skip).
    #[arg(long, global = true, default_value = "perf/RESULTS.md")]
    results: String,
    /// CPU for the load generator and for the system under test.
    #[arg(long, global = true, default_value_t = 0)]
    gen_cpu: usize,
    #[arg(long, global = true, default_value_t = 1)]
    sut_cpu: usize,
}

#[derive(Subcommand, Clone)]
enum Scenario {
    /// Plain RTP relay: raw ceiling, mediad (epoll, io_uring), rtpengine userspace.
    Relay {
        /// Receiving legs per case (1→N uses flows/N sources with N legs each).
        #[arg(long, default_value_t = 1000)]
        flows: usize,
        #[arg(long, default_value_t = 4)]
        fanout: usize,
        #[arg(long, value_delimiter = ',', default_value = "raw,mediad-epoll,mediad-uring,rtpengine")]
        systems: Vec<String>,
        #[arg(long, value_delimiter = ',', default_value = "200,1200")]
        sizes: Vec<usize>,
        /// Highest output packets/s the generator offers.
        #[arg(long, default_value_t = 900_000.0)]
        max_rate: f64,
        /// Extra flags for mediad, space separated (e.g. "--no-gso").
        #[arg(long, default_value = "", allow_hyphen_values = true)]
        mediad_args: String,
    },
    /// TURN relay: raw ceiling, mediad, coturn (one relay thread), ChannelData load.
    Turn {
        #[arg(long, default_value_t = 200)]
        allocations: usize,
        /// Packets each allocation sends back to back (video frames: 4-10).
        #[arg(long, default_value_t = 1)]
        burst: usize,
        #[arg(long, value_delimiter = ',', default_value = "raw,mediad,mediad-mux,mediad-uring,coturn")]
        systems: Vec<String>,
        #[arg(long, value_delimiter = ',', default_value = "200,1200")]
        sizes: Vec<usize>,
        #[arg(long, default_value_t = 900_000.0)]
        max_rate: f64,
    },
    /// WebRTC fan-out with ICE, DTLS and SRTP on every leg: raw ceiling, mediad's
    /// plain-RTP rooms, mediad SRTP; plus memory per connected subscriber.
    Sfu {
        /// Subscribers in all (P publishers × fan-out N).
        #[arg(long, default_value_t = 200)]
        flows: usize,
        #[arg(long, default_value_t = 10)]
        fanout: usize,
        /// Packets a publisher sends back to back (a video frame's packets).
        #[arg(long, default_value_t = 4)]
        burst: usize,
        /// janus-srtp / janus-plain: Janus VideoRoom remote publishers with rtp_forward
        /// subscribers (no ICE); mediad-srtp-cm: mediad with AES-CM, Janus's SRTP suite.
        #[arg(long, value_delimiter = ',', default_value = "raw,mediad-plain,mediad-srtp,mediad-srtp-cm,janus-plain,janus-srtp")]
        systems: Vec<String>,
        #[arg(long, value_delimiter = ',', default_value = "1200")]
        sizes: Vec<usize>,
        #[arg(long, default_value_t = 900_000.0)]
        max_rate: f64,
    },
    /// Audio MCU: participants per core mixed within the 20 ms deadline (Opus, N
    /// loudest = 4) for several room sizes, against Janus AudioBridge; idle-room cost.
    AudioMix {
        #[arg(long, value_delimiter = ',', default_value = "10,50,500")]
        room_sizes: Vec<usize>,
        #[arg(long, default_value_t = 8000)]
        max_participants: usize,
        #[arg(long, value_delimiter = ',', default_value = "mediad,janus-audiobridge")]
        systems: Vec<String>,
    },
    /// SIP: call setup rate with zero failures and concurrent G.711 calls held, signal
    /// + mediad against sipp's own UAS (the generator's ceiling), sipp as the load.
    SipCalls {
        #[arg(long, value_delimiter = ',', default_value = "100,250,500,1000,1500,2000,3000")]
        rates: Vec<u32>,
        #[arg(long, value_delimiter = ',', default_value = "250,500,750,1000,2000")]
        concurrent: Vec<usize>,
        /// mediad workers: 1 shares the SUT core with signal; 2 uses both cores of
        /// this machine (the generator then shares them too).
        #[arg(long, default_value_t = 1)]
        workers: usize,
        /// Calls per conference while held (2: two-party calls).
        #[arg(long, default_value_t = 2)]
        room_size: usize,
    },
    /// Video MCU: individual 720p30 layouts per core (decode, CPU compose, encode)
    /// against an ffmpeg xstack + libx264 pipeline; GPU/lavapipe composition
    /// throughput at 720p and 1080p.
    VideoMcu {
        /// Frames of each input (30 frames/s).
        #[arg(long, default_value_t = 150)]
        frames: usize,
        /// Individual layouts drawn per Vulkan submission.
        #[arg(long, default_value_t = 16)]
        gpu_batch: usize,
    },
    /// TURN allocations one core holds (multiplexed and port mode, coturn), with
    /// allocations/s and memory per allocation.
    TurnHold {
        #[arg(long, default_value_t = 100_000)]
        allocations: usize,
        #[arg(long, value_delimiter = ',', default_value = "mediad-mux,mediad,coturn")]
        systems: Vec<String>,
    },
}

fn mediad_binary() -> PathBuf {
    sibling_binary("mediad")
}

/// A workspace binary next to perf's own, built on demand in perf's profile.
fn sibling_binary(name: &str) -> PathBuf {
    let here = std::env::current_exe().unwrap();
    let p = here.parent().unwrap().join(name);
    if !p.exists() {
        eprintln!("building {name} next to perf ({})", p.display());
        let profile = if here.to_string_lossy().contains("/release/") { vec!["--release"] } else { vec![] };
        let ok = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "-p", name, "--bin", name])
            .args(profile)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok && p.exists(), "could not build {name}");
    }
    p
}

/// Options shared by the scenarios (fan-out 1, no extra mediad flags unless set).
fn opts(cli: &Cli, duration: Duration, flows: usize, systems: Vec<String>, sizes: Vec<usize>, max_rate: f64) -> relay::Opts {
    relay::Opts {
        duration,
        flows,
        fanout: 1,
        systems,
        gen_cpu: cli.gen_cpu,
        sut_cpu: cli.sut_cpu,
        mediad: mediad_binary(),
        mediad_args: vec![],
        sizes,
        max_rate,
        burst: 1,
    }
}

fn main() {
    let cli = Cli::parse();
    let command = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    let duration = Duration::from_secs_f64(cli.duration);
    let (rows, name) = match cli.scenario.clone() {
        Scenario::Relay { flows, fanout, systems, sizes, max_rate, mediad_args } => {
            let mut o = opts(&cli, duration, flows, systems, sizes, max_rate);
            o.fanout = fanout;
            o.mediad_args = mediad_args.split_whitespace().map(str::to_string).collect();
            let total = (relay::cases(&o).len() * o.systems.len() * 8) as u64;
            let pb = indicatif::ProgressBar::new(total);
            pb.set_style(indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} phases, {elapsed} {msg}").unwrap());
            let rows = relay::run(&o, &pb);
            pb.finish_and_clear();
            (rows, "relay")
        }
        Scenario::Turn { allocations, burst, systems, sizes, max_rate } => {
            let mut o = opts(&cli, duration, allocations, systems, sizes, max_rate);
            o.burst = burst;
            let pb = indicatif::ProgressBar::new((o.sizes.len() * o.systems.len() * 8) as u64);
            pb.set_style(indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} phases, {elapsed} {msg}").unwrap());
            let rows = turn::run(&o, allocations, &pb);
            pb.finish_and_clear();
            (rows, "turn")
        }
        Scenario::Sfu { flows, fanout, burst, systems, sizes, max_rate } => {
            let mut o = opts(&cli, duration, flows, systems, sizes, max_rate);
            o.fanout = fanout;
            o.burst = burst;
            let pb = indicatif::ProgressBar::new((o.sizes.len() * o.systems.len() * 8) as u64);
            pb.set_style(indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} phases, {elapsed} {msg}").unwrap());
            let (mut rows, per_sub) = sfu::run(&o, &pb);
            pb.finish_and_clear();
            for r in rows.iter_mut().filter(|r| r.system == "mediad-srtp") {
                r.rss_kb_per_allocation = per_sub;
            }
            if let Some(kb) = per_sub {
                eprintln!("mediad: {kb:.1} KiB resident per connected WebRTC subscriber (ICE, DTLS, SRTP, socket)");
            }
            (rows, "sfu")
        }
        Scenario::AudioMix { room_sizes, max_participants, systems } => {
            let o = audio_mix::Opts { duration, room_sizes, max_participants, systems, gen_cpu: cli.gen_cpu, sut_cpu: cli.sut_cpu, mediad: mediad_binary() };
            let (rows, idle) = audio_mix::run(&o);
            let mut table = audio_mix_table(&rows);
            if let Some(cores) = idle {
                let line = format!("\n500 idle mixing rooms (2 participants each, nobody sending): mediad used {:.3} % of a core.\n", cores * 100.0);
                eprint!("{line}");
                table.push_str(&line);
            }
            let json: String = rows.iter().map(|r| serde_json::to_string(r).unwrap() + "\n").collect();
            publish(&cli, &command, "audio-mix", &table, &json, None);
            return;
        }
        Scenario::SipCalls { rates, concurrent, workers, room_size } => {
            let o = sip_calls::Opts { duration, rates, concurrent, workers, room_size: room_size.max(1), gen_cpu: cli.gen_cpu, sut_cpu: cli.sut_cpu, mediad: mediad_binary(), signal: sibling_binary("signal") };
            let (rows, table) = sip_calls::run(&o);
            let json: String = rows.iter().map(|r| serde_json::to_string(r).unwrap() + "\n").collect();
            publish(&cli, &command, "sip-calls", &table, &json, None);
            return;
        }
        Scenario::VideoMcu { frames, gpu_batch } => {
            let (results, composes) = video_mcu::run(&video_mcu::Opts { frames, sut_cpu: cli.sut_cpu, gpu_batch });
            let table = video_mcu::markdown(&results, &composes);
            let json: String = results.iter().map(|r| serde_json::to_string(r).unwrap() + "\n").chain(composes.iter().map(|c| serde_json::to_string(c).unwrap() + "\n")).collect();
            publish(&cli, &command, "video-mcu", &table, &json, None);
            return;
        }
        Scenario::TurnHold { allocations, systems } => {
            let o = opts(&cli, duration, allocations, systems, vec![], 0.0);
            let pb = indicatif::ProgressBar::new(o.systems.len() as u64);
            pb.set_style(indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} systems, {elapsed} {msg}").unwrap());
            let held = turn_hold::run(&o, allocations, &pb);
            pb.finish_and_clear();
            let table = turn_hold::markdown(&held, allocations);
            let json: String = held.iter().map(|r| serde_json::to_string(r).unwrap() + "\n").collect();
            publish(&cli, &command, "turn-hold", &table, &json, None);
            return;
        }
    };
    let table = report::markdown(&rows);
    let json: String = rows.iter().map(|r| serde_json::to_string(r).unwrap() + "\n").collect();
    let date = date_utc();
    let svg = report::svg(&rows, &format!("perf {name}, {date}"));
    publish(&cli, &command, name, &table, &json, Some(svg));
}

fn audio_mix_table(rows: &[report::Row]) -> String {
    let mut s = String::from("| case | system | participants/core (headline) | mix packets/s delivered | CPU cores | vs Janus AudioBridge |\n|---|---|---:|---:|---:|---:|\n");
    for r in rows {
        let vs = r.vs_peer.map_or("–".to_string(), |v| format!("{v:.1}×"));
        s.push_str(&format!("| {} | {} | {:.0} | {:.0} | {:.2} | {vs} |\n", r.case, r.system, r.headline, r.pps, r.cpu_cores));
    }
    s
}

fn date_utc() -> String {
    std::process::Command::new("date").arg("-u").arg("+%Y-%m-%d %H:%M UTC").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default()
}

/// Print the results and append them to the results file with the command, machine and
/// date, the JSON lines and the chart (if any) next to it.
fn publish(cli: &Cli, command: &str, name: &str, table: &str, json: &str, svg: Option<String>) {
    if cli.json {
        print!("{json}");
    } else {
        println!("{table}");
    }
    if cli.results.is_empty() {
        return;
    }
    let date = date_utc();
    let stamp = date.replace([' ', ':'], "-").replace("-UTC", "");
    let results = PathBuf::from(&cli.results);
    let dir = results.parent().map(|p| p.join("results")).unwrap_or_else(|| "results".into());
    std::fs::create_dir_all(&dir).unwrap();
    let json_name = format!("{name}-{stamp}.json");
    std::fs::write(dir.join(&json_name), json).unwrap();
    let chart = match svg {
        Some(svg) => {
            let svg_name = format!("{name}-{stamp}.svg");
            std::fs::write(dir.join(&svg_name), svg).unwrap();
            format!("![{name}](results/{svg_name}) · ")
        }
        None => String::new(),
    };
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&results).unwrap();
    let _ = writeln!(
        f,
        "\n## {name}, {date}\n\nCommand: `cargo run --release -p perf -- {command}`  \nMachine: {}; generator pinned to CPU {}, system under test to CPU {}.\n\n{table}\n{chart}[JSON](results/{json_name})\n",
        report::machine(),
        cli.gen_cpu,
        cli.sut_cpu
    );
    eprintln!("appended to {}", results.display());
}

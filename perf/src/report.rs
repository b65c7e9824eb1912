//! Output of a scenario: JSON lines (the cross-scenario contract), a markdown table
//! appended to perf/RESULTS.md, and an SVG chart next to it.

use serde::Serialize;
use std::fmt::Write;

/// One measured system in one case. Every scenario keeps the contract fields:
/// scenario, system, pps, cpu_cores, pps_per_core, loss, p50_us, p99_us, p999_us,
/// headline, headline_unit.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub scenario: String,
    pub case: String,
    pub system: String,
    /// Forwarded packets/s delivered at capacity (highest rate with < 0.5 % loss).
    pub pps: f64,
    /// CPU cores the system used at capacity.
    pub cpu_cores: f64,
    pub pps_per_core: f64,
    /// Loss at the latency load (50 % of the raw ceiling, or of the system's own
    /// capacity when lower).
    pub loss: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub headline: f64,
    pub headline_unit: String,
    /// Output packets/s offered in the latency phase.
    pub latency_load_pps: f64,
    /// Loss at the capacity rate (< 0.5 % by definition).
    pub capacity_loss: f64,
    /// The system carried the highest rate the generator offers: capacity is higher.
    pub generator_limited: bool,
    /// pps_per_core relative to the raw recvmmsg→sendmmsg ceiling in the same run.
    pub vs_raw: Option<f64>,
    /// pps_per_core relative to the scenario's peer (rtpengine, coturn) in the same run.
    pub vs_peer: Option<f64>,
    pub peer: Option<String>,
    /// TURN: allocations created per second during setup, memory growth per allocation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocations_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_kb_per_allocation: Option<f64>,
}

pub fn markdown(rows: &[Row]) -> String {
    let mut s = String::new();
    let peer = rows.iter().find_map(|r| r.peer.clone()).unwrap_or_else(|| "peer".into());
    let turn = rows.iter().any(|r| r.allocations_per_s.is_some());
    let _ = writeln!(
        s,
        "| case | system | pps | CPU cores | pps/core | vs raw | vs {peer} | loss @50% | p50 µs | p99 µs | p99.9 µs |{}",
        if turn { " allocs/s | KiB/alloc |" } else { "" }
    );
    s.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    s.push_str(if turn { "---:|---:|\n" } else { "\n" });
    let ratio = |r: Option<f64>| r.map_or("–".to_string(), |v| format!("{v:.2}×"));
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {:.0}{} | {:.2} | {:.0} | {} | {} | {:.3}% | {:.1} | {:.1} | {:.1} |{}",
            r.case,
            r.system,
            r.pps,
            if r.generator_limited { " (gen. limit)" } else { "" },
            r.cpu_cores,
            r.pps_per_core,
            ratio(r.vs_raw),
            ratio(r.vs_peer),
            r.loss * 100.0,
            r.p50_us,
            r.p99_us,
            r.p999_us,
            if turn {
                format!(
                    " {} | {} |",
                    r.allocations_per_s.map_or("–".into(), |v| format!("{v:.0}")),
                    r.rss_kb_per_allocation.map_or("–".into(), |v| format!("{v:.1}"))
                )
            } else {
                String::new()
            },
        );
    }
    s
}

const COLORS: [&str; 5] = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2"];

/// Two panels of grouped bars per case: pps per core, and p99 latency.
pub fn svg(rows: &[Row], title: &str) -> String {
    let mut cases: Vec<&str> = vec![];
    let mut systems: Vec<&str> = vec![];
    for r in rows {
        if !cases.contains(&r.case.as_str()) {
            cases.push(&r.case);
        }
        if !systems.contains(&r.system.as_str()) {
            systems.push(&r.system);
        }
    }
    let (w, panel_h, left, top) = (900.0, 260.0, 70.0, 40.0);
    let h = top + 2.0 * (panel_h + 60.0) + 30.0;
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11"><rect width="100%" height="100%" fill="white"/><text x="{left}" y="20" font-size="14">{title}</text>"#
    );
    type Panel = (&'static str, fn(&Row) -> f64);
    let panels: [Panel; 2] = [("forwarded packets/s per core", |r| r.pps_per_core), ("p99 one-way latency at 50% load (µs)", |r| r.p99_us)];
    for (pi, (label, f)) in panels.iter().enumerate() {
        let y0 = top + pi as f64 * (panel_h + 60.0) + 20.0;
        let max = rows.iter().map(f).fold(0.0f64, f64::max).max(1e-9);
        let _ = write!(s, r#"<text x="{left}" y="{}" font-size="12">{label}</text>"#, y0 - 6.0);
        let _ = write!(s, r#"<line x1="{left}" y1="{}" x2="{}" y2="{}" stroke="black"/>"#, y0 + panel_h, w - 20.0, y0 + panel_h);
        let group_w = (w - left - 30.0) / cases.len().max(1) as f64;
        let bar_w = group_w * 0.8 / systems.len().max(1) as f64;
        for (ci, case) in cases.iter().enumerate() {
            let gx = left + ci as f64 * group_w + group_w * 0.1;
            let _ = write!(s, r#"<text x="{}" y="{}" text-anchor="middle">{case}</text>"#, gx + group_w * 0.4, y0 + panel_h + 14.0);
            for (si, sys) in systems.iter().enumerate() {
                let Some(r) = rows.iter().find(|r| r.case == *case && r.system == *sys) else { continue };
                let v = f(r);
                let bh = v / max * (panel_h - 20.0);
                let x = gx + si as f64 * bar_w;
                let _ = write!(
                    s,
                    r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{bh:.1}" fill="{}"><title>{sys}: {v:.1}</title></rect><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="9">{}</text>"#,
                    y0 + panel_h - bh,
                    bar_w * 0.9,
                    COLORS[si % COLORS.len()],
                    x + bar_w * 0.45,
                    y0 + panel_h - bh - 3.0,
                    if v >= 1000.0 { format!("{:.0}k", v / 1000.0) } else { format!("{v:.0}") }
                );
            }
        }
    }
    for (si, sys) in systems.iter().enumerate() {
        let x = left + si as f64 * 150.0;
        let _ = write!(s, r#"<rect x="{x}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{}">{sys}</text>"#, h - 22.0, COLORS[si % COLORS.len()], x + 14.0, h - 13.0);
    }
    s.push_str("</svg>\n");
    s
}

pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cpu}, {cores} cores, Linux {}", kernel.trim())
}

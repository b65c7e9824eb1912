//! The perf harness runs end to end and keeps the JSON contract every scenario
//! shares. Gentle load (capped rate, short phases): this checks the harness, not
//! speed; speed is measured by `perf relay` and recorded in perf/RESULTS.md.

use system_tests::bin;

/// Both scenarios pin their generator and system under test to the same two CPUs:
/// run side by side they would measure each other.
static PINNED_CPUS: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn relay_scenario_reports_the_contract_fields() {
    let _cpus = PINNED_CPUS.lock().unwrap_or_else(|e| e.into_inner());
    let out = std::process::Command::new(bin("perf"))
        .args(["relay", "--json", "--results", "", "--duration", "0.4", "--flows", "40", "--fanout", "2"])
        .args(["--sizes", "200", "--systems", "raw,mediad-epoll,mediad-uring", "--max-rate", "10000"])
        .output()
        .expect("run perf");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "perf failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect();
    // 1→1 and 1→2, three systems each.
    assert_eq!(rows.len(), 6, "{stdout}");
    for r in &rows {
        for f in ["scenario", "system", "pps", "cpu_cores", "pps_per_core", "loss", "p50_us", "p99_us", "p999_us", "headline", "headline_unit"] {
            assert!(r.get(f).is_some(), "field {f} missing in {r}");
        }
        assert_eq!(r["scenario"], "relay");
        assert!(r["pps"].as_f64().unwrap() > 5000.0, "forwarded at the offered rate: {r}");
        assert!(r["loss"].as_f64().unwrap() < 0.01, "{r}");
        assert_eq!(r["headline"], r["pps_per_core"]);
    }
    assert!(rows.iter().any(|r| r["system"] == "mediad-uring" && r["vs_raw"].is_number()));
}

#[test]
fn sfu_scenario_connects_every_leg_and_reports_srtp_fan_out() {
    let _cpus = PINNED_CPUS.lock().unwrap_or_else(|e| e.into_inner());
    let out = std::process::Command::new(bin("perf"))
        .args(["sfu", "--json", "--results", "", "--duration", "0.4", "--flows", "20", "--fanout", "4"])
        .args(["--sizes", "400", "--max-rate", "10000"])
        .output()
        .expect("run perf");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "perf failed:\n{stdout}\n{stderr}");
    let rows: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect();
    let systems: Vec<&str> = rows.iter().map(|r| r["system"].as_str().unwrap()).collect();
    assert_eq!(systems, ["raw", "mediad-plain", "mediad-srtp", "mediad-srtp-cm", "janus-plain", "janus-srtp"], "{stdout}\n{stderr}");
    let srtp = &rows[2];
    // Janus forwarded every copy too (its setup authenticates them before measuring),
    // and the ratio against it is there.
    let janus = &rows[5];
    assert!(janus["pps"].as_f64().unwrap() > 5000.0 && janus["loss"].as_f64().unwrap() < 0.01, "{janus}");
    assert!(srtp["vs_peer"].is_number() && srtp["peer"] == "janus-srtp", "{srtp}");
    assert_eq!(srtp["scenario"], "sfu");
    // Every leg did ICE and DTLS, and the subscribers' copies authenticated (the setup
    // checks that before measuring), then the offered rate went through.
    assert!(srtp["pps"].as_f64().unwrap() > 5000.0 && srtp["loss"].as_f64().unwrap() < 0.01, "{srtp}");
    assert!(srtp["vs_raw"].is_number() && srtp["rss_kb_per_allocation"].as_f64().unwrap() > 0.0, "{srtp}");
}

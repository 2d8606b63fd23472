//! Statistics for machines on real DPDK (net_null): `--stats-format json`
//! lines, `--metrics-addr`'s `/metrics` and `/healthz`, and the telemetry
//! command, each read while vnf-fwd forwards.

mod common;

use common::stats_lines::{self, StatsLine};
use common::*;
use std::time::{Duration, Instant};

fn null_vdevs(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("net_null{i},no-rx=0")).collect()
}

/// Waits until vnf-fwd has printed `n` JSON lines.
fn wait_for_lines(p: &mut Proc, n: usize, timeout: Duration) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if p.out().lines().count() >= n {
            return true;
        }
        if p.wait_timeout(Duration::ZERO).is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// The counters `/metrics` reports for (port 0 rx, port 1 rx).
fn scrape_rx(port: u16) -> (u64, u64, String) {
    let (code, body) = http_get(port, "/metrics").expect("GET /metrics");
    assert_eq!(code, 200, "{body}");
    let rx = |p: &str| {
        prometheus_value(
            &body,
            &format!("vnf_fwd_port_rx_packets_total{{port=\"{p}\",name=\"net_null{p}\"}}"),
        )
        .unwrap_or_else(|| panic!("no rx of port {p} in\n{body}")) as u64
    };
    (rx("0"), rx("1"), body)
}

#[test]
fn json_lines_metrics_and_telemetry_while_forwarding() {
    let _lock = dpdk_lock();
    let dir = TempDir::new("metrics");
    let prefix = format!("vnfmetrics-{}", std::process::id());
    let http = free_tcp_port();
    let mut args = eal_args(&prefix, "0@0,1@1", &null_vdevs(2));
    args.push("--".into());
    args.extend(strings(&[
        "-p",
        "0x3",
        "-T",
        "1",
        "--mode",
        "macswap",
        "--record-core-cycles",
        "--stats-format",
        "json",
        "--metrics-addr",
        &http.to_string(),
    ]));
    let mut p = Proc::spawn(&dir, "metrics", &vnf_fwd(), &args, Some(&prefix));
    assert!(
        wait_for_lines(&mut p, 2, Duration::from_secs(30)),
        "no JSON lines\n{}",
        p.output()
    );

    let (code, body) = http_get(http, "/healthz").expect("GET /healthz");
    assert_eq!((code, body.as_str()), (200, "ok\n"));
    let (rx0, rx1, body) = scrape_rx(http);
    assert!(rx0 > 1000 && rx1 > 1000, "{body}");
    for line in [
        "# TYPE vnf_fwd_port_rx_packets_total counter",
        "vnf_fwd_up 1",
        "vnf_fwd_forwarding 1",
        "vnf_fwd_link_up{port=\"0\",name=\"net_null0\"} 1",
        "vnf_fwd_link_up{port=\"1\",name=\"net_null1\"} 1",
    ] {
        assert!(body.lines().any(|l| l == line), "{line:?} not in\n{body}");
    }
    for series in [
        "vnf_fwd_port_tx_packets_total{port=\"1\",name=\"net_null1\"}",
        "vnf_fwd_port_dropped_packets_total{port=\"0\",name=\"net_null0\"}",
        "vnf_fwd_lcore_busy_cycles_total{lcore=\"0\"}",
        "vnf_fwd_lcore_busy_cycles_total{lcore=\"1\"}",
        "vnf_fwd_mempool_in_use",
        "process_resident_memory_bytes",
    ] {
        assert!(
            prometheus_value(&body, series).is_some(),
            "no {series} in\n{body}"
        );
    }
    assert!(prometheus_value(&body, "vnf_fwd_lcore_busy_cycles_total{lcore=\"1\"}").unwrap() > 0.0);
    assert_eq!(http_get(http, "/nope").expect("GET /nope").0, 404);

    let reply = telemetry(&prefix, "/vnf_fwd/stats").expect("telemetry");
    let v: serde_json::Value = serde_json::from_str(&reply).expect("telemetry reply is JSON");
    let stats = &v["/vnf_fwd/stats"];
    assert_eq!(stats["ports"], serde_json::json!([0, 1]), "{reply}");
    assert_eq!(
        stats["port_names"],
        serde_json::json!(["net_null0", "net_null1"]),
        "{reply}"
    );
    assert_eq!(stats["link_up"], serde_json::json!([1, 1]), "{reply}");
    assert_eq!(stats["forwarding"], 1, "{reply}");
    let tel_rx0 = stats["rx"][0].as_u64().expect("rx[0]");
    assert!(tel_rx0 >= rx0, "telemetry {tel_rx0} < earlier scrape {rx0}");
    assert!(
        stats["mempool_in_use"].is_u64() && stats["rss_bytes"].as_u64() > Some(0),
        "{reply}"
    );
    // DPDK's own client reads it too (it is what operators use).
    let py = std::process::Command::new("python3")
        .args(["/usr/bin/dpdk-telemetry.py", "-f", &prefix])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"/vnf_fwd/stats\n")?;
            c.wait_with_output()
        })
        .expect("run dpdk-telemetry.py");
    let py_out = String::from_utf8_lossy(&py.stdout);
    assert!(
        py_out.contains("\"port_names\": [\"net_null0\", \"net_null1\"]"),
        "{py_out}"
    );

    // The counters move between two reads.
    std::thread::sleep(Duration::from_millis(300));
    let (later0, later1, _) = scrape_rx(http);
    assert!(later0 > tel_rx0 && later1 > rx1, "counters did not move");

    let st = p.terminate(Duration::from_secs(5));
    assert!(st.is_some_and(|s| s.success()), "{}", p.output());
    let lines: Vec<StatsLine> = stats_lines::parse(&p.out());
    stats_lines::assert_consistent(&lines, &[(0, 1), (1, 0)]);
    let last = lines.last().unwrap();
    assert_eq!(last.names, ["net_null0", "net_null1"]);
    assert!(
        last.ports.iter().all(|p| p.rx >= later0.min(later1)),
        "{last:?}"
    );
    assert!(
        last.lcores
            .iter()
            .all(|l| l.cycles_per_packet.is_some_and(|c| c > 0.0)),
        "{last:?}"
    );
    assert!(
        lines[0].ports.iter().all(|p| p.rx_mpps > 0.1),
        "{:?}",
        lines[0]
    );
    assert!(last.rss_bytes > 1 << 20, "{last:?}");
    // Log lines went to stderr; stdout held nothing but the JSON (parsed above).
    assert!(p.err().contains("Bye..."), "{}", p.output());
    assert!(p.err().contains("Final statistics"), "{}", p.output());
    // The server is gone with the process.
    assert!(http_get(http, "/metrics").is_err(), "metrics still served");
    assert_no_leftovers(&prefix);
}

#[test]
fn without_record_core_cycles_cycles_per_packet_is_null() {
    let _lock = dpdk_lock();
    let dir = TempDir::new("metrics-nocycles");
    let prefix = format!("vnfmetrics-nc-{}", std::process::id());
    let mut args = eal_args(&prefix, "0@0", &null_vdevs(3));
    args.push("--".into());
    args.extend(strings(&[
        "-p",
        "0x7",
        "-q",
        "3",
        "-T",
        "1",
        "--stats-format",
        "json",
    ]));
    let mut p = Proc::spawn(&dir, "nocycles", &vnf_fwd(), &args, Some(&prefix));
    assert!(
        wait_for_lines(&mut p, 1, Duration::from_secs(30)),
        "{}",
        p.output()
    );
    let st = p.terminate(Duration::from_secs(5));
    assert!(st.is_some_and(|s| s.success()), "{}", p.output());
    let lines = stats_lines::parse(&p.out());
    // Three ports: 0 <-> 1, and the odd port 2 forwards to itself.
    stats_lines::assert_consistent(&lines, &[(0, 1), (1, 0), (2, 2)]);
    for l in &lines {
        assert!(
            l.lcores
                .iter()
                .all(|c| c.cycles_per_packet.is_none() && c.busy_cycles == 0),
            "{l:?}"
        );
    }
}

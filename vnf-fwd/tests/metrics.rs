//! Statistics for machines on real DPDK (net_null): `--stats-format json`
//! lines, `--metrics-addr`'s `/metrics` and `/healthz`, and the telemetry
//! command, each read while vnf-fwd forwards; and the metrics endpoint under
//! clients that misbehave: slow, many, huge, garbage, keep-alive.

mod common;

use common::stats_lines::{self, StatsLine};
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
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

/// vnf-fwd forwarding on two net_null ports with `--metrics-addr`.
struct Served {
    p: Proc,
    http: u16,
    prefix: String,
    _dir: TempDir,
}

/// Starts vnf-fwd with `--metrics-addr` and waits until `/healthz` says ok.
fn serve(tag: &str) -> Served {
    let dir = TempDir::new(tag);
    let prefix = format!("vnfmetrics-{tag}-{}", std::process::id());
    let http = free_tcp_port();
    let eal = eal_args(&prefix, "0@0,1@1", &null_vdevs(2));
    let mut p = start_fwd(
        &dir,
        tag,
        &prefix,
        &eal,
        &["-p", "0x3", "--metrics-addr", &http.to_string()],
    );
    let end = Instant::now() + Duration::from_secs(10);
    while http_get(http, "/healthz").map(|r| r.0) != Ok(200) {
        assert!(
            Instant::now() < end && p.wait_timeout(Duration::ZERO).is_none(),
            "/healthz never 200: {:?}\n{}",
            http_get(http, "/healthz"),
            p.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Served {
        p,
        http,
        prefix,
        _dir: dir,
    }
}

/// What a probe needs: `/metrics` and `/healthz` answer 200 within 100 ms.
fn assert_probes_fast(s: &mut Served) {
    for path in ["/metrics", "/healthz"] {
        let t = Instant::now();
        let answer = http_get(s.http, path);
        let took = t.elapsed();
        assert!(
            matches!(answer, Ok((200, _))),
            "GET {path}: {answer:?}\n{}",
            s.p.output()
        );
        assert!(
            took < Duration::from_millis(100),
            "GET {path} took {took:?}"
        );
    }
}

/// SIGTERM: exit 0 within 1 s, "Bye...", nothing left behind.
fn assert_clean_exit(mut s: Served) {
    let t = Instant::now();
    let st = s.p.terminate(Duration::from_secs(1));
    let took = t.elapsed();
    assert!(
        st.is_some_and(|st| st.success()),
        "{st:?} after {took:?} of SIGTERM\n{}",
        s.p.output()
    );
    assert!(s.p.out().contains("Bye..."), "{}", s.p.output());
    assert!(!s.p.err().contains("panicked"), "{}", s.p.output());
    assert_no_leftovers(&s.prefix);
}

fn connect(port: u16) -> TcpStream {
    let c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c
}

/// Everything the server sends until it closes, as text; a reset after the
/// answer (the server closed with our bytes unread) ends it too.
fn read_until_closed(c: &mut TcpStream) -> String {
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => text.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("read: {e} after {:?}", String::from_utf8_lossy(&text)),
        }
    }
    String::from_utf8_lossy(&text).into_owned()
}

/// One response on a kept-alive connection: (status code, head, body).
/// `head_only` for HEAD, whose Content-Length is not followed by a body.
fn read_response(c: &mut TcpStream, head_only: bool) -> (u16, String, String) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = c.read(&mut byte).expect("read response head");
        assert_eq!(n, 1, "closed after {:?}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Content-Length in {head}"));
    let mut body = vec![0; if head_only { 0 } else { len }];
    c.read_exact(&mut body).expect("read body");
    let code = head[9..12].parse().unwrap();
    (code, head, String::from_utf8(body).unwrap())
}

#[test]
fn slow_client_holds_neither_the_probes_nor_the_exit() {
    let _lock = dpdk_lock();
    let mut s = serve("slow");
    // A request at a byte per second, from another thread.
    let mut slow = connect(s.http);
    let t0 = Instant::now();
    let trickle = std::thread::spawn({
        let mut slow = slow.try_clone().unwrap();
        move || {
            for b in b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" {
                if slow.write_all(&[*b]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    });
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..5 {
        assert_probes_fast(&mut s);
        std::thread::sleep(Duration::from_millis(200));
    }
    // Its request's deadline (2 s from the connection) cuts it off: 408.
    let text = read_until_closed(&mut slow);
    let cut = t0.elapsed();
    assert!(text.starts_with("HTTP/1.1 408 "), "{text:?}");
    assert!(
        cut > Duration::from_millis(1500) && cut < Duration::from_secs(3),
        "cut off after {cut:?}"
    );
    trickle.join().unwrap();
    assert_probes_fast(&mut s);
    // Another one is in the middle of its request at SIGTERM.
    let mut holder = connect(s.http);
    holder.write_all(b"GET /metr").unwrap();
    assert_clean_exit(s);
    assert_eq!(read_until_closed(&mut holder), "");
}

/// Opens `N` connections that each send `request` at once and stay open
/// until every answer is read; returns each answer's status code, and how
/// long opening and answering took.
fn thousand(port: u16, request: &[u8]) -> (Vec<String>, Duration, Duration) {
    const N: usize = 1000;
    let t0 = Instant::now();
    let mut conns: Vec<TcpStream> = (0..N)
        .map(|_| {
            let mut c = connect(port);
            // A rejected one may be closed already: its answer is read below.
            let _ = c.write_all(request);
            c
        })
        .collect();
    let opened = t0.elapsed();
    let codes = conns
        .iter_mut()
        .map(|c| {
            let text = read_until_closed(c);
            match text.get(9..12) {
                Some("200") if !text.contains("\nvnf_fwd_up 1\n") => format!("bad 200: {text}"),
                Some(code) if text.starts_with("HTTP/1.1 ") => code.to_owned(),
                _ => format!("not HTTP: {text:?}"),
            }
        })
        .collect();
    (codes, opened, t0.elapsed())
}

fn count(codes: &[String], code: &str) -> usize {
    codes.iter().filter(|c| *c == code).count()
}

#[test]
fn a_thousand_concurrent_connections() {
    let _lock = dpdk_lock();
    let mut s = serve("thousand");
    // Whole requests: each is answered (HTTP/1.0: then closed), or 503 when
    // 128 are already open.
    let (codes, opened, took) = thousand(s.http, b"GET /metrics HTTP/1.0\r\n\r\n");
    let (ok, busy) = (count(&codes, "200"), count(&codes, "503"));
    eprintln!(
        "whole requests: {ok} x 200, {busy} x 503; opened in {opened:?}, answered in {took:?}"
    );
    assert_eq!(ok + busy, codes.len(), "{codes:?}");
    assert!(ok >= 128, "{ok} answered");
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert_probes_fast(&mut s);
    // Requests that never end: 128 hold a slot until their deadline (408),
    // the others are turned away at once (503).
    let (codes, opened, took) = thousand(s.http, b"GET /metrics HTTP/1.1\r\n");
    let (late, busy) = (count(&codes, "408"), count(&codes, "503"));
    eprintln!("unfinished requests: {late} x 408, {busy} x 503; opened in {opened:?}, answered in {took:?}");
    assert_eq!(late + busy, codes.len(), "{codes:?}");
    assert!(late >= 128 && busy > 0, "{late} x 408, {busy} x 503");
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert_probes_fast(&mut s);
    assert_clean_exit(s);
}

#[test]
fn megabyte_request_line_is_431() {
    let _lock = dpdk_lock();
    let mut s = serve("huge");
    let mut c = connect(s.http);
    let writer = std::thread::spawn({
        let mut c = c.try_clone().unwrap();
        move || {
            let line = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(1 << 20));
            // The server stops reading at 8 KiB and closes: the rest fails.
            let _ = c.write_all(line.as_bytes());
        }
    });
    let t = Instant::now();
    let text = read_until_closed(&mut c);
    assert!(text.starts_with("HTTP/1.1 431 "), "{text:?}");
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    writer.join().unwrap();
    assert_probes_fast(&mut s);
    assert_clean_exit(s);
}

#[test]
fn binary_garbage_is_400() {
    let _lock = dpdk_lock();
    let mut s = serve("garbage");
    // xorshift64: the same bytes every run.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut noise = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    };
    let mut header_noise = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
    header_noise.extend(noise(100).iter().map(|b| b | 0x80).chain(*b"\x01\r\n\r\n"));
    for garbage in [
        noise(64 * 1024),
        b"\x00\x01\x02\x03\r\n\r\n".to_vec(),
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(), // a TLS ClientHello's start
        header_noise,
    ] {
        let mut c = connect(s.http);
        let _ = c.write_all(&garbage);
        let text = read_until_closed(&mut c);
        assert!(
            text.starts_with("HTTP/1.1 400 "),
            "{:?}: {text:?}",
            &garbage[..16]
        );
    }
    assert_probes_fast(&mut s);
    assert_clean_exit(s);
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let _lock = dpdk_lock();
    let mut s = serve("keepalive");
    let mut c = connect(s.http);
    for _ in 0..3 {
        c.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let (code, head, body) = read_response(&mut c, false);
        assert_eq!(code, 200, "{head}");
        assert!(head.contains("\r\nConnection: keep-alive\r\n"), "{head}");
        assert!(prometheus_value(&body, "vnf_fwd_up") == Some(1.0), "{body}");
    }
    c.write_all(b"GET /healthz HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut c, false).2, "ok\n");
    c.write_all(b"HEAD /metrics HTTP/1.1\r\n\r\n").unwrap();
    let (code, head, _) = read_response(&mut c, true);
    assert!(code == 200 && head.contains("Content-Length: "), "{head}");
    c.write_all(b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    let (code, head, _) = read_response(&mut c, false);
    assert!(
        code == 405 && head.contains("\r\nAllow: GET, HEAD\r\n"),
        "{head}"
    );
    // Two requests in one write, answered in order.
    c.write_all(b"GET /nope HTTP/1.1\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut c, false).0, 404);
    assert_eq!(read_response(&mut c, false).0, 200);
    // The last one asks to close.
    c.write_all(b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let text = read_until_closed(&mut c);
    assert!(
        text.starts_with("HTTP/1.1 200 ") && text.ends_with("\r\n\r\nok\n"),
        "{text:?}"
    );
    // A kept-alive connection left idle is closed after 5 s.
    let mut idle = connect(s.http);
    idle.write_all(b"GET /healthz HTTP/1.1\r\n\r\n").unwrap();
    read_response(&mut idle, false);
    let t = Instant::now();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(read_until_closed(&mut idle), "");
    let waited = t.elapsed();
    assert!(
        waited > Duration::from_millis(4500) && waited < Duration::from_secs(6),
        "idle connection closed after {waited:?}"
    );
    assert_probes_fast(&mut s);
    assert_clean_exit(s);
}

//! vnf-fwd's `--stats-format json` lines, parsed with serde_json, and the
//! checks every run's lines must pass.

use serde_json::Value;

/// One port of one line.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PortLine {
    pub port: u64,
    pub rx: u64,
    pub tx: u64,
    pub dropped: u64,
    pub rx_mpps: f64,
    pub tx_mpps: f64,
}

/// One lcore of one line.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LcoreLine {
    pub lcore: u64,
    pub rx: u64,
    pub tx: u64,
    pub dropped: u64,
    pub busy_cycles: u64,
    pub busy_packets: u64,
    pub cycles_per_packet: Option<f64>,
}

/// One line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatsLine {
    pub time: String,
    pub elapsed_s: f64,
    pub last: bool,
    pub ports: Vec<PortLine>,
    pub names: Vec<String>,
    pub lcores: Vec<LcoreLine>,
    pub mempool_in_use: u64,
    pub rss_bytes: u64,
}

fn field<'a>(v: &'a Value, key: &str, line: &str) -> &'a Value {
    v.get(key).unwrap_or_else(|| panic!("no {key:?} in {line}"))
}

fn uint(v: &Value, key: &str, line: &str) -> u64 {
    field(v, key, line)
        .as_u64()
        .unwrap_or_else(|| panic!("{key:?} is not an unsigned integer in {line}"))
}

fn float(v: &Value, key: &str, line: &str) -> f64 {
    field(v, key, line)
        .as_f64()
        .unwrap_or_else(|| panic!("{key:?} is not a number in {line}"))
}

/// Parses every line of `stdout`; panics on anything that is not one of
/// vnf-fwd's JSON objects with every field.
pub fn parse(stdout: &str) -> Vec<StatsLine> {
    stdout
        .lines()
        .map(|line| {
            let v: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"));
            let ports = field(&v, "ports", line)
                .as_array()
                .unwrap_or_else(|| panic!("ports not an array: {line}"));
            let lcores = field(&v, "lcores", line)
                .as_array()
                .unwrap_or_else(|| panic!("lcores not an array: {line}"));
            StatsLine {
                time: field(&v, "time", line).as_str().unwrap().to_owned(),
                elapsed_s: float(&v, "elapsed_s", line),
                last: field(&v, "final", line).as_bool().unwrap(),
                names: ports
                    .iter()
                    .map(|p| field(p, "name", line).as_str().unwrap().to_owned())
                    .collect(),
                ports: ports
                    .iter()
                    .map(|p| PortLine {
                        port: uint(p, "port", line),
                        rx: uint(p, "rx", line),
                        tx: uint(p, "tx", line),
                        dropped: uint(p, "dropped", line),
                        rx_mpps: float(p, "rx_mpps", line),
                        tx_mpps: float(p, "tx_mpps", line),
                    })
                    .collect(),
                lcores: lcores
                    .iter()
                    .map(|l| LcoreLine {
                        lcore: uint(l, "lcore", line),
                        rx: uint(l, "rx", line),
                        tx: uint(l, "tx", line),
                        dropped: uint(l, "dropped", line),
                        busy_cycles: uint(l, "busy_cycles", line),
                        busy_packets: uint(l, "busy_packets", line),
                        cycles_per_packet: {
                            let c = field(l, "cycles_per_packet", line);
                            (!c.is_null()).then(|| c.as_f64().unwrap())
                        },
                    })
                    .collect(),
                mempool_in_use: uint(&v, "mempool_in_use", line),
                rss_bytes: uint(&v, "rss_bytes", line),
            }
        })
        .collect()
}

/// What every run's lines must show: only the last is final; time and every
/// counter only grow; each port is counted once (the ports' rx sum is the
/// lcores' rx sum, likewise tx and dropped); and at the final line, with the
/// lcores stopped, every frame received on `rx` is sent or dropped on `tx`
/// for each `(rx, tx)` direction.
pub fn assert_consistent(lines: &[StatsLine], pairs: &[(u64, u64)]) {
    assert!(
        lines.len() >= 2,
        "want periodic lines and a final one: {lines:?}"
    );
    let (last, periodic) = lines.split_last().unwrap();
    assert!(last.last, "last line not final: {last:?}");
    assert!(periodic.iter().all(|l| !l.last), "final before the end");
    for w in lines.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        assert!(b.elapsed_s >= a.elapsed_s, "time went back: {a:?} {b:?}");
        assert_eq!(a.names, b.names);
        for (pa, pb) in a.ports.iter().zip(&b.ports) {
            assert!(
                pb.rx >= pa.rx && pb.tx >= pa.tx && pb.dropped >= pa.dropped,
                "port counters went back: {pa:?} then {pb:?}"
            );
        }
        for (la, lb) in a.lcores.iter().zip(&b.lcores) {
            assert!(
                lb.rx >= la.rx && lb.tx >= la.tx && lb.busy_cycles >= la.busy_cycles,
                "lcore counters went back: {la:?} then {lb:?}"
            );
        }
    }
    for l in lines {
        let sum = |f: fn(&PortLine) -> u64| l.ports.iter().map(f).sum::<u64>();
        let lsum = |f: fn(&LcoreLine) -> u64| l.lcores.iter().map(f).sum::<u64>();
        // A sample reads the lanes twice (per port, per lcore) while they
        // move, so only the final line must match exactly.
        if l.last {
            assert_eq!(sum(|p| p.rx), lsum(|c| c.rx), "rx counted twice? {l:?}");
            assert_eq!(sum(|p| p.tx), lsum(|c| c.tx), "tx counted twice? {l:?}");
            assert_eq!(sum(|p| p.dropped), lsum(|c| c.dropped), "{l:?}");
        }
        assert!(
            l.ports.iter().all(|p| p.rx_mpps >= 0.0 && p.tx_mpps >= 0.0),
            "{l:?}"
        );
    }
    let port = |id: u64| {
        last.ports
            .iter()
            .find(|p| p.port == id)
            .unwrap_or_else(|| panic!("no port {id} in {last:?}"))
    };
    for &(rx, tx) in pairs {
        assert_eq!(
            port(rx).rx,
            port(tx).tx + port(tx).dropped,
            "port {rx} -> {tx}: received != sent + dropped in {last:?}"
        );
    }
}

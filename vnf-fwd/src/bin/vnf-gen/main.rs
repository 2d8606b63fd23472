//! `vnf-gen [EAL options] -- [-p PORTMASK] [--count [PORT:]N]... [--rate [PORT:]R]...
//! [--size N] [--duration S] [--queues N] [--flows N] ...`: the traffic generator (pktgen's role in the
//! write-up). Sends stamped IPv4/UDP frames on every port, receives on every
//! port, and reports sent, received, lost, reordered and latency per port.
//!
//! The write-up's pktgen session (`set all rate 10`, `set 0 count 100`,
//! `set 1 count 200`, `start`) is `-- --rate 10 --count 0:100 --count 1:200`.

#![deny(unsafe_code)]

mod gen;
mod options;

use clap::Parser;
use gen::{FlowSpec, LatencyHistogram, PerPort, Rate};
use options::{check_port_prefixes, pick, Args};
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use vnf_fwd::app::links::wait_for_links;
use vnf_fwd::config::options::{split_args, MAX_PORTS};
use vnf_fwd::config::system;
use vnf_fwd::dpdk::{self, rdtsc, Eal, MbufBurst, Mempool, Port, PortConfig};
use vnf_fwd::os::{console, signal};

#[derive(Debug, thiserror::Error)]
pub enum GenError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Dpdk(#[from] dpdk::Error),
    #[error(transparent)]
    EalArgs(#[from] system::Error),
    #[error("mbuf pool exhausted while building frames")]
    NoMbufs,
    #[error("cannot set up the stdout relay: {0}")]
    Stdout(std::io::Error),
}

/// Wait between the links coming up and the first frame sent.
const SETTLE: Duration = Duration::from_millis(200);

/// One port's sending plan and what came back.
struct PortRun {
    id: u16,
    template: Vec<u8>,
    count: u64,
    pps: f64,
    sent: u64,
    received: u64,
    /// Stamped frames received per source port (index = source port id).
    from: Vec<u64>,
    /// Highest sequence seen per source port, for reordering.
    last_seq: Vec<Option<u32>>,
    reordered: u64,
    latency: LatencyHistogram,
}

fn main() -> ExitCode {
    let code = match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            console::error(format_args!("vnf-gen: error: {e}"));
            ExitCode::FAILURE
        }
    };
    // Dies of SIGPIPE instead if stdout's reader went away.
    console::finish(code)
}

fn run() -> Result<(), GenError> {
    // Output never blocks, and a stdout reader that goes away (`| head`)
    // stops the run instead of crashing it.
    console::start(console::Layout::Text, signal::stop_flag()).map_err(GenError::Stdout)?;
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let (eal, app) = split_args(&argv);
    let args = match Args::try_parse_from(std::iter::once("vnf-gen".to_string()).chain(app)) {
        Ok(a) => a,
        Err(e) if !e.use_stderr() => {
            print!("{e}");
            return Ok(());
        }
        Err(e) => {
            let text = e.to_string();
            let line = text
                .lines()
                .next()
                .unwrap_or("bad options")
                .trim_start_matches("error: ");
            return Err(GenError::Usage(line.to_string()));
        }
    };
    let prepared = system::ready(&eal)?;
    for n in &prepared.notices {
        println!("vnf-gen: {n}");
    }
    let eal = Eal::init(&prepared.args)?;
    signal::install();
    let stop = signal::stop_flag();

    let mask = args.portmask.unwrap_or(u32::MAX);
    let ids: Vec<u16> = eal
        .ports()
        .into_iter()
        .filter(|&p| usize::from(p) < MAX_PORTS && mask & (1 << p) != 0)
        .collect();
    if ids.is_empty() {
        return Err(GenError::Usage(
            "no ports to use (check --vdev and -p)".into(),
        ));
    }
    check_port_prefixes(&args, &ids)?;
    let per_port = u32::from(args.queues) * 4096;
    let pool = Mempool::new(
        &eal,
        "gen_pool",
        8191.max(ids.len() as u32 * per_port),
        256,
        -1,
    )?;
    let mut ports = Vec::new();
    for &id in &ids {
        let mut p = Port::configure(
            id,
            &pool,
            PortConfig {
                rxd: 1024,
                txd: 1024,
                rx_queues: args.queues,
                tx_queues: args.queues,
            },
        )?;
        p.start()?;
        ports.push(p);
    }
    wait_for_links(&ports, stop, Duration::from_secs(9));
    // A virtio_user link is up once our side of the vhost-user handshake is
    // done; the switch enables queuing towards us a moment later, from its own
    // interrupt thread, and drops what it would send us until then. Frames of
    // ours forwarded back within that window were lost (12-63 per run at
    // 4-10 kpps in a testpmd vhost loop): let the other side settle first.
    std::thread::sleep(SETTLE);

    let hz = eal.tsc_hz();
    let mut runs = Vec::new();
    for p in &ports {
        let id = p.id();
        let spec = flow_spec(&args, id, p.mac());
        let count = pick(&args.count, id).unwrap_or(0);
        let speed = p
            .link()
            .map(|l| l.speed_mbps)
            .filter(|&s| s > 0 && s != u32::MAX)
            .unwrap_or(10_000);
        let rate = pick(&args.rate, id).unwrap_or(Rate::Percent(10.0));
        let pps = rate.pps(speed, usize::from(args.size));
        println!(
            "Port {id}: {} frames of {} bytes at {pps:.0} frames/s",
            if count == 0 {
                "unlimited".to_string()
            } else {
                count.to_string()
            },
            args.size
        );
        runs.push(PortRun {
            id,
            template: gen::template(&spec),
            count,
            pps,
            sent: 0,
            received: 0,
            from: vec![0; MAX_PORTS],
            last_seq: vec![None; MAX_PORTS],
            reordered: 0,
            latency: LatencyHistogram::default(),
        });
    }

    let mut queues: Vec<_> = ports.iter().filter_map(Port::take_queues).collect();
    // The TX queue each port's next burst goes out on.
    let mut next_tx = vec![0usize; queues.len()];
    let (sport, flows) = (args.sport, args.flows);
    let mut frames = MbufBurst::new();
    let start = rdtsc();
    let send_until = (args.duration > 0.0).then(|| start + (args.duration * hz as f64) as u64);
    let drain = args.drain_ms * hz / 1000;
    let mut drain_until: Option<u64> = None;
    let us_per_cycle = 1e6 / hz as f64;
    loop {
        let now = rdtsc();
        let mut busy = false;
        let sending =
            drain_until.is_none() && !stop.load(Relaxed) && send_until.is_none_or(|t| now < t);
        if sending {
            for ((run, q), next) in runs.iter_mut().zip(queues.iter_mut()).zip(&mut next_tx) {
                let left = if run.count == 0 {
                    u64::MAX
                } else {
                    run.count - run.sent
                };
                let n = gen::frames_due(now - start, hz, run.pps, run.sent)
                    .min(left)
                    .min(u64::from(args.burst));
                if n == 0 {
                    continue;
                }
                busy = true;
                let (id, seq0) = (run.id, run.sent);
                let tmpl = &run.template;
                let tsc = rdtsc();
                if !frames.alloc(&pool, n as usize, tmpl.len() as u16, |i, f| {
                    f.copy_from_slice(tmpl);
                    let seq = seq0 + i as u64;
                    if flows > 1 {
                        gen::set_udp_source_port(f, gen::flow_port(sport, flows, seq));
                    }
                    gen::stamp(f, id, seq as u32, tsc);
                }) {
                    return Err(GenError::NoMbufs);
                }
                let queue = *next;
                *next = (queue + 1) % q.tx.len();
                // What the queue refuses is freed and sent again later with the same sequence numbers.
                run.sent += q.tx[queue].tx_burst(&mut frames).sent as u64;
            }
            let all_sent = runs.iter().all(|r| r.count != 0 && r.sent >= r.count);
            if all_sent {
                drain_until = Some(now + drain);
            }
        } else if drain_until.is_none() {
            drain_until = Some(now + drain);
        }
        for (run, q) in runs.iter_mut().zip(queues.iter_mut()) {
            for rx in &mut q.rx {
                if rx.rx_burst(&mut frames, 32) == 0 {
                    continue;
                }
                busy = true;
                let now = rdtsc();
                frames.for_each_frame(|f| {
                    run.received += 1;
                    if let Some(s) = gen::read_stamp(f) {
                        let src = usize::from(s.port).min(MAX_PORTS - 1);
                        run.from[src] += 1;
                        if let Some(last) = run.last_seq[src] {
                            if (s.seq.wrapping_sub(last) as i32) < 0 {
                                run.reordered += 1;
                            }
                        }
                        if run.last_seq[src].is_none_or(|l| (s.seq.wrapping_sub(l) as i32) > 0) {
                            run.last_seq[src] = Some(s.seq);
                        }
                        run.latency
                            .record(now.wrapping_sub(s.tsc) as f64 * us_per_cycle);
                    }
                });
                frames.clear();
            }
        }
        if let Some(t) = drain_until {
            let sent: u64 = runs.iter().map(|r| r.sent).sum();
            let back: u64 = runs.iter().map(|r| r.from.iter().sum::<u64>()).sum();
            if now >= t || back >= sent {
                break;
            }
        }
        if args.idle_yield && !busy {
            std::thread::yield_now();
        }
    }
    report(&runs, &ports, args.json);
    drop(frames);
    drop(queues);
    drop(ports);
    drop(pool);
    drop(eal);
    Ok(())
}

fn flow_spec(args: &Args, id: u16, mac: [u8; 6]) -> FlowSpec {
    let ip = |list: &[PerPort<Ipv4Addr>], default: [u8; 4]| {
        pick(list, id).map_or(default, |a| a.octets())
    };
    FlowSpec {
        src_mac: pick(&args.src_mac, id).unwrap_or(mac),
        dst_mac: pick(&args.dst_mac, id).unwrap_or([2, 0, 0, 0, 0, (id ^ 1) as u8]),
        src_ip: ip(&args.src_ip, [198, 18, id as u8, 1]),
        dst_ip: ip(&args.dst_ip, [198, 19, id as u8, 1]),
        src_port: args.sport,
        dst_port: args.dport,
        len: usize::from(args.size) - 4,
    }
}

fn report(runs: &[PortRun], ports: &[Port<'_>], json: bool) {
    // Lost: frames a port sent that came back on no port.
    let lost = |r: &PortRun| {
        let back: u64 = runs.iter().map(|o| o.from[usize::from(r.id).min(31)]).sum();
        r.sent.saturating_sub(back)
    };
    let dropped = |i: usize| {
        ports[i]
            .stats()
            .map_or(0, |s| s.imissed + s.ierrors + s.rx_nombuf)
    };
    if json {
        let report = gen::Report {
            ports: runs
                .iter()
                .enumerate()
                .map(|(i, r)| gen::PortReport {
                    port: r.id,
                    sent: r.sent,
                    received: r.received,
                    dropped: dropped(i),
                    lost: lost(r),
                    reordered: r.reordered,
                    latency_us: r.latency.report(),
                })
                .collect(),
        };
        // Plain structs: serialising them cannot fail.
        if let Ok(line) = serde_json::to_string(&report) {
            println!("{line}");
        }
        return;
    }
    println!(
        "\n{:>4} {:>12} {:>12} {:>8} {:>8} {:>9} {:>10} {:>10} {:>10} {:>10}",
        "port",
        "sent",
        "received",
        "dropped",
        "lost",
        "reordered",
        "min_us",
        "avg_us",
        "max_us",
        "p99_us"
    );
    for (i, r) in runs.iter().enumerate() {
        let (min, avg, max, p99) = r.latency.summary();
        println!(
            "{:>4} {:>12} {:>12} {:>8} {:>8} {:>9} {min:>10.1} {avg:>10.1} {max:>10.1} {p99:>10.1}",
            r.id,
            r.sent,
            r.received,
            dropped(i),
            lost(r),
            r.reordered
        );
    }
}

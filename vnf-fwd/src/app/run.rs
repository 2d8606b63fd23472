//! The run of vnf-fwd: set up (options, EAL, plan, pool, ports, reporting),
//! launch the lcores, wait for the stop, tear down in DPDK's order.

use super::links::wait_for_links;
use super::monitor::{Monitor, Printer};
use super::Error as AppError;
use crate::config::eal::{self as eal_args, Prepared, VirtioUser};
use crate::config::mac::fmt_mac;
use crate::config::options::{self as cli, Command, Mode, Options, StatsFormat};
use crate::config::system;
use crate::dpdk::{
    self, rdtsc, register_telemetry_command, Eal, Mempool, Pause, Port, PortConfig, RxQueue,
    TxQueue,
};
use crate::engine::{Engine, FiveTupleSwap, Io, L2fwdMac, MacSwap};
use crate::fwd::counters::Stats;
use crate::fwd::{poll, Duty, Lane, LcoreWork, PollConfig};
use crate::os::{console, signal};
use crate::plan::{self, LanePlan, LcorePlan, PortPair};
use crate::report::{self, JsonLines, Live, MetricsServer};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// Per-lcore mbuf cache, as l2fwd.
const MEMPOOL_CACHE: u32 = 256;
/// l2fwd waits up to 9 s for links to come up before it forwards.
const LINK_WAIT: Duration = Duration::from_secs(9);

/// Runs the forwarder with the process's arguments, start to end.
///
/// # Errors
///
/// Anything that stops the set-up, and the loss of a client port's switch.
pub fn run() -> Result<(), AppError> {
    let argv = std::env::args_os()
        .map(|a| a.into_string().map_err(AppError::NotUtf8))
        .collect::<Result<Vec<_>, _>>()?;
    let (eal_args, app_args) = cli::split_args(&argv);
    let prog = eal_args.first().map_or("vnf-fwd", String::as_str);
    // App options are checked before the EAL starts, so a typo costs no hugepages.
    let opts = match cli::parse(prog, &app_args)? {
        Command::Print(text) => {
            // A reader that went away (`--help | head`) took what it wanted.
            let _ = std::io::stdout().write_all(text.as_bytes());
            return Ok(());
        }
        Command::Run(opts) => opts,
    };

    // A taken port fails here, before the EAL takes hugepages.
    let listener = opts.metrics_addr.map(report::bind).transpose()?;
    // Output never blocks an lcore, and a stdout reader that goes away stops
    // the process. JSON lines own stdout; everything else, DPDK's output
    // included, goes to stderr.
    let stop = signal::stop_flag();
    let layout = match opts.stats_format {
        StatsFormat::Json => console::Layout::Json,
        StatsFormat::Text => console::Layout::Text,
    };
    let json_out = console::start(layout, stop).map_err(AppError::Stdout)?;

    // virtio_user against a vhost-user switch needs a memory layout that fits
    // in 8 regions, and a socket that is there (or free, with server=1).
    let prepared = system::ready(&eal_args)?;
    for notice in &prepared.notices {
        println!("vnf-fwd: {notice}");
    }
    signal::install();
    let mut eal = {
        // rte_eal_init cannot be interrupted, and a server=1 virtio_user
        // probe waits in it until the switch connects.
        let _exit_on_signal =
            signal::ExitOnSignal::arm(on_init_signal(&prepared)).map_err(AppError::Signals)?;
        Eal::init(&prepared.args)?
    };
    println!(
        "MAC updating {}",
        if opts.mac_updating {
            "enabled"
        } else {
            "disabled"
        }
    );
    if !matches!(opts.mode, Mode::L2fwd) && !opts.mac_updating {
        println!("Notice: --no-mac-updating applies to --mode l2fwd only; ignored");
    }

    let plan = plan::port_pairs(opts.portmask, opts.portmap.as_deref(), &eal.ports())?;
    if plan.odd_port.is_some() {
        println!("Notice: odd number of ports in portmask.");
    }
    let lcores = plan::assign_lcores(
        &plan.pairs,
        &eal.lcores(),
        opts.ports_per_lcore,
        opts.rx_queues,
        opts.tx_queues,
    )?;
    let multiqueue = opts.rx_queues > 1 || opts.tx_queues > 1;
    for line in lane_lines(&lcores, multiqueue) {
        println!("{line}");
    }
    let stats = Stats::new(&lcores);
    let nb_mbufs = mbuf_count(&opts, stats.ports.len(), lcores.len());
    let pool = Mempool::new(&eal, "mbuf_pool", nb_mbufs, MEMPOOL_CACHE, -1)?;

    let (ports, leave_open) = open_ports(&opts, &pool, &stats.ports, &prepared.virtio_users)?;
    let names = ports.iter().map(Port::name).collect();
    let live = Arc::new(Live::new(stats, names, opts.record_core_cycles));
    // Machines can still read the counters through --metrics-addr or the
    // JSON lines: not worth dying for.
    if let Err(e) = register_telemetry_command(&eal, TELEMETRY_COMMAND, TELEMETRY_HELP, {
        let live = live.clone();
        move || live.telemetry()
    }) {
        println!("Warning: {e}; continuing without it");
    }
    let server = listener
        .map(|l| MetricsServer::start(l, live.clone()))
        .transpose()?;
    wait_for_links(&ports, stop, LINK_WAIT);

    let mut printer = match json_out {
        Some(out) => Printer::Json(JsonLines::new(&live, Box::new(out))),
        None => Printer::Text {
            clear_screen: console::stdout_is_terminal(),
        },
    };
    let run = Run {
        eal: &eal,
        opts: &opts,
        lcores: &lcores,
        ports: &ports,
        pool: &pool,
        live: &live,
        stop,
        virtio_users: &prepared.virtio_users,
    };
    let outcome = match (opts.mode, opts.mac_updating) {
        (Mode::L2fwd, true) => {
            run.forward(&mut printer, |p| L2fwdMac::new(p.tx, mac_of(&ports, p.tx)))
        }
        (Mode::L2fwd, false) | (Mode::Io, _) => run.forward(&mut printer, |_| Io),
        (Mode::Macswap, _) => run.forward(&mut printer, |_| MacSwap),
        (Mode::FiveTupleSwap, _) => run.forward(&mut printer, |_| FiveTupleSwap),
    };
    live.set_forwarding(false);
    live.set_mempool_in_use(pool.in_use());

    let stats = &live.stats;
    println!("\nFinal statistics:{}", stats.render_l2fwd(false));
    print!("{}", stats.render_details());
    if let Printer::Json(lines) = &mut printer {
        lines.emit(&live, true);
    }
    drop(server);
    for port in ports {
        let verb = if leave_open { "Stopping" } else { "Closing" };
        print!("{verb} port {}...", port.id());
        drop(port);
        println!(" Done");
    }
    if leave_open {
        // Open ports still use the pool and the EAL's memory; the kernel frees
        // both at exit, and their server sockets are removed here.
        std::mem::forget(pool);
        eal.skip_cleanup();
        for v in prepared.virtio_users.iter().filter(|v| v.server) {
            if let Some(path) = &v.path {
                let _ = std::fs::remove_file(path);
            }
        }
    } else {
        // Every mbuf is back once the ports are closed (multi-segment frames
        // included): anything else is a leak on the packet path.
        println!("Mbufs not returned to the pool: {}", pool.in_use());
        drop(pool);
    }
    drop(eal);
    println!("Bye...");
    outcome
}

/// The lines that say which lcore polls which rx queue and sends on which tx
/// queue (l2fwd's "Lcore N: RX port A TX port B", queues added when there are
/// several).
fn lane_lines(lcores: &[LcorePlan], multiqueue: bool) -> Vec<String> {
    let mut lines = Vec::new();
    for l in lcores {
        for lane in &l.lanes {
            let (p, lcore) = (lane.pair, l.lcore);
            lines.push(if multiqueue {
                format!(
                    "Lcore {lcore}: RX port {} TX port {} (rx queue {}, tx queue {})",
                    p.rx, p.tx, lane.rx_queue, lane.tx_queue
                )
            } else {
                format!("Lcore {lcore}: RX port {} TX port {}", p.rx, p.tx)
            });
        }
    }
    lines
}

/// The pool's size: every queue's ring full, plus a burst in flight per rx
/// queue and each lcore's cache, for `ports` ports and `lcores` lcores; at
/// least 8192, as l2fwd.
fn mbuf_count(opts: &Options, ports: usize, lcores: usize) -> u32 {
    let per_port = u32::from(opts.rx_queues) * u32::from(opts.rxd)
        + u32::from(opts.tx_queues) * u32::from(opts.txd)
        + u32::from(opts.rx_queues) * opts.burst as u32;
    (ports as u32 * (per_port + lcores as u32 * MEMPOOL_CACHE)).max(8192)
}

/// Configures and starts the ports `ids`, as l2fwd prints it; returns them,
/// and whether some stay open at exit (`server=1` virtio_user ports, whose
/// switch must not see the socket close under it).
fn open_ports<'p>(
    opts: &Options,
    pool: &'p Mempool<'_>,
    ids: &[u16],
    virtio_users: &[VirtioUser],
) -> Result<(Vec<Port<'p>>, bool), AppError> {
    let cfg = PortConfig {
        rxd: opts.rxd,
        txd: opts.txd,
        rx_queues: opts.rx_queues,
        tx_queues: opts.tx_queues,
    };
    let mut without_rss = Vec::new();
    let mut ports = Vec::with_capacity(ids.len());
    let mut leave_open = false;
    for &id in ids {
        print!("Initializing port {id}... ");
        let _ = std::io::stdout().flush();
        let mut port = Port::configure(id, pool, cfg)?;
        port.start()?;
        let name = port.name();
        if virtio_users.iter().any(|v| v.server && v.name == name) {
            port.leave_open_at_exit();
            leave_open = true;
        }
        println!("done: ");
        if opts.promiscuous {
            // virtio_user without a control queue cannot do it: not worth dying for.
            if let Err(e) = port.enable_promiscuous() {
                println!("Warning: {e}; continuing without promiscuous mode");
            }
        }
        if opts.rx_queues > 1 {
            match port.rss_hash_functions() {
                0 => without_rss.push(id),
                hf => println!(
                    "Port {id}: RSS over {} rx queues (hash functions {hf:#x})",
                    opts.rx_queues
                ),
            }
        }
        println!("Port {id}, MAC address: {}\n", fmt_mac(port.mac()));
        ports.push(port);
    }
    if !without_rss.is_empty() {
        println!(
            "Notice: port(s) {} offer no RSS over IP/TCP/UDP; their {} rx queues are set up anyway and the device decides which queue gets a frame (virtio_user: the queue the switch sends on)",
            list(&without_rss),
            opts.rx_queues
        );
    }
    Ok((ports, leave_open))
}

/// What a SIGINT or SIGTERM during EAL initialisation does before the
/// process exits: remove the sockets of `server=1` vdevs and the EAL's
/// runtime directory (hugepage files are already unlinked: see
/// `config::eal::prepare`), and say so in one line.
fn on_init_signal(prepared: &Prepared) -> impl FnOnce(&str) + Send + 'static {
    let (runtime_dir, primary) = eal_args::runtime_dir(&prepared.args);
    let sockets: Vec<_> = prepared
        .virtio_users
        .iter()
        .filter(|v| v.server)
        .filter_map(|v| v.path.clone())
        .collect();
    move |signal| {
        for path in &sockets {
            let _ = std::fs::remove_file(path);
        }
        dpdk::remove_runtime_dir(&runtime_dir, primary);
        let waiting = match sockets.as_slice() {
            [] => String::new(),
            paths => format!(
                " (it waits there for the switch to connect to {}: server=1)",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        console::error(format_args!(
            "vnf-fwd: {signal} during EAL initialisation{waiting}; exiting"
        ));
        console::drain();
    }
}

/// The DPDK telemetry command that returns the counters.
const TELEMETRY_COMMAND: &std::ffi::CStr = c"/vnf_fwd/stats";
/// Telemetry refuses help texts of 128 bytes or more.
const TELEMETRY_HELP: &std::ffi::CStr =
    c"Returns vnf-fwd's counters: arrays in port order and in lcore order. Takes no parameters";

/// What the forwarding phase needs, borrowed from `run`.
struct Run<'a, 'p> {
    eal: &'a Eal,
    opts: &'a Options,
    lcores: &'a [LcorePlan],
    ports: &'a [Port<'p>],
    pool: &'p Mempool<'p>,
    live: &'a Live,
    stop: &'a AtomicBool,
    virtio_users: &'a [VirtioUser],
}

impl Run<'_, '_> {
    /// Hands every lcore its lanes with the engine `make` builds for each
    /// direction, and polls until the stop flag is set.
    fn forward<E: Engine>(
        &self,
        printer: &mut Printer,
        make: impl Fn(PortPair) -> E,
    ) -> Result<(), AppError> {
        let stats = &self.live.stats;
        let mut rx: Vec<RxQueue<'_, '_>> = Vec::new();
        let mut tx: Vec<TxQueue<'_, '_>> = Vec::new();
        for port in self.ports {
            if let Some(queues) = port.take_queues() {
                rx.extend(queues.rx);
                tx.extend(queues.tx);
            }
        }
        let main = self.eal.main_lcore();
        let mut workers = Vec::new();
        let mut main_work = None;
        for plan in self.lcores {
            let mut lanes = Vec::with_capacity(plan.lanes.len());
            for &lane in &plan.lanes {
                let LanePlan {
                    pair,
                    rx_queue,
                    tx_queue,
                } = lane;
                // The plan uses each queue once; anything else is a bug in the
                // plan, reported rather than panicked on.
                let (Some(rxq), Some(txq), Some(counters)) = (
                    take(&mut rx, |q| (q.port(), q.queue()) == (pair.rx, rx_queue)),
                    take(&mut tx, |q| (q.port(), q.queue()) == (pair.tx, tx_queue)),
                    stats.lane(lane),
                ) else {
                    return Err(AppError::Internal(format!(
                        "rx queue {rx_queue} of port {} or tx queue {tx_queue} of port {} used twice",
                        pair.rx, pair.tx
                    )));
                };
                lanes.push(Lane {
                    rx: rxq,
                    tx: txq,
                    engine: make(pair),
                    counters,
                });
            }
            let Some(counters) = stats.lcore(plan.lcore) else {
                return Err(AppError::Internal(format!(
                    "lcore {} has no counters",
                    plan.lcore
                )));
            };
            let work = LcoreWork { lanes, counters };
            if plan.lcore == main {
                main_work = Some(work);
            } else {
                workers.push((plan.lcore, work));
            }
        }
        for (lcore, _) in &workers {
            println!("entering main loop on lcore {lcore}");
        }

        let cfg = PollConfig {
            burst: self.opts.burst,
            record_cycles: self.opts.record_core_cycles,
            idle_yield: self.opts.idle_yield,
        };
        let stop = self.stop;
        let hz = self.eal.tsc_hz();
        let pause = Pause::default();
        let mut monitor = Monitor::new(
            self.ports,
            self.pool,
            self.live,
            printer,
            self.opts.stats_period_secs,
            hz,
        );
        monitor.watch_client_vdevs(
            self.virtio_users,
            stop,
            &pause,
            Duration::from_secs(self.opts.reconnect_timeout_secs),
        );
        monitor.publish_gauges();
        self.live.set_forwarding(true);
        let worker = |mut w: LcoreWork<'_, '_, E>| poll(&mut w, cfg, stop, Duty::Worker(&pause));
        self.eal
            .launch_pausable(workers, &worker, stop, &pause, || {
                let mut tick = || monitor.tick(rdtsc());
                match main_work {
                    Some(mut w) => {
                        println!("entering main loop on lcore {main}");
                        poll(&mut w, cfg, stop, Duty::Main(&mut tick));
                    }
                    // The main lcore forwards nothing: it only reports.
                    None => {
                        while !stop.load(Relaxed) {
                            tick();
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }
                }
            })?;
        if let Some((port, path, why)) = monitor.switch_gone.take() {
            return Err(AppError::SwitchGone { port, path, why });
        }
        let why = if console::stdout_closed() {
            "Stdout closed"
        } else {
            "Signal received"
        };
        println!("\n\n{why}, preparing to exit...");
        Ok(())
    }
}

/// Removes and returns the first of `queues` that is `wanted`.
fn take<Q>(queues: &mut Vec<Q>, wanted: impl Fn(&Q) -> bool) -> Option<Q> {
    let i = queues.iter().position(wanted)?;
    Some(queues.swap_remove(i))
}

/// `items` as "a, b, c".
fn list(items: &[u16]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn mac_of(ports: &[Port<'_>], id: u16) -> [u8; 6] {
    ports
        .iter()
        .find(|p| p.id() == id)
        .map_or([0; 6], Port::mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcore(lcore: u32, lanes: &[(u16, u16, u16, u16)]) -> LcorePlan {
        LcorePlan {
            lcore,
            lanes: lanes
                .iter()
                .map(|&(rx, tx, rx_queue, tx_queue)| LanePlan {
                    pair: PortPair { rx, tx },
                    rx_queue,
                    tx_queue,
                })
                .collect(),
        }
    }

    #[test]
    fn lane_lines_as_l2fwd_prints_them() {
        let plan = [lcore(1, &[(0, 1, 0, 0)]), lcore(2, &[(1, 0, 0, 0)])];
        assert_eq!(
            lane_lines(&plan, false),
            [
                "Lcore 1: RX port 0 TX port 1",
                "Lcore 2: RX port 1 TX port 0"
            ]
        );
        let plan = [lcore(0, &[(0, 1, 1, 0)])];
        assert_eq!(
            lane_lines(&plan, true),
            ["Lcore 0: RX port 0 TX port 1 (rx queue 1, tx queue 0)"]
        );
    }

    #[test]
    fn mbuf_count_covers_rings_bursts_and_caches() {
        let opts = match cli::parse("vnf-fwd", &["-p".into(), "3".into()]) {
            Ok(Command::Run(opts)) => opts,
            other => panic!("{other:?}"),
        };
        // l2fwd's defaults: 8192 at least.
        assert_eq!(mbuf_count(&opts, 2, 1), 8192);
        let big = Options {
            rxd: 4096,
            txd: 4096,
            rx_queues: 2,
            tx_queues: 2,
            ..opts
        };
        let per_port = 2 * 4096 + 2 * 4096 + 2 * 64;
        assert_eq!(mbuf_count(&big, 2, 2), 2 * (per_port + 2 * 256));
    }
}

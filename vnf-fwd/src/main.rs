//! `vnf-fwd [EAL options] -- -p PORTMASK [-P] [-q NQ] [-T PERIOD] [--no-mac-updating]
//! [--portmap CONFIG] [--mode l2fwd|macswap|io|5tswap] [--burst N] [--rxd N] [--txd N]
//! [--record-core-cycles] [--stats-format text|json] [--metrics-addr ADDR:PORT] [--rxq N] [--txq N]`

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vnf_fwd::cli::{self, Command, LanePlan, LcorePlan, Mode, Options, PortPair, StatsFormat};
use vnf_fwd::dpdk::{
    self, console, rdtsc, register_telemetry_command, signal, Eal, Link, Mempool, Pause, Port,
    PortConfig, RxQueue, TxQueue,
};
use vnf_fwd::eal_args::{self, Prepared, VirtioUser};
use vnf_fwd::engine::{Engine, FiveTupleSwap, Io, L2fwdMac, MacSwap};
use vnf_fwd::fwd::{poll, Duty, Lane, LcoreWork, PollConfig};
use vnf_fwd::log_event;
use vnf_fwd::metrics::{self, JsonLines, Live, MetricsServer};
use vnf_fwd::reattach::{self, Next};
use vnf_fwd::setup::{fmt_mac, wait_for_links};
use vnf_fwd::stats::Stats;

/// Per-lcore mbuf cache, as l2fwd.
const MEMPOOL_CACHE: u32 = 256;
/// l2fwd waits up to 9 s for links to come up before it forwards.
const LINK_WAIT: Duration = Duration::from_secs(9);
/// How often the main lcore polls link state (virtio_user reconnects only when polled).
const LINK_POLL_MS: u64 = 250;
/// How long a re-attach waits for the worker lcores to park: they look every
/// few hundred µs at most, unless one is stuck in a driver.
const PAUSE_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error(transparent)]
    Cli(#[from] cli::Error),
    #[error(transparent)]
    Dpdk(#[from] dpdk::Error),
    #[error(transparent)]
    EalArgs(#[from] eal_args::Error),
    #[error("port {port}: the vhost-user switch closed {path} and {why}; vnf-fwd exits for its supervisor to restart it (ports with server=1 and OVS dpdkvhostuserclient survive switch restarts)")]
    SwitchGone {
        port: u16,
        path: String,
        why: String,
    },
    #[error("internal error in the forwarding plan: {0}")]
    Plan(String),
    #[error("argument {0:?} is not valid UTF-8")]
    NotUtf8(std::ffi::OsString),
    #[error(transparent)]
    Metrics(#[from] metrics::Error),
    #[error("cannot set up the stdout relay: {0}")]
    Stdout(std::io::Error),
    #[error("cannot watch for signals during EAL initialisation: {0}")]
    Signals(std::io::Error),
}

fn main() -> ExitCode {
    let code = match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            console::error(format_args!("vnf-fwd: error: {e}"));
            ExitCode::FAILURE
        }
    };
    // Dies of SIGPIPE instead if stdout's reader went away.
    console::finish(code)
}

fn run() -> Result<(), AppError> {
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
    let listener = opts.metrics_addr.map(metrics::bind).transpose()?;
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
    let prepared = eal_args::ready(&eal_args)?;
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

    let plan = cli::port_pairs(&opts, &eal.ports())?;
    if plan.odd_port.is_some() {
        println!("Notice: odd number of ports in portmask.");
    }
    let lcores = cli::assign_lcores(
        &plan.pairs,
        &eal.lcores(),
        opts.ports_per_lcore,
        opts.rx_queues,
        opts.tx_queues,
    )?;
    let multiqueue = opts.rx_queues > 1 || opts.tx_queues > 1;
    for l in &lcores {
        for lane in &l.lanes {
            let (p, lcore) = (lane.pair, l.lcore);
            if multiqueue {
                println!(
                    "Lcore {lcore}: RX port {} TX port {} (rx queue {}, tx queue {})",
                    p.rx, p.tx, lane.rx_queue, lane.tx_queue
                );
            } else {
                println!("Lcore {lcore}: RX port {} TX port {}", p.rx, p.tx);
            }
        }
    }
    let stats = Stats::new(&lcores);

    // Every queue's ring full, plus a burst in flight per lane and each lcore's cache.
    let nb_ports = stats.ports.len() as u32;
    let per_port = u32::from(opts.rx_queues) * u32::from(opts.rxd)
        + u32::from(opts.tx_queues) * u32::from(opts.txd)
        + u32::from(opts.rx_queues) * opts.burst as u32;
    let nb_mbufs = (nb_ports * (per_port + lcores.len() as u32 * MEMPOOL_CACHE)).max(8192);
    let pool = Mempool::new(&eal, "mbuf_pool", nb_mbufs, MEMPOOL_CACHE, -1)?;

    let cfg = PortConfig {
        rxd: opts.rxd,
        txd: opts.txd,
        rx_queues: opts.rx_queues,
        tx_queues: opts.tx_queues,
    };
    let mut without_rss = Vec::new();
    let mut ports = Vec::with_capacity(stats.ports.len());
    let mut leave_open = false;
    for &id in &stats.ports {
        print!("Initializing port {id}... ");
        let _ = std::io::stdout().flush();
        let mut port = Port::configure(id, &pool, cfg)?;
        port.start()?;
        let name = port.name();
        if prepared
            .virtio_users
            .iter()
            .any(|v| v.server && v.name == name)
        {
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

/// What a SIGINT or SIGTERM during EAL initialisation does before the
/// process exits: remove the sockets of `server=1` vdevs and the EAL's
/// runtime directory (hugepage files are already unlinked: see
/// `eal_args::prepare`), and say so in one line.
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

/// Where the periodic statistics go.
enum Printer {
    /// l2fwd's block on stdout, after clearing the screen on a terminal.
    Text { clear_screen: bool },
    /// JSON lines on the original stdout.
    Json(JsonLines),
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
                    return Err(AppError::Plan(format!(
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
                return Err(AppError::Plan(format!(
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

/// A port that is a virtio_user client of a vhost-user switch, which DPDK
/// 22.11 does not reconnect: vnf-fwd re-attaches it.
struct Client {
    /// The vhost-user socket.
    path: String,
    /// The vdev's devargs, to probe it again with.
    devargs: String,
    /// Since when its switch has been gone, while it is.
    gone_since: Option<Instant>,
}

/// The main lcore's periodic duties: the statistics printout, link polling,
/// re-attaching client ports whose switch came back, and the gauges the
/// metrics readers see.
struct Monitor<'a, 'p> {
    ports: &'a [Port<'p>],
    pool: &'p Mempool<'p>,
    live: &'a Live,
    printer: &'a mut Printer,
    links: Vec<Option<Link>>,
    stats_every: u64,
    links_every: u64,
    next_stats: u64,
    next_links: u64,
    /// The client-mode virtio_user ports, by position in `ports`.
    clients: Vec<Option<Client>>,
    stop: Option<&'a AtomicBool>,
    pause: Option<&'a Pause>,
    /// `--reconnect-timeout`.
    reconnect_timeout: Duration,
    /// Set when a client port's switch did not come back: (port, socket
    /// path, why).
    switch_gone: Option<(u16, String, String)>,
}

impl<'a, 'p> Monitor<'a, 'p> {
    fn new(
        ports: &'a [Port<'p>],
        pool: &'p Mempool<'p>,
        live: &'a Live,
        printer: &'a mut Printer,
        period_secs: u64,
        hz: u64,
    ) -> Self {
        let now = rdtsc();
        let stats_every = period_secs.saturating_mul(hz);
        Monitor {
            ports,
            pool,
            live,
            printer,
            links: ports.iter().map(Port::link).collect(),
            stats_every,
            links_every: hz / 1000 * LINK_POLL_MS,
            next_stats: now.saturating_add(stats_every),
            next_links: now,
            clients: ports.iter().map(|_| None).collect(),
            stop: None,
            pause: None,
            reconnect_timeout: Duration::ZERO,
            switch_gone: None,
        }
    }

    /// Watches the client-mode virtio_user ports among `vdevs`: when one
    /// loses its switch, waits up to `timeout` for the socket to accept again
    /// and re-attaches the port with the workers held in `pause`; otherwise
    /// sets `stop` and records the port in `switch_gone`.
    fn watch_client_vdevs(
        &mut self,
        vdevs: &[VirtioUser],
        stop: &'a AtomicBool,
        pause: &'a Pause,
        timeout: Duration,
    ) {
        for (port, slot) in self.ports.iter().zip(self.clients.iter_mut()) {
            let name = port.name();
            *slot = vdevs
                .iter()
                .find(|v| !v.server && v.name == name)
                .and_then(|v| {
                    Some(Client {
                        path: v.path.as_ref()?.display().to_string(),
                        devargs: v.args.clone(),
                        gone_since: None,
                    })
                });
        }
        self.stop = Some(stop);
        self.pause = Some(pause);
        self.reconnect_timeout = timeout;
    }

    /// Publishes the link states and the pool's in-use count for the readers.
    fn publish_gauges(&self) {
        self.live.set_links(&self.links);
        self.live.set_mempool_in_use(self.pool.in_use());
    }

    fn tick(&mut self, now: u64) {
        if self.stats_every > 0 && now >= self.next_stats {
            self.live.set_mempool_in_use(self.pool.in_use());
            match self.printer {
                Printer::Text { clear_screen } => {
                    print!("{}", self.live.stats.render_l2fwd(*clear_screen));
                    let _ = std::io::stdout().flush();
                }
                Printer::Json(lines) => lines.emit(self.live, false),
            }
            self.next_stats = now + self.stats_every;
        }
        if now >= self.next_links {
            for i in 0..self.ports.len() {
                self.poll_link(i);
            }
            self.publish_gauges();
            self.next_links = rdtsc() + self.links_every;
        }
    }

    /// Reads port `i`'s link and acts on a change; for a client port whose
    /// switch is gone, decides whether to wait, re-attach or give up instead.
    fn poll_link(&mut self, i: usize) {
        let port = &self.ports[i];
        let id = port.id();
        if let Some(since) = self.clients[i].as_ref().and_then(|c| c.gone_since) {
            // Its link is not read meanwhile: each read of a dead virtio_user
            // port arms a driver alarm that a removal must not race.
            let path = self.clients[i].as_ref().map_or("", |c| c.path.as_str());
            let accepts = reattach::accepts(std::path::Path::new(path));
            match reattach::next(since.elapsed(), self.reconnect_timeout, accepts) {
                Next::Wait => {}
                Next::GiveUp => self.give_up(i),
                Next::Reattach => self.reattach(i),
            }
            return;
        }
        let link = port.link();
        let last = self.links[i];
        if link == last {
            return;
        }
        match link {
            Some(l) => log_event!("Port {id} {l}"),
            None => log_event!("Port {id} link state unknown"),
        }
        self.links[i] = link;
        let lost = reattach::lost(last.is_some_and(|l| l.up), link.is_some_and(|l| l.up));
        let Some(client) = self.clients[i].as_mut().filter(|_| lost) else {
            return;
        };
        if self.reconnect_timeout.is_zero() {
            log_event!(
                "Port {id}: vhost-user switch gone from {}; stopping",
                client.path
            );
            self.give_up(i);
            return;
        }
        log_event!(
            "Port {id}: vhost-user switch gone from {}; waiting up to {} s for it to come back",
            client.path,
            self.reconnect_timeout.as_secs()
        );
        client.gone_since = Some(Instant::now());
    }

    /// Ends the run: client port `i`'s switch is not coming back.
    fn give_up(&mut self, i: usize) {
        let Some(client) = &self.clients[i] else {
            return;
        };
        let why = if self.reconnect_timeout.is_zero() {
            "re-attaching is off (--reconnect-timeout 0)".to_string()
        } else {
            format!(
                "did not come back within {} s (--reconnect-timeout)",
                self.reconnect_timeout.as_secs()
            )
        };
        if !self.reconnect_timeout.is_zero() {
            log_event!(
                "Port {}: vhost-user switch {why}; stopping",
                self.ports[i].id()
            );
        }
        self.switch_gone
            .get_or_insert((self.ports[i].id(), client.path.clone(), why));
        if let Some(stop) = self.stop {
            stop.store(true, Relaxed);
        }
    }

    /// Re-attaches client port `i` with the workers parked, retrying while
    /// its socket refuses until the timeout; each step logged with its time.
    fn reattach(&mut self, i: usize) {
        let (Some(stop), Some(pause), Some(client)) = (self.stop, self.pause, &self.clients[i])
        else {
            return;
        };
        let port = &self.ports[i];
        let id = port.id();
        let Some(since) = client.gone_since else {
            return;
        };
        log_event!(
            "Port {id}: vhost-user switch back at {}; re-attaching",
            client.path
        );
        let t0 = Instant::now();
        let Some(paused) = pause.hold(stop, PAUSE_TIMEOUT) else {
            if !stop.load(Relaxed) {
                log_event!("Port {id}: re-attach: lcores did not pause within {PAUSE_TIMEOUT:?}; trying again");
            }
            return;
        };
        log_event!(
            "Port {id}: re-attach: lcores paused ({} ms)",
            reattach::millis(t0.elapsed())
        );
        loop {
            let result = port.reattach(&paused, self.pool, &client.devargs, |step, took| {
                log_event!(
                    "Port {id}: re-attach: {} ({} ms)",
                    step.name(),
                    reattach::millis(took)
                );
            });
            let Err(e) = result else { break };
            log_event!("Port {id}: re-attach failed: {e}");
            // The port is stopped or gone: the workers stay parked (and the
            // main lcore here) until it is back or the run ends.
            loop {
                if stop.load(Relaxed) {
                    return;
                }
                if since.elapsed() >= self.reconnect_timeout {
                    // Stop first: resumed workers must not poll the port.
                    self.give_up(i);
                    drop(paused);
                    return;
                }
                std::thread::sleep(Duration::from_millis(LINK_POLL_MS));
                if reattach::accepts(std::path::Path::new(&client.path)) {
                    break;
                }
            }
        }
        drop(paused);
        log_event!(
            "Port {id}: re-attached; lcores resumed ({} ms in all, {} ms after the switch went)",
            reattach::millis(t0.elapsed()),
            reattach::millis(since.elapsed())
        );
        if let Some(c) = self.clients[i].as_mut() {
            c.gone_since = None;
        }
    }
}

fn mac_of(ports: &[Port<'_>], id: u16) -> [u8; 6] {
    ports
        .iter()
        .find(|p| p.id() == id)
        .map_or([0; 6], Port::mac)
}

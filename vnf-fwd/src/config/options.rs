//! The command line: l2fwd's application options (`-p PORTMASK [-P] [-q NQ]
//! [-T PERIOD] [--no-mac-updating] [--portmap CONFIG]`) plus the forwarding
//! mode, ring sizes, queue counts and the outputs. What the ports and lcores
//! make of them is [`crate::plan`]'s.
//!
//! Everything here is plain data and pure functions; DPDK is not consulted.
//!
//! The reference is DPDK 22.11's `examples/l2fwd/main.c`. Every well-formed
//! command line l2fwd accepts is accepted here, with the same meaning. Inputs
//! l2fwd silently misreads are refused with a message instead: a third field,
//! trailing garbage, or text other than spaces and commas between `--portmap`
//! groups, a `--portmap` without any group, a portmask wider than 32 bits
//! (l2fwd truncates it), and stray positional words (l2fwd ignores them).
//! `-T 86400` is accepted, as l2fwd's usage text promises (its parser stops
//! at 86399).

use crate::dpdk::MAX_BURST;
use clap::{CommandFactory, FromArgMatches, Parser};
use std::error::Error as _;
use std::net::{Ipv4Addr, SocketAddr};

/// Port ids run below DPDK's `RTE_MAX_ETHPORTS` (32 in Debian's DPDK), all of
/// which the 32-bit portmask can name.
pub const MAX_PORTS: usize = ffi::RTE_MAX_ETHPORTS as usize;
const _: () = assert!(MAX_PORTS <= 32, "the portmask is 32 bits wide");
/// l2fwd keeps at most `RTE_MAX_ETHPORTS / 2` `--portmap` pairs.
const MAX_PORTMAP_PAIRS: usize = MAX_PORTS / 2;

/// `-q`: l2fwd rejects 0 and anything from `MAX_RX_QUEUE_PER_LCORE` (16) up.
const QUEUES: Bounds = Bounds {
    option: "-q",
    what: "ports polled per lcore",
    min: 1,
    max: 15,
};
/// `-T`: l2fwd's `MAX_TIMER_PERIOD` is one day.
const PERIOD: Bounds = Bounds {
    option: "-T",
    what: "statistics period in seconds, 0 disables",
    min: 0,
    max: 86_400,
};
/// `--reconnect-timeout`: a day at most, as `-T`.
const RECONNECT_TIMEOUT: Bounds = Bounds {
    option: "--reconnect-timeout",
    what: "seconds to wait for a vhost-user switch to come back, 0 exits at once",
    min: 0,
    max: 86_400,
};
/// The default `--reconnect-timeout`: a switch restart or upgrade takes
/// seconds; a minute covers a slow one, and a switch gone for good still
/// ends the process soon enough for its supervisor to act.
pub const DEFAULT_RECONNECT_TIMEOUT_SECS: u64 = 60;
/// `--burst`: up to the safe layer's [`MAX_BURST`] (testpmd's `MAX_PKT_BURST`, 512).
const BURST: Bounds = Bounds {
    option: "--burst",
    what: "packets per rx/tx burst",
    min: 1,
    max: MAX_BURST as u64,
};
/// `--rxd`: 32768 is virtio's largest ring; drivers with lower limits
/// adjust or refuse the size at port setup.
const RXD: Bounds = Bounds {
    option: "--rxd",
    what: "RX descriptors per port",
    min: 1,
    max: 32_768,
};
/// `--txd`: same limit as `--rxd`.
const TXD: Bounds = Bounds {
    option: "--txd",
    what: "TX descriptors per port",
    min: 1,
    max: 32_768,
};

/// `--rxq`: testpmd's limit, `RTE_MAX_QUEUES_PER_PORT` (1024 in Debian's
/// DPDK); each device's own, usually lower, maximum is checked at port setup.
const RXQ: Bounds = Bounds {
    option: "--rxq",
    what: "RX queues per port",
    min: 1,
    max: 1024,
};
/// `--txq`: same limit as `--rxq`.
const TXQ: Bounds = Bounds {
    option: "--txq",
    what: "TX queues per port",
    min: 1,
    max: 1024,
};

/// Whitespace as C's `isspace` sees it: `strtoul` skips it before a number.
const C_SPACE: &[char] = &[' ', '\t', '\n', '\x0b', '\x0c', '\r'];

/// Everything that can be wrong with the command line. Each message is one
/// line naming the bad value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// clap rejected the command line (unknown flag, missing `-p`, missing
    /// value, unknown `--mode`); the text is clap's message without its
    /// `error: ` prefix, usage and tips, but with any spelling suggestion.
    #[error("{0}")]
    Usage(String),
    /// A bare word among the options; l2fwd ignores these, which hides typos.
    #[error("unexpected argument '{}': the application options take no positional arguments", .0.escape_debug())]
    Positional(String),
    /// `-p` is not a non-zero hexadecimal number.
    #[error("invalid portmask '{}': expected a non-zero hexadecimal bitmask such as 0x3", .0.escape_debug())]
    Portmask(String),
    /// `-p` sets bits above 31, which no port id can have.
    #[error("invalid portmask '{}': port ids stop at 31, so the mask must fit in 32 bits (at most 0xffffffff)", .0.escape_debug())]
    PortmaskTooWide(String),
    /// A numeric option is not a decimal integer within its range.
    #[error("invalid {option} value '{}': expected an integer from {min} to {max} ({what})", .value.escape_debug())]
    Number {
        /// The option, as spelled on the command line (`-q`, `--burst`, ...).
        option: &'static str,
        /// The text given.
        value: String,
        /// What the number means.
        what: &'static str,
        /// Smallest accepted value.
        min: u64,
        /// Largest accepted value.
        max: u64,
    },
    /// `--portmap` is not a list of `(a,b)` groups of valid port ids.
    #[error("invalid --portmap '{}': {reason}", .value.escape_debug())]
    Portmap {
        /// The whole `--portmap` text.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `--metrics-addr` is neither `ADDR:PORT` nor a bare port.
    #[error("invalid --metrics-addr '{}': expected ADDR:PORT such as 127.0.0.1:9100, [::1]:9100, or a port (listens on 127.0.0.1)", .0.escape_debug())]
    MetricsAddr(String),
}

/// How the statistics are printed (`--stats-format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StatsFormat {
    /// l2fwd's statistics block.
    Text,
    /// One JSON object per line on stdout; every other line goes to stderr.
    Json,
}

/// Forwarding mode (`--mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Send to the paired port, rewriting the MACs unless --no-mac-updating (DPDK l2fwd).
    L2fwd,
    /// Swap the source and destination MAC (testpmd macswap).
    Macswap,
    /// Send frames unchanged (testpmd io).
    Io,
    /// Swap MACs, IP addresses and L4 ports (testpmd 5tswap).
    #[value(name = "5tswap")]
    FiveTupleSwap,
}

/// The application options (right of `--`), parsed and range-checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// `-p PORTMASK`: the ports to use, bit N for port N.
    pub portmask: u32,
    /// `-P`: put the ports in promiscuous mode.
    pub promiscuous: bool,
    /// `-q NQ`: rx queues (l2fwd: ports) polled by each lcore, 1 to 15.
    pub ports_per_lcore: usize,
    /// `--rxq`: rx queues per port (RSS spreads frames over them).
    pub rx_queues: u16,
    /// `--txq`: tx queues per port; each lane sending to a port has its own.
    pub tx_queues: u16,
    /// `-T PERIOD`: seconds between statistics printouts, 0 = never.
    pub stats_period_secs: u64,
    /// MAC rewriting in l2fwd mode; `--no-mac-updating` turns it off.
    pub mac_updating: bool,
    /// `--portmap`: explicit `(a,b)` port pairs instead of consecutive pairing.
    pub portmap: Option<Vec<(u16, u16)>>,
    /// `--mode`: what happens to each frame.
    pub mode: Mode,
    /// `--burst`: packets per rx/tx burst, 1 to 512. The default is 64, not
    /// testpmd's and l2fwd's 32: per-burst costs (the driver calls, the
    /// mempool's per-lcore cache lookups) are then shared by twice the frames,
    /// +7 % on net_null; a burst never waits to fill, so latency is unchanged.
    pub burst: usize,
    /// `--rxd`: RX ring size per port.
    pub rxd: u16,
    /// `--txd`: TX ring size per port.
    pub txd: u16,
    /// `--record-core-cycles` (testpmd's option): count each lcore's busy TSC
    /// cycles, for cycles per packet. Off by default: it costs a TSC read per loop.
    pub record_core_cycles: bool,
    /// `--idle-yield`: once every rx queue of an lcore comes back empty, yield
    /// the CPU each loop, for lcores that share a CPU with other busy processes.
    pub idle_yield: bool,
    /// `--stats-format`: l2fwd's text block or JSON lines.
    pub stats_format: StatsFormat,
    /// `--metrics-addr`: where to serve Prometheus metrics and the health check.
    pub metrics_addr: Option<SocketAddr>,
    /// `--reconnect-timeout`: how long a client-mode virtio_user port whose
    /// vhost-user switch went away waits for it to come back and re-attaches
    /// then; 0 = exit 1 at once.
    pub reconnect_timeout_secs: u64,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Forward with these options.
    Run(Options),
    /// `--help` or `--version`: text to print on stdout, exit 0.
    Print(String),
}

/// `--portmap`'s value. An alias, not `Vec` spelled out, because clap's derive
/// would read a literal `Vec` field as "many values" rather than one list.
type PairList = Vec<(u16, u16)>;

/// The clap view of the application options; [`parse`] turns it into [`Options`].
#[derive(Parser, Debug)]
#[command(
    version,
    about = "DPDK packet forwarder: l2fwd's options plus testpmd's forwarding modes.\n\
             EAL options go before `--`, the options below after it.",
    // getopt_long takes unambiguous prefixes of long options (`--no-mac`).
    infer_long_args = true,
    // getopt lets a repeated option override the earlier one.
    args_override_self = true
)]
struct AppArgs {
    /// Hexadecimal bitmask of ports to configure, e.g. 0x3 for ports 0 and 1.
    // Hyphenated values are taken as values, as getopt does, so `-p -1` reports
    // a bad portmask rather than a puzzling unknown flag. Same for the others.
    #[arg(short = 'p', value_name = "PORTMASK", value_parser = portmask, allow_hyphen_values = true)]
    portmask: u32,

    /// Enable promiscuous mode.
    #[arg(short = 'P')]
    promiscuous: bool,

    /// Number of rx queues (ports x --rxq) per lcore, 1 to 15.
    #[arg(short = 'q', value_name = "NQ", default_value_t = 1, value_parser = queues, allow_hyphen_values = true)]
    ports_per_lcore: usize,

    /// Statistics are refreshed each PERIOD seconds (0 to disable, 86400 maximum).
    #[arg(short = 'T', value_name = "PERIOD", default_value_t = 10, value_parser = period, allow_hyphen_values = true)]
    stats_period_secs: u64,

    /// Disable MAC address updating (l2fwd mode rewrites the source MAC to the
    /// TX port's and the destination to 02:00:00:00:00:TX_PORT_ID by default).
    #[arg(long = "no-mac-updating")]
    no_mac_updating: bool,

    /// Forwarding port pairs such as "(0,3)(1,2)" (default: consecutive ports pair up).
    #[arg(long, value_name = "CONFIG", value_parser = portmap, allow_hyphen_values = true)]
    portmap: Option<PairList>,

    /// Forwarding mode.
    #[arg(long, value_enum, default_value_t = Mode::L2fwd, allow_hyphen_values = true)]
    mode: Mode,

    /// Packets per rx/tx burst, 1 to 512.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = burst, allow_hyphen_values = true)]
    burst: usize,

    /// RX ring descriptors per port, 1 to 32768.
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = rxd, allow_hyphen_values = true)]
    rxd: u16,

    /// TX ring descriptors per port, 1 to 32768.
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = txd, allow_hyphen_values = true)]
    txd: u16,

    /// Count busy TSC cycles per lcore and report cycles per packet at exit.
    #[arg(long = "record-core-cycles")]
    record_core_cycles: bool,

    /// When idle, yield the CPU to other processes sharing it (sched_yield).
    #[arg(long = "idle-yield")]
    idle_yield: bool,
    /// Statistics as l2fwd's text block, or as JSON lines on stdout (log lines go to stderr).
    #[arg(long = "stats-format", value_name = "FORMAT", value_enum, default_value_t = StatsFormat::Text, allow_hyphen_values = true)]
    stats_format: StatsFormat,

    /// Serve Prometheus metrics (GET /metrics) and GET /healthz on ADDR:PORT
    /// (a bare PORT listens on 127.0.0.1).
    #[arg(long = "metrics-addr", value_name = "ADDR:PORT", value_parser = metrics_addr, allow_hyphen_values = true)]
    metrics_addr: Option<SocketAddr>,

    /// RX queues per port, 1 to 1024; more than one turns on RSS where the device offers it.
    #[arg(long = "rxq", value_name = "N", default_value_t = 1, value_parser = rxq, allow_hyphen_values = true)]
    rx_queues: u16,

    /// TX queues per port, 1 to 1024; each rx queue sending to a port needs one.
    #[arg(long = "txq", value_name = "N", default_value_t = 1, value_parser = txq, allow_hyphen_values = true)]
    tx_queues: u16,

    /// Seconds a virtio_user port in client mode (OVS dpdkvhostuser) waits for
    /// its vhost-user switch to come back after it went away; once the socket
    /// accepts again, the port is re-attached in place (the lcores pause for
    /// milliseconds) and forwarding resumes. After SECS without the switch,
    /// vnf-fwd prints its final statistics and exits 1. 0: exit at once.
    #[arg(long = "reconnect-timeout", value_name = "SECS", default_value_t = DEFAULT_RECONNECT_TIMEOUT_SECS, value_parser = reconnect_timeout, allow_hyphen_values = true)]
    reconnect_timeout_secs: u64,

    /// Catches stray words so they are reported rather than ignored.
    #[arg(hide = true)]
    positional: Vec<String>,
}

/// Splits argv at the first `--`: (EAL args including argv\[0\], app args after `--`).
/// With no `--`, all args are EAL args and the app args are empty.
pub fn split_args(argv: &[String]) -> (Vec<String>, Vec<String>) {
    // argv[0] is the program name, never the separator.
    match argv.iter().skip(1).position(|a| a == "--") {
        Some(i) => (argv[..=i].to_vec(), argv[i + 2..].to_vec()),
        None => (argv.to_vec(), Vec::new()),
    }
}

/// Parses the app options (the part after `--`, without the `--`); `prog` is for usage text.
///
/// # Errors
///
/// [`Error::Usage`] for what clap refuses (unknown flag, missing `-p` or value,
/// unknown `--mode`), [`Error::Positional`] for a bare word, and the value
/// variants ([`Error::Portmask`], [`Error::Number`], [`Error::Portmap`], ...)
/// for a value out of shape or range.
pub fn parse(prog: &str, app_args: &[String]) -> Result<Command, Error> {
    let usage = format!(
        "{prog} [EAL options] -- -p PORTMASK [-P] [-q NQ] [-T PERIOD] [--no-mac-updating] \
         [--portmap CONFIG] [--mode MODE] [--burst N] [--rxd N] [--txd N] [--record-core-cycles] \
         [--idle-yield] [--stats-format text|json] [--metrics-addr ADDR:PORT] \
         [--rxq N] [--txq N] [--reconnect-timeout SECS]"
    );
    let argv = std::iter::once(prog).chain(app_args.iter().map(String::as_str));
    let args = match AppArgs::command()
        .override_usage(usage)
        .try_get_matches_from(argv)
        .and_then(|matches| AppArgs::from_arg_matches(&matches))
    {
        Ok(args) => args,
        Err(err) => return from_clap(&err),
    };
    if let Some(word) = args.positional.into_iter().next() {
        return Err(Error::Positional(word));
    }
    Ok(Command::Run(Options {
        portmask: args.portmask,
        promiscuous: args.promiscuous,
        ports_per_lcore: args.ports_per_lcore,
        rx_queues: args.rx_queues,
        tx_queues: args.tx_queues,
        stats_period_secs: args.stats_period_secs,
        mac_updating: !args.no_mac_updating,
        portmap: args.portmap,
        mode: args.mode,
        burst: args.burst,
        rxd: args.rxd,
        txd: args.txd,
        record_core_cycles: args.record_core_cycles,
        idle_yield: args.idle_yield,
        stats_format: args.stats_format,
        metrics_addr: args.metrics_addr,
        reconnect_timeout_secs: args.reconnect_timeout_secs,
    }))
}

/// Turns clap's early exit into help text, our own value error, or a one-line usage error.
fn from_clap(err: &clap::Error) -> Result<Command, Error> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        return Ok(Command::Print(err.render().to_string()));
    }
    // Our value parsers' errors travel inside clap's as the source: hand them
    // back as they are, so callers see the typed variant.
    if let Some(ours) = err.source().and_then(|e| e.downcast_ref::<Error>()) {
        return Err(ours.clone());
    }
    let rendered = err.render().to_string();
    let text = rendered.strip_prefix("error: ").unwrap_or(&rendered);
    // The first paragraph states the problem; it spans lines when clap lists
    // the missing arguments or possible values, so join them. Later paragraphs
    // are tips, usage and "try --help".
    let problem = text.split("\n\n").next().unwrap_or_default();
    let mut line = problem
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    // Of the tips, keep only the spelling suggestion; the others talk about
    // passing flags as positional values, which this parser refuses anyway.
    if let Some(ContextValue::String(similar)) = err.get(ContextKind::SuggestedArg) {
        line.push_str(&format!("; did you mean '{similar}'?"));
    }
    Err(Error::Usage(line))
}

/// Which digits C's `strtoul` reads for a given `base` argument.
#[derive(Clone, Copy)]
enum Radix {
    /// Base 16: hex digits after an optional `0x`/`0X`.
    Hex,
    /// Base 10.
    Decimal,
    /// Base 0: `0x` hex, leading-`0` octal, else decimal.
    Auto,
}

/// Reads `text` as C's `strtoul` would (leading whitespace and `+` allowed,
/// overflow saturating), but only if the number is the whole text: l2fwd
/// checks that for `-p`, `-q` and `-T`, and without it typos pass unnoticed.
fn parse_c_ulong(text: &str, radix: Radix) -> Option<u64> {
    let s = text.trim_start_matches(C_SPACE);
    let s = s.strip_prefix('+').unwrap_or(s);
    let after_0x = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"));
    let (digits, base) = match (radix, after_0x) {
        (Radix::Hex | Radix::Auto, Some(hex)) => (hex, 16),
        (Radix::Hex, None) => (s, 16),
        (Radix::Auto, None) if s.len() > 1 && s.starts_with('0') => (&s[1..], 8),
        (Radix::Auto | Radix::Decimal, _) => (s, 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(base)) {
        return None;
    }
    // The digits are valid, so only overflow can fail; strtoul returns ULONG_MAX
    // then, which every range check below rejects.
    Some(u64::from_str_radix(digits, base).unwrap_or(u64::MAX))
}

/// The accepted range of a numeric option and the words to explain it.
struct Bounds {
    /// The option's spelling.
    option: &'static str,
    /// What the number means.
    what: &'static str,
    /// Smallest accepted value.
    min: u64,
    /// Largest accepted value.
    max: u64,
}

impl Bounds {
    /// Parses a decimal value of this option, checking the range.
    fn parse<T: TryFrom<u64>>(&self, text: &str) -> Result<T, Error> {
        parse_c_ulong(text, Radix::Decimal)
            .filter(|n| (self.min..=self.max).contains(n))
            .and_then(|n| T::try_from(n).ok())
            .ok_or_else(|| self.error(text))
    }

    /// The error for a bad `text`.
    fn error(&self, text: &str) -> Error {
        Error::Number {
            option: self.option,
            value: text.to_owned(),
            what: self.what,
            min: self.min,
            max: self.max,
        }
    }
}

/// `-p`: `strtoul(text, 16)`, whole text, non-zero, within 32 bits; the
/// portmask of vnf-fwd and vnf-gen alike.
///
/// # Errors
///
/// [`Error::Portmask`] and [`Error::PortmaskTooWide`].
pub fn portmask(text: &str) -> Result<u32, Error> {
    let mask = parse_c_ulong(text, Radix::Hex)
        .filter(|&m| m != 0)
        .ok_or_else(|| Error::Portmask(text.to_owned()))?;
    u32::try_from(mask).map_err(|_| Error::PortmaskTooWide(text.to_owned()))
}

/// `-q`.
fn queues(text: &str) -> Result<usize, Error> {
    QUEUES.parse(text)
}

/// `-T`.
fn period(text: &str) -> Result<u64, Error> {
    PERIOD.parse(text)
}

/// `--reconnect-timeout`.
fn reconnect_timeout(text: &str) -> Result<u64, Error> {
    RECONNECT_TIMEOUT.parse(text)
}

/// `--burst`.
fn burst(text: &str) -> Result<usize, Error> {
    BURST.parse(text)
}

/// `--rxd`.
fn rxd(text: &str) -> Result<u16, Error> {
    RXD.parse(text)
}

/// `--txd`.
fn txd(text: &str) -> Result<u16, Error> {
    TXD.parse(text)
}

/// `--rxq`.
fn rxq(text: &str) -> Result<u16, Error> {
    RXQ.parse(text)
}

/// `--txq`.
fn txq(text: &str) -> Result<u16, Error> {
    TXQ.parse(text)
}

/// `--metrics-addr`: `ADDR:PORT` (`[V6]:PORT` for IPv6), or a bare port on
/// the loopback address, so metrics are not exposed unless asked for.
fn metrics_addr(text: &str) -> Result<SocketAddr, Error> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    }
    text.parse()
        .map_err(|_| Error::MetricsAddr(text.to_owned()))
}

/// `--portmap`: one or more `(a,b)` groups, optionally separated by spaces or
/// commas; each number as C's `strtoul(.., 0)` reads it and below 32.
fn portmap(text: &str) -> Result<PairList, Error> {
    let fail = |reason: String| Error::Portmap {
        value: text.to_owned(),
        reason,
    };
    let mut pairs = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches(|c: char| c == ',' || C_SPACE.contains(&c));
        if rest.is_empty() {
            break;
        }
        let Some(open) = rest.strip_prefix('(') else {
            return Err(fail(format!(
                "unexpected '{}' where a '(a,b)' group should start",
                rest.escape_debug()
            )));
        };
        let Some(close) = open.find(')') else {
            return Err(fail(format!(
                "group '({}' has no closing ')'",
                open.escape_debug()
            )));
        };
        let group = &open[..close];
        let fields: Vec<&str> = group.split(',').map(|f| f.trim_matches(C_SPACE)).collect();
        let [a, b] = fields[..] else {
            return Err(fail(format!(
                "group '({})' must name exactly two ports, like (0,1)",
                group.escape_debug()
            )));
        };
        if pairs.len() == MAX_PORTMAP_PAIRS {
            return Err(fail(format!("more than {MAX_PORTMAP_PAIRS} port pairs")));
        }
        pairs.push((port_id(a).map_err(&fail)?, port_id(b).map_err(&fail)?));
        rest = &open[close + 1..];
    }
    if pairs.is_empty() {
        return Err(fail("no '(a,b)' port pair given".to_owned()));
    }
    Ok(pairs)
}

/// One `--portmap` number, or why it is not a port id.
fn port_id(text: &str) -> Result<u16, String> {
    let n = parse_c_ulong(text, Radix::Auto)
        .ok_or_else(|| format!("'{}' is not a port number", text.escape_debug()))?;
    u16::try_from(n)
        .ok()
        .filter(|&p| usize::from(p) < MAX_PORTS)
        .ok_or_else(|| {
            format!(
                "port '{}' is out of range: port ids are 0 to {}",
                text.escape_debug(),
                MAX_PORTS - 1
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Owned strings from literals.
    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| (*s).to_owned()).collect()
    }

    /// Parses app args that must yield options to run with.
    fn run(args: &[&str]) -> Options {
        match parse("vnf-fwd", &strings(args)) {
            Ok(Command::Run(opts)) => opts,
            other => panic!("{args:?} gave {other:?}"),
        }
    }

    /// Parses app args that must fail; checks the message is one line.
    fn fail(args: &[&str]) -> Error {
        match parse("vnf-fwd", &strings(args)) {
            Err(e) => {
                assert_one_line(&e);
                e
            }
            Ok(other) => panic!("{args:?} gave {other:?}"),
        }
    }

    /// The text of `-- --help` or `-- --version`.
    fn print(args: &[&str]) -> String {
        match parse("/opt/bin/vnf-fwd", &strings(args)) {
            Ok(Command::Print(text)) => text,
            other => panic!("{args:?} gave {other:?}"),
        }
    }

    fn assert_one_line(e: &Error) {
        let text = e.to_string();
        assert!(
            !text.is_empty() && !text.contains('\n'),
            "not one line: {text:?}"
        );
        assert!(
            !text.starts_with("error"),
            "caller adds the 'error:' prefix: {text:?}"
        );
    }

    /// Asserts `e`'s message contains every word of `words`.
    fn assert_says(e: &Error, words: &[&str]) {
        let text = e.to_string();
        for w in words {
            assert!(text.contains(w), "{text:?} lacks {w:?}");
        }
    }

    // ---- split_args ----

    #[test]
    fn split_at_first_double_dash() {
        let argv = strings(&["vnf-fwd", "-l", "1-2", "--", "-p", "0x3", "--", "x"]);
        let (eal, app) = split_args(&argv);
        assert_eq!(eal, strings(&["vnf-fwd", "-l", "1-2"]));
        assert_eq!(app, strings(&["-p", "0x3", "--", "x"]));
    }

    #[test]
    fn split_without_double_dash_is_all_eal() {
        let argv = strings(&["vnf-fwd", "-l", "1-2"]);
        assert_eq!(split_args(&argv), (argv.clone(), vec![]));
        assert_eq!(split_args(&[]), (vec![], vec![]));
    }

    #[test]
    fn split_with_trailing_double_dash_gives_no_app_args() {
        let (eal, app) = split_args(&strings(&["vnf-fwd", "--"]));
        assert_eq!(eal, strings(&["vnf-fwd"]));
        assert!(app.is_empty());
    }

    // ---- defaults and l2fwd compatibility ----

    #[test]
    fn defaults_match_l2fwd() {
        assert_eq!(
            run(&["-p", "0x3"]),
            Options {
                portmask: 0x3,
                promiscuous: false,
                ports_per_lcore: 1,
                rx_queues: 1,
                tx_queues: 1,
                stats_period_secs: 10,
                mac_updating: true,
                portmap: None,
                mode: Mode::L2fwd,
                burst: 64,
                rxd: 1024,
                txd: 1024,
                record_core_cycles: false,
                idle_yield: false,
                stats_format: StatsFormat::Text,
                metrics_addr: None,
                reconnect_timeout_secs: 60,
            }
        );
    }

    #[test]
    fn reconnect_timeout_range() {
        let secs = |args: &[&str]| run(args).reconnect_timeout_secs;
        assert_eq!(secs(&["-p", "3", "--reconnect-timeout", "0"]), 0);
        assert_eq!(secs(&["-p", "3", "--reconnect-timeout", "86400"]), 86_400);
        for text in ["-1", "86401", "1.5", "soon"] {
            let e = fail(&["-p", "3", "--reconnect-timeout", text]);
            assert!(
                matches!(
                    e,
                    Error::Number {
                        option: "--reconnect-timeout",
                        ..
                    }
                ),
                "{e:?}"
            );
            assert_says(&e, &["--reconnect-timeout", text, "0 to 86400"]);
        }
    }

    #[test]
    fn stats_format_and_metrics_addr() {
        let o = run(&["-p", "3", "--stats-format", "json"]);
        assert_eq!(o.stats_format, StatsFormat::Json);
        assert_says(
            &fail(&["-p", "3", "--stats-format", "xml"]),
            &["xml", "--stats-format"],
        );
        for (text, addr) in [
            ("9100", "127.0.0.1:9100"),
            ("0", "127.0.0.1:0"),
            ("0.0.0.0:9100", "0.0.0.0:9100"),
            ("[::1]:9100", "[::1]:9100"),
        ] {
            assert_eq!(
                run(&["-p", "3", "--metrics-addr", text]).metrics_addr,
                Some(addr.parse().unwrap()),
                "{text}"
            );
        }
        for text in [
            "",
            "localhost:9100",
            "65536",
            "127.0.0.1",
            "1.2.3.4:x",
            ":9100",
            "-1",
        ] {
            let e = fail(&["-p", "3", "--metrics-addr", text]);
            assert_eq!(e, Error::MetricsAddr(text.to_owned()));
            assert_says(&e, &["--metrics-addr", "ADDR:PORT"]);
        }
    }

    #[test]
    fn full_l2fwd_command_line() {
        let o = run(&[
            "-p",
            "0x3",
            "-P",
            "-q",
            "1",
            "-T",
            "0",
            "--no-mac-updating",
            "--portmap",
            "(0,1)(2,3)",
        ]);
        assert_eq!(o.portmask, 3);
        assert!(o.promiscuous);
        assert_eq!(o.ports_per_lcore, 1);
        assert_eq!(o.stats_period_secs, 0);
        assert!(!o.mac_updating);
        assert_eq!(o.portmap, Some(vec![(0, 1), (2, 3)]));
    }

    #[test]
    fn documented_experiment_parses() {
        let argv = strings(&["vnf-fwd", "-c", "0xE0", "-n", "4", "--", "-p", "0x3"]);
        let (eal, app) = split_args(&argv);
        assert_eq!(eal.len(), 5);
        assert_eq!(
            run(&app.iter().map(String::as_str).collect::<Vec<_>>()).portmask,
            3
        );
    }

    #[test]
    fn getopt_style_spellings() {
        // Attached values, clustered flags, `--opt=value`, prefixes of long options.
        let o = run(&["-p3", "-Pq2", "-T5", "--portmap=(0,1)", "--no-mac"]);
        assert_eq!((o.portmask, o.promiscuous, o.ports_per_lcore), (3, true, 2));
        assert_eq!(o.stats_period_secs, 5);
        assert_eq!(o.portmap, Some(vec![(0, 1)]));
        assert!(!o.mac_updating);
        assert_eq!(
            run(&["-p", "3", "--port", "(1,0)"]).portmap,
            Some(vec![(1, 0)])
        );
    }

    #[test]
    fn repeated_option_last_wins() {
        let o = run(&["-p", "1", "-P", "-P", "-p", "0x3", "-q", "2", "-q", "3"]);
        assert_eq!((o.portmask, o.ports_per_lcore), (3, 3));
    }

    #[test]
    fn p_and_capital_p_are_distinct() {
        assert!(!run(&["-p", "1"]).promiscuous);
        assert!(run(&["-P", "-p", "1"]).promiscuous);
        assert_says(&fail(&["-P"]), &["-p <PORTMASK>"]);
    }

    // ---- -p ----

    #[test]
    fn portmask_accepts_what_strtoul_base_16_accepts() {
        for (text, mask) in [
            ("0x3", 3),
            ("3", 3),
            ("0X3", 3),
            ("ffff", 0xffff),
            ("FFFF", 0xffff),
            ("0xffffffff", u32::MAX),
            ("80000000", 0x8000_0000),
            ("00000000000000000000003", 3),
            (" 3", 3),
            ("+0x3", 3),
        ] {
            assert_eq!(run(&["-p", text]).portmask, mask, "{text:?}");
        }
    }

    #[test]
    fn portmask_rejects_zero_empty_and_garbage() {
        for text in [
            "0", "0x0", "", "xyz", "0x1g", "0x", "3 ", "-1", "0x-1", "1.0",
        ] {
            let e = fail(&["-p", text]);
            assert_eq!(e, Error::Portmask(text.to_owned()));
            assert_says(&e, &["invalid portmask", "non-zero hexadecimal bitmask"]);
        }
        assert_eq!(
            fail(&["-p", "xyz"]).to_string(),
            "invalid portmask 'xyz': expected a non-zero hexadecimal bitmask such as 0x3"
        );
    }

    #[test]
    fn portmask_rejects_bits_above_31() {
        for text in ["100000000", "0x1ffffffff", "ffffffffffffffffffffffff"] {
            let e = fail(&["-p", text]);
            assert_eq!(e, Error::PortmaskTooWide(text.to_owned()));
            assert_says(&e, &[text, "32 bits"]);
        }
    }

    #[test]
    fn missing_portmask() {
        let e = fail(&[]);
        assert!(matches!(e, Error::Usage(_)));
        assert_says(&e, &["required", "-p <PORTMASK>"]);
        assert_says(&fail(&["-q", "2"]), &["-p <PORTMASK>"]);
    }

    #[test]
    fn missing_value() {
        let e = fail(&["-p"]);
        assert!(matches!(e, Error::Usage(_)));
        assert_says(&e, &["value is required", "-p"]);
        assert_says(
            &fail(&["-p", "3", "--portmap"]),
            &["value is required", "--portmap"],
        );
    }

    // ---- -q, -T, --burst, --rxd, --txd ----

    #[test]
    fn queues_range() {
        assert_eq!(run(&["-p", "3", "-q", "1"]).ports_per_lcore, 1);
        assert_eq!(run(&["-p", "3", "-q", "15"]).ports_per_lcore, 15);
        for text in ["0", "16", "abc", "-1", "", "2x", "0x2"] {
            let e = fail(&["-p", "3", "-q", text]);
            assert!(matches!(e, Error::Number { option: "-q", .. }), "{e:?}");
            assert_says(&e, &["invalid -q value", "1 to 15"]);
        }
        assert_says(&fail(&["-p", "3", "-q", "abc"]), &["'abc'"]);
    }

    #[test]
    fn period_range() {
        assert_eq!(run(&["-p", "3", "-T", "0"]).stats_period_secs, 0);
        assert_eq!(run(&["-p", "3", "-T", "86400"]).stats_period_secs, 86_400);
        for text in ["-1", "86401", "1.5", "ten", "99999999999999999999999"] {
            let e = fail(&["-p", "3", "-T", text]);
            assert!(matches!(e, Error::Number { option: "-T", .. }), "{e:?}");
            assert_says(&e, &["invalid -T value", text, "0 to 86400"]);
        }
    }

    #[test]
    fn burst_and_ring_ranges() {
        let o = run(&["-p", "3", "--burst", "512", "--rxd", "32768", "--txd", "1"]);
        assert_eq!((o.burst, o.rxd, o.txd), (512, 32_768, 1));
        assert_eq!(run(&["-p", "3", "--burst", "1"]).burst, 1);
        for (option, text) in [
            ("--burst", "0"),
            ("--burst", "513"),
            ("--rxd", "0"),
            ("--rxd", "32769"),
            ("--rxd", "65536"),
            ("--txd", "0"),
            ("--txd", "x"),
        ] {
            let e = fail(&["-p", "3", option, text]);
            assert!(
                matches!(&e, Error::Number { option: o, .. } if *o == option),
                "{e:?}"
            );
            assert_says(&e, &[option, &format!("'{text}'")]);
        }
    }

    // ---- --mode ----

    #[test]
    fn modes() {
        for (text, mode) in [
            ("l2fwd", Mode::L2fwd),
            ("macswap", Mode::Macswap),
            ("io", Mode::Io),
            ("5tswap", Mode::FiveTupleSwap),
        ] {
            assert_eq!(run(&["-p", "3", "--mode", text]).mode, mode);
        }
        let e = fail(&["-p", "3", "--mode", "mac-swap"]);
        assert!(matches!(e, Error::Usage(_)));
        assert_says(
            &e,
            &["invalid value 'mac-swap'", "--mode", "macswap", "5tswap"],
        );
    }

    // ---- clap-level errors ----

    #[test]
    fn unknown_flags() {
        for flag in ["--foo", "-x", "--no-mac-updating=1"] {
            let e = fail(&["-p", "3", flag]);
            assert!(matches!(e, Error::Usage(_)), "{e:?}");
            assert!(!e.to_string().contains("Usage"), "{e}");
        }
        assert_says(
            &fail(&["-p", "3", "--foo"]),
            &["unexpected argument '--foo'"],
        );
    }

    #[test]
    fn positional_arguments_are_rejected() {
        assert_eq!(
            fail(&["-p", "3", "extra"]),
            Error::Positional("extra".into())
        );
        assert_eq!(
            fail(&["extra", "-p", "3"]),
            Error::Positional("extra".into())
        );
        // After a second `--` everything is positional, as with getopt.
        assert_eq!(
            fail(&["-p", "3", "--", "-q"]),
            Error::Positional("-q".into())
        );
        assert_says(&fail(&["-p", "3", "x"]), &["'x'", "positional"]);
    }

    #[test]
    fn help_and_version() {
        for flag in ["-h", "--help"] {
            let text = print(&[flag]);
            assert!(
                text.contains("/opt/bin/vnf-fwd [EAL options] -- -p PORTMASK"),
                "{text}"
            );
            for word in [
                "-P",
                "-q <NQ>",
                "-T <PERIOD>",
                "--no-mac-updating",
                "--portmap",
                "5tswap",
                "--rxq <N>",
                "--txq <N>",
            ] {
                assert!(text.contains(word), "help lacks {word}");
            }
            assert!(!text.contains('\x1b'), "help is plain text");
        }
        // Help wins over options that would be refused later, such as a missing -p.
        print(&["-q", "2", "--help"]);
        let version = print(&["-V"]);
        assert!(version.contains(env!("CARGO_PKG_VERSION")), "{version}");
        assert_eq!(print(&["--version"]), version);
    }

    // ---- --portmap syntax ----

    #[test]
    fn portmap_accepted_spellings() {
        for (text, want) in [
            ("(0,1)(2,3)", vec![(0, 1), (2, 3)]),
            ("(0,3)(1,2)", vec![(0, 3), (1, 2)]),
            ("(0, 1) (2,3)", vec![(0, 1), (2, 3)]),
            ("(0,1),(2,3)", vec![(0, 1), (2, 3)]),
            (" ( 1 , 0 ) ", vec![(1, 0)]),
            ("(0x1f,010)", vec![(31, 8)]),
            ("(0,0)", vec![(0, 0)]),
            ("(0,31)", vec![(0, 31)]),
        ] {
            assert_eq!(portmap(text), Ok(want), "{text:?}");
        }
        let sixteen: String = (0..16)
            .map(|i| format!("({},{})", 2 * i, 2 * i + 1))
            .collect();
        assert_eq!(portmap(&sixteen).map(|p| p.len()), Ok(16));
    }

    #[test]
    fn portmap_malformed() {
        for (text, why) in [
            ("(0,1", "no closing ')'"),
            ("(0,1)(2,3", "'(2,3' has no closing ')'"),
            ("(0)", "exactly two ports"),
            ("(0,1,2)", "exactly two ports"),
            ("()", "exactly two ports"),
            ("(a,b)", "'a' is not a port number"),
            ("(0,1z)", "'1z' is not a port number"),
            ("(,1)", "'' is not a port number"),
            ("(-1,2)", "'-1' is not a port number"),
            ("(08,1)", "'08' is not a port number"),
            ("(0,40)", "'40' is out of range: port ids are 0 to 31"),
            ("(0,32)", "out of range"),
            ("(0,0x100000000)", "out of range"),
            ("", "no '(a,b)' port pair"),
            (" , ", "no '(a,b)' port pair"),
            ("0,1", "unexpected '0,1'"),
            ("(0,1)x", "unexpected 'x'"),
            ("((0,1)", "'(0' is not a port number"),
        ] {
            let e = fail(&["-p", "3", "--portmap", text]);
            assert!(
                matches!(&e, Error::Portmap { value, .. } if value == text),
                "{e:?}"
            );
            assert_says(&e, &["invalid --portmap", why]);
        }
    }

    #[test]
    fn portmap_at_most_16_pairs() {
        let seventeen: String = (0..17).map(|i| format!("({i},{i})")).collect();
        assert_says(
            &fail(&["-p", "3", "--portmap", &seventeen]),
            &["more than 16 port pairs"],
        );
    }

    #[test]
    fn queue_options() {
        let o = run(&["-p", "3"]);
        assert_eq!((o.rx_queues, o.tx_queues), (1, 1));
        let o = run(&["-p", "3", "--rxq", "2", "--txq=4"]);
        assert_eq!((o.rx_queues, o.tx_queues), (2, 4));
        assert_eq!(run(&["-p", "3", "--rxq=1024"]).rx_queues, 1024);
        for (option, text) in [
            ("--rxq", "0"),
            ("--rxq", "1025"),
            ("--rxq", "-1"),
            ("--txq", "0"),
            ("--txq", "two"),
        ] {
            let e = fail(&["-p", "3", option, text]);
            assert!(
                matches!(&e, Error::Number { option: o, .. } if *o == option),
                "{e:?}"
            );
            assert_says(&e, &[option, &format!("'{text}'"), "1 to 1024"]);
        }
    }

    // ---- messages ----

    #[test]
    fn user_text_cannot_break_the_line() {
        let e = fail(&["-p", "1\n2"]);
        assert_says(&e, &[r"'1\n2'"]);
        assert_one_line(&fail(&["-p", "3", "--portmap", "(0,\n1)x\n"]));
        assert_one_line(&fail(&["-p", "3", "--mode", "a\nb"]));
        assert_one_line(&fail(&["-p", "3", "a\nb"]));
    }
}

//! vnf-gen's options (right of `--`), parsed by clap: the portmask with
//! vnf-fwd's own parser, per-port values as `[PORT:]VALUE`.

use super::gen::{self, PerPort, Rate};
use super::GenError;
use clap::Parser;
use std::net::Ipv4Addr;
use vnf_fwd::config::options::portmask;
use vnf_fwd::dpdk::MAX_BURST;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "DPDK traffic generator: stamped IPv4/UDP frames out of every port, loss and latency back in.\n\
             EAL options go before `--`, the options below after it."
)]
pub struct Args {
    /// Hexadecimal bitmask of ports to use (default: all).
    #[arg(short = 'p', value_name = "PORTMASK", value_parser = portmask)]
    pub portmask: Option<u32>,
    /// Frames to send, `N` for every port or `PORT:N`; 0 = until stopped.
    #[arg(long, value_name = "[PORT:]N", value_parser = gen::per_port_count)]
    pub count: Vec<PerPort<u64>>,
    /// Send rate: percent of link speed (`10` or `10%`, pktgen's `set all rate`)
    /// or frames per second (`5000pps`); `[PORT:]RATE`. Default 10%.
    #[arg(long, value_name = "[PORT:]RATE", value_parser = gen::per_port_rate)]
    pub rate: Vec<PerPort<Rate>>,
    /// Frame size on the wire including the FCS, 64 to 1518.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(64..=1518))]
    pub size: u16,
    /// Stop sending after this many seconds, up to a year (0 = when the
    /// counts are sent, or never).
    #[arg(long, value_name = "S", default_value_t = 0.0, value_parser = gen::duration_secs)]
    pub duration: f64,
    /// After sending, wait this long (up to an hour) for frames still on their way back.
    #[arg(long, value_name = "MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(0..=gen::MAX_DRAIN_MS))]
    pub drain_ms: u64,
    /// Source MAC, `[PORT:]MAC` (default: the port's own). Six groups are a
    /// MAC for every port; `1:02:00:00:00:00:01` is port 1's.
    #[arg(long, value_name = "[PORT:]MAC", value_parser = gen::per_port_mac)]
    pub src_mac: Vec<PerPort<[u8; 6]>>,
    /// Destination MAC, `[PORT:]MAC` (default 02:00:00:00:00:<port xor 1>).
    #[arg(long, value_name = "[PORT:]MAC", value_parser = gen::per_port_mac)]
    pub dst_mac: Vec<PerPort<[u8; 6]>>,
    /// Source IPv4 address, `[PORT:]A.B.C.D` (default 198.18.<port>.1).
    #[arg(long, value_name = "[PORT:]A.B.C.D", value_parser = gen::per_port_ipv4)]
    pub src_ip: Vec<PerPort<Ipv4Addr>>,
    /// Destination IPv4 address, `[PORT:]A.B.C.D` (default 198.19.<port>.1).
    #[arg(long, value_name = "[PORT:]A.B.C.D", value_parser = gen::per_port_ipv4)]
    pub dst_ip: Vec<PerPort<Ipv4Addr>>,
    /// UDP source port.
    #[arg(long, default_value_t = 1234)]
    pub sport: u16,
    /// UDP destination port.
    #[arg(long, default_value_t = 5678)]
    pub dport: u16,
    /// Flows per port: frame i has UDP source port `sport + i % N`, so RSS and
    /// hash-based switches spread the frames (1 to 65536).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub flows: u32,
    /// RX and TX queues per port (1 to 128); bursts go out on each TX queue in
    /// turn and every RX queue is polled. For virtio_user, give the vdev queues=N too.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=128))]
    pub queues: u16,
    /// Frames per tx burst, 1 to 512.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=MAX_BURST as i64))]
    pub burst: u16,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Yield the CPU (sched_yield) in every loop with nothing to send or
    /// receive, so a forwarder sharing this CPU runs at once: latency then
    /// measures the path, not the scheduler's time slices.
    #[arg(long)]
    pub idle_yield: bool,
}

/// The value for `port` among per-port options: the last `PORT:` match, else the last bare one.
pub fn pick<T: Copy>(list: &[PerPort<T>], port: u16) -> Option<T> {
    list.iter()
        .rev()
        .find(|p| p.port == Some(port))
        .or_else(|| list.iter().rev().find(|p| p.port.is_none()))
        .map(|p| p.value)
}

/// A `PORT:` prefix that names no port in use is an error, not a value
/// silently never used.
pub fn check_port_prefixes(args: &Args, ids: &[u16]) -> Result<(), GenError> {
    fn named<T>(list: &[PerPort<T>]) -> Vec<u16> {
        list.iter().filter_map(|p| p.port).collect()
    }
    for (option, ports) in [
        ("--count", named(&args.count)),
        ("--rate", named(&args.rate)),
        ("--src-mac", named(&args.src_mac)),
        ("--dst-mac", named(&args.dst_mac)),
        ("--src-ip", named(&args.src_ip)),
        ("--dst-ip", named(&args.dst_ip)),
    ] {
        if let Some(port) = ports.into_iter().find(|p| !ids.contains(p)) {
            return Err(GenError::Usage(format!(
                "{option} names port {port}, which is not in use (ports in use: {ids:?})"
            )));
        }
    }
    Ok(())
}

//! vnf-fwd: a DPDK-native packet forwarder, a drop-in for DPDK's `l2fwd` and
//! testpmd's `macswap`, `io` and `5tswap` forwarding.
//!
//! Layers, each calling only the ones above it in this list:
//! - [`dpdk`]: the safe layer over `dpdk-sys` (EAL and the lcores' pause,
//!   ports and their re-attach, mempool, mbuf bursts, telemetry), and [`os`]: signals and the stdout relay through
//!   libc. The only modules where `unsafe` is allowed.
//! - [`engine`]: one pure per-frame rewrite per forwarding mode, over
//!   [`engine::wire`]'s checked header views.
//! - [`plan`]: port pairs, lanes, lcore and queue assignment, plain data.
//! - [`fwd`]: the per-lcore poll loop and its per-lane counters.
//! - [`config`]: the command line (clap options, the portmask and MAC
//!   parsers vnf-gen shares), the EAL argument rewriting, and apart from it
//!   the checks that touch the system.
//! - [`report`]: the live snapshot [`report::Live`] and its formats: text,
//!   JSON lines, Prometheus, telemetry, the HTTP endpoint; [`logging`]'s
//!   timestamped event lines.
//! - [`app`]: the forwarder's run and its monitor; `main.rs` calls it.
//!
//! The generator, `bin/vnf-gen/`, uses the same layers.

#![deny(unsafe_code)]

pub mod app;
pub mod config;
pub mod dpdk;
pub mod engine;
pub mod fwd;
pub mod logging;
pub mod os;
pub mod plan;
pub mod report;

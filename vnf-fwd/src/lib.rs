//! vnf-fwd: a DPDK-native packet forwarder, a drop-in for DPDK's `l2fwd` and
//! testpmd's `macswap`, `io` and `5tswap` forwarding.
//!
//! Layers: [`dpdk`] (the safe layer over `dpdk-sys`, the only `unsafe` code),
//! [`engine`] (pure per-frame rewrites), [`fwd`] (the per-lcore poll loop),
//! [`cli`] and [`stats`] (plain data), [`reattach`] (the re-attach policy's
//! decisions for client ports whose switch restarted), [`metrics`] (the
//! counters for machines: JSON lines, Prometheus, DPDK telemetry), and the
//! binaries on top.

#![deny(unsafe_code)]

pub mod cli;
pub mod dpdk;
pub mod eal_args;
pub mod engine;
pub mod fwd;
pub mod gen;
pub mod logging;
pub mod metrics;
pub mod reattach;
pub mod setup;
pub mod stats;

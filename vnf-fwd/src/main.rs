//! `vnf-fwd [EAL options] -- -p PORTMASK [-P] [-q NQ] [-T PERIOD] [--no-mac-updating]
//! [--portmap CONFIG] [--mode l2fwd|macswap|io|5tswap] [--burst N] [--rxd N] [--txd N]
//! [--record-core-cycles] [--stats-format text|json] [--metrics-addr ADDR:PORT] [--rxq N] [--txq N]
//! [--reconnect-timeout SECS]`
//!
//! The application lives in the library's `app` module.

#![deny(unsafe_code)]

fn main() -> std::process::ExitCode {
    vnf_fwd::app::main()
}

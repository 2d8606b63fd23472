//! The application: [`run`] (set up, launch, wait, tear down) and the
//! [`monitor`] of the main lcore (statistics period, link polling, the
//! switch-gone and re-attach policy). `main.rs` only calls [`main`].

pub mod links;
pub mod monitor;
mod run;

pub use run::run;

use crate::config::options::Error as OptionsError;
use crate::config::system::Error as EalArgsError;
use crate::dpdk;
use crate::os::console;
use crate::plan::Error as PlanError;
use crate::report::Error as MetricsError;
use std::process::ExitCode;

/// Why vnf-fwd stops with an error: one line each.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Options(#[from] OptionsError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Dpdk(#[from] dpdk::Error),
    #[error(transparent)]
    EalArgs(#[from] EalArgsError),
    #[error("port {port}: the vhost-user switch closed {path} and {why}; vnf-fwd exits for its supervisor to restart it (ports with server=1 and OVS dpdkvhostuserclient survive switch restarts)")]
    SwitchGone {
        port: u16,
        path: String,
        why: String,
    },
    #[error("internal error in the forwarding plan: {0}")]
    Internal(String),
    #[error("argument {0:?} is not valid UTF-8")]
    NotUtf8(std::ffi::OsString),
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    #[error("cannot set up the stdout relay: {0}")]
    Stdout(std::io::Error),
    #[error("cannot watch for signals during EAL initialisation: {0}")]
    Signals(std::io::Error),
}

/// vnf-fwd's `main`: [`run`], the error as one line on stderr, and the exit
/// code once the stdout relay has drained.
pub fn main() -> ExitCode {
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

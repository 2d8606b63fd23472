//! The link wait both binaries do before they forward or send.

use crate::dpdk::Port;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// l2fwd's `check_all_ports_link_status`: wait up to `max` for every link to
/// be up (or `stop`), then print each port's state.
pub fn wait_for_links(ports: &[Port<'_>], stop: &AtomicBool, max: Duration) {
    print!("\nChecking link status");
    let _ = std::io::stdout().flush();
    let deadline = Instant::now() + max;
    while !ports.iter().all(|p| p.link().is_some_and(|l| l.up)) {
        if stop.load(Relaxed) || Instant::now() >= deadline {
            break;
        }
        print!(".");
        let _ = std::io::stdout().flush();
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("done");
    for p in ports {
        match p.link() {
            Some(l) => println!("Port {} {l}", p.id()),
            None => println!("Port {} link get failed", p.id()),
        }
    }
}

//! The main lcore's periodic duties while the others forward: the statistics
//! printout every `-T` seconds, link polling, the gauges the metrics readers
//! see, and the switch-gone policy. The decisions are plain functions over
//! plain values, unit-tested below; [`Monitor`] applies them to the ports.

use crate::config::eal::VirtioUser;
use crate::dpdk::{rdtsc, Link, Mempool, Port};
use crate::log_event;
use crate::report::{JsonLines, Live, LINK_POLL_MS};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// Where the periodic statistics go.
pub enum Printer {
    /// l2fwd's block on stdout, after clearing the screen on a terminal.
    Text { clear_screen: bool },
    /// JSON lines on the original stdout.
    Json(JsonLines),
}

/// TSC cycles between two statistics printouts: `-T` seconds, 0 for never.
pub fn stats_interval(period_secs: u64, hz: u64) -> u64 {
    period_secs.saturating_mul(hz)
}

/// TSC cycles between two link polls ([`LINK_POLL_MS`]).
pub fn link_interval(hz: u64) -> u64 {
    hz / 1000 * LINK_POLL_MS
}

/// What a link poll means for one port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkEvent {
    /// Nothing changed.
    Same,
    /// The link changed: log it.
    Changed,
    /// A client-mode virtio_user port lost its link: the switch closed the
    /// socket at this path, and DPDK 22.11 cannot reconnect a client, so the
    /// process stops for its supervisor to restart it.
    SwitchGone(String),
}

/// The policy: the link of a port moved from `last` to `now`; `client` is
/// its vhost-user socket when the port is a virtio_user client.
pub fn link_event(last: Option<Link>, now: Option<Link>, client: Option<&str>) -> LinkEvent {
    if now == last {
        return LinkEvent::Same;
    }
    let was_up = last.is_some_and(|l| l.up);
    let is_up = now.is_some_and(|l| l.up);
    match client {
        Some(path) if was_up && !is_up => LinkEvent::SwitchGone(path.to_owned()),
        _ => LinkEvent::Changed,
    }
}

/// The vhost-user socket of the port named `name` when it is a virtio_user
/// client (no `server=1`): the ports whose switch cannot come back.
pub fn client_socket(name: &str, vdevs: &[VirtioUser]) -> Option<String> {
    vdevs
        .iter()
        .find(|v| !v.server && v.name == name)
        .and_then(|v| v.path.as_ref())
        .map(|p| p.display().to_string())
}

/// The main lcore's periodic duties: the statistics printout, link polling,
/// and the gauges the metrics readers see.
pub struct Monitor<'a, 'p> {
    ports: &'a [Port<'p>],
    pool: &'a Mempool<'a>,
    live: &'a Live,
    printer: &'a mut Printer,
    links: Vec<Option<Link>>,
    stats_every: u64,
    links_every: u64,
    next_stats: u64,
    next_links: u64,
    /// Ports that are virtio_user clients (their vhost-user socket path), which
    /// DPDK 22.11 cannot reconnect once the switch has gone.
    clients: Vec<Option<String>>,
    stop: Option<&'a AtomicBool>,
    /// Set when a client port lost its switch: (port, socket path).
    pub switch_gone: Option<(u16, String)>,
}

impl<'a, 'p> Monitor<'a, 'p> {
    /// Polls the links once now; the first printout is one period away.
    pub fn new(
        ports: &'a [Port<'p>],
        pool: &'a Mempool<'a>,
        live: &'a Live,
        printer: &'a mut Printer,
        period_secs: u64,
        hz: u64,
    ) -> Self {
        let now = rdtsc();
        let stats_every = stats_interval(period_secs, hz);
        Monitor {
            ports,
            pool,
            live,
            printer,
            links: ports.iter().map(Port::link).collect(),
            stats_every,
            links_every: link_interval(hz),
            next_stats: now.saturating_add(stats_every),
            next_links: now,
            clients: vec![None; ports.len()],
            stop: None,
            switch_gone: None,
        }
    }

    /// Makes the loss of a client-mode virtio_user port's switch fatal: it
    /// sets `stop` and records the port in `switch_gone`.
    pub fn watch_client_vdevs(&mut self, vdevs: &[VirtioUser], stop: &'a AtomicBool) {
        for (port, slot) in self.ports.iter().zip(self.clients.iter_mut()) {
            *slot = client_socket(&port.name(), vdevs);
        }
        self.stop = Some(stop);
    }

    /// Publishes the link states and the pool's in-use count for the readers.
    pub fn publish_gauges(&self) {
        self.live.set_links(&self.links);
        self.live.set_mempool_in_use(self.pool.in_use());
    }

    /// Does what is due at TSC time `now`.
    pub fn tick(&mut self, now: u64) {
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
            for ((port, last), client) in self
                .ports
                .iter()
                .zip(self.links.iter_mut())
                .zip(&self.clients)
            {
                let link = port.link();
                // Only a watched client's loss is fatal.
                let watched = client.as_deref().filter(|_| self.stop.is_some());
                let event = link_event(*last, link, watched);
                if event == LinkEvent::Same {
                    continue;
                }
                match link {
                    Some(l) => log_event!("Port {} {l}", port.id()),
                    None => log_event!("Port {} link state unknown", port.id()),
                }
                if let (LinkEvent::SwitchGone(path), Some(stop)) = (event, self.stop) {
                    log_event!(
                        "Port {}: vhost-user switch gone from {path}; stopping",
                        port.id()
                    );
                    self.switch_gone.get_or_insert((port.id(), path));
                    stop.store(true, Relaxed);
                }
                *last = link;
            }
            self.publish_gauges();
            self.next_links = now + self.links_every;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn link(up: bool) -> Option<Link> {
        Some(Link {
            up,
            speed_mbps: 10_000,
            full_duplex: true,
        })
    }

    #[test]
    fn unchanged_links_are_quiet() {
        assert_eq!(link_event(link(true), link(true), None), LinkEvent::Same);
        assert_eq!(link_event(None, None, Some("/s")), LinkEvent::Same);
    }

    #[test]
    fn changes_are_logged() {
        assert_eq!(
            link_event(link(false), link(true), None),
            LinkEvent::Changed
        );
        assert_eq!(
            link_event(link(true), link(false), None),
            LinkEvent::Changed
        );
        assert_eq!(link_event(link(true), None, None), LinkEvent::Changed);
        // A client coming up, or down from a link that never was up, is no loss.
        assert_eq!(
            link_event(link(false), link(true), Some("/s")),
            LinkEvent::Changed
        );
        assert_eq!(
            link_event(None, link(false), Some("/s")),
            LinkEvent::Changed
        );
    }

    #[test]
    fn a_client_losing_its_link_has_lost_its_switch() {
        for now in [link(false), None] {
            assert_eq!(
                link_event(link(true), now, Some("/run/vhost-user0")),
                LinkEvent::SwitchGone("/run/vhost-user0".into())
            );
        }
    }

    #[test]
    fn only_virtio_user_clients_are_watched() {
        let vdevs = [
            VirtioUser {
                name: "net_virtio_user0".into(),
                path: Some(PathBuf::from("/run/a")),
                server: false,
            },
            VirtioUser {
                name: "net_virtio_user1".into(),
                path: Some(PathBuf::from("/run/b")),
                server: true,
            },
        ];
        assert_eq!(
            client_socket("net_virtio_user0", &vdevs).as_deref(),
            Some("/run/a")
        );
        assert_eq!(client_socket("net_virtio_user1", &vdevs), None);
        assert_eq!(client_socket("net_null0", &vdevs), None);
    }

    #[test]
    fn intervals() {
        assert_eq!(stats_interval(0, 2_000_000_000), 0);
        assert_eq!(stats_interval(2, 2_000_000_000), 4_000_000_000);
        assert_eq!(stats_interval(u64::MAX, 3), u64::MAX);
        assert_eq!(link_interval(2_000_000_000), 2_000_000 * LINK_POLL_MS);
    }
}

//! The main lcore's periodic duties while the others forward: the statistics
//! printout every `-T` seconds, link polling, the gauges the metrics readers
//! see, and the switch-gone policy: a virtio_user port in client mode (OVS
//! `dpdkvhostuser`) whose switch went away, which DPDK 22.11 does not
//! reconnect, is re-attached in place once its socket accepts again, or the
//! run ends after `--reconnect-timeout`. The decisions are plain functions
//! over plain values, unit-tested below; [`Monitor`] applies them to the ports.

use crate::config::eal::VirtioUser;
use crate::dpdk::{rdtsc, Link, Mempool, Pause, Port};
use crate::log_event;
use crate::report::{JsonLines, Live, LINK_POLL_MS};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// How long a re-attach waits for the worker lcores to park: they look every
/// few hundred µs at most, unless one is stuck in a driver.
const PAUSE_TIMEOUT: Duration = Duration::from_secs(1);

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
    /// socket at this path, and DPDK 22.11 does not reconnect a client: the
    /// monitor waits for the switch to come back (see [`next`]).
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

/// What the monitor does about a client port whose switch is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// The socket does not accept yet: look again at the next link poll.
    Wait,
    /// The socket accepts: pause the lcores and re-attach the port.
    Reattach,
    /// `--reconnect-timeout` has passed (at once with 0): exit 1.
    GiveUp,
}

/// The decision for a port whose switch has been gone for `gone_for`, given
/// whether its socket `accepts` connections again and the `timeout`.
pub fn next(gone_for: Duration, timeout: Duration, accepts: bool) -> Next {
    if gone_for >= timeout {
        Next::GiveUp
    } else if accepts {
        Next::Reattach
    } else {
        Next::Wait
    }
}

/// Whether a vhost-user switch listens on `path` again: a connection is
/// accepted (and closed at once; the switch sees a client come and go).
pub fn accepts(path: &Path) -> bool {
    UnixStream::connect(path).is_ok()
}

/// One socket file: its inode and change time. A restarted switch binds a
/// new one at the same path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketFile {
    ino: u64,
    ctime: (i64, i64),
}

impl SocketFile {
    /// The socket file at `path` now, if any.
    pub fn at(path: &Path) -> Option<SocketFile> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(SocketFile {
            ino: m.ino(),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }
}

/// Whether the switch is back at `path`: a socket file other than `old`, the
/// one the port was attached to, accepts connections. The old file is not
/// the switch coming back: while the old switch exits, its listening socket
/// can still queue a connection that nobody will answer (a re-attach then
/// waits on it).
pub fn switch_back(path: &Path, old: Option<SocketFile>) -> bool {
    let now = SocketFile::at(path);
    now.is_some() && now != old && accepts(path)
}

/// Milliseconds of `d`, with a tenth, for the log.
pub fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// A virtio_user port in client mode, as the monitor watches it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    /// The vhost-user socket.
    pub path: String,
    /// The vdev's devargs, to probe it again with.
    pub devargs: String,
    /// The socket file it is attached to.
    pub socket: Option<SocketFile>,
    /// Since when its switch has been gone, while it is.
    pub gone_since: Option<Instant>,
}

/// The port named `name` when it is a virtio_user client (no `server=1`):
/// the ports whose switch DPDK does not reconnect.
pub fn client(name: &str, vdevs: &[VirtioUser]) -> Option<Client> {
    let v = vdevs.iter().find(|v| !v.server && v.name == name)?;
    let path = v.path.as_ref()?;
    Some(Client {
        path: path.display().to_string(),
        devargs: v.args.clone(),
        socket: SocketFile::at(path),
        gone_since: None,
    })
}

/// The main lcore's periodic duties: the statistics printout, link polling,
/// re-attaching client ports whose switch came back, and the gauges the
/// metrics readers see.
pub struct Monitor<'a, 'p> {
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
    pub switch_gone: Option<(u16, String, String)>,
}

impl<'a, 'p> Monitor<'a, 'p> {
    /// Polls the links once now; the first printout is one period away.
    pub fn new(
        ports: &'a [Port<'p>],
        pool: &'p Mempool<'p>,
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
    pub fn watch_client_vdevs(
        &mut self,
        vdevs: &[VirtioUser],
        stop: &'a AtomicBool,
        pause: &'a Pause,
        timeout: Duration,
    ) {
        for (port, slot) in self.ports.iter().zip(self.clients.iter_mut()) {
            *slot = client(&port.name(), vdevs);
        }
        self.stop = Some(stop);
        self.pause = Some(pause);
        self.reconnect_timeout = timeout;
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
            let back = self.clients[i]
                .as_ref()
                .is_some_and(|c| switch_back(Path::new(&c.path), c.socket));
            match next(since.elapsed(), self.reconnect_timeout, back) {
                Next::Wait => {}
                Next::GiveUp => self.give_up(i),
                Next::Reattach => self.reattach(i),
            }
            return;
        }
        let link = port.link();
        // Only a watched client's loss matters.
        let watched = self.clients[i]
            .as_ref()
            .map(|c| c.path.as_str())
            .filter(|_| self.stop.is_some());
        let event = link_event(self.links[i], link, watched);
        if event == LinkEvent::Same {
            return;
        }
        match link {
            Some(l) => log_event!("Port {id} {l}"),
            None => log_event!("Port {id} link state unknown"),
        }
        self.links[i] = link;
        let (LinkEvent::SwitchGone(_), Some(client)) = (event, self.clients[i].as_mut()) else {
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
            millis(t0.elapsed())
        );
        let attached = loop {
            let socket = SocketFile::at(Path::new(&client.path));
            let result = port.reattach(&paused, self.pool, &client.devargs, |step, took| {
                log_event!(
                    "Port {id}: re-attach: {} ({} ms)",
                    step.name(),
                    millis(took)
                );
            });
            let Err(e) = result else { break socket };
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
                if switch_back(Path::new(&client.path), client.socket) {
                    break;
                }
            }
        };
        drop(paused);
        log_event!(
            "Port {id}: re-attached; lcores resumed ({} ms in all, {} ms after the switch went)",
            millis(t0.elapsed()),
            millis(since.elapsed())
        );
        if let Some(c) = self.clients[i].as_mut() {
            c.socket = attached;
            c.gone_since = None;
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
                args: "path=/run/a,queues=2".into(),
            },
            VirtioUser {
                name: "net_virtio_user1".into(),
                path: Some(PathBuf::from("/run/b")),
                server: true,
                args: "path=/run/b,server=1".into(),
            },
        ];
        assert_eq!(
            client("net_virtio_user0", &vdevs),
            Some(Client {
                path: "/run/a".into(),
                devargs: "path=/run/a,queues=2".into(),
                socket: None,
                gone_since: None,
            })
        );
        assert_eq!(client("net_virtio_user1", &vdevs), None);
        assert_eq!(client("net_null0", &vdevs), None);
    }

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn waits_while_the_socket_refuses() {
        assert_eq!(next(Duration::ZERO, MINUTE, false), Next::Wait);
        assert_eq!(next(Duration::from_secs(59), MINUTE, false), Next::Wait);
    }

    #[test]
    fn reattaches_once_the_socket_accepts_in_time() {
        assert_eq!(next(Duration::ZERO, MINUTE, true), Next::Reattach);
        assert_eq!(next(Duration::from_secs(59), MINUTE, true), Next::Reattach);
    }

    #[test]
    fn gives_up_after_the_timeout_even_if_the_socket_is_back() {
        assert_eq!(next(MINUTE, MINUTE, false), Next::GiveUp);
        assert_eq!(next(MINUTE, MINUTE, true), Next::GiveUp);
    }

    #[test]
    fn timeout_zero_gives_up_at_once() {
        assert_eq!(next(Duration::ZERO, Duration::ZERO, true), Next::GiveUp);
        assert_eq!(next(Duration::ZERO, Duration::ZERO, false), Next::GiveUp);
    }

    #[test]
    fn accepts_only_a_listening_socket() {
        let dir = std::env::temp_dir().join(format!("vnf-fwd-monitor-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sock");
        assert!(!accepts(&path), "no file");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        assert!(accepts(&path), "listening");
        drop(listener);
        assert!(!accepts(&path), "stale file, nobody listening");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_switch_is_back_only_on_a_new_socket_file() {
        let dir = std::env::temp_dir().join(format!("vnf-fwd-monitor-new-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sock");
        assert!(!switch_back(&path, None), "no file");
        let old_listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let old = SocketFile::at(&path);
        assert!(old.is_some());
        assert!(switch_back(&path, None), "a listening socket, none before");
        assert!(
            !switch_back(&path, old),
            "the old switch's socket still queues connections while it exits"
        );
        drop(old_listener);
        std::fs::remove_file(&path).unwrap();
        let _new_listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        assert_ne!(SocketFile::at(&path), old);
        assert!(switch_back(&path, old), "a restarted switch's new socket");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn millis_keep_a_tenth() {
        assert_eq!(millis(Duration::from_micros(12_345)), 12.3);
        assert_eq!(millis(Duration::ZERO), 0.0);
    }

    #[test]
    fn intervals() {
        assert_eq!(stats_interval(0, 2_000_000_000), 0);
        assert_eq!(stats_interval(2, 2_000_000_000), 4_000_000_000);
        assert_eq!(stats_interval(u64::MAX, 3), u64::MAX);
        assert_eq!(link_interval(2_000_000_000), 2_000_000 * LINK_POLL_MS);
    }
}

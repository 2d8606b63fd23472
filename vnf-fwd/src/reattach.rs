//! The re-attach policy for virtio_user ports in client mode (OVS
//! `dpdkvhostuser`) whose vhost-user switch went away: DPDK 22.11 does not
//! reconnect them, so vnf-fwd waits for the socket to accept again and then
//! re-attaches the port in place, or gives up after `--reconnect-timeout`.
//! Plain decisions here; the monitor acts on them.

use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

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

/// Whether a link reading means the switch went away: it was up and is not
/// (down, or unknown).
pub fn lost(was_up: bool, up_now: bool) -> bool {
    was_up && !up_now
}

/// Whether a vhost-user switch listens on `path` again: a connection is
/// accepted (and closed at once; the switch sees a client come and go).
pub fn accepts(path: &Path) -> bool {
    UnixStream::connect(path).is_ok()
}

/// Milliseconds of `d`, with a tenth, for the log.
pub fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

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
    fn only_an_up_link_going_away_is_lost() {
        assert!(lost(true, false));
        assert!(!lost(true, true));
        assert!(!lost(false, false));
        assert!(!lost(false, true));
    }

    #[test]
    fn accepts_only_a_listening_socket() {
        let dir = std::env::temp_dir().join(format!("vnf-fwd-reattach-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sock");
        assert!(!accepts(&path), "no file");
        let listener = UnixListener::bind(&path).unwrap();
        assert!(accepts(&path), "listening");
        drop(listener);
        assert!(!accepts(&path), "stale file, nobody listening");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn millis_keep_a_tenth() {
        assert_eq!(millis(Duration::from_micros(12_345)), 12.3);
        assert_eq!(millis(Duration::ZERO), 0.0);
    }
}

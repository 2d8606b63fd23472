//! The checks of the EAL arguments that touch the system, apart from the
//! pure rewriting in [`super::eal`]: each vhost-user socket is probed (a
//! connection attempt on a thread of its own, with a timeout), a stale
//! socket in a `server=1` vdev's place is removed, and the NUMA nodes are
//! read from sysfs.

use super::eal::{self, fit_socket_mem, prepare, Prepared, VirtioUser};
use std::io;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// The longest socket path the kernel takes: `sun_path` is 108 bytes with its
/// NUL. DPDK copies longer paths truncated and so binds or connects elsewhere.
const SUN_PATH_MAX: usize = 107;

/// How long a connection probe may wait. Connecting to a Unix socket completes
/// without `accept` unless the listener's queue is full, which only a hung
/// server lets happen; without a limit the probe would hang with it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// What is wrong with a vhost-user socket (or, from [`ready`], with the EAL
/// arguments). Each message is one line naming the vdev, path or option and
/// what to do instead.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The arguments themselves, from [`prepare`].
    #[error(transparent)]
    Args(#[from] eal::Error),
    /// A vdev without `path=` (only hand-built ones: [`prepare`] refuses them).
    #[error("{vdev}: virtio_user needs path=<vhost-user socket>, e.g. --vdev '{vdev},path=/var/run/openvswitch/vhost-user1'")]
    NoPath {
        /// The vdev.
        vdev: String,
    },
    /// A path the kernel cannot take whole (DPDK would truncate it).
    #[error("{vdev}: socket path {} is {len} bytes; Unix socket paths must be at most {SUN_PATH_MAX} bytes", path.display())]
    PathTooLong {
        /// The vdev name.
        vdev: String,
        /// The path.
        path: PathBuf,
        /// Its length in bytes.
        len: usize,
    },
    /// Client: nothing at the path.
    #[error("{vdev}: vhost-user socket {} does not exist (is the switch running and the port created?)", path.display())]
    NotFound {
        /// The vdev name.
        vdev: String,
        /// The path.
        path: PathBuf,
    },
    /// Client: something other than a socket or a character device at the path.
    #[error("{vdev}: {} is not a socket (expected the switch's vhost-user socket)", path.display())]
    NotSocket {
        /// The vdev name.
        vdev: String,
        /// The path.
        path: PathBuf,
    },
    /// Client: a socket nobody listens on (a stopped switch, or a
    /// `dpdkvhostuserclient` port, which wants `server=1` here).
    #[error("{vdev}: vhost-user socket {} refuses connections (is the switch running? a dpdkvhostuserclient port needs server=1 here)", path.display())]
    Refused {
        /// The vdev name.
        vdev: String,
        /// The path.
        path: PathBuf,
    },
    /// Client: a listener whose queue is full, i.e. a hung server.
    #[error("{vdev}: vhost-user socket {} did not take a connection within {}s (is the process serving it hung?)", path.display(), CONNECT_TIMEOUT.as_secs())]
    Unresponsive {
        /// The vdev name.
        vdev: String,
        /// The path.
        path: PathBuf,
    },
    /// Server: a live listener already owns the path, so bind would fail.
    #[error("{vdev}: another process is serving {}; stop it or choose another path= (server=1 creates the socket itself)", path.display())]
    InUse {
        /// The vdev name.
        vdev: String,
        /// The path.
        path: PathBuf,
    },
    /// Server: a file that is not a socket is in the way; it is not ours to delete.
    #[error("{vdev}: {} exists and is not a socket; move it away or choose another path= (server=1 creates the socket there)", path.display())]
    Occupied {
        /// The vdev name.
        vdev: String,
        /// The path.
        path: PathBuf,
    },
    /// Server: the socket's directory is missing, so bind would fail.
    #[error("{vdev}: directory {} for the server=1 socket does not exist; create it or fix path=", dir.display())]
    NoDir {
        /// The vdev name.
        vdev: String,
        /// The missing directory.
        dir: PathBuf,
    },
    /// Anything else the filesystem or a connection attempt reported.
    #[error("{vdev}: cannot {action} {}: {source}", path.display())]
    Io {
        /// The vdev name.
        vdev: String,
        /// What was being done, e.g. "connect to".
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// The outcome of one connection attempt.
enum Probe {
    /// Something listens and took the connection (now closed again).
    Listening,
    /// Nobody listens: `ECONNREFUSED`.
    Refused,
    /// Something listens but its queue stayed full for [`CONNECT_TIMEOUT`].
    Stalled,
    /// Any other error.
    Failed(io::Error),
}

/// Connects to the socket at `path` and closes the connection right away.
fn probe(path: &Path) -> Probe {
    let (done, outcome) = mpsc::channel();
    let target = path.to_path_buf();
    // On a full queue connect() blocks until the server accepts, so it runs on
    // its own thread; after a timeout that thread is left to finish or not.
    let spawned = thread::Builder::new()
        .name("vhost-probe".into())
        .spawn(move || {
            // The receiver may be gone after a timeout; nothing to tell then.
            let _ = done.send(UnixStream::connect(target).map(drop));
        });
    if let Err(e) = spawned {
        return Probe::Failed(e);
    }
    match outcome.recv_timeout(CONNECT_TIMEOUT) {
        Ok(Ok(())) => Probe::Listening,
        Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => Probe::Refused,
        Ok(Err(e)) => Probe::Failed(e),
        Err(_) => Probe::Stalled,
    }
}

/// Refuses a socket path the kernel would not take whole.
fn check_length(vdev: &str, path: &Path) -> Result<(), Error> {
    let len = path.as_os_str().len();
    if len > SUN_PATH_MAX {
        return Err(Error::PathTooLong {
            vdev: vdev.to_owned(),
            path: path.to_path_buf(),
            len,
        });
    }
    Ok(())
}

/// Client mode: the switch's socket must be there and take connections.
/// Returns a notice for a character device, which DPDK drives as a
/// vhost-kernel or vhost-vdpa backend rather than vhost-user.
fn check_client(vdev: &str, path: &Path) -> Result<Option<String>, Error> {
    let not_found = || Error::NotFound {
        vdev: vdev.to_owned(),
        path: path.to_path_buf(),
    };
    let io_error = |action, source| Error::Io {
        vdev: vdev.to_owned(),
        action,
        path: path.to_path_buf(),
        source,
    };
    // stat() follows symlinks, as DPDK's backend detection does.
    let kind = match std::fs::metadata(path) {
        Ok(meta) => meta.file_type(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(not_found()),
        Err(e) => return Err(io_error("inspect", e)),
    };
    if kind.is_char_device() {
        return Ok(Some(format!(
            "{vdev}: {} is a character device, which DPDK uses as a vhost-kernel \
             or vhost-vdpa backend; not checked",
            path.display()
        )));
    }
    if !kind.is_socket() {
        return Err(Error::NotSocket {
            vdev: vdev.to_owned(),
            path: path.to_path_buf(),
        });
    }
    check_length(vdev, path)?;
    match probe(path) {
        Probe::Listening => Ok(None),
        Probe::Refused => Err(Error::Refused {
            vdev: vdev.to_owned(),
            path: path.to_path_buf(),
        }),
        Probe::Stalled => Err(Error::Unresponsive {
            vdev: vdev.to_owned(),
            path: path.to_path_buf(),
        }),
        Probe::Failed(e) if e.kind() == io::ErrorKind::NotFound => Err(not_found()),
        Probe::Failed(e) => Err(io_error("connect to", e)),
    }
}

/// Server mode: the path must be free for DPDK's bind, in an existing
/// directory. A stale socket (nobody listening) is removed; returns the notices.
fn check_server(vdev: &str, path: &Path) -> Result<Vec<String>, Error> {
    let io_error = |action, source| Error::Io {
        vdev: vdev.to_owned(),
        action,
        path: path.to_path_buf(),
        source,
    };
    check_length(vdev, path)?;
    // A bare file name has the empty parent: the current directory.
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(Error::NoDir {
            vdev: vdev.to_owned(),
            dir: dir.to_path_buf(),
        });
    }
    let mut notices = Vec::new();
    // bind() does not follow symlinks: whatever has the name is in the way.
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error("inspect", e)),
        Ok(meta) if !meta.file_type().is_socket() => {
            return Err(Error::Occupied {
                vdev: vdev.to_owned(),
                path: path.to_path_buf(),
            })
        }
        Ok(_) => match probe(path) {
            Probe::Listening | Probe::Stalled => {
                return Err(Error::InUse {
                    vdev: vdev.to_owned(),
                    path: path.to_path_buf(),
                })
            }
            // Left by an earlier run that was killed before it could unlink it.
            Probe::Refused => match std::fs::remove_file(path) {
                Ok(()) => notices.push(format!(
                    "{vdev}: removed stale socket {} (nobody was listening)",
                    path.display()
                )),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("remove stale socket", e)),
            },
            // Gone in the meantime: the path is free.
            Probe::Failed(e) if e.kind() == io::ErrorKind::NotFound => {}
            Probe::Failed(e) => return Err(io_error("connect to", e)),
        },
    }
    notices.push(format!(
        "{vdev}: waiting for the switch to connect to {} (server=1)",
        path.display()
    ));
    Ok(notices)
}

/// Checks the vhost-user sockets before EAL init (filesystem side effects allowed):
///
/// - client (no `server=1`): the path must exist, be a socket, and accept a
///   connection (connected, then closed at once). A character device is
///   DPDK's vhost-kernel/vhost-vdpa backend: passed with a notice.
/// - `server=1`: the parent directory must exist. A socket at the path that
///   refuses connections (stale from an earlier run) is removed, with a
///   notice; a socket something listens on, or any other file, is an error
///   and is left alone. Always adds a "waiting for the switch" notice, since
///   EAL init then blocks until the switch connects.
///
/// Paths longer than the kernel's 107 bytes are refused. Returns the notices.
///
/// # Errors
///
/// Client: [`Error::NotFound`], [`Error::NotSocket`], [`Error::Refused`],
/// [`Error::Unresponsive`]. Server: [`Error::NoDir`], [`Error::InUse`],
/// [`Error::Occupied`]. Both: [`Error::PathTooLong`], [`Error::Io`], and
/// [`Error::NoPath`] for a vdev without a path.
pub fn check_sockets(vdevs: &[VirtioUser]) -> Result<Vec<String>, Error> {
    let mut notices = Vec::new();
    for vdev in vdevs {
        let Some(path) = vdev.path.as_deref() else {
            return Err(Error::NoPath {
                vdev: vdev.name.clone(),
            });
        };
        if vdev.server {
            notices.extend(check_server(&vdev.name, path)?);
        } else {
            notices.extend(check_client(&vdev.name, path)?);
        }
    }
    Ok(notices)
}

/// What both binaries do to their EAL arguments before `rte_eal_init`:
/// [`prepare`], [`fit_socket_mem`] for this machine, then [`check_sockets`];
/// the notices of all three in order.
///
/// # Errors
///
/// Those of [`prepare`] and [`check_sockets`].
pub fn ready(eal_args: &[String]) -> Result<Prepared, Error> {
    let mut prepared = prepare(eal_args)?;
    let fitted = fit_socket_mem(&mut prepared.args, numa_nodes());
    prepared.notices.extend(fitted);
    prepared
        .notices
        .extend(check_sockets(&prepared.virtio_users)?);
    Ok(prepared)
}

/// NUMA nodes this machine has (1 where sysfs does not say).
pub fn numa_nodes() -> usize {
    std::fs::read_dir("/sys/devices/system/node")
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    name.strip_prefix("node")
                        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                })
                .count()
        })
        .unwrap_or(0)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(test: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("eal-args-{}-{test}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create temp dir");
            Self(dir)
        }

        fn join(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn vdev(path: &Path, server: bool) -> VirtioUser {
        VirtioUser {
            name: "net_virtio_user2".into(),
            path: Some(path.to_path_buf()),
            server,
            args: format!("path={}", path.display()),
        }
    }

    #[test]
    fn client_missing_path() {
        let dir = TempDir::new("client-missing");
        let path = dir.join("vhost-user2");
        let err = check_sockets(&[vdev(&path, false)]).unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            format!(
                "net_virtio_user2: vhost-user socket {} does not exist \
                 (is the switch running and the port created?)",
                path.display()
            )
        );
    }

    #[test]
    fn client_regular_file() {
        let dir = TempDir::new("client-file");
        let path = dir.join("vhost-user2");
        std::fs::write(&path, b"").unwrap();
        let err = check_sockets(&[vdev(&path, false)]).unwrap_err();
        assert!(matches!(err, Error::NotSocket { .. }), "{err}");
        assert!(err.to_string().contains("is not a socket"));
    }

    #[test]
    fn client_live_listener() {
        let dir = TempDir::new("client-live");
        let path = dir.join("vhost-user2");
        let _listener = UnixListener::bind(&path).unwrap();
        assert_eq!(
            check_sockets(&[vdev(&path, false)]).unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn client_stale_socket_refuses() {
        let dir = TempDir::new("client-stale");
        let path = dir.join("vhost-user2");
        drop(UnixListener::bind(&path).unwrap());
        let err = check_sockets(&[vdev(&path, false)]).unwrap_err();
        assert!(matches!(err, Error::Refused { .. }), "{err}");
        assert!(err.to_string().contains("refuses connections"));
        assert!(path.exists(), "a client never removes the switch's socket");
    }

    #[test]
    fn server_stale_socket_is_removed() {
        let dir = TempDir::new("server-stale");
        let path = dir.join("vhost-user2");
        drop(UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let notices = check_sockets(&[vdev(&path, true)]).unwrap();
        assert!(!path.exists());
        assert_eq!(notices.len(), 2);
        assert!(notices[0].contains("removed stale socket"), "{notices:?}");
        assert_eq!(
            notices[1],
            format!(
                "net_virtio_user2: waiting for the switch to connect to {} (server=1)",
                path.display()
            )
        );
        // The path is free now: DPDK's bind would succeed.
        drop(UnixListener::bind(&path).unwrap());
    }

    #[test]
    fn server_free_path_only_waits() {
        let dir = TempDir::new("server-free");
        let notices = check_sockets(&[vdev(&dir.join("vhost-user2"), true)]).unwrap();
        assert_eq!(notices.len(), 1);
        assert!(notices[0].contains("waiting for the switch"));
    }

    #[test]
    fn server_live_listener() {
        let dir = TempDir::new("server-live");
        let path = dir.join("vhost-user2");
        let _listener = UnixListener::bind(&path).unwrap();
        let err = check_sockets(&[vdev(&path, true)]).unwrap_err();
        assert!(matches!(err, Error::InUse { .. }), "{err}");
        assert!(err
            .to_string()
            .contains(&format!("another process is serving {}", path.display())));
        assert!(path.exists());
    }

    #[test]
    fn server_regular_file_is_kept() {
        let dir = TempDir::new("server-file");
        let path = dir.join("vhost-user2");
        std::fs::write(&path, b"keep me").unwrap();
        let err = check_sockets(&[vdev(&path, true)]).unwrap_err();
        assert!(matches!(err, Error::Occupied { .. }), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
    }

    #[test]
    fn server_parent_missing() {
        let dir = TempDir::new("server-nodir");
        let missing = dir.join("missing");
        let err = check_sockets(&[vdev(&missing.join("vhost-user2"), true)]).unwrap_err();
        assert!(
            matches!(err, Error::NoDir { ref dir, .. } if *dir == missing),
            "{err}"
        );
    }

    #[test]
    fn overlong_path_is_refused() {
        let long = PathBuf::from(format!("/tmp/{}", "s".repeat(SUN_PATH_MAX)));
        let err = check_sockets(&[vdev(&long, true)]).unwrap_err();
        assert!(matches!(err, Error::PathTooLong { len, .. } if len == SUN_PATH_MAX + 5));
    }

    #[test]
    fn character_device_is_not_probed() {
        let notices = check_sockets(&[vdev(Path::new("/dev/null"), false)]).unwrap();
        assert_eq!(notices.len(), 1);
        assert!(notices[0].contains("character device"), "{notices:?}");
    }
}

//! The EAL part of the command line, checked and adjusted before `rte_eal_init`
//! so that DPDK's `virtio_user` vdev works against a vhost-user switch
//! (OVS-DPDK) and its failures are one clear line instead of a hang, a crash
//! or a port that silently does not exist.
//!
//! Measured with DPDK 22.11 and read from its `eal_common_options.c` and
//! `virtio_user_ethdev.c`:
//!
//! - vhost-user maps at most 8 memory regions. DPDK's default layout (one file
//!   per 2 MB hugepage) and `--legacy-mem` exceed that ("Too many memory
//!   regions"); `--single-file-segments` (with or without `--in-memory`) and
//!   `--no-huge` fit. [`prepare`] adds `--single-file-segments`.
//! - Without `--in-memory` a primary process leaves its hugepage files
//!   (`<prefix>map_*`) in hugetlbfs when it exits. [`prepare`] adds
//!   `--huge-unlink`, or `--in-memory` where `--single-file-segments` is in
//!   effect: the EAL refuses `--single-file-segments` with `--huge-unlink`
//!   unless `--in-memory` is given too. Give `--huge-unlink=existing` (DPDK's
//!   default) to keep the files.
//! - A client vdev (no `server=1`) needs a socket that accepts connections, or
//!   the vdev fails to probe and the port is missing; a server vdev
//!   (`server=1`) fails to bind over a stale socket file and then waits in EAL
//!   init for the switch. [`check_sockets`](super::system::check_sockets)
//!   checks both before EAL init, apart from this module's pure functions.
//!
//! Options are recognised the way the EAL's `getopt_long` does: `--opt value`,
//! `--opt=value`, unambiguous prefixes of long options, short options with an
//! attached value (`-c0x3`), and parsing stops at `--`.

use std::path::PathBuf;

/// Whether an EAL long option takes a value (`has_arg` in `getopt_long`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Arity {
    /// A flag.
    None,
    /// `--opt value` or `--opt=value`.
    Required,
    /// Only `--opt=value`; a following word is not its value.
    Optional,
}

/// DPDK 22.11's `eal_long_options`, complete: prefixes are resolved against
/// this table as `getopt_long` does, so it must not list options the EAL lacks.
const LONG_OPTIONS: &[(&str, Arity)] = &[
    ("base-virtaddr", Arity::Required),
    ("create-uio-dev", Arity::None),
    ("file-prefix", Arity::Required),
    ("help", Arity::None),
    ("huge-dir", Arity::Required),
    ("huge-unlink", Arity::Optional),
    ("iova-mode", Arity::Required),
    ("lcores", Arity::Required),
    ("log-level", Arity::Required),
    ("trace", Arity::Required),
    ("trace-dir", Arity::Required),
    ("trace-bufsz", Arity::Required),
    ("trace-mode", Arity::Required),
    ("main-lcore", Arity::Required),
    ("mbuf-pool-ops-name", Arity::Required),
    ("no-hpet", Arity::None),
    ("no-huge", Arity::None),
    ("no-pci", Arity::None),
    ("no-shconf", Arity::None),
    ("in-memory", Arity::None),
    ("block", Arity::Required),
    ("allow", Arity::Required),
    ("proc-type", Arity::Required),
    ("socket-mem", Arity::Required),
    ("socket-limit", Arity::Required),
    ("syslog", Arity::Required),
    ("vdev", Arity::Required),
    ("vfio-intr", Arity::Required),
    ("vfio-vf-token", Arity::Required),
    ("vmware-tsc-map", Arity::None),
    ("legacy-mem", Arity::None),
    ("single-file-segments", Arity::None),
    ("match-allocations", Arity::None),
    ("telemetry", Arity::None),
    ("no-telemetry", Arity::None),
    ("force-max-simd-bitwidth", Arity::Required),
    ("huge-worker-stack", Arity::Optional),
];

/// The EAL short options that take a value (`a:b:c:d:l:m:n:r:s:S:`, plus the
/// older `-w`); the others (`-h`, `-v`) are flags and may be clustered.
const SHORT_WITH_VALUE: &[char] = &['a', 'b', 'c', 'd', 'l', 'm', 'n', 'r', 's', 'S', 'w'];

/// A virtio_user vdev found on the EAL command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtioUser {
    /// The device name as given, e.g. `net_virtio_user2`.
    pub name: String,
    /// `path=`: the vhost-user socket (or a vhost-kernel/vhost-vdpa device).
    /// Always `Some` in what [`prepare`] returns; a vdev without it is an error.
    pub path: Option<PathBuf>,
    /// `server=1`: this process creates the socket and the switch connects to it.
    pub server: bool,
    /// The devargs after the name (`path=...,mac=...`), as given: what a
    /// re-attach probes the device with again.
    pub args: String,
}

/// What `prepare` decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The EAL arguments to pass to `rte_eal_init` (`argv[0]` first), possibly with options added.
    pub args: Vec<String>,
    /// One line each, to print before EAL init after the program's name (e.g.
    /// "virtio_user vdevs present: adding --single-file-segments (vhost-user
    /// maps at most 8 memory regions)": `vnf-fwd: ...`, `vnf-gen: ...`).
    pub notices: Vec<String>,
    /// The virtio_user vdevs, in order.
    pub virtio_users: Vec<VirtioUser>,
}

/// What is wrong with the EAL arguments. Each message is one line naming the
/// vdev or option and what to do instead.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No `argv[0]`: the EAL skips the first argument, so there is nowhere to
    /// put options in front of the user's.
    #[error("no EAL arguments: argv[0] (the program name) is missing")]
    NoProgramName,
    /// `--legacy-mem` with hugepages maps one file per page, more regions than
    /// vhost-user takes, and the EAL refuses `--single-file-segments` with it.
    #[error("{vdev}: --legacy-mem maps more memory regions than vhost-user's 8; drop it (vnf-fwd then adds --single-file-segments) or use --no-huge -m N")]
    LegacyMem {
        /// The first virtio_user vdev.
        vdev: String,
    },
    /// A virtio_user vdev without `path=` (or with an empty one) never probes.
    #[error("{vdev}: virtio_user needs path=<vhost-user socket>, e.g. --vdev '{vdev},path=/var/run/openvswitch/vhost-user1'")]
    NoPath {
        /// The vdev name.
        vdev: String,
    },
    /// A key given twice: DPDK then refuses `path=` ("mandatory") and
    /// silently ignores `server=`.
    #[error("{vdev}: {key}= is given more than once; give it once")]
    DuplicateKey {
        /// The vdev name.
        vdev: String,
        /// `path` or `server`.
        key: &'static str,
    },
    /// `server=` other than 0 or 1: DPDK reads it with `strtoull`, so
    /// `server=true` would silently mean client.
    #[error("{vdev}: server={value} is not 0 or 1; use server=1 (vnf-fwd listens, for OVS dpdkvhostuserclient ports) or server=0 (vnf-fwd connects, for dpdkvhostuser ports)")]
    ServerValue {
        /// The vdev name.
        vdev: String,
        /// The value as given.
        value: String,
    },
    /// Two vdevs on one socket: the second bind fails, or the switch sees two
    /// front ends on one port.
    #[error("{vdev}: path {} is already used by {other}; each virtio_user vdev needs its own socket", path.display())]
    SharedPath {
        /// The later vdev.
        vdev: String,
        /// The earlier vdev with the same path.
        other: String,
        /// The shared path.
        path: PathBuf,
    },
}

/// `--huge-unlink[=...]` as given.
#[derive(Clone, Copy, PartialEq, Eq)]
enum HugeUnlink {
    /// Absent.
    Absent,
    /// Bare or `=always`: files are removed before mapping.
    Always,
    /// `=existing`, `=never` or a value the EAL will refuse: the user chose.
    Other,
}

/// The EAL options this module acts on, as the EAL would read them.
struct EalView {
    /// `--vdev` values in order.
    vdevs: Vec<String>,
    /// `--in-memory`.
    in_memory: bool,
    /// `--no-huge`.
    no_huge: bool,
    /// `--single-file-segments`.
    single_file_segments: bool,
    /// `--legacy-mem`.
    legacy_mem: bool,
    /// `--huge-unlink[=...]`.
    huge_unlink: HugeUnlink,
    /// Whether this is (or may be) a primary process; only a primary creates
    /// hugepage files, and `--in-memory` would stop a secondary from attaching.
    primary: bool,
    /// `--file-prefix`.
    file_prefix: Option<String>,
}

/// Looks a long option up as `getopt_long` does: an exact name, else a
/// prefix of exactly one name. Unknown and ambiguous ones are the EAL's to
/// refuse, so they are skipped here.
fn resolve_long(name: &str) -> Option<(&'static str, Arity)> {
    if let Some(&exact) = LONG_OPTIONS.iter().find(|(n, _)| *n == name) {
        return Some(exact);
    }
    let mut matches = LONG_OPTIONS.iter().filter(|(n, _)| n.starts_with(name));
    match (matches.next(), matches.next()) {
        (Some(&only), None) if !name.is_empty() => Some(only),
        _ => None,
    }
}

/// One recognised long option, read as the EAL's `getopt_long` reads it.
struct LongOption {
    /// Its full name (`socket-mem`, also for `--socket`).
    name: &'static str,
    /// Its value, if it has one.
    value: Option<String>,
    /// Where the value is: the index of its word in `args` and its byte
    /// offset in that word (after the `=` of `--opt=value`, else 0).
    value_at: (usize, usize),
}

/// The long options of `args` (argv[0] first) in order, up to `--`: exact
/// names and unambiguous prefixes, `--opt value` and `--opt=value`, skipping
/// short options and their values.
fn long_options(args: &[String]) -> Vec<LongOption> {
    let mut found = Vec::new();
    let mut i = 1;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (long, None),
            };
            let Some((name, arity)) = resolve_long(name) else {
                continue;
            };
            let (value, value_at) = match (arity, inline) {
                // `--flag=x` is an EAL error, so it sets nothing here.
                (Arity::None, Some(_)) => continue,
                (Arity::None | Arity::Optional, None) => (None, (i - 1, 0)),
                (_, Some(v)) => (Some(v.to_owned()), (i - 1, arg.len() - v.len())),
                // getopt takes the next word whatever it looks like.
                (Arity::Required, None) => match args.get(i) {
                    Some(v) => {
                        i += 1;
                        (Some(v.clone()), (i - 1, 0))
                    }
                    None => (None, (i - 1, 0)),
                },
            };
            found.push(LongOption {
                name,
                value,
                value_at,
            });
        } else if let Some(cluster) = arg.strip_prefix('-') {
            // The first short option that takes a value ends the cluster; its
            // value is the rest of the word, or the next word.
            if let Some(at) = cluster.find(SHORT_WITH_VALUE) {
                if cluster.len() == at + 1 {
                    i += 1;
                }
            }
        }
        // Anything else is a bare word, which getopt moves past the options.
    }
    found
}

/// Reads the options this module acts on from `args` (argv[0] first).
fn scan(args: &[String]) -> EalView {
    let mut view = EalView {
        vdevs: Vec::new(),
        in_memory: false,
        no_huge: false,
        single_file_segments: false,
        legacy_mem: false,
        huge_unlink: HugeUnlink::Absent,
        primary: true,
        file_prefix: None,
    };
    for option in long_options(args) {
        apply(&mut view, option.name, option.value);
    }
    view
}

/// Records one recognised long option.
fn apply(view: &mut EalView, option: &str, value: Option<String>) {
    match (option, value) {
        ("vdev", Some(devargs)) => view.vdevs.push(devargs),
        ("in-memory", _) => view.in_memory = true,
        ("no-huge", _) => view.no_huge = true,
        ("single-file-segments", _) => view.single_file_segments = true,
        ("legacy-mem", _) => view.legacy_mem = true,
        ("huge-unlink", value) => {
            view.huge_unlink = match value.as_deref() {
                None | Some("always") => HugeUnlink::Always,
                Some(_) => HugeUnlink::Other,
            }
        }
        // The EAL compares case-insensitively; the last one given counts.
        ("proc-type", Some(kind)) => view.primary = kind.eq_ignore_ascii_case("primary"),
        ("file-prefix", Some(prefix)) => view.file_prefix = Some(prefix),
        _ => {}
    }
}

/// Parses one `--vdev` value; `None` if it is not a virtio_user vdev.
fn parse_vdev(devargs: &str) -> Result<Option<VirtioUser>, Error> {
    let mut fields = devargs.split(',');
    let name = fields.next().unwrap_or_default();
    // The vdev bus matches a driver name or its alias as a prefix.
    let driver = name.strip_prefix("net_").unwrap_or(name);
    if !driver.starts_with("virtio_user") {
        return Ok(None);
    }
    let mut path = None;
    let mut server = None;
    for field in fields {
        let (key, value) = field.split_once('=').unwrap_or((field, ""));
        let (key, slot) = match key {
            "path" => ("path", &mut path),
            "server" => ("server", &mut server),
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return Err(Error::DuplicateKey {
                vdev: name.to_owned(),
                key,
            });
        }
    }
    let server = match server {
        None | Some("0") => false,
        Some("1") => true,
        Some(value) => {
            return Err(Error::ServerValue {
                vdev: name.to_owned(),
                value: value.to_owned(),
            })
        }
    };
    match path {
        Some(path) if !path.is_empty() => Ok(Some(VirtioUser {
            name: name.to_owned(),
            path: Some(PathBuf::from(path)),
            server,
            args: devargs.split_once(',').map_or("", |(_, a)| a).to_owned(),
        })),
        _ => Err(Error::NoPath {
            vdev: name.to_owned(),
        }),
    }
}

/// One notice line.
/// Pure: inspects and adjusts EAL args, no filesystem access.
///
/// - virtio_user present + `--legacy-mem` (with hugepages) -> [`Error::LegacyMem`].
/// - virtio_user present + `--no-huge` -> unchanged.
/// - virtio_user present + no `--single-file-segments` (incl. `--in-memory`
///   alone) -> `--single-file-segments` added, with a notice.
/// - a primary process with hugepages, no `--in-memory` and no
///   `--huge-unlink[=...]` -> `--huge-unlink` added so no hugepage files
///   outlive the process; `--in-memory` instead where
///   `--single-file-segments` is in effect, since the EAL refuses it with
///   `--huge-unlink` unless `--in-memory` is given. `--in-memory` is also
///   added when the user's own bare `--huge-unlink` meets the added
///   `--single-file-segments`.
/// - a virtio_user vdev without `path=`, with a key twice, with `server=`
///   other than 0 or 1, or on another vdev's path -> error.
///
/// Added options go right after `argv[0]` (EAL parses options in any order; the
/// user's `--` separator is not part of these args).
///
/// # Errors
///
/// [`Error::NoProgramName`] for empty `eal_args`, [`Error::LegacyMem`], and the
/// vdev errors [`Error::NoPath`], [`Error::DuplicateKey`],
/// [`Error::ServerValue`] and [`Error::SharedPath`].
pub fn prepare(eal_args: &[String]) -> Result<Prepared, Error> {
    let Some(program) = eal_args.first() else {
        return Err(Error::NoProgramName);
    };
    let view = scan(eal_args);
    let mut virtio_users: Vec<VirtioUser> = Vec::new();
    for devargs in &view.vdevs {
        let Some(vdev) = parse_vdev(devargs)? else {
            continue;
        };
        if let Some(other) = virtio_users.iter().find(|v| v.path == vdev.path) {
            return Err(Error::SharedPath {
                other: other.name.clone(),
                path: vdev.path.unwrap_or_default(),
                vdev: vdev.name,
            });
        }
        virtio_users.push(vdev);
    }

    let mut added: Vec<&str> = Vec::new();
    let mut notices = Vec::new();
    // --no-huge is legacy memory inside the EAL too, but one memfd segment,
    // which fits; only hugepage-backed legacy memory is too fragmented.
    let add_segments = match virtio_users.first() {
        Some(first) if view.legacy_mem && !view.no_huge => {
            return Err(Error::LegacyMem {
                vdev: first.name.clone(),
            })
        }
        Some(_) => !view.no_huge && !view.single_file_segments,
        None => false,
    };
    if add_segments {
        added.push("--single-file-segments");
        notices.push(String::from(
            "virtio_user vdevs present: adding --single-file-segments \
             (vhost-user maps at most 8 memory regions)",
        ));
    }

    let single_file = view.single_file_segments || add_segments;
    let leaves_files =
        view.primary && !view.no_huge && !view.in_memory && view.huge_unlink == HugeUnlink::Absent;
    // The EAL refuses --single-file-segments with --huge-unlink(=always)
    // unless --in-memory is given, and --in-memory with --legacy-mem at all.
    if single_file && !view.legacy_mem && leaves_files {
        added.push("--in-memory");
        notices.push(String::from(
            "adding --in-memory so no hugepage files outlive the process \
             (the EAL refuses --huge-unlink with --single-file-segments)",
        ));
    } else if add_segments
        && view.primary
        && view.huge_unlink == HugeUnlink::Always
        && !view.in_memory
    {
        added.push("--in-memory");
        notices.push(String::from(
            "adding --in-memory: the EAL accepts --huge-unlink with \
             --single-file-segments only together with --in-memory",
        ));
    } else if !single_file && leaves_files {
        added.push("--huge-unlink");
        notices.push(String::from(
            "adding --huge-unlink so no hugepage files outlive the process \
             (--huge-unlink=existing keeps them)",
        ));
    }

    let args = std::iter::once(program.as_str())
        .chain(added)
        .chain(eal_args[1..].iter().map(String::as_str))
        .map(str::to_owned)
        .collect();
    Ok(Prepared {
        args,
        notices,
        virtio_users,
    })
}

/// The runtime directory the EAL creates for `args` (argv\[0\] first; see
/// [`crate::dpdk::runtime_dir`]), and whether this process is its primary
/// (`--proc-type auto` may not be): what to clean up when the process has to
/// end before `rte_eal_init` returns.
pub fn runtime_dir(args: &[String]) -> (PathBuf, bool) {
    let view = scan(args);
    (
        crate::dpdk::runtime_dir(view.file_prefix.as_deref()),
        view.primary,
    )
}

/// Trims `--socket-mem A,B,...` to the `nodes` NUMA nodes this machine has:
/// the write-up's `--socket-mem 1024,1024` (two sockets) otherwise fails on
/// one-node machines with "Not enough memory available on socket 1". Memory
/// asked of absent nodes is dropped, with a notice; returns that notice.
///
/// The option is found as the EAL finds it (`--socket-m 1,1` too).
pub fn fit_socket_mem(args: &mut [String], nodes: usize) -> Option<String> {
    let option = long_options(args)
        .into_iter()
        .find(|o| o.name == "socket-mem")?;
    let amounts = option.value?;
    let parts: Vec<&str> = amounts.split(',').collect();
    if parts.len() <= nodes || parts[nodes..].iter().all(|p| p.trim() == "0") {
        return None;
    }
    let kept = parts[..nodes].join(",");
    let text = format!(
        "--socket-mem {amounts} names {} NUMA nodes, this machine has {nodes}: using --socket-mem {kept}",
        parts.len()
    );
    let (word, offset) = option.value_at;
    args[word].replace_range(offset.., &kept);
    Some(text)
}

#[cfg(test)]
mod tests {
    #[test]
    fn socket_mem_fits_the_machine() {
        let mut a = super::tests::strings(&[
            "vnf-fwd",
            "-n",
            "1",
            "--socket-mem",
            "1024,1024",
            "--no-pci",
        ]);
        let n = super::fit_socket_mem(&mut a, 1).expect("notice");
        assert!(n.contains("using --socket-mem 1024"), "{n}");
        assert_eq!(
            a,
            super::tests::strings(&["vnf-fwd", "-n", "1", "--socket-mem", "1024", "--no-pci"])
        );
        let mut b = super::tests::strings(&["vnf-fwd", "--socket-mem=512,256,128"]);
        assert!(super::fit_socket_mem(&mut b, 2).is_some());
        assert_eq!(
            b,
            super::tests::strings(&["vnf-fwd", "--socket-mem=512,256"])
        );
        // Found as the EAL finds it: a prefix, after a short option's value.
        let mut p = super::tests::strings(&["vnf-fwd", "-l", "1", "--socket-m", "64,64"]);
        assert!(super::fit_socket_mem(&mut p, 1).is_some());
        assert_eq!(
            p,
            super::tests::strings(&["vnf-fwd", "-l", "1", "--socket-m", "64"])
        );
        let mut q = super::tests::strings(&["vnf-fwd", "-m", "--socket-mem=1,1"]);
        assert_eq!(super::fit_socket_mem(&mut q, 1), None, "-m's value");
        // `--socket` is ambiguous (socket-mem, socket-limit): the EAL's to refuse.
        let mut r = super::tests::strings(&["vnf-fwd", "--socket", "64,64"]);
        assert_eq!(super::fit_socket_mem(&mut r, 1), None);
        for args in [
            &["vnf-fwd", "--socket-mem", "1024"][..],
            &["vnf-fwd", "--socket-mem=1024,0"],
            &["vnf-fwd"],
        ] {
            let mut c = super::tests::strings(args);
            assert_eq!(super::fit_socket_mem(&mut c, 1), None);
            assert_eq!(c, super::tests::strings(args));
        }
    }

    use super::*;

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    fn prepared(words: &[&str]) -> Prepared {
        prepare(&strings(words)).expect("prepare")
    }

    #[test]
    fn runtime_dir_follows_file_prefix_and_proc_type() {
        let dpdk = crate::dpdk::runtime_dir(None);
        assert!(dpdk.ends_with("dpdk/rte"), "{}", dpdk.display());
        let dpdk = dpdk.parent().unwrap();
        let dir = |words: &[&str]| runtime_dir(&strings(words));
        assert_eq!(dir(&["app", "--in-memory"]), (dpdk.join("rte"), true));
        assert_eq!(
            dir(&["app", "--file-prefix", "p1"]),
            (dpdk.join("p1"), true)
        );
        assert_eq!(
            dir(&["app", "--file-prefix=p2", "--proc-type", "auto"]),
            (dpdk.join("p2"), false)
        );
        // getopt's unique abbreviation; after `--` come the app's options.
        assert_eq!(dir(&["app", "--file-pre", "p3"]).0, dpdk.join("p3"));
        assert_eq!(
            dir(&["app", "--", "--file-prefix", "p4"]).0,
            dpdk.join("rte")
        );
    }

    /// The example command line from the virtio_user write-up.
    const WRITE_UP: &[&str] = &[
        "vnf-fwd",
        "-c",
        "0xE0",
        "-n",
        "1",
        "--socket-mem",
        "1024,1024",
        "--file-prefix",
        "testpmd",
        "--no-pci",
        "--vdev",
        "net_virtio_user2,mac=00:00:00:00:00:02,path=/var/run/openvswitch/vhost-user2",
        "--vdev",
        "net_virtio_user3,mac=00:00:00:00:00:03,path=/var/run/openvswitch/vhost-user3",
    ];

    #[test]
    fn no_vdevs_in_memory_is_unchanged() {
        let args = ["vnf-fwd", "-l", "0-1", "--in-memory", "--no-pci"];
        let p = prepared(&args);
        assert_eq!(p.args, strings(&args));
        assert!(p.notices.is_empty());
        assert!(p.virtio_users.is_empty());
    }

    #[test]
    fn no_vdevs_without_in_memory_adds_huge_unlink() {
        let p = prepared(&["vnf-fwd", "-l", "0-1", "--vdev", "net_null0"]);
        assert_eq!(
            p.args,
            strings(&[
                "vnf-fwd",
                "--huge-unlink",
                "-l",
                "0-1",
                "--vdev",
                "net_null0"
            ])
        );
        assert_eq!(p.notices.len(), 1);
        assert!(p.notices[0].contains("--huge-unlink"), "{:?}", p.notices);
        assert!(p.virtio_users.is_empty());
    }

    #[test]
    fn write_up_line_gets_single_file_segments_and_in_memory() {
        let p = prepared(WRITE_UP);
        let mut expected = strings(&["vnf-fwd", "--single-file-segments", "--in-memory"]);
        expected.extend(strings(&WRITE_UP[1..]));
        assert_eq!(p.args, expected);
        assert_eq!(p.notices.len(), 2);
        assert_eq!(
            p.notices[0],
            "virtio_user vdevs present: adding --single-file-segments \
             (vhost-user maps at most 8 memory regions)"
        );
        assert_eq!(
            p.virtio_users,
            vec![
                VirtioUser {
                    name: "net_virtio_user2".into(),
                    path: Some("/var/run/openvswitch/vhost-user2".into()),
                    server: false,
                    args: "mac=00:00:00:00:00:02,path=/var/run/openvswitch/vhost-user2".into(),
                },
                VirtioUser {
                    name: "net_virtio_user3".into(),
                    path: Some("/var/run/openvswitch/vhost-user3".into()),
                    server: false,
                    args: "mac=00:00:00:00:00:03,path=/var/run/openvswitch/vhost-user3".into(),
                },
            ]
        );
    }

    #[test]
    fn vdev_equals_form_and_alias_name() {
        let p = prepared(&[
            "vnf-fwd",
            "--in-memory",
            "--vdev=virtio_user0,path=/tmp/vu0",
            "--vd=net_virtio_user1,path=/tmp/vu1",
        ]);
        let names: Vec<_> = p.virtio_users.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["virtio_user0", "net_virtio_user1"]);
        assert_eq!(p.virtio_users[0].path, Some(PathBuf::from("/tmp/vu0")));
    }

    #[test]
    fn in_memory_alone_gets_single_file_segments_only() {
        let p = prepared(&[
            "vnf-fwd",
            "--in-memory",
            "--vdev",
            "net_virtio_user1,path=/x",
        ]);
        assert_eq!(
            p.args,
            strings(&[
                "vnf-fwd",
                "--single-file-segments",
                "--in-memory",
                "--vdev",
                "net_virtio_user1,path=/x"
            ])
        );
        assert_eq!(p.notices.len(), 1);
        assert!(!p.args.iter().any(|a| a.starts_with("--huge-unlink")));
    }

    #[test]
    fn in_memory_with_single_file_segments_is_unchanged() {
        let args = [
            "vnf-fwd",
            "--in-memory",
            "--single-file-segments",
            "--vdev",
            "net_virtio_user1,path=/x",
        ];
        let p = prepared(&args);
        assert_eq!(p.args, strings(&args));
        assert!(p.notices.is_empty());
    }

    #[test]
    fn single_file_segments_without_in_memory_gets_in_memory() {
        let p = prepared(&[
            "vnf-fwd",
            "--single-file-segments",
            "--vdev",
            "virtio_user1,path=/x",
        ]);
        assert_eq!(p.args[1], "--in-memory");
        assert_eq!(p.args.len(), 5);
    }

    #[test]
    fn no_huge_is_unchanged() {
        let args = [
            "vnf-fwd",
            "--no-huge",
            "-m",
            "512",
            "--vdev",
            "net_virtio_user1,path=/x",
        ];
        let p = prepared(&args);
        assert_eq!(p.args, strings(&args));
        assert!(p.notices.is_empty());
        assert_eq!(p.virtio_users.len(), 1);
    }

    #[test]
    fn legacy_mem_with_virtio_is_an_error() {
        let err = prepare(&strings(&[
            "vnf-fwd",
            "--legacy-mem",
            "--vdev",
            "net_virtio_user2,path=/x",
        ]))
        .unwrap_err();
        assert!(matches!(err, Error::LegacyMem { ref vdev } if vdev == "net_virtio_user2"));
        let text = err.to_string();
        assert!(text.contains("--single-file-segments") && text.contains("--no-huge -m N"));
    }

    #[test]
    fn legacy_mem_without_virtio_gets_huge_unlink() {
        let p = prepared(&["vnf-fwd", "--legacy-mem"]);
        assert_eq!(
            p.args,
            strings(&["vnf-fwd", "--huge-unlink", "--legacy-mem"])
        );
    }

    #[test]
    fn missing_path_is_an_error() {
        for vdev in [
            "net_virtio_user2,mac=00:00:00:00:00:02",
            "virtio_user0,path=",
        ] {
            let err = prepare(&strings(&["vnf-fwd", "--vdev", vdev])).unwrap_err();
            assert!(matches!(err, Error::NoPath { .. }), "{vdev}: {err}");
            assert!(err.to_string().contains("path="));
        }
    }

    #[test]
    fn server_values() {
        let p = prepared(&[
            "vnf-fwd",
            "--vdev",
            "net_virtio_user1,path=/a,server=1",
            "--vdev",
            "net_virtio_user2,server=0,path=/b",
            "--vdev",
            "net_virtio_user3,path=/c",
        ]);
        let servers: Vec<_> = p.virtio_users.iter().map(|v| v.server).collect();
        assert_eq!(servers, [true, false, false]);
        let err = prepare(&strings(&[
            "x",
            "--vdev",
            "virtio_user0,path=/a,server=true",
        ]));
        assert!(matches!(err, Err(Error::ServerValue { ref value, .. }) if value == "true"));
    }

    #[test]
    fn duplicate_keys_and_shared_paths_are_errors() {
        let err = prepare(&strings(&["x", "--vdev", "virtio_user0,path=/a,path=/b"]));
        assert!(matches!(err, Err(Error::DuplicateKey { key: "path", .. })));
        let err = prepare(&strings(&[
            "x",
            "--vdev",
            "virtio_user0,path=/a",
            "--vdev",
            "virtio_user1,path=/a",
        ]))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "virtio_user1: path /a is already used by virtio_user0; \
             each virtio_user vdev needs its own socket"
        );
    }

    #[test]
    fn any_huge_unlink_counts_as_given() {
        for given in [
            "--huge-unlink=never",
            "--huge-unlink=existing",
            "--huge-unlink",
        ] {
            let args = ["vnf-fwd", given, "-l", "0"];
            let p = prepared(&args);
            assert_eq!(p.args, strings(&args), "{given}");
            assert!(p.notices.is_empty());
        }
    }

    #[test]
    fn bare_huge_unlink_with_added_segments_gets_in_memory() {
        let p = prepared(&["vnf-fwd", "--huge-unlink", "--vdev", "virtio_user0,path=/a"]);
        assert_eq!(&p.args[1..3], ["--single-file-segments", "--in-memory"]);
        let p = prepared(&[
            "vnf-fwd",
            "--huge-unlink=never",
            "--vdev",
            "virtio_user0,path=/a",
        ]);
        assert_eq!(
            &p.args[1..3],
            ["--single-file-segments", "--huge-unlink=never"]
        );
    }

    #[test]
    fn secondary_process_keeps_its_hugepage_handling() {
        let args = ["vnf-fwd", "--proc-type=secondary", "-l", "1"];
        assert_eq!(prepared(&args).args, strings(&args));
        let p = prepared(&["vnf-fwd", "--proc-type", "PRIMARY"]);
        assert_eq!(p.args[1], "--huge-unlink");
    }

    #[test]
    fn option_values_are_not_mistaken_for_options() {
        // "--in-memory" is the file prefix here, and "-c" swallows its value.
        let p = prepared(&[
            "vnf-fwd",
            "--file-prefix",
            "--in-memory",
            "-c0x3",
            "--no-pci",
        ]);
        assert_eq!(p.args[1], "--huge-unlink");
        // Parsing stops at "--"; "--in-m" is a unique prefix of --in-memory.
        let args = [
            "vnf-fwd",
            "--in-m",
            "-n",
            "--vdev",
            "--",
            "--vdev",
            "virtio_user0",
        ];
        let p = prepared(&args);
        assert_eq!(p.args, strings(&args));
        assert!(p.virtio_users.is_empty());
    }

    #[test]
    fn empty_args_are_an_error() {
        assert!(matches!(prepare(&[]), Err(Error::NoProgramName)));
    }
}

//! Ethernet ports: configuration, queues, start/stop/close, MAC, link, stats.

use super::{Errno, Error, MbufBurst, Mempool};
use std::cell::Cell;
use std::ffi::{c_char, CStr};
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};

/// How a port is set up.
#[derive(Clone, Copy, Debug)]
pub struct PortConfig {
    /// Receive descriptors per queue (adjusted to the device's limits).
    pub rxd: u16,
    /// Transmit descriptors per queue (adjusted to the device's limits).
    pub txd: u16,
    /// Receive queues; more than one turns on RSS where the device offers it.
    pub rx_queues: u16,
    /// Transmit queues.
    pub tx_queues: u16,
}

/// The hash functions RSS is asked for: IP addresses, and TCP and UDP ports
/// (testpmd's `--rss-ip`/`--rss-udp` together), as far as the device offers them.
const RSS_HASH_FUNCTIONS: u64 =
    ffi::RTE_ETH_RSS_IP as u64 | ffi::RTE_ETH_RSS_TCP as u64 | ffi::RTE_ETH_RSS_UDP as u64;

/// A marker that makes its holder invariant in `'a` (and leaves it `Send` and `Sync`).
type Invariant<'a> = PhantomData<fn(&'a ()) -> &'a ()>;

/// Port ids owned by a live [`Port`]: one owner per port id at a time.
static CLAIMED: [AtomicBool; ffi::RTE_MAX_ETHPORTS as usize] =
    [const { AtomicBool::new(false) }; ffi::RTE_MAX_ETHPORTS as usize];

/// The claim on one port id, released on drop.
struct Claim(u16);

impl Claim {
    fn take(id: u16) -> Result<Claim, Error> {
        match CLAIMED.get(usize::from(id)) {
            None => Err(Error::Port {
                port: id,
                op: "lookup",
                errno: Errno(libc::ENODEV),
            }),
            Some(slot) if slot.swap(true, Ordering::AcqRel) => Err(Error::PortClaimed { port: id }),
            Some(_) => Ok(Claim(id)),
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        CLAIMED[usize::from(self.0)].store(false, Ordering::Release);
    }
}

/// A configured Ethernet port with its rx and tx queues, stopped and closed on drop.
///
/// Each port id has one `Port` at a time: configuring it again while it
/// lives is an error ([`Error::PortClaimed`]).
///
/// `'pool` borrows the pools of every mbuf the port holds: the one its rx
/// queues fill from and those of the frames given to its tx queues (the
/// device frees them when it has sent them, or when the port is stopped).
/// The port cannot outlive that borrow, and its queues cannot outlive the
/// port:
///
/// ```compile_fail,E0505
/// # use vnf_fwd::dpdk::{Eal, Mempool, Port, PortConfig};
/// # fn main() -> Result<(), vnf_fwd::dpdk::Error> {
/// # let eal = Eal::init(&["doc".to_string()])?;
/// # let pool = Mempool::new(&eal, "pool", 1023, 0, -1)?;
/// # let cfg = PortConfig { rxd: 256, txd: 256, rx_queues: 1, tx_queues: 1 };
/// let port = Port::configure(0, &pool, cfg)?;
/// let queues = port.take_queues().unwrap();
/// drop(port); // error[E0505]: cannot move out of `port` because it is borrowed
/// queues.rx[0].queue();
/// # Ok(()) }
/// ```
///
/// Frames from a pool that may go before the port cannot be sent on it:
///
/// ```compile_fail,E0597
/// # use vnf_fwd::dpdk::{Eal, MbufBurst, Mempool, Port, PortConfig};
/// # fn main() -> Result<(), vnf_fwd::dpdk::Error> {
/// # let eal = Eal::init(&["doc".to_string()])?;
/// # let cfg = PortConfig { rxd: 256, txd: 256, rx_queues: 1, tx_queues: 1 };
/// let pool = Mempool::new(&eal, "pool", 1023, 0, -1)?;
/// let port = Port::configure(0, &pool, cfg)?;
/// {
///     let other = Mempool::new(&eal, "other", 1023, 0, -1)?;
///     let mut queues = port.take_queues().unwrap();
///     let mut burst = MbufBurst::new();
///     burst.alloc(&other, 1, 64, |_, frame| frame.fill(0));
///     queues.tx[0].tx_burst(&mut burst);
/// } // error[E0597]: `other` does not live long enough (the port's tx ring may hold its mbufs)
/// drop(port);
/// # Ok(()) }
/// ```
///
/// With the frames' pool outliving the port, and the queues gone before it:
///
/// ```no_run
/// # use vnf_fwd::dpdk::{Eal, MbufBurst, Mempool, Port, PortConfig};
/// # fn main() -> Result<(), vnf_fwd::dpdk::Error> {
/// # let eal = Eal::init(&["doc".to_string()])?;
/// # let cfg = PortConfig { rxd: 256, txd: 256, rx_queues: 1, tx_queues: 1 };
/// let pool = Mempool::new(&eal, "pool", 1023, 0, -1)?;
/// let port = Port::configure(0, &pool, cfg)?;
/// let mut queues = port.take_queues().unwrap();
/// let mut burst = MbufBurst::new();
/// burst.alloc(&pool, 1, 64, |_, frame| frame.fill(0));
/// queues.tx[0].tx_burst(&mut burst);
/// drop(queues);
/// drop(port);
/// # Ok(()) }
/// ```
pub struct Port<'pool> {
    id: u16,
    mac: [u8; 6],
    cfg: PortConfig,
    rss_hash_functions: u64,
    sends_chains: bool,
    /// The device name, as probed (and probed again by a re-attach).
    name: String,
    pub(super) started: Cell<bool>,
    /// False while a re-attach has removed the device and not probed it again.
    pub(super) attached: Cell<bool>,
    close_on_drop: bool,
    queues_taken: Cell<bool>,
    /// Dropped after `Drop::drop` has stopped and closed the port.
    _claim: Claim,
    /// Invariant: a `Port<'long>` cannot pass for a `Port<'short>`, or its
    /// tx queues would take frames from pools that go before it.
    _pool: Invariant<'pool>,
}

/// All queues of one port, each to be owned by the lane that polls or sends on it.
pub struct PortQueues<'port, 'pool> {
    /// Receive queues, by queue id.
    pub rx: Vec<RxQueue<'port, 'pool>>,
    /// Transmit queues, by queue id.
    pub tx: Vec<TxQueue<'port, 'pool>>,
}

/// Link state as `rte_eth_link_get_nowait` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    pub up: bool,
    pub speed_mbps: u32,
    pub full_duplex: bool,
}

/// The device's own counters (`rte_eth_stats_get`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortStats {
    pub ipackets: u64,
    pub opackets: u64,
    pub ibytes: u64,
    pub obytes: u64,
    /// Dropped by the device because rx queues were full.
    pub imissed: u64,
    pub ierrors: u64,
    pub oerrors: u64,
    pub rx_nombuf: u64,
}

impl<'pool> Port<'pool> {
    /// Claims port `id` and configures it with `cfg.rx_queues` rx queues
    /// filled from `pool` and `cfg.tx_queues` tx queues, with no packet-type
    /// parsing, as l2fwd does. Its tx queues send mbuf chains (multi-segment
    /// tx) when the device offers it (see [`Port::sends_chains`]); otherwise
    /// they drop chains, and use fast mbuf free when the device offers that
    /// (every mbuf comes from the process's one pool with refcount 1, and
    /// none is a chain). With more than one rx queue, RSS over IP addresses
    /// and TCP/UDP ports, as far as the device offers it (see
    /// [`Port::rss_hash_functions`]); without it, the queues are set up all
    /// the same and the device spreads frames over them its own way, if at all.
    pub fn configure(id: u16, pool: &'pool Mempool<'_>, cfg: PortConfig) -> Result<Self, Error> {
        let claim = Claim::take(id)?;
        let setup = setup(id, pool, cfg)?;
        Ok(Port {
            id,
            name: device_name(id),
            mac: setup.mac,
            cfg,
            rss_hash_functions: setup.rss_hash_functions,
            sends_chains: setup.sends_chains,
            started: Cell::new(false),
            attached: Cell::new(true),
            close_on_drop: true,
            queues_taken: Cell::new(false),
            _claim: claim,
            _pool: PhantomData,
        })
    }

    /// Starts the port.
    pub fn start(&mut self) -> Result<(), Error> {
        self.start_device()
    }

    /// `rte_eth_dev_start`, for `start` and a re-attach.
    pub(super) fn start_device(&self) -> Result<(), Error> {
        // SAFETY: the port is configured with its queues set up.
        let ret = unsafe { ffi::rte_eth_dev_start(self.id) };
        if ret < 0 {
            return Err(Error::Port {
                port: self.id,
                op: "rte_eth_dev_start",
                errno: Errno::from_ret(ret),
            });
        }
        self.started.set(true);
        Ok(())
    }

    /// Makes drop only stop the port, leaving the close to process exit.
    ///
    /// For virtio_user ports with `server=1`: in DPDK 22.11, closing one that
    /// has reconnected to its switch closes the connection's fd while the EAL
    /// interrupt thread still polls it, which panics that thread ("Error adding
    /// fd N epoll_ctl, Bad file descriptor") and aborts the process.
    pub fn leave_open_at_exit(&mut self) {
        self.close_on_drop = false;
    }

    /// Enables promiscuous mode.
    pub fn enable_promiscuous(&self) -> Result<(), Error> {
        // SAFETY: plain control call on a configured port.
        let ret = unsafe { ffi::rte_eth_promiscuous_enable(self.id) };
        if ret != 0 {
            return Err(Error::Port {
                port: self.id,
                op: "rte_eth_promiscuous_enable",
                errno: Errno::from_ret(ret),
            });
        }
        Ok(())
    }

    /// The port id.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// The device name (`net_virtio_user2`, `net_null0`, a PCI address, ...).
    pub fn name(&self) -> String {
        self.name.clone()
    }

    /// The device name, borrowed.
    pub(super) fn name_as_probed(&self) -> &str {
        &self.name
    }

    /// The configuration the port was set up with.
    pub(super) fn config(&self) -> PortConfig {
        self.cfg
    }

    /// The port's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// The RSS hash functions (`RTE_ETH_RSS_*` bits) the port spreads frames
    /// over its rx queues with; 0 with one rx queue or when the device offers
    /// none of IP, TCP and UDP hashing.
    pub fn rss_hash_functions(&self) -> u64 {
        self.rss_hash_functions
    }

    /// Whether the tx queues send mbuf chains (the device offers multi-segment
    /// tx). When not, frames that arrived as chains are dropped before tx.
    pub fn sends_chains(&self) -> bool {
        self.sends_chains
    }

    /// The link state, without waiting. Polling it also lets drivers such as
    /// virtio_user notice a vhost-user peer that came back.
    pub fn link(&self) -> Option<Link> {
        let mut link = ffi::rte_eth_link::default();
        // SAFETY: `link` is writable.
        let ret = unsafe { ffi::rte_eth_link_get_nowait(self.id, &mut link) };
        (ret == 0).then(|| Link {
            up: u32::from(link.link_status()) == ffi::RTE_ETH_LINK_UP,
            speed_mbps: link.link_speed,
            full_duplex: u32::from(link.link_duplex()) == ffi::RTE_ETH_LINK_FULL_DUPLEX,
        })
    }

    /// The device's own counters.
    pub fn stats(&self) -> Option<PortStats> {
        let mut s = ffi::rte_eth_stats::default();
        // SAFETY: `s` is writable.
        let ret = unsafe { ffi::rte_eth_stats_get(self.id, &mut s) };
        (ret == 0).then_some(PortStats {
            ipackets: s.ipackets,
            opackets: s.opackets,
            ibytes: s.ibytes,
            obytes: s.obytes,
            imissed: s.imissed,
            ierrors: s.ierrors,
            oerrors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        })
    }

    /// Hands out the port's rx and tx queues, once: each queue must be used by
    /// one lcore only, which owning it enforces.
    pub fn take_queues(&self) -> Option<PortQueues<'_, 'pool>> {
        if self.queues_taken.replace(true) {
            return None;
        }
        Some(PortQueues {
            rx: (0..self.cfg.rx_queues)
                .map(|queue| RxQueue {
                    port: self.id,
                    queue,
                    _port: PhantomData,
                })
                .collect(),
            tx: (0..self.cfg.tx_queues)
                .map(|queue| TxQueue {
                    port: self.id,
                    queue,
                    sends_chains: self.sends_chains,
                    _port: PhantomData,
                    _pool: PhantomData,
                })
                .collect(),
        })
    }
}

/// The name of the device behind port `id` (`port<id>` if it has none).
fn device_name(id: u16) -> String {
    let mut buf = [0 as c_char; 64]; // RTE_ETH_NAME_MAX_LEN
                                     // SAFETY: `buf` holds RTE_ETH_NAME_MAX_LEN bytes, which the call fills
                                     // with a NUL-terminated name.
    let ret = unsafe { ffi::rte_eth_dev_get_name_by_port(id, buf.as_mut_ptr()) };
    if ret != 0 {
        return format!("port{id}");
    }
    // SAFETY: NUL-terminated within `buf` on success.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// What [`setup`] found out about a device.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Setup {
    pub(super) mac: [u8; 6],
    pub(super) rss_hash_functions: u64,
    pub(super) sends_chains: bool,
}

/// Configures port `id` and sets up its queues as [`Port::configure`]
/// describes, the rx queues filling from `pool`; for `configure` and a re-attach.
pub(super) fn setup(id: u16, pool: &Mempool<'_>, cfg: PortConfig) -> Result<Setup, Error> {
    let err = |op, ret: i32| Error::Port {
        port: id,
        op,
        errno: Errno::from_ret(ret),
    };
    // SAFETY: plain query on any id.
    if unsafe { ffi::rte_eth_dev_is_valid_port(id) } == 0 {
        return Err(err("lookup", libc::ENODEV));
    }
    let mut info = ffi::rte_eth_dev_info::default();
    // SAFETY: `info` is a valid, writable rte_eth_dev_info.
    let ret = unsafe { ffi::rte_eth_dev_info_get(id, &mut info) };
    if ret != 0 {
        return Err(err("rte_eth_dev_info_get", ret));
    }
    for (kind, asked, max) in [
        ("rx", cfg.rx_queues, info.max_rx_queues),
        ("tx", cfg.tx_queues, info.max_tx_queues),
    ] {
        if asked > max {
            return Err(Error::TooManyQueues {
                port: id,
                kind,
                asked,
                max,
            });
        }
    }
    let mut conf = ffi::rte_eth_conf::default();
    // Requesting RSS from a device that offers none of these hashes fails
    // the configure call (virtio_user over vhost-user offers none).
    let rss_hash_functions = if cfg.rx_queues > 1 {
        RSS_HASH_FUNCTIONS & info.flow_type_rss_offloads
    } else {
        0
    };
    if rss_hash_functions != 0 {
        conf.rxmode.mq_mode = ffi::RTE_ETH_MQ_RX_RSS;
        // A null key: the driver's default.
        conf.rx_adv_conf.rss_conf.rss_hf = rss_hash_functions;
    }
    // Chains (jumbo frames from mergeable rx buffers or net_pcap) go out
    // whole where the device can send them; fast free assumes one
    // segment per mbuf, so it is only for devices that cannot.
    let multi_segs = u64::from(ffi::RTE_ETH_TX_OFFLOAD_MULTI_SEGS);
    let fast_free = u64::from(ffi::RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE);
    let sends_chains = info.tx_offload_capa & multi_segs != 0;
    if sends_chains {
        conf.txmode.offloads |= multi_segs;
    } else if info.tx_offload_capa & fast_free != 0 {
        conf.txmode.offloads |= fast_free;
    }
    // SAFETY: `conf` is a valid configuration that DPDK copies.
    let ret = unsafe { ffi::rte_eth_dev_configure(id, cfg.rx_queues, cfg.tx_queues, &conf) };
    if ret < 0 {
        return Err(err("rte_eth_dev_configure", ret));
    }
    let (mut rxd, mut txd) = (cfg.rxd, cfg.txd);
    // SAFETY: both pointers refer to live u16s.
    let ret = unsafe { ffi::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut rxd, &mut txd) };
    if ret < 0 {
        return Err(err("rte_eth_dev_adjust_nb_rx_tx_desc", ret));
    }
    let mut mac = ffi::rte_ether_addr::default();
    // SAFETY: `mac` is writable.
    let ret = unsafe { ffi::rte_eth_macaddr_get(id, &mut mac) };
    if ret < 0 {
        return Err(err("rte_eth_macaddr_get", ret));
    }
    // SAFETY: plain query. SOCKET_ID_ANY (-1) when unknown, which DPDK takes
    // as an unsigned socket id.
    let socket = unsafe { ffi::rte_eth_dev_socket_id(id) } as u32;
    let qerr = |queue, op, ret: i32| Error::Queue {
        port: id,
        queue,
        op,
        errno: Errno::from_ret(ret),
    };
    let mut rxconf = info.default_rxconf;
    rxconf.offloads = conf.rxmode.offloads;
    for queue in 0..cfg.rx_queues {
        // SAFETY: the pool outlives the port (borrowed for 'pool), so the
        // queue's mbuf source stays valid until the port is closed.
        let ret =
            unsafe { ffi::rte_eth_rx_queue_setup(id, queue, rxd, socket, &rxconf, pool.as_ptr()) };
        if ret < 0 {
            return Err(qerr(queue, "rte_eth_rx_queue_setup", ret));
        }
    }
    let mut txconf = info.default_txconf;
    txconf.offloads = conf.txmode.offloads;
    for queue in 0..cfg.tx_queues {
        // SAFETY: `txconf` is valid and copied by DPDK.
        let ret = unsafe { ffi::rte_eth_tx_queue_setup(id, queue, txd, socket, &txconf) };
        if ret < 0 {
            return Err(qerr(queue, "rte_eth_tx_queue_setup", ret));
        }
    }
    // Forwarding never looks at ptypes: let the PMD skip classifying them.
    // Not every PMD supports it, and nothing depends on it, so failure is ignored.
    // SAFETY: no ptype array is passed (count 0).
    let _ =
        unsafe { ffi::rte_eth_dev_set_ptypes(id, ffi::RTE_PTYPE_UNKNOWN, std::ptr::null_mut(), 0) };
    Ok(Setup {
        mac: mac.addr_bytes,
        rss_hash_functions,
        sends_chains,
    })
}

impl Drop for Port<'_> {
    fn drop(&mut self) {
        // A re-attach that failed half-way left no device behind this id.
        if !self.attached.get() {
            return;
        }
        // SAFETY: the queues borrow the port, so no lcore polls it any more.
        unsafe {
            if self.started.get() {
                ffi::rte_eth_dev_stop(self.id);
            }
            if self.close_on_drop {
                ffi::rte_eth_dev_close(self.id);
            }
        }
    }
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.up {
            return f.write_str("Link down");
        }
        let mut buf = [0 as c_char; ffi::RTE_ETH_LINK_MAX_STR_LEN as usize];
        let mut link = ffi::rte_eth_link {
            link_speed: self.speed_mbps,
            ..Default::default()
        };
        link.set_link_status(1);
        link.set_link_duplex(u16::from(self.full_duplex));
        // SAFETY: `buf` has the size passed and rte_eth_link_to_str NUL-terminates.
        let ret = unsafe { ffi::rte_eth_link_to_str(buf.as_mut_ptr(), buf.len(), &link) };
        if ret < 0 {
            return write!(f, "Link up at {} Mbps", self.speed_mbps);
        }
        // SAFETY: NUL-terminated by rte_eth_link_to_str, within `buf`.
        let s = unsafe { CStr::from_ptr(buf.as_ptr()) };
        f.write_str(&s.to_string_lossy())
    }
}

/// The receive side of one queue, owned by the lcore that polls it.
///
/// It may move to the lcore that polls it, but not be shared by two:
///
/// ```compile_fail,E0277
/// # use vnf_fwd::dpdk::{Eal, Mempool, Port, PortConfig};
/// # fn main() -> Result<(), vnf_fwd::dpdk::Error> {
/// # let eal = Eal::init(&["doc".to_string()])?;
/// # let pool = Mempool::new(&eal, "pool", 1023, 0, -1)?;
/// # let cfg = PortConfig { rxd: 256, txd: 256, rx_queues: 1, tx_queues: 1 };
/// # let port = Port::configure(0, &pool, cfg)?;
/// let queues = port.take_queues().unwrap();
/// let rx = &queues.rx[0];
/// std::thread::scope(|s| {
///     s.spawn(|| rx.queue()); // error[E0277]: `Cell<()>` cannot be shared between threads safely
///     s.spawn(|| rx.queue());
/// });
/// # Ok(()) }
/// ```
///
/// ```no_run
/// # use vnf_fwd::dpdk::{Eal, MbufBurst, Mempool, Port, PortConfig};
/// # fn main() -> Result<(), vnf_fwd::dpdk::Error> {
/// # let eal = Eal::init(&["doc".to_string()])?;
/// # let pool = Mempool::new(&eal, "pool", 1023, 0, -1)?;
/// # let cfg = PortConfig { rxd: 256, txd: 256, rx_queues: 1, tx_queues: 1 };
/// # let port = Port::configure(0, &pool, cfg)?;
/// let mut queues = port.take_queues().unwrap();
/// let mut rx = queues.rx.pop().unwrap();
/// std::thread::scope(|s| {
///     s.spawn(move || rx.rx_burst(&mut MbufBurst::new(), 32));
/// });
/// # Ok(()) }
/// ```
pub struct RxQueue<'port, 'pool> {
    port: u16,
    queue: u16,
    /// Borrows the port (so it cannot close under us) and its pool; `Cell`
    /// makes it `!Sync`: one owner, one poller.
    _port: PhantomData<(&'port (), &'pool (), Cell<()>)>,
}

/// The transmit side of one queue, owned by the lcore that sends on it.
pub struct TxQueue<'port, 'pool> {
    port: u16,
    queue: u16,
    sends_chains: bool,
    /// As for [`RxQueue`].
    _port: PhantomData<(&'port (), Cell<()>)>,
    /// Invariant in `'pool`, as [`Port`] is.
    _pool: Invariant<'pool>,
}

/// What became of a burst given to [`TxQueue::tx_burst`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxOutcome {
    /// Frames the device took.
    pub sent: usize,
    /// Frames the queue refused (full), freed.
    pub queue_full: usize,
    /// Mbuf chains the port cannot send, freed before tx.
    pub chained: usize,
}

impl<'pool> RxQueue<'_, 'pool> {
    /// The port id.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The queue id.
    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// Receives up to `max` frames into the empty `burst`; returns how many.
    #[inline]
    pub fn rx_burst(&mut self, burst: &mut MbufBurst<'pool>, max: usize) -> usize {
        let (slots, want) = burst.spare(max);
        // SAFETY: `slots` has room for `want` pointers; this queue is polled by
        // its single owner; received mbufs become owned by the burst.
        let n = unsafe { ffi::vnf_rte_eth_rx_burst(self.port, self.queue, slots, want) };
        burst.set_received(usize::from(n));
        usize::from(n)
    }
}

impl<'pool> TxQueue<'_, 'pool> {
    /// The port id.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The queue id.
    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// Whether the port sends mbuf chains (see [`Port::sends_chains`]).
    #[inline]
    pub fn sends_chains(&self) -> bool {
        self.sends_chains
    }

    /// Sends the burst; frees what the device did not take, and before that
    /// the mbuf chains, if the port cannot send them and the burst has not
    /// been through [`MbufBurst::retain_frames`] for this queue. The burst is
    /// empty afterwards.
    #[inline]
    pub fn tx_burst(&mut self, burst: &mut MbufBurst<'pool>) -> TxOutcome {
        let chained = if !self.sends_chains && burst.may_chain() {
            burst.drop_chains()
        } else {
            0
        };
        let n = burst.len();
        if n == 0 {
            return TxOutcome {
                chained,
                ..TxOutcome::default()
            };
        }
        // SAFETY: the first `n` slots hold mbufs owned by the burst; the ones the
        // driver takes belong to it from now on, and `free_from(sent)` releases
        // exactly the rest.
        let sent = usize::from(unsafe {
            ffi::vnf_rte_eth_tx_burst(self.port, self.queue, burst.as_mut_ptr(), n as u16)
        });
        burst.free_from(sent);
        burst.handed_over();
        TxOutcome {
            sent,
            queue_full: n - sent,
            chained,
        }
    }
}

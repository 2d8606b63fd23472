//! Re-attaching a vdev in place: the port stopped, its device removed and
//! probed again through hotplug with the same devargs, then configured and
//! started as before, under the same port id, so the queues handed out
//! before stay valid.
//!
//! What DPDK 22.11 does on the way (virtio_user against a vhost-user switch
//! that went away, client mode):
//! - the driver notices the dead socket only when the link is read; each
//!   read sets a 1 µs alarm that unregisters an interrupt callback (none is
//!   registered without `intr_conf.lsc`), on the EAL interrupt thread;
//! - `rte_eth_dev_stop` resets the port's burst functions to stubs that log
//!   an error on every call, so no lcore may poll it from then on;
//! - `rte_eal_hotplug_remove` closes the port (its vhost-user messages fail
//!   with EPIPE on the dead socket: SIGPIPE must be ignored, as Rust's runtime
//!   does) and frees its mbufs back to the pool and its port id;
//! - `rte_eal_hotplug_add` with the same name and devargs connects again and
//!   takes the lowest free port id: the same one while no other device was
//!   added meanwhile. It fails, leaving nothing, while the socket refuses.

use super::port::setup;
use super::{Errno, Error, Mempool, Paused, Port};
use std::ffi::CString;
use std::time::{Duration, Instant};

/// Time for an alarm armed by the last link query to run before removal.
const ALARM_GRACE: Duration = Duration::from_millis(2);

/// The bus virtual devices (`--vdev`) live on.
const VDEV_BUS: &std::ffi::CStr = c"vdev";

/// One step of [`Port::reattach`], reported with how long it took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// `rte_eth_dev_stop`.
    Stop,
    /// `rte_eal_hotplug_remove`: the device closed and its port id freed.
    Remove,
    /// `rte_eal_hotplug_add` with the same devargs: probed, connected.
    Add,
    /// The same configuration and queues as before.
    Configure,
    /// `rte_eth_dev_start`.
    Start,
}

impl Step {
    /// The step's name, as logged.
    pub fn name(self) -> &'static str {
        match self {
            Step::Stop => "stop",
            Step::Remove => "remove",
            Step::Add => "add",
            Step::Configure => "configure",
            Step::Start => "start",
        }
    }
}

impl<'pool> Port<'pool> {
    /// Brings the port's vdev back in place: stops the port, removes the
    /// device, probes it again as `name,devargs` (`devargs` as on the EAL
    /// command line, after the name), configures it as [`Port::configure`]
    /// did with its rx queues filling from `pool`, and starts it. `step` is
    /// told of each step done and its duration. A call after one that failed
    /// picks up where it stopped (a removed device is only added again).
    ///
    /// The device must come back under the same port id with the same
    /// capabilities, or the queues handed out before would address another
    /// device: otherwise it is removed again and the call fails.
    ///
    /// `paused` shows that no worker lcore is inside a DPDK call; the caller,
    /// on the main lcore, must not use the port's queues until a call has
    /// returned `Ok` (after a failure the device may be stopped or gone, and
    /// DPDK's stand-in burst functions log on every call).
    pub fn reattach(
        &self,
        _paused: &Paused<'_>,
        pool: &'pool Mempool<'_>,
        devargs: &str,
        mut step: impl FnMut(Step, Duration),
    ) -> Result<(), Error> {
        let id = self.id();
        let err = |op, ret: i32| Error::Port {
            port: id,
            op,
            errno: Errno::from_ret(ret),
        };
        let name = CString::new(self.name_as_probed()).map_err(|_| err("name", libc::EINVAL))?;
        let args = CString::new(devargs).map_err(|_| err("devargs", libc::EINVAL))?;
        if self.attached.get() {
            if self.started.get() {
                let t = Instant::now();
                // SAFETY: every worker is parked outside DPDK (`_paused`) and
                // the main lcore is here, not in a burst call.
                let ret = unsafe { ffi::rte_eth_dev_stop(id) };
                if ret < 0 {
                    return Err(err("rte_eth_dev_stop", ret));
                }
                self.started.set(false);
                // A link query of the dead port may have armed the driver's
                // 1 µs alarm, which reads the device removal frees: it runs
                // on the interrupt thread well within this.
                std::thread::sleep(ALARM_GRACE);
                step(Step::Stop, t.elapsed());
            }
            let t = Instant::now();
            // SAFETY: both strings are NUL-terminated; the port is stopped and
            // unused (see above), and its id is only reused by the add below.
            let ret = unsafe { ffi::rte_eal_hotplug_remove(VDEV_BUS.as_ptr(), name.as_ptr()) };
            if ret < 0 {
                return Err(err("rte_eal_hotplug_remove", ret));
            }
            self.attached.set(false);
            step(Step::Remove, t.elapsed());
        }
        let t = Instant::now();
        // SAFETY: all three strings are NUL-terminated and copied by DPDK.
        let ret =
            unsafe { ffi::rte_eal_hotplug_add(VDEV_BUS.as_ptr(), name.as_ptr(), args.as_ptr()) };
        if ret < 0 {
            return Err(err("rte_eal_hotplug_add", ret));
        }
        let mut now_id = u16::MAX;
        // SAFETY: `name` is NUL-terminated; `now_id` is writable.
        let ret = unsafe { ffi::rte_eth_dev_get_port_by_name(name.as_ptr(), &mut now_id) };
        if ret < 0 || now_id != id {
            // SAFETY: as for the remove above; nothing uses the new device.
            unsafe { ffi::rte_eal_hotplug_remove(VDEV_BUS.as_ptr(), name.as_ptr()) };
            return Err(Error::PortMoved {
                port: id,
                now: (ret == 0).then_some(now_id),
            });
        }
        self.attached.set(true);
        step(Step::Add, t.elapsed());
        let t = Instant::now();
        if setup(id, pool, self.config())?.sends_chains != self.sends_chains() {
            return Err(Error::CapabilityChanged { port: id });
        }
        step(Step::Configure, t.elapsed());
        let t = Instant::now();
        self.start_device()?;
        step(Step::Start, t.elapsed());
        Ok(())
    }
}

//! The safe layer's run-time promises, in-process with real DPDK: a port id
//! has one `Port` at a time, the process one `Mempool` at a time, and tx
//! queues send mbuf chains exactly where the device offers multi-segment tx.
//! (What it forbids at compile time is in the `compile_fail` examples of the
//! `vnf_fwd::dpdk` types, run as doctests.)

mod common;

use common::*;
use vnf_fwd::dpdk::{Eal, Error, Mempool, Port, PortConfig};

const CFG: PortConfig = PortConfig {
    rxd: 256,
    txd: 256,
    rx_queues: 1,
    tx_queues: 1,
};

#[test]
fn ports_and_pools_have_one_owner() {
    let _lock = dpdk_lock();
    let prefix = format!("vnfsafe-{}", std::process::id());
    let mut args = vec!["safe_layer".to_string()];
    args.extend(eal_args(
        &prefix,
        "0@0",
        &["net_null0".into(), "net_ring0".into()],
    ));
    let eal = Eal::init(&args).expect("EAL init");
    let pool = Mempool::new(&eal, "pool", 4095, 0, -1).expect("pool");
    let second = Mempool::new(&eal, "second", 1023, 0, -1).err();
    assert!(
        matches!(second, Some(Error::SecondMempool { .. })),
        "{second:?}"
    );

    let null = Port::configure(0, &pool, CFG).expect("port 0");
    let again = Port::configure(0, &pool, CFG).err();
    assert!(
        matches!(again, Some(Error::PortClaimed { port: 0 })),
        "{again:?}"
    );
    assert_eq!(
        again.unwrap().to_string(),
        "port 0 is already configured (one Port per port id)"
    );
    // The claim goes with the port. (Closing a vdev releases its port id,
    // so this one is only stopped, as vnf-fwd does with server=1 ports.)
    let mut null = null;
    null.leave_open_at_exit();
    drop(null);
    let null = Port::configure(0, &pool, CFG).expect("port 0, configured again once dropped");
    let ring = Port::configure(1, &pool, CFG).expect("port 1");
    // net_null offers no multi-segment tx, net_ring does.
    assert!(!null.sends_chains());
    assert!(ring.sends_chains());
    // No such port: an error, and no claim left behind for it.
    for id in [5, 40] {
        let err = Port::configure(id, &pool, CFG).err();
        assert!(
            matches!(err, Some(Error::Port { op: "lookup", .. })),
            "{err:?}"
        );
    }
    drop(null);
    drop(ring);
    // Closed and released: the id is gone, not claimable twice.
    let err = Port::configure(0, &pool, CFG).err();
    assert!(
        matches!(err, Some(Error::Port { op: "lookup", .. })),
        "{err:?}"
    );
    assert_eq!(pool.in_use(), 0);
    drop(pool);
    // The pool's slot is free again once it is gone.
    let pool = Mempool::new(&eal, "pool2", 1023, 0, -1).expect("a pool after the first");
    drop(pool);
    drop(eal);
    assert_no_leftovers(&prefix);
}

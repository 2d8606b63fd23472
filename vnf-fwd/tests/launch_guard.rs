//! `Eal::launch` on real DPDK, in this process: a panic on the main lcore or
//! on a worker lcore stops every lcore and waits for it before anything
//! unwinds past `launch`, so no port, mempool or EAL can be dropped under an
//! lcore that still polls.

mod common;

use common::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;
use vnf_fwd::dpdk::Eal;

/// How long a worker goes on after it has seen the stop flag: what an
/// unwinding `launch` must wait out.
const LINGER: Duration = Duration::from_millis(200);

#[test]
fn launch_waits_for_every_lcore_when_a_closure_panics() {
    let _lock = dpdk_lock();
    let prefix = format!("vnfguard-{}", std::process::id());
    let mut args = vec!["launch-guard".to_string()];
    args.extend(eal_args(&prefix, "0@0,1@1,2@1", &[]));
    let eal = Eal::init(&args).expect("EAL init");
    let main = eal.main_lcore();
    let workers: Vec<u32> = eal.lcores().into_iter().filter(|&l| l != main).collect();
    assert_eq!(workers.len(), 2, "lcores {:?}", eal.lcores());
    let work = || -> Vec<(u32, usize)> { workers.iter().copied().zip(0..).collect() };
    let stop = AtomicBool::new(false);
    let finished = [AtomicBool::new(false), AtomicBool::new(false)];
    // Polls until stopped, lingers, then says it is done.
    let poll = |i: usize| {
        while !stop.load(SeqCst) {
            std::hint::spin_loop();
        }
        std::thread::sleep(LINGER);
        finished[i].store(true, SeqCst);
    };

    // The main lcore's closure panics while the workers poll.
    let unwound = catch_unwind(AssertUnwindSafe(|| {
        eal.launch(work(), &poll, &stop, || panic!("main lcore fails"))
    }));
    let panic = unwound.expect_err("the main lcore's panic");
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"main lcore fails"));
    assert!(
        finished.iter().all(|f| f.load(SeqCst)),
        "launch unwound before its lcores returned"
    );

    // A worker panics: the other worker and the main lcore stop, and the
    // panic is resumed on the main lcore once every lcore has returned.
    stop.store(false, SeqCst);
    finished.iter().for_each(|f| f.store(false, SeqCst));
    let main_stopped = AtomicBool::new(false);
    let fail_first = |i: usize| {
        if i == 0 {
            panic!("worker fails");
        }
        poll(i);
    };
    let unwound = catch_unwind(AssertUnwindSafe(|| {
        eal.launch(work(), &fail_first, &stop, || {
            while !stop.load(SeqCst) {
                std::hint::spin_loop();
            }
            main_stopped.store(true, SeqCst);
        })
    }));
    let panic = unwound.expect_err("the worker's panic");
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"worker fails"));
    assert!(main_stopped.load(SeqCst), "the main lcore was not stopped");
    assert!(finished[1].load(SeqCst), "launch returned before lcore 2");

    // The lcores are free again: a normal run still works.
    stop.store(false, SeqCst);
    finished.iter().for_each(|f| f.store(false, SeqCst));
    eal.launch(work(), &poll, &stop, || {})
        .expect("launch after the panics");
    assert!(finished.iter().all(|f| f.load(SeqCst)));

    drop(eal);
    assert_no_leftovers(&prefix);
}

//! Micro-benchmarks of the forwarding engines: one 32-frame burst of 64-byte
//! IPv4/UDP frames rewritten in memory, as the poll loop does per rx burst.
//! Criterion reports the time per burst and the frames per second; divide the
//! time by 32 for ns per packet (`benches/run` does, from criterion's JSON).
//!
//!   cargo bench -p vnf-fwd --bench engines

/// vnf-gen's frame builder, shared as source: it lives in the generator's
/// binary, not in the forwarder's library.
#[allow(dead_code)]
#[path = "../src/bin/vnf-gen/gen.rs"]
mod gen;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gen::{template, FlowSpec};
use std::hint::black_box;
use std::time::Duration;
use vnf_fwd::engine::{Engine, FiveTupleSwap, Io, L2fwdMac, MacSwap};

/// Frames per burst: vnf-fwd's and testpmd's default `--burst`.
const BURST: usize = 32;

/// `BURST` frames of `size` bytes (with the FCS, as vnf-gen counts), each from its own flow.
fn burst(size: usize) -> Vec<Vec<u8>> {
    (0..BURST)
        .map(|i| {
            template(&FlowSpec {
                src_mac: [0x02, 0, 0, 0, 0, 0x10],
                dst_mac: [0x02, 0, 0, 0, 0, 0x20],
                src_ip: [198, 18, 0, i as u8],
                dst_ip: [198, 19, 0, 1],
                src_port: 1024 + i as u16,
                dst_port: 5001,
                len: size - 4,
            })
        })
        .collect()
}

/// Benchmarks `engine` on one burst; every frame must be rewritten.
fn bench_engine<E: Engine>(c: &mut Criterion, name: &str, engine: &E) {
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(BURST as u64));
    let mut frames = burst(64);
    group.bench_function(BenchmarkId::new(name, "64B_x32"), |b| {
        b.iter(|| {
            let mut ok = 0;
            for f in frames.iter_mut() {
                ok += usize::from(engine.rewrite(black_box(f.as_mut_slice())));
            }
            assert_eq!(black_box(ok), BURST);
        })
    });
    group.finish();
}

fn engines(c: &mut Criterion) {
    bench_engine(c, "io", &Io);
    bench_engine(c, "macswap", &MacSwap);
    bench_engine(c, "l2fwd", &L2fwdMac::new(1, [0x02, 0, 0, 0, 0, 0x01]));
    bench_engine(c, "5tswap", &FiveTupleSwap);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = engines
}
criterion_main!(benches);

//! testpmd's `io`: every frame, whatever its length, is accepted untouched.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vnf_fwd::engine::{Engine, Io};

fuzz_target!(|input: &[u8]| {
    let mut frame = input.to_vec();
    assert!(Io.rewrite(&mut frame));
    assert_eq!(frame, input);
});

//! testpmd's `macswap`: exactly the two MACs trade places, nothing else
//! changes, and a frame without an Ethernet header is refused untouched.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vnf_fwd::engine::{Engine, MacSwap};
use vnf_fwd_fuzz::{macswap, ETHER_HDR_LEN};

fuzz_target!(|input: &[u8]| {
    let mut frame = input.to_vec();
    let accepted = MacSwap.rewrite(&mut frame);
    assert_eq!(accepted, input.len() >= ETHER_HDR_LEN);
    let mut expected = input.to_vec();
    if accepted {
        macswap(&mut expected);
    }
    assert_eq!(frame, expected);
});

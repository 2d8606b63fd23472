//! testpmd's `5tswap` against the slow model in `vnf_fwd_fuzz`: the same
//! bytes change (MACs, addresses, ports, through any VLAN/QinQ tags, never
//! past the end of a truncated header), and a second pass restores the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vnf_fwd::engine::{Engine, FiveTupleSwap};
use vnf_fwd_fuzz::{five_tuple_swap, ETHER_HDR_LEN};

fuzz_target!(|input: &[u8]| {
    let mut frame = input.to_vec();
    let accepted = FiveTupleSwap.rewrite(&mut frame);
    assert_eq!(accepted, input.len() >= ETHER_HDR_LEN);
    let mut expected = input.to_vec();
    if accepted {
        five_tuple_swap(&mut expected);
    }
    assert_eq!(frame, expected);
    assert_eq!(FiveTupleSwap.rewrite(&mut frame), accepted);
    assert_eq!(frame, input);
});

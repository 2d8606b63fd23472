//! DPDK l2fwd's MAC updating: the first 8 input bytes choose the tx port and
//! its MAC, the rest is the frame. Only bytes 0..12 may change, to
//! `02:00:00:00:00:<port>` and the port's MAC.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vnf_fwd::engine::{Engine, L2fwdMac};
use vnf_fwd_fuzz::ETHER_HDR_LEN;

fuzz_target!(|input: &[u8]| {
    let Some((setup, frame_bytes)) = input.split_first_chunk::<8>() else {
        return;
    };
    let tx_port = u16::from_le_bytes([setup[0], setup[1]]);
    let tx_mac: [u8; 6] = [setup[2], setup[3], setup[4], setup[5], setup[6], setup[7]];
    let mut frame = frame_bytes.to_vec();
    let accepted = L2fwdMac::new(tx_port, tx_mac).rewrite(&mut frame);
    assert_eq!(accepted, frame_bytes.len() >= ETHER_HDR_LEN);
    let mut expected = frame_bytes.to_vec();
    if accepted {
        expected[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, tx_port as u8]);
        expected[6..12].copy_from_slice(&tx_mac);
    }
    assert_eq!(frame, expected);
});

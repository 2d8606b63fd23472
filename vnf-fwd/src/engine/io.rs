//! testpmd's `io` forwarding mode.

use super::Engine;

/// testpmd's `io` mode: frames are forwarded untouched.
///
/// Needs no header at all, so even an empty frame is accepted.
#[derive(Debug, Clone, Copy, Default)]
pub struct Io;

impl Engine for Io {
    const REWRITES: bool = false;

    #[inline]
    fn rewrite(&self, _frame: &mut [u8]) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{filler, FULL_LENS};
    use super::*;

    #[test]
    fn accepts_every_length_untouched() {
        for len in (0..=13).chain(FULL_LENS) {
            let mut frame = filler(len);
            assert!(Io.rewrite(&mut frame), "len {len}");
            assert_eq!(frame, filler(len), "len {len}");
        }
    }
}

//! The operating system's side, through libc: signals ([`signal`]) and the
//! stdout relay ([`console`]). Besides [`crate::dpdk`], the only module where
//! `unsafe` is allowed.

#![allow(unsafe_code)]

pub mod console;
pub mod signal;

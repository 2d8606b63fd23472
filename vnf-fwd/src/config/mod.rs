//! Configuration: what the command line asks for, checked before the EAL
//! starts. [`options`] holds the application options (clap, with l2fwd's and
//! testpmd's spellings) and the portmask parser vnf-gen shares; [`eal`]
//! rewrites the EAL arguments as pure functions; [`system`] does the checks
//! that touch the machine (vhost-user sockets, NUMA nodes); [`mac`] reads and
//! writes MAC addresses.

pub mod eal;
pub mod mac;
pub mod options;
pub mod system;

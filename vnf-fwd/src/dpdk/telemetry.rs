//! A command on DPDK's telemetry socket (`/var/run/dpdk/<prefix>/dpdk_telemetry.v2`,
//! read with `dpdk-telemetry.py -f <prefix>`): its reply is built by a Rust
//! closure that the telemetry thread calls.

use super::{Eal, Errno, Error};
use std::ffi::{c_char, c_int, CStr, CString};
use std::sync::OnceLock;

/// One value of a reply. DPDK 22.11 nests only arrays of plain values in a
/// reply dictionary, so per-port figures travel as arrays in port order.
#[derive(Clone, Debug, PartialEq)]
pub enum TelemetryValue {
    U64(u64),
    Str(String),
    U64Array(Vec<u64>),
    StrArray(Vec<String>),
}

/// The closure behind the command: names (alphanumerics and `_`) and values.
type Reply = dyn Fn() -> Vec<(&'static str, TelemetryValue)> + Send + Sync;

/// Set once; the telemetry thread may call the command until the process
/// exits, so what it reads lives as long as the process.
static REPLY: OnceLock<Box<Reply>> = OnceLock::new();

/// Registers `command` (such as `/vnf_fwd/stats`) with `help`; a request
/// returns `reply()` as a dictionary. One command per process.
pub fn register_command(
    _eal: &Eal,
    command: &'static CStr,
    help: &'static CStr,
    reply: impl Fn() -> Vec<(&'static str, TelemetryValue)> + Send + Sync + 'static,
) -> Result<(), Error> {
    let name = command.to_string_lossy().into_owned();
    if REPLY.set(Box::new(reply)).is_err() {
        return Err(Error::Telemetry {
            command: name,
            errno: Errno(libc::EEXIST),
        });
    }
    // SAFETY: both strings are 'static and NUL-terminated (DPDK keeps the
    // pointers); the callback matches telemetry_cb and reads only REPLY, set above.
    let ret = unsafe {
        ffi::rte_telemetry_register_cmd(command.as_ptr(), Some(on_command), help.as_ptr())
    };
    if ret != 0 {
        return Err(Error::Telemetry {
            command: name,
            errno: Errno::from_ret(ret),
        });
    }
    Ok(())
}

/// The `telemetry_cb`: fills `d` with the registered reply.
extern "C" fn on_command(
    _cmd: *const c_char,
    _params: *const c_char,
    d: *mut ffi::rte_tel_data,
) -> c_int {
    let Some(reply) = REPLY.get() else {
        return -libc::ENODEV;
    };
    // SAFETY: DPDK hands the callback a valid, empty rte_tel_data to fill.
    unsafe { ffi::rte_tel_data_start_dict(d) };
    for (name, value) in reply() {
        let Ok(key) = CString::new(name) else {
            continue;
        };
        // SAFETY: `d` was started as a dict above; every string passed is
        // NUL-terminated and copied by DPDK; a container from
        // rte_tel_data_alloc is handed over with keep = 0, so DPDK frees it.
        unsafe {
            match value {
                TelemetryValue::U64(v) => {
                    ffi::rte_tel_data_add_dict_u64(d, key.as_ptr(), v);
                }
                TelemetryValue::Str(s) => {
                    if let Ok(s) = CString::new(s) {
                        ffi::rte_tel_data_add_dict_string(d, key.as_ptr(), s.as_ptr());
                    }
                }
                TelemetryValue::U64Array(values) => {
                    let array = ffi::rte_tel_data_alloc();
                    if array.is_null() {
                        continue;
                    }
                    ffi::rte_tel_data_start_array(array, ffi::RTE_TEL_U64_VAL);
                    for v in values {
                        ffi::rte_tel_data_add_array_u64(array, v);
                    }
                    ffi::rte_tel_data_add_dict_container(d, key.as_ptr(), array, 0);
                }
                TelemetryValue::StrArray(values) => {
                    let array = ffi::rte_tel_data_alloc();
                    if array.is_null() {
                        continue;
                    }
                    ffi::rte_tel_data_start_array(array, ffi::RTE_TEL_STRING_VAL);
                    for s in values.into_iter().filter_map(|s| CString::new(s).ok()) {
                        ffi::rte_tel_data_add_array_string(array, s.as_ptr());
                    }
                    ffi::rte_tel_data_add_dict_container(d, key.as_ptr(), array, 0);
                }
            }
        }
    }
    0
}

//! Finds DPDK with pkg-config, generates allowlisted bindings and compiles the
//! C shim that makes DPDK's static-inline fast path callable from Rust.

use std::env;
use std::path::PathBuf;

const INSTALL_HINT: &str =
    "dpdk-sys: libdpdk not found by pkg-config; install it with `apt-get install libdpdk-dev pkg-config libclang-dev clang` (DPDK 22.11 on Debian 12)";

fn main() {
    println!("cargo:rerun-if-changed=csrc");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    // A quiet probe first, so a missing libdpdk fails with the one line below
    // rather than under pkg-config's pages of cargo metadata.
    let found = pkg_config::Config::new()
        .atleast_version("22.11")
        .cargo_metadata(false)
        .env_metadata(false)
        .probe("libdpdk");
    if found.is_err() {
        eprintln!("{INSTALL_HINT}");
        std::process::exit(1);
    }
    pkg_config::Config::new()
        .atleast_version("22.11")
        .probe("libdpdk")
        .expect("libdpdk was found a moment ago");

    // `pkg-config --cflags libdpdk` carries `-include rte_config.h` and the
    // `-march` level the headers are written for: both C and bindgen need them.
    let cflags = pkg_config_cflags();

    let mut shim = cc::Build::new();
    shim.file("csrc/shim.c").include("csrc").opt_level(3);
    for flag in &cflags {
        shim.flag(flag);
    }
    shim.compile("vnf_dpdk_shim");

    let bindings = bindgen::Builder::default()
        .header("csrc/wrapper.h")
        .clang_args(&cflags)
        .clang_arg("-Icsrc")
        // Exactly the items vnf-fwd calls (types they use come along): an
        // unused binding is dead code, so a pattern would be too wide.
        .allowlist_function(
            "rte_eal_(init|cleanup|get_runtime_dir|mp_wait_lcore|process_type|remote_launch|hotplug_add|hotplug_remove)",
        )
        .allowlist_function("rte_lcore_is_enabled")
        .allowlist_function("rte_get_(main_lcore|tsc_hz)")
        .allowlist_function("rte_strerror")
        .allowlist_function(
            "rte_eth_dev_(adjust_nb_rx_tx_desc|close|configure|get_name_by_port|get_port_by_name|info_get|is_valid_port|set_ptypes|socket_id|start|stop)",
        )
        .allowlist_function(
            "rte_eth_(rx_queue_setup|tx_queue_setup|macaddr_get|link_get_nowait|link_to_str|stats_get|promiscuous_enable|find_next_owned_by)",
        )
        .allowlist_function("rte_pktmbuf_(pool_create|free_bulk)")
        .allowlist_function("rte_mempool_free")
        .allowlist_function("rte_telemetry_register_cmd")
        .allowlist_function("rte_tel_data_(alloc|start_dict|start_array|add_dict_(u64|string|container)|add_array_(u64|string))")
        .allowlist_function("vnf_.*")
        .allowlist_type("rte_mbuf")
        .allowlist_var("RTE_(MAX_ETHPORTS|MAX_LCORE|MBUF_DEFAULT_BUF_SIZE|ETH_LINK_(UP|FULL_DUPLEX|MAX_STR_LEN)|ETH_TX_OFFLOAD_(MBUF_FAST_FREE|MULTI_SEGS)|PTYPE_UNKNOWN|ETH_RSS_(IP|TCP|UDP))")
        .blocklist_type("max_align_t")
        .derive_default(true)
        // DPDK's C comments hold indented C that rustdoc would run as doctests;
        // the headers are the documentation.
        .generate_comments(false)
        .prepend_enum_name(false)
        .clang_macro_fallback()
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .generate()
        .unwrap_or_else(|e| {
            eprintln!("dpdk-sys: bindgen failed on the DPDK headers: {e}");
            std::process::exit(1);
        });

    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR is set by cargo"));
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("write bindings.rs");
}

/// The compile flags pkg-config reports for libdpdk (include paths, defines,
/// `-include rte_config.h`, `-march=...`).
fn pkg_config_cflags() -> Vec<String> {
    let out =
        std::process::Command::new(env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into()))
            .args(["--cflags", "libdpdk"])
            .output()
            .unwrap_or_else(|e| {
                eprintln!("{INSTALL_HINT} ({e})");
                std::process::exit(1);
            });
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

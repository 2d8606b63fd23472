//! A private OVS-DPDK for one test, driven through the project's scripts
//! (so they are tested too), stopped on drop.

use super::{wait_until, TempDir};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

pub struct Ovs {
    dir: TempDir,
    /// Client-kind sockets in a directory per VNF (`Ovs::start_per_vnf`).
    per_vnf: bool,
}

/// The VNFs of the write-up's experiments, as `containers/run-experiment`
/// names their socket directories: the generator on ports 0 and 1, the
/// forwarder on 2 and 3.
pub fn vnf_of_port(n: usize) -> &'static str {
    if n < 2 {
        "gen"
    } else {
        "fwd"
    }
}

/// Counters from `scripts/ovs-show --counters`.
#[derive(Debug, Default)]
pub struct OvsCounters {
    /// n_packets by the flow's in_port.
    pub flows: HashMap<u16, u64>,
    /// (rx_pkts, tx_pkts, tx_drop) by port name, where OVS counts them.
    pub ports: HashMap<String, (u64, u64, u64)>,
}

fn scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts")
}

impl Ovs {
    /// Starts OVS-DPDK in a private directory with `ovs-br0`, the four
    /// vhost-user ports of `kind` ("server" or "client") and the write-up's flows.
    pub fn start(kind: &str) -> Ovs {
        let ovs = Ovs::private_dir();
        ovs.script("ovs-start", &[]);
        ovs.script("ovs-ports", &["--kind", kind]);
        ovs.script("ovs-flows", &[]);
        ovs
    }

    /// As `start`, laid out as `containers/run-experiment` does for
    /// containers that see only their own sockets: client kind, a socket
    /// directory per VNF (`vnf_dir`) owned by `owner`; server kind, OVS's
    /// sockets chowned to `owner`.
    pub fn start_per_vnf(kind: &str, owner: &str) -> Ovs {
        let mut ovs = Ovs::private_dir();
        ovs.per_vnf = kind == "client";
        ovs.script("ovs-start", &[]);
        let gen = format!("vhost-user0,vhost-user1={}", ovs.vnf_dir("gen").display());
        let fwd = format!("vhost-user2,vhost-user3={}", ovs.vnf_dir("fwd").display());
        let mut args = vec!["--kind", kind, "--owner", owner];
        if ovs.per_vnf {
            args.extend(["--socket-dir", &gen, "--socket-dir", &fwd]);
        }
        ovs.script("ovs-ports", &args);
        ovs.script("ovs-flows", &[]);
        ovs
    }

    /// The socket directory of VNF `vnf` (client kind, `start_per_vnf`).
    pub fn vnf_dir(&self, vnf: &str) -> PathBuf {
        self.run_dir().join("vnf").join(vnf)
    }

    /// Whether client-kind sockets are in a directory per VNF.
    pub fn per_vnf(&self) -> bool {
        self.per_vnf
    }

    /// Starts OVS-DPDK in a private directory, without a bridge: for
    /// `scripts/chain`, which makes its own.
    pub fn start_switch() -> Ovs {
        let ovs = Ovs::private_dir();
        ovs.script("ovs-start", &[]);
        ovs
    }

    /// Only the private directory, for scripts that start OVS themselves;
    /// stopped on drop all the same, should they leave it running.
    pub fn private_dir() -> Ovs {
        Ovs {
            dir: TempDir::new("ovs"),
            per_vnf: false,
        }
    }

    /// Whether our ovs-vswitchd runs (its pid file names a live process).
    pub fn vswitchd_running(&self) -> bool {
        std::fs::read_to_string(self.run_dir().join("ovs-vswitchd.pid"))
            .is_ok_and(|pid| std::path::Path::new("/proc").join(pid.trim()).exists())
    }

    /// `scripts/<name> args...` on this OVS, with `env` added.
    pub fn command_env(&self, name: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(scripts().join(name))
            .args(args)
            .env("OVS_DIR", self.dir.join("run"))
            .env("OVS_STATE_DIR", self.dir.join("state"))
            .envs(env.iter().copied())
            .output()
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn command(&self, name: &str, args: &[&str]) -> Output {
        self.command_env(name, args, &[])
    }

    /// The run directory (the write-up's `/usr/local/var/run/openvswitch`):
    /// database socket, pid files, vhost-user sockets.
    pub fn run_dir(&self) -> PathBuf {
        self.dir.join("run")
    }

    /// Runs `scripts/<name>`; panics with its output if it fails.
    pub fn script(&self, name: &str, args: &[&str]) -> String {
        let out = self.command(name, args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{name} {args:?} failed:\n{text}");
        text
    }

    /// The vhost-user socket of OVS port `vhost-userN`.
    pub fn socket(&self, n: usize) -> String {
        let dir = if self.per_vnf {
            self.vnf_dir(vnf_of_port(n))
        } else {
            self.run_dir()
        };
        dir.join(format!("vhost-user{n}")).display().to_string()
    }

    /// OVS's `link_state` of interface `name` ("up", "down"; for a
    /// vhost-user port: whether the app behind it is connected).
    pub fn link_state(&self, name: &str) -> Result<String, String> {
        let out = Command::new("ovs-vsctl")
            .args(["--timeout=10", "get", "interface", name, "link_state"])
            .env("OVS_RUNDIR", self.run_dir())
            .output()
            .map_err(|e| format!("ovs-vsctl: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .trim()
            .trim_matches('"')
            .to_owned())
    }

    /// Waits until OVS sees the links of `vhost-user<n>` for each of `ports`
    /// up: the app on them has attached to the switch. `diag` is shown if not.
    pub fn wait_links_up(&self, ports: &[usize], diag: impl FnOnce() -> String) {
        let what = format!("OVS links of vhost-user{ports:?} up");
        let check = || {
            for n in ports {
                let name = format!("vhost-user{n}");
                match self.link_state(&name)? {
                    state if state == "up" => {}
                    state => return Err(format!("{name} is {state}")),
                }
            }
            Ok(())
        };
        wait_until(&what, Duration::from_secs(30), check, diag);
    }

    /// Stops and starts ovs-vswitchd only (flows re-added by the script).
    pub fn restart_vswitchd(&self) {
        self.script("ovs-start", &["--vswitchd-only"]);
    }

    /// The write-up's session crossed the flows `times` times: 1->4 and 3->2
    /// carried port 0's 100 frames, 2->3 and 4->1 port 1's 200.
    pub fn assert_flows(&self, times: u64) {
        let c = self.counters();
        for (in_port, n) in [(1, 100), (3, 100), (2, 200), (4, 200)] {
            assert_eq!(
                c.flows.get(&in_port),
                Some(&(n * times)),
                "flow in_port={in_port}: {c:?}"
            );
        }
    }

    pub fn counters(&self) -> OvsCounters {
        let text = self.script("ovs-show", &["--counters"]);
        let mut c = OvsCounters::default();
        let field = |line: &str, key: &str| -> Option<u64> {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .and_then(|v| v.parse().ok())
        };
        for line in text.lines() {
            if line.starts_with("flow ") {
                if let (Some(port), Some(n)) = (field(line, "in_port="), field(line, "n_packets="))
                {
                    *c.flows.entry(port as u16).or_default() += n;
                }
            } else if let Some(rest) = line.strip_prefix("port ") {
                let name = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                if let (Some(rx), Some(tx), Some(drop)) = (
                    field(line, "rx_pkts="),
                    field(line, "tx_pkts="),
                    field(line, "tx_drop="),
                ) {
                    c.ports.insert(name, (rx, tx, drop));
                }
            }
        }
        c
    }
}

impl Drop for Ovs {
    fn drop(&mut self) {
        let _ = self.command("ovs-stop", &[]);
    }
}

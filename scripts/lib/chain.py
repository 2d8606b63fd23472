"""Service chains through OVS-DPDK: the engine of scripts/chain (which sets
the OVS_* environment of scripts/lib/ovs.sh and runs this file).

A chain file (TOML) names two outside ports (a NIC, or a veth pair into a
network namespace that plays the outside host), an ordered list of VNFs
(vnf-fwd in a container or as a host process, two vhost-user ports each) and
optional passive taps. `up` builds it: OVS ports, flows, namespaces, VNFs;
`down` removes exactly what `up` made (recorded in a state file, and tagged:
ports by external_ids, flows by cookie, containers by label, veths and
namespaces by interface alias); `show` prints the counters hop by hop;
`stop-vnf`/`start-vnf` stop and start one VNF; `restore` re-adds the flows and
groups after an ovs-vswitchd restart (scripts/ovs-start --vswitchd-only does
it for every chain that is up).

Chains share a bridge: everything a chain makes is named after it
(`<chain>-<vnf>-p0`) or checked to be free before anything changes.
"""

import argparse
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

PROG = "chain"
SCRIPTS = Path(__file__).resolve().parent.parent
ROOT = SCRIPTS.parent
OVS_DIR = Path(os.environ["OVS_RUNDIR"])
OVS_STATE_DIR = Path(os.environ.get("OVS_STATE_DIR", "/usr/local/var/lib/vnf-fwd-ovs"))
# scripts/lib/ovs.sh has the same default: ovs-start --vswitchd-only reads the flows saved here.
STATE_DIR = Path(os.environ.get("CHAIN_STATE_DIR", OVS_STATE_DIR / "chains"))
TAG = os.environ.get("TAG", "latest")
# Where the containers see the vhost-user sockets (the write-up's mount point).
CONTAINER_SOCKET_DIR = "/var/run/openvswitch"
# Each VNF's sockets are in a directory of its own below this one, the only thing
# of OVS's its container mounts: not OVS's run directory, which holds db.sock,
# the control sockets and every other VNF's sockets.
VNF_SOCKET_BASE = OVS_DIR / "vnf"
# Modes that keep the frames' addresses usable by the outside hosts' kernels.
# macswap turns a frame back toward its sender's MAC and 5tswap also swaps the
# IP addresses and ports: across a chain the far host drops what they send.
CHAIN_MODES = ("io", "l2fwd")
# l2fwd's MAC updating writes dst 02:00:00:00:00:<tx port>: a VNF's port 1 faces
# side b, port 0 side a, so the hosts must own these addresses.
L2FWD_HOST_MAC = {"a": "02:00:00:00:00:00", "b": "02:00:00:00:00:01"}
# Where the ofports of a chain's ports start: the lowest free on the bridge
# from here (the outside ports' unless the file asks for one).
OUTSIDE_OFPORT_BASE = 11
VNF_OFPORT_BASE = 21
TAP_OFPORT_BASE = 81
OFPORT_MAX = 0xFEFF  # OpenFlow's last physical port number
# OVS port names: OpenFlow carries 15 characters, Linux interface names too.
PORT_NAME_MAX = 15
# Descriptors per virtio ring (virtio_user's queue_size; its default is 256).
# A tap must take every burst the switch sends while it waits for a CPU.
VNF_QUEUE_SIZE = 1024
TAP_QUEUE_SIZE = 4096
# What tags a chain's things: OVS interfaces (external_ids), the bridge a
# chain made and the OVS a chain started, containers (label), the outside
# hosts' interfaces (alias).
CHAIN_KEY = "vnf-chain"
MADE_KEY = "vnf-chain-made"
LABEL = "vnf-fwd.chain"
LINK_TIMEOUT = int(os.environ.get("CHAIN_LINK_TIMEOUT", "60"))
TELEMETRY_COMMAND = "/vnf_fwd/stats"


class ChainError(Exception):
    """A one-line reason `chain` cannot go on."""


def say(msg):
    print(f"{PROG}: {msg}", file=sys.stderr, flush=True)


def run(cmd, check=True, input_text=None, env=None):
    """Runs cmd; returns stdout. A failure (check) is a ChainError with stderr's last line."""
    p = subprocess.run(cmd, input=input_text, capture_output=True, text=True,
                       env=None if env is None else {**os.environ, **env})
    if check and p.returncode != 0:
        msg = (p.stderr or p.stdout).strip().splitlines()
        raise ChainError(f"{' '.join(cmd[:6])}{' ...' if len(cmd) > 6 else ''}: {msg[-1] if msg else f'exit {p.returncode}'}")
    return p.stdout


def vsctl(*args, check=True):
    # Without vswitchd a change would wait for it until the timeout: write the database only.
    wait = [] if ovs_running() else ["--no-wait"]
    return run(["ovs-vsctl", f"--timeout={os.environ.get('OVS_CMD_TIMEOUT', '30')}", *wait, *args], check=check)


def ofctl(*args, check=True, input_text=None):
    return run(["ovs-ofctl", "-O", "OpenFlow13", *args], check=check, input_text=input_text)


# --- The chain file ---------------------------------------------------------------

@dataclass
class Outside:
    side: str  # "a" or "b"
    name: str  # OVS port name; with a host, also the host end of the veth pair
    ofport: object  # int: asked for in the file, or granted; None until planned
    devargs: str
    netns: str = ""
    address: str = ""
    mac: str = ""


@dataclass
class Vnf:
    name: str
    index: int
    run: str  # "container" or "process"
    image: str
    binary: str
    mode: str
    mac_updating: bool
    lcores: str
    n_lcores: int
    cpus: set
    idle_yield: object  # True, False, or None: yield when the CPUs are shared with another VNF
    memory: int
    on_down: str  # "stop" or "bypass"
    stats_period: int
    queue_size: int  # descriptors per virtio ring
    rxd: int
    txd: int
    extra: list
    security: str
    ports: list = field(default_factory=list)  # OVS port names, p0 (side a) then p1
    ofports: list = field(default_factory=list)  # granted by OVS, from the state
    tap: bool = False

    def prefix(self, chain):
        return f"{chain}-{self.name}"

    def container(self, chain):
        return f"vnf-chain-{chain}-{self.name}"


@dataclass
class Chain:
    name: str
    bridge: str
    outside: list
    vnfs: list
    taps: list
    path: Path

    @property
    def cookie(self):
        # One cookie per chain: `down` deletes only this chain's flows.
        return zlib.crc32(self.name.encode()) | 0x10000000

    def all_vnfs(self):
        return self.vnfs + self.taps

    def port_names(self):
        return [o.name for o in self.outside] + [p for v in self.all_vnfs() for p in v.ports]

    def set_ofports(self, ofports):
        """The ofports OVS granted, by port name (from the state)."""
        for o in self.outside:
            o.ofport = ofports.get(o.name, o.ofport)
        for v in self.all_vnfs():
            v.ofports = [ofports.get(p) for p in v.ports]


NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,13}$")
IFNAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,14}$")
NETNS = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")
MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")


def check_keys(table, allowed, where):
    extra = set(table) - set(allowed)
    if extra:
        raise ChainError(f"{where}: unknown key(s) {', '.join(sorted(extra))} (allowed: {', '.join(allowed)})")


def typed(table, key, default, kind, where, what):
    """table[key] (or default) if it is a kind (bool is no int here); else a one-line error saying what it is."""
    value = table.get(key, default)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ChainError(f"{where}: {key} is {what} (got {value!r})")
    return value


def ranged(table, key, default, lo, hi, where, unit=""):
    value = typed(table, key, default, int, where, f"a whole number{unit}, {lo}..{hi}")
    if not lo <= value <= hi:
        raise ChainError(f"{where}: {key} is a whole number{unit}, {lo}..{hi} (got {value!r})")
    return value


def parse_vnf(t, index, where, defaults, tap):
    keys = ["name", "run", "image", "binary", "mode", "mac_updating", "lcores", "memory", "on_down",
            "stats_period", "queue_size", "rxd", "txd", "args", "security", "idle_yield"]
    if not isinstance(t, dict):
        raise ChainError(f"{where}: a table ([[vnf]] or [[tap]]), not {t!r}")
    check_keys(t, keys, where)
    name = t.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise ChainError(f"{where}: name must be 1-14 of a-z 0-9 - (got {name!r})")
    where = f"{where} ({name})"
    run_kind = t.get("run", "container")
    if run_kind not in ("container", "process"):
        raise ChainError(f"{where}: run is container or process, not {run_kind!r}")
    mode = t.get("mode", "io")
    if mode not in CHAIN_MODES:
        raise ChainError(f"{where}: mode {mode!r} cannot carry a chain end to end "
                         f"(macswap sends frames back to their sender's MAC, 5tswap swaps the IP addresses); use io or l2fwd")
    on_down = t.get("on_down", defaults.get("on_vnf_down", "stop"))
    if on_down not in ("stop", "bypass"):
        raise ChainError(f"{where}: on_down is stop or bypass, not {on_down!r}")
    memory = ranged(t, "memory", 64, 16, 4096, where, " of MB")
    security = t.get("security", "least")
    if security not in ("least", "privileged"):
        raise ChainError(f"{where}: security is least or privileged, not {security!r}")
    extra = t.get("args", [])
    if not isinstance(extra, list) or not all(isinstance(a, str) for a in extra):
        raise ChainError(f"{where}: args is a list of strings")
    binary = typed(t, "binary", str(ROOT / "target/release/vnf-fwd"), str, where, "a path")
    if not os.path.isabs(binary):
        binary = str(ROOT / binary)
    lcores = typed(t, "lcores", "0@0", (str, int), where, "an EAL --lcores map such as \"0@0\"")
    lcores = str(lcores)
    try:
        ids, cpus = lcore_map(lcores)
    except ValueError:
        raise ChainError(f"{where}: lcores {lcores!r} is not an EAL --lcores map such as 0@0 or 0@0,1@1")
    idle_yield = t.get("idle_yield")
    if idle_yield is not None and not isinstance(idle_yield, bool):
        raise ChainError(f"{where}: idle_yield is true or false")
    mac_updating = typed(t, "mac_updating", False, bool, where, "true or false")
    stats_period = ranged(t, "stats_period", 1, 0, 86400, where, " of seconds")
    # virtio_user's rings: a power of two the vhost-user side takes (at most 32768).
    queue_size = ranged(t, "queue_size", TAP_QUEUE_SIZE if tap else VNF_QUEUE_SIZE, 64, 32768, where,
                        " of descriptors (a power of two)")
    if queue_size & (queue_size - 1):
        raise ChainError(f"{where}: queue_size is a power of two, 64..32768 (got {queue_size})")
    # More descriptors than the ring has would be cut to the ring's size without a word.
    rxd = ranged(t, "rxd", queue_size, 64, queue_size, where, " of descriptors (at most queue_size)")
    txd = ranged(t, "txd", queue_size, 64, queue_size, where, " of descriptors (at most queue_size)")
    image = typed(t, "image", "vnf-fwd", str, where, "an image name")
    return Vnf(name=name, index=index, run=run_kind, image=image, binary=binary,
               mode=mode, mac_updating=mac_updating, lcores=lcores, n_lcores=len(ids), cpus=cpus,
               idle_yield=idle_yield, memory=memory, on_down=on_down, stats_period=stats_period,
               queue_size=queue_size, rxd=rxd, txd=txd, extra=extra, security=security, tap=tap)


def numbers(text):
    """'1', '1-3', '(1,3-4)' -> the numbers named."""
    out = set()
    for part in text.strip("()").split(","):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def lcore_map(lcores):
    """An EAL --lcores map ('0@0,1@(1,2)', '0-1') as (lcore ids, the CPUs they run on)."""
    ids, cpus = set(), set()
    for entry in re.split(r",(?![^()]*\))", lcores):
        left, at, right = entry.partition("@")
        ids |= numbers(left)
        cpus |= numbers(right if at else left)
    return ids, cpus


def in_benchmark_range(address):
    try:
        iface = ipaddress.ip_interface(address)
    except ValueError:
        return False
    return iface.network.subnet_of(ipaddress.ip_network("198.18.0.0/15")) and "/" in address


def parse_outside(t, side, path, vnfs):
    where = f"{path}: outside {side}"
    if not isinstance(t, dict):
        raise ChainError(f"{where}: a table ([[outside]]), not {t!r}")
    check_keys(t, ["name", "ofport", "devargs", "netns", "address", "mac"], where)
    oname = t.get("name")
    if not isinstance(oname, str) or not IFNAME.match(oname):
        raise ChainError(f"{where}: name (an interface name, at most 15 characters) is required")
    ofport = None
    if "ofport" in t:
        ofport = ranged(t, "ofport", None, 1, OFPORT_MAX, where, " (an OpenFlow port number)")
    o = Outside(side=side, name=oname, ofport=ofport,
                devargs=typed(t, "devargs", "", str, where, "a DPDK device (a PCI address or vdev arguments)"),
                netns=typed(t, "netns", "", str, where, "a network namespace's name"),
                address=typed(t, "address", "", str, where, "an address with its prefix length"),
                mac=typed(t, "mac", "", str, where, "a MAC address"))
    if bool(o.devargs) == bool(o.netns):
        raise ChainError(f"{where}: give either devargs (a DPDK port: a NIC) or netns (a veth pair into a namespace made here)")
    if o.netns and not NETNS.match(o.netns):
        raise ChainError(f"{where}: netns is a namespace name of a-z A-Z 0-9 _ . - (got {o.netns!r})")
    if o.netns and not in_benchmark_range(o.address):
        raise ChainError(f"{where}: an emulated host's address is in 198.18.0.0/15, "
                         f"the range set aside for benchmarking (got {o.address!r})")
    if o.mac and not MAC.match(o.mac):
        raise ChainError(f"{where}: mac is six hex bytes such as 02:00:00:00:00:00 (got {o.mac!r})")
    if o.netns and any(v.mode == "l2fwd" and v.mac_updating for v in vnfs):
        want = L2FWD_HOST_MAC[side]
        if o.mac.lower() != want:
            raise ChainError(f"{where}: a VNF in l2fwd mode with MAC updating sends side {side} frames to {want}; "
                             f"set mac = \"{want}\" (or mac_updating = false)")
    return o


def load(path):
    path = Path(path)
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except OSError as e:
        raise ChainError(f"{path}: {e.strerror}")
    except tomllib.TOMLDecodeError as e:
        raise ChainError(f"{path}: not valid TOML: {e}")
    check_keys(doc, ["name", "bridge", "on_vnf_down", "outside", "vnf", "tap"], str(path))
    name = doc.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise ChainError(f"{path}: name must be 1-14 of a-z 0-9 - (got {name!r})")
    bridge = typed(doc, "bridge", os.environ.get("BRIDGE", "ovs-br0"), str, str(path), "a bridge name")
    if not IFNAME.match(bridge):
        raise ChainError(f"{path}: bridge is an interface name, at most 15 characters (got {bridge!r})")
    for key in ("outside", "vnf", "tap"):
        if not isinstance(doc.get(key, []), list):
            raise ChainError(f"{path}: {key} is an array of tables ([[{key}]])")
    outs = doc.get("outside", [])
    if len(outs) != 2:
        raise ChainError(f"{path}: a chain has exactly two [[outside]] ports (side a, then side b), not {len(outs)}")
    vnfs = [parse_vnf(t, i, f"{path}: vnf {i + 1}", doc, False) for i, t in enumerate(doc.get("vnf", []))]
    taps = [parse_vnf(t, i, f"{path}: tap {i + 1}", doc, True) for i, t in enumerate(doc.get("tap", []))]
    outside = [parse_outside(t, side, path, vnfs) for side, t in zip("ab", outs)]
    names = [v.name for v in vnfs + taps]
    if len(set(names)) != len(names):
        raise ChainError(f"{path}: VNF and tap names must be unique")
    # Named after the chain: chains with VNFs of the same name share a bridge.
    for v in vnfs + taps:
        v.ports = [f"{name}-{v.name}-p{i}" for i in range(1 if v.tap else 2)]
        longest = v.ports[-1]
        if len(longest) > PORT_NAME_MAX:
            raise ChainError(f"{path}: port name {longest!r} ({name}-{v.name}-pN) is longer than "
                             f"{PORT_NAME_MAX} characters, what OpenFlow and Linux take: shorten the chain's or the VNF's name")
    ports = [o.name for o in outside] + [p for v in vnfs + taps for p in v.ports]
    if len(set(ports)) != len(ports):
        raise ChainError(f"{path}: port names collide: {', '.join(sorted(p for p in set(ports) if ports.count(p) > 1))}")
    for v in vnfs + taps:
        if v.idle_yield is None:
            # Busy pollers sharing a CPU wait for the scheduler to preempt one
            # another (milliseconds per hop); idle ones yield instead.
            v.idle_yield = any(w is not v and w.cpus & v.cpus for w in vnfs + taps)
    asked = [o.ofport for o in outside if o.ofport is not None]
    if len(set(asked)) != len(asked):
        raise ChainError(f"{path}: the two outside ports ask for the same ofport")
    return Chain(name=name, bridge=bridge, outside=outside, vnfs=vnfs, taps=taps, path=path)


# --- Flows --------------------------------------------------------------------------

def flows(chain):
    """The chain's flows and fast-failover groups, as (groups, flows) text for ovs-ofctl.

    Side a to side b: outside a -> vnf1.p0, vnf1.p1 -> vnf2.p0, ..., vnfN.p1 ->
    outside b; the reverse from b to a. A VNF with on_down=bypass is entered
    through a fast-failover group whose next bucket skips it: OVS takes the
    first bucket whose port is live, so when the VNF's vhost-user link drops
    the traffic goes around it, and back through it when the link returns.
    Taps get a copy of every frame that enters from outside."""
    a, b = chain.outside
    # Each hop: (entry port from side a, exit port toward side b, bypassable)
    hops = [(a.ofport, a.ofport, False)]
    hops += [(v.ofports[0], v.ofports[1], v.on_down == "bypass") for v in chain.vnfs]
    hops += [(b.ofport, b.ofport, False)]
    taps = [t.ofports[0] for t in chain.taps]
    groups, rules = [], []
    c = f"cookie={chain.cookie:#x},priority=100"

    def targets(seq):
        # Ports the traffic may go to next, in preference order: the next hop,
        # and past each bypassable VNF the one after it.
        out = []
        for port, bypass in seq:
            out.append(port)
            if not bypass:
                break
        return out

    def rule(in_port, cands, copy):
        actions = []
        if len(cands) == 1:
            actions.append(f"output:{cands[0]}")
        else:
            # One group per in_port, a port of this chain: no other chain's id.
            gid = in_port
            buckets = ",".join(f"bucket=watch_port:{p},actions=output:{p}" for p in cands)
            groups.append(f"group_id={gid},type=ff,{buckets}")
            actions.append(f"group:{gid}")
        if copy:
            actions += [f"output:{t}" for t in taps]
        rules.append(f"{c},in_port={in_port},actions={','.join(actions)}")

    for i in range(len(hops) - 1):
        # toward b: leave hop i by its b-facing port, enter hop i+1.. by their a-facing port
        rule(hops[i][1], targets([(h[0], h[2]) for h in hops[i + 1:]]), i == 0)
        # toward a: leave hop i+1 by its a-facing port, enter hop i.. by their b-facing port
        j = i + 1
        rule(hops[j][0], targets([(h[1], h[2]) for h in reversed(hops[:j])]), j == len(hops) - 1)
    for t in taps:
        # What a tap sends back (vnf-fwd forwards a lone port to itself) stops here, counted.
        rules.append(f"{c},in_port={t},actions=drop")
    return groups, rules


# --- Building blocks -----------------------------------------------------------------

def state_path(chain):
    return STATE_DIR / chain.name / "state.json"


def load_state(chain):
    try:
        return json.loads(state_path(chain).read_text())
    except (OSError, ValueError):
        return None


def save_state(chain, state):
    p = state_path(chain)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    tmp.replace(p)


def other_chains(chain):
    """{name: state} of the other chains that are up (their state files)."""
    out = {}
    for p in STATE_DIR.glob("*/state.json"):
        if p.parent.name != chain.name:
            try:
                out[p.parent.name] = json.loads(p.read_text())
            except (OSError, ValueError):
                out[p.parent.name] = {}
    return out


def daemon_alive(name):
    try:
        pid = int((OVS_DIR / f"{name}.pid").read_text())
        return Path(f"/proc/{pid}/comm").read_text().strip() == name
    except (OSError, ValueError):
        return False


def ovs_running():
    return daemon_alive("ovs-vswitchd")


def ovsdb_running():
    return daemon_alive("ovsdb-server")


def ovs_value(v):
    """A cell of ovs-vsctl's JSON output as Python: ["set", []] is None, ["map", ...] a dict."""
    if isinstance(v, list) and v and v[0] == "set":
        return v[1][0] if len(v[1]) == 1 else (None if not v[1] else v[1])
    if isinstance(v, list) and v and v[0] == "map":
        return dict(v[1])
    return v


def ovs_table(table, columns):
    """Every row of an OVS table as a dict of columns; [] without an ovsdb-server."""
    if not ovsdb_running():
        return []
    doc = json.loads(vsctl("--format=json", f"--columns={','.join(columns)}", "list", table))
    return [dict(zip(doc["headings"], map(ovs_value, row))) for row in doc["data"]]


def bridge_exists(bridge):
    return ovsdb_running() and bridge in vsctl("list-br").split()


def bridge_ofports(bridge):
    """{ofport: interface name} of what is on the bridge (granted or asked for)."""
    if not bridge_exists(bridge):
        return {}
    names = set(vsctl("list-ifaces", bridge).split())
    out = {}
    for row in ovs_table("Interface", ["name", "ofport", "ofport_request"]):
        if row["name"] in names:
            for n in (row["ofport"], row["ofport_request"]):
                if isinstance(n, int) and n > 0:
                    out[n] = row["name"]
    return out


def tagged_interfaces(chain):
    """The OVS interfaces tagged as this chain's."""
    return [row["name"] for row in ovs_table("Interface", ["name", "external_ids"])
            if (row["external_ids"] or {}).get(CHAIN_KEY) == chain.name]


def netns_list():
    return [line.split()[0] for line in run(["ip", "netns", "list"]).splitlines() if line.strip()]


def alias_of(ifname, netns=None):
    """The alias (ifalias) of an interface, "" if it has none or is not there."""
    cmd = ["ip", "-j"] + (["-n", netns] if netns else []) + ["link", "show", "dev", ifname]
    p = subprocess.run(cmd, capture_output=True, text=True)
    try:
        return json.loads(p.stdout)[0].get("ifalias", "") if p.returncode == 0 else ""
    except (ValueError, IndexError):
        return ""


def host_tag(chain):
    return f"{CHAIN_KEY}={chain.name}"


def socket_path(chain, port):
    """The vhost-user socket of a VNF port, on the host (the VNF listens on it: server=1),
    in that VNF's own socket directory."""
    v = next(v for v in chain.all_vnfs() if port in v.ports)
    return vnf_socket_dir(chain, v) / port


def socket_listening(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(1)
    try:
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


def preflight(chain):
    """Checks that nothing the chain would make or use is taken: another chain's
    (or anyone's) ports, ofports, interfaces, namespaces, sockets, its flow
    cookie. Returns {port name: ofport} to ask OVS for; changes nothing."""
    problems = []
    for other, st in other_chains(chain).items():
        if st.get("cookie") == chain.cookie:
            problems.append(f"its flow cookie {chain.cookie:#x} is chain {other}'s: rename the chain")
    owners = {row["name"]: (row["external_ids"] or {}).get(CHAIN_KEY)
              for row in ovs_table("Interface", ["name", "external_ids"])}
    for p in chain.port_names():
        if p in owners:
            problems.append(f"OVS port {p} exists ({f'chain {owners[p]}' if owners[p] else 'not a chain'}'s)")
    netns = netns_list()
    for o in chain.outside:
        if o.netns and o.name not in owners and Path(f"/sys/class/net/{o.name}").exists():
            problems.append(f"interface {o.name} exists")
        if o.netns and o.netns in netns:
            problems.append(f"namespace {o.netns} exists")
    for v in chain.all_vnfs():
        for p in v.ports:
            if socket_path(chain, p).exists() or socket_path(chain, p).is_symlink():
                problems.append(f"{socket_path(chain, p)} exists")
    taken = bridge_ofports(chain.bridge)
    for o in chain.outside:
        if o.ofport is not None and o.ofport in taken:
            problems.append(f"ofport {o.ofport} ({o.name}) is {taken[o.ofport]}'s on {chain.bridge}")
    if problems:
        raise ChainError(f"{chain.name} not brought up, nothing changed: {'; '.join(problems)} "
                         f"(another chain's? `chain down FILE` removes what is left of this one)")
    # The lowest free numbers from each base.
    plan = {o.name: o.ofport for o in chain.outside if o.ofport is not None}
    used = set(taken) | set(plan.values())

    def free(base):
        n = base
        while n in used:
            n += 1
        if n > OFPORT_MAX:
            raise ChainError(f"no free ofport on {chain.bridge} from {base}")
        used.add(n)
        return n

    for o in chain.outside:
        if o.ofport is None:
            plan[o.name] = free(OUTSIDE_OFPORT_BASE)
    for v in chain.all_vnfs():
        for p in v.ports:
            plan[p] = free(TAP_OFPORT_BASE if v.tap else VNF_OFPORT_BASE)
    return plan


def add_outside_host(chain, o, state):
    """A veth pair: o.name on the host (an OVS-DPDK port through af_packet),
    eth0 in namespace o.netns, the outside host; both ends carry the chain's
    name as their alias, so a `down` without a state file finds them."""
    run(["ip", "netns", "add", o.netns])
    state["netns"].append(o.netns)
    save_state(chain, state)
    ns = ["ip", "-n", o.netns]
    run(["ip", "link", "add", o.name, "type", "veth", "peer", "name", "eth0", "netns", o.netns])
    state["veths"].append(o.name)
    save_state(chain, state)
    run(["ip", "link", "set", o.name, "alias", host_tag(chain)])
    run(ns + ["link", "set", "eth0", "alias", host_tag(chain)])
    # No IPv6 (router solicitations, MLD) and nothing else the kernel sends on
    # its own: the outside hosts send only what they are told to, so counts are exact.
    run(["ip", "netns", "exec", o.netns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
         "net.ipv6.conf.default.disable_ipv6=1"])
    run(["sysctl", "-qw", f"net.ipv6.conf.{o.name}.disable_ipv6=1"])
    if o.mac:
        run(ns + ["link", "set", "eth0", "address", o.mac])
    # Checksums in software: with tx offload a UDP frame leaves the sender with its
    # checksum unfilled, af_packet hands it to OVS as is, and the far host drops it.
    run(["ip", "netns", "exec", o.netns, "ethtool", "-K", "eth0", "tx", "off"])
    run(["ethtool", "-K", o.name, "tx", "off"])
    run(ns + ["addr", "add", o.address, "dev", "eth0"])
    run(ns + ["link", "set", "lo", "up"])
    run(ns + ["link", "set", "eth0", "up"])
    run(["ip", "link", "set", o.name, "up"])


def vnf_socket_dir(chain, v):
    """The host directory of this VNF's vhost-user sockets (it listens: server=1)."""
    return VNF_SOCKET_BASE / v.prefix(chain.name)


def add_port(chain, state, name, ofport, *iface_settings):
    """One OVS port, tagged as the chain's, with the ofport the plan asks for:
    a port OVS could not set up, or gave another number, is an error."""
    vsctl("add-port", chain.bridge, name, "--", "set", "Interface", name, *iface_settings,
          f"ofport_request={ofport}", f"external_ids:{CHAIN_KEY}={chain.name}")
    # vswitchd fills in the ofport (or the error) once it has set the port up.
    end = time.time() + 10
    while True:
        row = next(r for r in ovs_table("Interface", ["name", "ofport", "error"]) if r["name"] == name)
        if row["error"]:
            raise ChainError(f"OVS port {name}: {row['error']}")
        if isinstance(row["ofport"], int) or time.time() > end:
            break
        time.sleep(0.1)
    if row["ofport"] != ofport:
        raise ChainError(f"OVS port {name}: ofport {row['ofport']}, asked for {ofport} (taken meanwhile?)")
    state["ofports"][name] = ofport
    save_state(chain, state)


def vnf_command(chain, v):
    """vnf-fwd's command line (after the image, or the binary): EAL options
    with one server=1 virtio_user vdev per port, then l2fwd's options."""
    sock_dir = CONTAINER_SOCKET_DIR if v.run == "container" else str(vnf_socket_dir(chain, v))
    eal = ["--lcores", v.lcores, "-n", "1", "-m", str(v.memory), "--file-prefix", v.prefix(chain.name), "--no-pci"]
    for i, port in enumerate(v.ports):
        mac = f"02:00:00:01:{v.index + (0x80 if v.tap else 0):02x}:{i:02x}"
        eal += ["--vdev", f"net_virtio_user{i},mac={mac},path={sock_dir}/{port},server=1,queue_size={v.queue_size}"]
    nports = len(v.ports)
    app = ["-p", f"{(1 << nports) - 1:#x}", "-q", str(-(-nports // v.n_lcores)), "--mode", v.mode,
           "-T", str(v.stats_period), "--rxd", str(v.rxd), "--txd", str(v.txd)]
    if v.mode == "l2fwd" and not v.mac_updating:
        app.append("--no-mac-updating")
    if v.idle_yield:
        app.append("--idle-yield")
    return eal + ["--"] + app + v.extra


def image(v):
    return v.image if ":" in v.image else f"{v.image}:{TAG}"


def docker_flags(security):
    out = run([str(ROOT / "containers/docker-flags"), security])
    return out.split("\n")[:-1]


def ensure_docker():
    # ROOT as an argument, not in the script: any path works.
    run(["bash", "-c", '. "$1/containers/lib.sh" && ensure_docker', "bash", str(ROOT)])


def image_user(img):
    """The image's user as (uid, gid): the VNF runs as it and owns its socket directory."""
    user = run(["docker", "image", "inspect", "-f", "{{.Config.User}}", img]).strip() or "0"
    m = re.fullmatch(r"(\d+)(?::(\d+))?", user)
    if not m:
        raise ChainError(f"image {img}: USER {user} is not numeric (UID[:GID]); its socket directory is chowned to it")
    return int(m.group(1)), int(m.group(2) or m.group(1))


def make_socket_dir(path, uid, gid):
    """The VNF's socket directory, its user's alone (OVS, root, connects anyway)."""
    VNF_SOCKET_BASE.mkdir(mode=0o755, parents=True, exist_ok=True)
    path.mkdir(mode=0o700, exist_ok=True)
    os.chown(path, uid, gid)
    path.chmod(0o700)


def remove_socket_dir(path):
    """The VNF's socket directory and the base, each if empty."""
    for d in (path, VNF_SOCKET_BASE):
        try:
            d.rmdir()
        except OSError:
            pass


def start_vnf(chain, v, state):
    cmd = vnf_command(chain, v)
    sock_dir = vnf_socket_dir(chain, v)
    if v.run == "container":
        name = v.container(chain.name)
        run(["docker", "rm", "-f", name], check=False)
        flags = docker_flags(v.security)
        # As the image's user (ours: not root); least privilege with a read-only
        # root, the EAL's runtime directory on a tmpfs (/tmp, or /run/dpdk for root).
        uid, gid = image_user(image(v))
        make_socket_dir(sock_dir, uid, gid)
        if v.security == "least":
            flags += ["--read-only", "--tmpfs", "/tmp"] + (["--tmpfs", "/run/dpdk"] if uid == 0 else [])
        run(["docker", "run", "-d", "--name", name, "--label", f"{LABEL}={chain.name}",
             "--stop-timeout", "10", "-v", f"{sock_dir}:{CONTAINER_SOCKET_DIR}", *flags, image(v), *cmd])
        state["containers"][v.name] = name
    else:
        if not os.access(v.binary, os.X_OK):
            raise ChainError(f"{v.name}: {v.binary} is not an executable (cargo build --release, or binary = ...)")
        make_socket_dir(sock_dir, os.getuid(), os.getgid())
        log = STATE_DIR / chain.name / f"{v.name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as f:
            p = subprocess.Popen([v.binary, *cmd], stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        state["processes"][v.name] = {"pid": p.pid, "log": str(log), "comm": Path(v.binary).name[:15],
                                      "prefix": v.prefix(chain.name)}
    for p in v.ports:
        if str(socket_path(chain, p)) not in state["sockets"]:
            state["sockets"].append(str(socket_path(chain, p)))
    save_state(chain, state)


def process_alive(info):
    try:
        comm = Path(f"/proc/{info['pid']}/comm").read_text().strip()
        status = Path(f"/proc/{info['pid']}/status").read_text()
    except OSError:
        return False
    return comm == info["comm"] and "\nState:\tZ" not in status


def stop_process(info, timeout=10):
    if not process_alive(info):
        return
    os.kill(info["pid"], signal.SIGTERM)
    end = time.time() + timeout
    while time.time() < end and process_alive(info):
        time.sleep(0.1)
    if process_alive(info):
        say(f"pid {info['pid']} ignored SIGTERM for {timeout}s: SIGKILL")
        os.kill(info["pid"], signal.SIGKILL)
    # Reap it if it is our child (it is not when `up` ran in another process).
    try:
        os.waitpid(info["pid"], os.WNOHANG)
    except ChildProcessError:
        pass


def remove_dpdk_leftovers(prefix):
    run(["rm", "-rf", f"/var/run/dpdk/{prefix}"])
    for line in Path("/proc/mounts").read_text().splitlines():
        f = line.split()
        if len(f) > 2 and f[2] == "hugetlbfs":
            for p in Path(f[1]).glob(f"{prefix}map_*"):
                p.unlink(missing_ok=True)


def stop_vnf(chain, v, state):
    if v.name in state["containers"]:
        run(["docker", "stop", "-t", "10", state["containers"][v.name]], check=False)
    elif v.name in state["processes"]:
        stop_process(state["processes"][v.name])
        remove_dpdk_leftovers(v.prefix(chain.name))


def port_states(chain):
    """link_state (up / down) of every interface, by name, as OVS sees it: for a
    vhost-user port, whether the VNF behind it is connected."""
    out = vsctl("--format=csv", "--no-headings", "--columns=name,link_state", "list", "Interface")
    states = {}
    for line in out.splitlines():
        name, _, link = line.partition(",")
        states[name.strip('"')] = link.strip('"') or "?"
    return states


def wait_links(chain, vnfs, state, timeout=LINK_TIMEOUT):
    """Until OVS sees every vhost-user link of these VNFs up."""
    want = [p for v in vnfs for p in v.ports]
    end = time.time() + timeout
    while True:
        st = port_states(chain)
        down = [p for p in want if st.get(p) != "up"]
        if not down:
            return
        if time.time() > end:
            for v in vnfs:
                if any(p in down for p in v.ports):
                    tail = "\n    ".join(vnf_log(chain, v, state).splitlines()[-8:])
                    say(f"{v.name}: {'running' if vnf_running(chain, v, state) else 'not running'}; "
                        f"its log ends:\n    {tail}")
            raise ChainError(f"vhost-user links still down after {timeout}s: {', '.join(down)}")
        time.sleep(0.2)


# --- Flows on the switch ------------------------------------------------------------------

def flow_files(chain):
    """Where `up` saves the chain's groups and flows, for `restore` and for
    scripts/ovs-start --vswitchd-only (which reads these names)."""
    d = STATE_DIR / chain.name
    return d / "bridge", d / "groups.txt", d / "flows.txt"


def chain_groups_on_switch(chain):
    """Group ids the chain's flows (by cookie) point to."""
    out = ofctl("dump-flows", chain.bridge, f"cookie={chain.cookie:#x}/-1", check=False)
    return {int(g) for g in re.findall(r"group:(\d+)", out)}


def remove_flows(chain, groups):
    groups = set(groups) | chain_groups_on_switch(chain)
    ofctl("del-flows", chain.bridge, f"cookie={chain.cookie:#x}/-1", check=False)
    for g in sorted(groups):
        ofctl("del-groups", chain.bridge, f"group_id={g}", check=False)


def add_flows(chain, state):
    """The groups, then the flows (they point to the groups); saved once they are on the switch."""
    groups, rules = flows(chain)
    for g in groups:
        ofctl("add-group", chain.bridge, g)
        state["groups"].append(int(re.match(r"group_id=(\d+)", g).group(1)))
        save_state(chain, state)
    ofctl("add-flows", chain.bridge, "-", input_text="\n".join(rules) + "\n")
    bridge_file, groups_file, flows_file = flow_files(chain)
    bridge_file.write_text(chain.bridge + "\n")
    groups_file.write_text("".join(g + "\n" for g in groups))
    flows_file.write_text("".join(r + "\n" for r in rules))


def restore(chain):
    """The chain's groups and flows again, as saved by up (after an ovs-vswitchd
    restart that did not re-add them)."""
    state = load_state(chain)
    if state is None:
        raise ChainError(f"chain {chain.name} is not up")
    if not ovs_running():
        raise ChainError("ovs-vswitchd is not running (scripts/ovs-start --vswitchd-only restores the chains' flows itself)")
    bridge_file, groups_file, flows_file = flow_files(chain)
    remove_flows(chain, state["groups"])
    if groups_file.exists() and groups_file.read_text().strip():
        ofctl("add-groups", chain.bridge, str(groups_file))
    ofctl("add-flows", chain.bridge, str(flows_file))
    say(f"{chain.name}: re-added {len(flows_file.read_text().splitlines())} flows and "
        f"{len(state['groups'])} groups on {chain.bridge}")


# --- Commands -------------------------------------------------------------------------

def up(chain):
    if load_state(chain) is not None:
        raise ChainError(f"chain {chain.name} is up already (state in {state_path(chain).parent}); chain down first")
    plan = preflight(chain)
    if any(v.run == "container" for v in chain.all_vnfs()):
        ensure_docker()
    state = {"file": str(chain.path), "bridge": chain.bridge, "cookie": chain.cookie, "netns": [], "veths": [],
             "ofports": {}, "groups": [], "containers": {}, "processes": {}, "sockets": []}
    save_state(chain, state)
    try:
        build(chain, state, plan)
    except BaseException:
        say("bring-up failed: taking down what was made")
        down(chain)
        raise


def build(chain, state, plan):
    t0 = time.time()
    if not ovs_running():
        # Whatever ovs-start prints goes to our stderr: our stdout is the summary.
        subprocess.run([str(SCRIPTS / "ovs-start")], check=True, stdout=sys.stderr)
        # Marked in OVS itself: the last chain to go stops it, whichever started it.
        vsctl("set", "Open_vSwitch", ".", f"external_ids:{MADE_KEY}=true")
    if not bridge_exists(chain.bridge):
        vsctl("add-br", chain.bridge, "--", "set", "Bridge", chain.bridge, "datapath_type=netdev",
              "fail_mode=secure", "protocols=OpenFlow10,OpenFlow13", f"external_ids:{MADE_KEY}=true")
    else:
        # Groups need OpenFlow 1.1+ (an empty list allows 1.0 to 1.3).
        protocols = vsctl("get", "Bridge", chain.bridge, "protocols").strip()
        if protocols not in ("[]", "") and "OpenFlow13" not in protocols:
            vsctl("add", "Bridge", chain.bridge, "protocols", "OpenFlow13")
    for o in chain.outside:
        if o.netns:
            add_outside_host(chain, o, state)
    # Ports: outside first, then one dpdkvhostuserclient port per VNF port (the VNF
    # listens with server=1, so it can restart and OVS reconnects by itself).
    for o in chain.outside:
        # af_packet's vdev name must be unique in OVS's DPDK: the ofport is, on the bridge.
        devargs = o.devargs or f"net_af_packet{plan[o.name]},iface={o.name}"
        add_port(chain, state, o.name, plan[o.name], "type=dpdk", f"options:dpdk-devargs={devargs}")
    for v in chain.all_vnfs():
        for port in v.ports:
            add_port(chain, state, port, plan[port], "type=dpdkvhostuserclient",
                     f"options:vhost-server-path={socket_path(chain, port)}")
    chain.set_ofports(state["ofports"])
    add_flows(chain, state)
    for v in chain.all_vnfs():
        start_vnf(chain, v, state)
    wait_links(chain, chain.all_vnfs(), state)
    say(f"{chain.name} up in {time.time() - t0:.1f}s: {describe(chain)}")


def describe(chain):
    a, b = chain.outside
    path = " -> ".join([a.name] + [v.name for v in chain.vnfs] + [b.name])
    if chain.taps:
        path += f", copies to {', '.join(t.name for t in chain.taps)}"
    return path


def docker_available():
    return bool(shutil.which("docker")) and subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def labelled_containers(chain):
    """{VNF name: container} of the containers labelled as this chain's."""
    if not docker_available():
        return {}
    out = run(["docker", "ps", "-a", "--filter", f"label={LABEL}={chain.name}", "--format", "{{.Names}}"],
              check=False).split()
    return {v.name: v.container(chain.name) for v in chain.all_vnfs() if v.container(chain.name) in out}


def discover(chain):
    """What of this chain is there without a state file: only what carries its tags."""
    netns = [o.netns for o in chain.outside
             if o.netns and o.netns in netns_list() and alias_of("eth0", o.netns) == host_tag(chain)]
    veths = [o.name for o in chain.outside if o.netns and alias_of(o.name) == host_tag(chain)]
    # The sockets of the ports tagged as this chain's; without OVS's database,
    # a socket named after a port of this chain that nobody listens on.
    if ovsdb_running():
        sockets = [(row["options"] or {}).get("vhost-server-path")
                   for row in ovs_table("Interface", ["options", "external_ids"])
                   if (row["external_ids"] or {}).get(CHAIN_KEY) == chain.name]
        sockets = [s for s in sockets if s]
    else:
        sockets = [str(socket_path(chain, p)) for v in chain.all_vnfs() for p in v.ports
                   if socket_path(chain, p).is_socket() and not socket_listening(socket_path(chain, p))]
    return {"netns": netns, "veths": veths, "ofports": {}, "groups": [], "containers": {},
            "processes": {}, "sockets": sockets}


def down(chain):
    state = load_state(chain)
    if state is None:
        state = discover(chain)
        if not (state["netns"] or state["veths"] or state["sockets"] or tagged_interfaces(chain)
                or labelled_containers(chain)):
            say(f"{chain.name} is not up")
    # Also what carries the chain's tags: a container created by a `docker run`
    # that then failed, a port whose add-port failed after the transaction.
    state["containers"] = {**labelled_containers(chain), **state["containers"]}
    # VNFs first: docker stop / SIGTERM, so each prints its final statistics,
    # shown here before their logs go.
    for v in chain.all_vnfs():
        stop_vnf(chain, v, state)
        final = parse_vnf_stats(vnf_log(chain, v, state))
        if final:
            say(f"{v.name} final statistics: " + "; ".join(
                f"port {p} rx {r} tx {t} dropped {d}" for p, (t, r, d) in sorted(final.items())))
    for name in state["containers"].values():
        run(["docker", "rm", "-f", name], check=False)
    if ovs_running() and bridge_exists(chain.bridge):
        remove_flows(chain, state["groups"])
    if ovsdb_running():
        # Only ports tagged as this chain's, whatever the state says.
        for p in tagged_interfaces(chain):
            vsctl("--if-exists", "del-port", p)
        remove_bridge_if_empty(chain.bridge)
    for s in state["sockets"]:
        if Path(s).is_socket():
            Path(s).unlink()
    for v in chain.all_vnfs():
        remove_socket_dir(vnf_socket_dir(chain, v))
    for ns in state["netns"]:
        run(["ip", "netns", "del", ns], check=False)
    for veth in state["veths"]:
        # Gone with its peer's namespace; remove it should that have failed.
        if Path(f"/sys/class/net/{veth}").exists():
            run(["ip", "link", "del", veth], check=False)
    run(["rm", "-rf", str(STATE_DIR / chain.name)])
    try:
        STATE_DIR.rmdir()  # if no other chain is up
    except OSError:
        pass
    stop_ovs_if_unused(chain)
    say(f"{chain.name} down")


def remove_bridge_if_empty(bridge):
    """A bridge a chain made goes with the last port on it (whichever chain's)."""
    if not bridge_exists(bridge) or vsctl("list-ports", bridge).strip():
        return
    made = vsctl("--if-exists", "get", "Bridge", bridge, f"external_ids:{MADE_KEY}", check=False).strip()
    if made == '"true"':
        vsctl("--if-exists", "del-br", bridge)


def stop_ovs_if_unused(chain):
    """An OVS a chain started stops with the last chain, once no bridge is left on it."""
    if not ovsdb_running():
        return
    made = vsctl("--if-exists", "get", "Open_vSwitch", ".", f"external_ids:{MADE_KEY}", check=False).strip()
    if made != '"true"':
        return
    others = other_chains(chain)
    if others or vsctl("list-br").strip():
        say(f"OVS stays: a chain started it, and {'chain(s) ' + ', '.join(sorted(others)) if others else 'bridges'} "
            f"remain on it")
        return
    subprocess.run([str(SCRIPTS / "ovs-stop")], check=False, stdout=sys.stderr)


# --- Counters ------------------------------------------------------------------------

def parse_vnf_stats(text):
    """vnf-fwd's (and l2fwd's) latest statistics block in a log: {port: (sent,
    received, dropped)}. The one place that reads that text layout."""
    blocks = re.split(r"Port statistics =+", text)
    for block in reversed(blocks[1:]):
        ports = {}
        for m in re.finditer(r"Statistics for port (\d+) -+\s*\nPackets sent:\s+(\d+)\s*\n"
                             r"Packets received:\s+(\d+)\s*\nPackets dropped:\s+(\d+)", block):
            ports[int(m.group(1))] = tuple(int(m.group(i)) for i in (2, 3, 4))
        if ports and "Aggregate statistics" in block:
            return ports
    return {}


def vnf_log(chain, v, state):
    if v.name in state.get("containers", {}):
        p = subprocess.run(["docker", "logs", state["containers"][v.name]], capture_output=True, text=True)
        return p.stdout + p.stderr
    info = state.get("processes", {}).get(v.name)
    if info:
        try:
            return Path(info["log"]).read_text(errors="replace")
        except OSError:
            return ""
    return ""


DOCKER_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z ")


def logged_stats(chain, v, state):
    """The latest statistics block in the VNF's log and its age in seconds
    (None if unknown): for a VNF whose telemetry does not answer (stopped)."""
    if v.name in state.get("containers", {}):
        p = subprocess.run(["docker", "logs", "--timestamps", state["containers"][v.name]],
                           capture_output=True, text=True)
        lines, stamp = [], None
        for line in (p.stdout + p.stderr).splitlines():
            m = DOCKER_TIME.match(line)
            if m and "Port statistics" in line:
                t = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
                stamp = t.timestamp() + float(m.group(2) or 0)
            lines.append(line[m.end():] if m else line)
        stats = parse_vnf_stats("\n".join(lines))
        return stats, (time.time() - stamp if stats and stamp else None)
    info = state.get("processes", {}).get(v.name)
    try:
        return parse_vnf_stats(Path(info["log"]).read_text(errors="replace")), time.time() - Path(info["log"]).stat().st_mtime
    except (OSError, TypeError):
        return {}, None


def telemetry_sockets(chain, v, state):
    """Where the VNF's DPDK telemetry socket may be: under its runtime
    directory (/var/run/dpdk/<prefix> as root, /tmp/dpdk/<prefix> otherwise),
    seen from the host: for a container, through its root in /proc. There
    /run, not /var/run: an absolute symlink under /proc/PID/root (Debian's
    /var/run -> /run) resolves in the host's root, not the container's."""
    root, dirs = "", ("/var/run/dpdk", "/tmp/dpdk")
    if v.name in state.get("containers", {}):
        p = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", state["containers"][v.name]],
                           capture_output=True, text=True)
        pid = p.stdout.strip()
        if p.returncode != 0 or pid in ("", "0"):
            return []
        root, dirs = f"/proc/{pid}/root", ("/run/dpdk", "/tmp/dpdk")
    elif not (v.name in state.get("processes", {}) and process_alive(state["processes"][v.name])):
        return []
    return [f"{root}{d}/{v.prefix(chain.name)}/dpdk_telemetry.v2" for d in dirs]


def telemetry(path, command):
    """One command on a DPDK telemetry socket (SOCK_SEQPACKET, as dpdk-telemetry.py): its JSON reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        s.settimeout(2)
        s.connect(path)
        s.recv(16384)  # the greeting: version and limits
        s.send(command.encode())
        return json.loads(s.recv(1 << 20))


def vnf_counters(chain, v, state):
    """{port: (sent, received, dropped)} as the VNF counts them now (its
    telemetry command), and their age in seconds: 0 when live, the log's
    latest block's age (None: unknown) when the VNF does not answer."""
    for path in telemetry_sockets(chain, v, state):
        try:
            reply = telemetry(path, TELEMETRY_COMMAND)[TELEMETRY_COMMAND]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        return {p: (tx, rx, d) for p, tx, rx, d in
                zip(reply["ports"], reply["tx"], reply["rx"], reply["dropped"])}, 0.0
    return logged_stats(chain, v, state)


def vnf_running(chain, v, state):
    if v.name in state.get("containers", {}):
        p = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", state["containers"][v.name]],
                           capture_output=True, text=True)
        return p.stdout.strip() == "true"
    info = state.get("processes", {}).get(v.name)
    return bool(info) and process_alive(info)


def ovs_counters(chain):
    """Port counters and flow n_packets from scripts/ovs-show --counters."""
    out = run([str(SCRIPTS / "ovs-show"), "--counters"], env={"BRIDGE": chain.bridge})
    ports, flows_ = {}, {}
    for line in out.splitlines():
        w = line.split()
        kv = dict(x.split("=", 1) for x in w[1:] if "=" in x)
        if w and w[0] == "port":
            ports[w[1]] = kv
        elif w and w[0] == "flow" and kv.get("in_port", "").isdigit():
            n = kv.get("n_packets", "?")
            flows_[int(kv["in_port"])] = flows_.get(int(kv["in_port"]), 0) + (int(n) if n.isdigit() else 0)
    return ports, flows_


def age_text(age):
    if age is None:
        return "age ?"
    return "live" if age == 0 else f"{age:.1f}s old"


def show(chain, machine):
    state = load_state(chain)
    if state is None:
        raise ChainError(f"chain {chain.name} is not up (no {state_path(chain)})")
    chain.set_ofports(state.get("ofports", {}))
    # The VNFs first: OVS's counters then are at least as new as theirs.
    vstats = {v.name: vnf_counters(chain, v, state) for v in chain.all_vnfs()}
    running = {v.name: vnf_running(chain, v, state) for v in chain.all_vnfs()}
    ports, flow_n = ovs_counters(chain)
    links = port_states(chain)
    a, b = chain.outside
    # Hop by hop from side a: each row a port of the switch, with what OVS
    # counted on it, the flow leaving from it, and what the VNF behind it counted.
    rows = [(a.name, a.ofport, "outside a", None, None)]
    for v in chain.vnfs:
        rows += [(v.ports[0], v.ofports[0], v.name, v, 0), (v.ports[1], v.ofports[1], v.name, v, 1)]
    rows.append((b.name, b.ofport, "outside b", None, None))
    rows += [(t.ports[0], t.ofports[0], f"tap {t.name}", t, 0) for t in chain.taps]
    if machine:
        for name, ofport, _, v, pi in rows:
            c = ports.get(name, {})
            print(f"port {name} ofport={ofport} link={links.get(name, '?')} "
                  f"ovs_rx={c.get('rx_pkts', '?')} ovs_tx={c.get('tx_pkts', '?')} ovs_tx_drop={c.get('tx_drop', '?')} "
                  f"flow_n_packets={flow_n.get(ofport, 0)}")
        for v in chain.all_vnfs():
            counts, age = vstats[v.name]
            age_ms = "?" if age is None else round(age * 1000)
            for pi, (sent, recv, dropped) in sorted(counts.items()):
                print(f"vnf {v.name} port={pi} running={str(running[v.name]).lower()} rx={recv} tx={sent} "
                      f"dropped={dropped} age_ms={age_ms}")
        return
    print(f"chain {chain.name}: {describe(chain)}")
    print("OVS counts what enters the switch on a port (rx) and what leaves by it (tx);")
    print("the VNF columns are vnf-fwd's own statistics for the port facing that OVS port")
    print("(live from its telemetry; from its log, with their age, when it does not answer).\n")
    print(f"{'port':<15} {'ofport':>6} {'link':<10} {'OVS rx':>10} {'OVS tx':>10} {'tx drop':>8} {'flow pkts':>10}   "
          f"{'VNF':<14} {'VNF rx':>10} {'VNF tx':>10} {'VNF drop':>8}  counters")
    for name, ofport, what, v, pi in rows:
        c = ports.get(name, {})
        left = (f"{name:<15} {ofport:>6} {links.get(name, '?'):<10} {c.get('rx_pkts', '?'):>10} "
                f"{c.get('tx_pkts', '?'):>10} {c.get('tx_drop', '?'):>8} {flow_n.get(ofport, 0):>10}   ")
        if v is None:
            print(left + what)
            continue
        counts, age = vstats[v.name]
        s = counts.get(pi)
        label = f"{what}.p{pi}" + ("" if running[v.name] else " (down)")
        if s is None:
            print(left + f"{label:<14} {'-':>10} {'-':>10} {'-':>8}")
        else:
            print(left + f"{label:<14} {s[1]:>10} {s[0]:>10} {s[2]:>8}  {age_text(age)}")


def vnf_named(chain, name):
    v = next((v for v in chain.all_vnfs() if v.name == name), None)
    if v is None:
        raise ChainError(f"no VNF {name!r} in {chain.path}")
    return v


def main(argv):
    parser = argparse.ArgumentParser(prog="scripts/chain", description="Service chains through OVS-DPDK.")
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    for cmd, what in (("up", "build the chain"), ("down", "remove what up made"),
                      ("restore", "re-add the chain's flows and groups (after an ovs-vswitchd restart)")):
        sub.add_parser(cmd, help=what).add_argument("file", metavar="FILE")
    p = sub.add_parser("show", help="counters hop by hop")
    p.add_argument("--counters", action="store_true", help="one line per port and VNF port, for machines")
    p.add_argument("file", metavar="FILE")
    for cmd, what in (("stop-vnf", "stop one VNF"), ("start-vnf", "start one VNF again")):
        p = sub.add_parser(cmd, help=what)
        p.add_argument("file", metavar="FILE")
        p.add_argument("vnf", metavar="VNF")
    args = parser.parse_args(argv)
    try:
        chain = load(args.file)
        if args.cmd == "up":
            up(chain)
        elif args.cmd == "down":
            down(chain)
        elif args.cmd == "restore":
            restore(chain)
        elif args.cmd == "show":
            show(chain, args.counters)
        else:
            state = load_state(chain)
            if state is None:
                raise ChainError(f"chain {chain.name} is not up")
            v = vnf_named(chain, args.vnf)
            if args.cmd == "stop-vnf":
                stop_vnf(chain, v, state)
            elif v.name in state["containers"]:
                run(["docker", "start", state["containers"][v.name]])
                wait_links(chain, [v], state)
            else:
                start_vnf(chain, v, state)
                wait_links(chain, [v], state)
    except ChainError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as e:
        print(f"{PROG}: error: {' '.join(map(str, e.cmd))} failed (exit {e.returncode})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

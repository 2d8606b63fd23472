"""The chain file (TOML, read with tomllib) as dataclasses: every value checked,
every mistake a one-line ChainError naming the file, the table and the key."""

import ipaddress
import os
import re
import tomllib
import zlib
from copy import copy
from dataclasses import dataclass, field
from pathlib import Path

from .base import ROOT, ChainError


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
    # Which instance: restart-vnf starts the next generation beside the running
    # one, so two of a VNF exist for a while; their names alternate (even
    # generations are the chain file's names, odd ones carry a "q").
    generation: int = 0

    def suffix(self):
        return "-q" if self.generation % 2 else ""

    def prefix(self, chain):
        """The instance's name: its DPDK file prefix, its socket directory."""
        return f"{chain}-{self.name}{self.suffix()}"

    def container(self, chain):
        return f"vnf-chain-{self.prefix(chain)}"

    def log_name(self):
        return f"{self.name}{self.suffix()}.log"

    def at(self, chain, generation):
        """This VNF as instance `generation`: its OVS ports <chain>-<vnf>-p0/-p1,
        or -q0/-q1 for an odd generation (as long: the file's check holds)."""
        v = copy(self)
        v.generation = generation
        v.ports = [f"{chain}-{self.name}-{'q' if generation % 2 else 'p'}{i}" for i in range(1 if self.tap else 2)]
        v.ofports = []
        return v

    def instances(self, chain):
        """Both instances' names a restart can leave: for a `down` without state."""
        return [self.at(chain, g) for g in (0, 1)]


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

    def replace(self, old, new):
        """Instance `new` of a VNF in the place of `old`."""
        for vs in (self.vnfs, self.taps):
            vs[:] = [new if v is old else v for v in vs]

    def set_instances(self, generations, images):
        """The instances the state records (restart-vnf), by VNF name."""
        for v in self.all_vnfs():
            new = v.at(self.name, generations.get(v.name, 0))
            new.image = images.get(v.name, v.image)
            self.replace(v, new)

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
    vnfs = [v.at(name, 0) for v in vnfs]
    taps = [v.at(name, 0) for v in taps]
    for v in vnfs + taps:
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


def describe(chain):
    a, b = chain.outside
    path = " -> ".join([a.name] + [v.name for v in chain.vnfs] + [b.name])
    if chain.taps:
        path += f", copies to {', '.join(t.name for t in chain.taps)}"
    return path


def vnf_named(chain, name):
    v = next((v for v in chain.all_vnfs() if v.name == name), None)
    if v is None:
        raise ChainError(f"no VNF {name!r} in {chain.path}")
    return v

"""Service chains through OVS-DPDK: the engine of scripts/chain (which sets
the OVS_* environment of scripts/lib/ovs.sh and runs this file).

A chain file (TOML) names two outside ports (a NIC, or a veth pair into a
network namespace that plays the outside host), an ordered list of VNFs
(vnf-fwd in a container or as a host process, two vhost-user ports each) and
optional passive taps. `up` builds it: OVS ports, flows, namespaces, VNFs;
`down` removes exactly what `up` made (recorded in a state file); `show`
prints the counters hop by hop; `stop-vnf`/`start-vnf` stop and start one VNF.
"""

import ipaddress
import json
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
import zlib
from dataclasses import dataclass, field
from pathlib import Path

PROG = "chain"
SCRIPTS = Path(__file__).resolve().parent.parent
ROOT = SCRIPTS.parent
OVS_DIR = Path(os.environ["OVS_RUNDIR"])
OVS_STATE_DIR = Path(os.environ.get("OVS_STATE_DIR", "/usr/local/var/lib/vnf-fwd-ovs"))
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
VNF_OFPORT_BASE = 21
TAP_OFPORT_BASE = 81
LINK_TIMEOUT = int(os.environ.get("CHAIN_LINK_TIMEOUT", "60"))


class ChainError(Exception):
    """A one-line reason `chain` cannot go on."""


def say(msg):
    print(f"{PROG}: {msg}", file=sys.stderr, flush=True)


def run(cmd, check=True, input_text=None):
    """Runs cmd; returns stdout. A failure (check) is a ChainError with stderr's last line."""
    p = subprocess.run(cmd, input=input_text, capture_output=True, text=True)
    if check and p.returncode != 0:
        msg = (p.stderr or p.stdout).strip().splitlines()
        raise ChainError(f"{' '.join(cmd[:6])}{' ...' if len(cmd) > 6 else ''}: {msg[-1] if msg else f'exit {p.returncode}'}")
    return p.stdout


def vsctl(*args, check=True):
    return run(["ovs-vsctl", f"--timeout={os.environ.get('OVS_CMD_TIMEOUT', '30')}", *args], check=check)


def ofctl(*args, check=True, input_text=None):
    return run(["ovs-ofctl", "-O", "OpenFlow13", *args], check=check, input_text=input_text)


# --- The chain file ---------------------------------------------------------------

@dataclass
class Outside:
    side: str  # "a" or "b"
    name: str  # OVS port name; with a host, also the host end of the veth pair
    ofport: int
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
    extra: list
    security: str
    ports: list = field(default_factory=list)  # OVS port names, p0 (side a) then p1
    ofports: list = field(default_factory=list)
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


NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,13}$")


def check_keys(table, allowed, where):
    extra = set(table) - set(allowed)
    if extra:
        raise ChainError(f"{where}: unknown key(s) {', '.join(sorted(extra))} (allowed: {', '.join(allowed)})")


def parse_vnf(t, index, where, defaults, tap):
    keys = ["name", "run", "image", "binary", "mode", "mac_updating", "lcores", "memory", "on_down",
            "stats_period", "args", "security", "idle_yield"]
    check_keys(t, keys, where)
    name = t.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise ChainError(f"{where}: name must be 1-14 of a-z 0-9 - (got {name!r})")
    run_kind = t.get("run", "container")
    if run_kind not in ("container", "process"):
        raise ChainError(f"{where} ({name}): run is container or process, not {run_kind!r}")
    mode = t.get("mode", "io")
    if mode not in CHAIN_MODES:
        raise ChainError(f"{where} ({name}): mode {mode!r} cannot carry a chain end to end "
                         f"(macswap sends frames back to their sender's MAC, 5tswap swaps the IP addresses); use io or l2fwd")
    on_down = t.get("on_down", defaults.get("on_vnf_down", "stop"))
    if on_down not in ("stop", "bypass"):
        raise ChainError(f"{where} ({name}): on_down is stop or bypass, not {on_down!r}")
    memory = t.get("memory", 64)
    if not isinstance(memory, int) or not 16 <= memory <= 4096:
        raise ChainError(f"{where} ({name}): memory is MB, 16..4096 (got {memory!r})")
    security = t.get("security", "least")
    if security not in ("least", "privileged"):
        raise ChainError(f"{where} ({name}): security is least or privileged, not {security!r}")
    extra = t.get("args", [])
    if not isinstance(extra, list) or not all(isinstance(a, str) for a in extra):
        raise ChainError(f"{where} ({name}): args is a list of strings")
    binary = t.get("binary", str(ROOT / "target/release/vnf-fwd"))
    if not os.path.isabs(binary):
        binary = str(ROOT / binary)
    lcores = str(t.get("lcores", "0@0"))
    try:
        ids, cpus = lcore_map(lcores)
    except ValueError:
        raise ChainError(f"{where} ({name}): lcores {lcores!r} is not an EAL --lcores map such as 0@0 or 0@0,1@1")
    idle_yield = t.get("idle_yield")
    if idle_yield is not None and not isinstance(idle_yield, bool):
        raise ChainError(f"{where} ({name}): idle_yield is true or false")
    return Vnf(name=name, index=index, run=run_kind, image=t.get("image", "vnf-fwd"), binary=binary,
               mode=mode, mac_updating=bool(t.get("mac_updating", False)), lcores=lcores, n_lcores=len(ids), cpus=cpus,
               idle_yield=idle_yield, memory=memory, on_down=on_down, stats_period=int(t.get("stats_period", 1)),
               extra=extra, security=security, tap=tap)


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
    outs = doc.get("outside", [])
    if len(outs) != 2:
        raise ChainError(f"{path}: a chain has exactly two [[outside]] ports (side a, then side b), not {len(outs)}")
    vnfs = [parse_vnf(t, i, f"{path}: vnf {i + 1}", doc, False) for i, t in enumerate(doc.get("vnf", []))]
    taps = [parse_vnf(t, i, f"{path}: tap {i + 1}", doc, True) for i, t in enumerate(doc.get("tap", []))]
    outside = []
    for side, t in zip("ab", outs):
        where = f"{path}: outside {side}"
        check_keys(t, ["name", "ofport", "devargs", "netns", "address", "mac"], where)
        oname = t.get("name")
        if not isinstance(oname, str) or not re.match(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,14}$", oname):
            raise ChainError(f"{where}: name (an interface name, at most 15 characters) is required")
        o = Outside(side=side, name=oname, ofport=int(t.get("ofport", 11 if side == "a" else 12)),
                    devargs=t.get("devargs", ""), netns=t.get("netns", ""), address=t.get("address", ""),
                    mac=t.get("mac", ""))
        if bool(o.devargs) == bool(o.netns):
            raise ChainError(f"{where}: give either devargs (a DPDK port: a NIC) or netns (a veth pair into a namespace made here)")
        if o.netns and not in_benchmark_range(o.address):
            raise ChainError(f"{where}: an emulated host's address is in 198.18.0.0/15, "
                             f"the range set aside for benchmarking (got {o.address!r})")
        if o.netns and any(v.mode == "l2fwd" and v.mac_updating for v in vnfs):
            want = L2FWD_HOST_MAC[side]
            if o.mac.lower() != want:
                raise ChainError(f"{where}: a VNF in l2fwd mode with MAC updating sends side {side} frames to {want}; "
                                 f"set mac = \"{want}\" (or mac_updating = false)")
        outside.append(o)
    names = [v.name for v in vnfs + taps]
    if len(set(names)) != len(names):
        raise ChainError(f"{path}: VNF and tap names must be unique")
    for v in vnfs:
        v.ports = [f"{v.name}-p0", f"{v.name}-p1"]
        v.ofports = [VNF_OFPORT_BASE + 2 * v.index, VNF_OFPORT_BASE + 2 * v.index + 1]
    for t in taps:
        t.ports = [f"{t.name}-p0"]
        t.ofports = [TAP_OFPORT_BASE + t.index]
    for v in vnfs + taps:
        if v.idle_yield is None:
            # Busy pollers sharing a CPU wait for the scheduler to preempt one
            # another (milliseconds per hop); idle ones yield instead.
            v.idle_yield = any(w is not v and w.cpus & v.cpus for w in vnfs + taps)
    used = [o.ofport for o in outside] + [p for v in vnfs + taps for p in v.ofports]
    if len(set(used)) != len(used):
        raise ChainError(f"{path}: outside ofports collide with the VNF ports ({VNF_OFPORT_BASE}.., taps {TAP_OFPORT_BASE}..)")
    return Chain(name=name, bridge=doc.get("bridge", os.environ.get("BRIDGE", "ovs-br0")), outside=outside,
                 vnfs=vnfs, taps=taps, path=path)


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
            gid = in_port  # one group per in_port: unique on the bridge
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
    p.write_text(json.dumps(state, indent=1))


def ovs_running():
    pidfile = OVS_DIR / "ovs-vswitchd.pid"
    try:
        pid = int(pidfile.read_text())
        return Path(f"/proc/{pid}/comm").read_text().strip() == "ovs-vswitchd"
    except (OSError, ValueError):
        return False


def netns_list():
    return [line.split()[0] for line in run(["ip", "netns", "list"]).splitlines() if line.strip()]


def add_outside_host(o, state):
    """A veth pair: o.name on the host (an OVS-DPDK port through af_packet),
    eth0 in namespace o.netns, the outside host."""
    if o.netns in netns_list():
        raise ChainError(f"namespace {o.netns} exists already (another chain, or a chain not taken down: chain down FILE)")
    run(["ip", "netns", "add", o.netns])
    state["netns"].append(o.netns)
    ns = ["ip", "-n", o.netns]
    run(["ip", "link", "add", o.name, "type", "veth", "peer", "name", "eth0", "netns", o.netns])
    state["veths"].append(o.name)
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


def vnf_command(chain, v):
    """vnf-fwd's command line (after the image, or the binary): EAL options
    with one server=1 virtio_user vdev per port, then l2fwd's options."""
    sock_dir = CONTAINER_SOCKET_DIR if v.run == "container" else str(vnf_socket_dir(chain, v))
    eal = ["--lcores", v.lcores, "-n", "1", "-m", str(v.memory), "--file-prefix", v.prefix(chain.name), "--no-pci"]
    for i, port in enumerate(v.ports):
        mac = f"02:00:00:01:{v.index + (0x80 if v.tap else 0):02x}:{i:02x}"
        eal += ["--vdev", f"net_virtio_user{i},mac={mac},path={sock_dir}/{port},server=1"]
    nports = len(v.ports)
    app = ["-p", f"{(1 << nports) - 1:#x}", "-q", str(-(-nports // v.n_lcores)), "--mode", v.mode,
           "-T", str(v.stats_period)]
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
    run(["bash", "-c", f". {ROOT}/containers/lib.sh && ensure_docker"])


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
        run(["docker", "run", "-d", "--name", name, "--label", f"vnf-fwd.chain={chain.name}",
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


# --- Commands -------------------------------------------------------------------------

def up(chain):
    state = {"file": str(chain.path), "started_ovs": False, "created_bridge": False, "netns": [], "veths": [],
             "ports": [], "groups": [], "containers": {}, "processes": {}, "sockets": []}
    save_state(chain, state)
    t0 = time.time()
    if not ovs_running():
        # Whatever ovs-start prints goes to our stderr: our stdout is the summary.
        subprocess.run([str(SCRIPTS / "ovs-start")], check=True, stdout=sys.stderr)
        state["started_ovs"] = True
        save_state(chain, state)
    if chain.bridge not in vsctl("list-br").split():
        vsctl("add-br", chain.bridge, "--", "set", "Bridge", chain.bridge, "datapath_type=netdev",
              "fail_mode=secure", "protocols=OpenFlow10,OpenFlow13")
        state["created_bridge"] = True
    else:
        # Groups need OpenFlow 1.1+.
        vsctl("set", "Bridge", chain.bridge, "protocols=OpenFlow10,OpenFlow13")
    save_state(chain, state)
    for o in chain.outside:
        if o.netns:
            add_outside_host(o, state)
            save_state(chain, state)
    if any(v.run == "container" for v in chain.all_vnfs()):
        ensure_docker()
    # Ports: outside first, then one dpdkvhostuserclient port per VNF port (the VNF
    # listens with server=1, so it can restart and OVS reconnects by itself).
    for o in chain.outside:
        # af_packet's vdev name must be unique in OVS's DPDK: the ofport is, on the bridge.
        devargs = o.devargs or f"net_af_packet{o.ofport},iface={o.name}"
        state["ports"].append(o.name)
        save_state(chain, state)
        vsctl("add-port", chain.bridge, o.name, "--", "set", "Interface", o.name, "type=dpdk",
              f"options:dpdk-devargs={devargs}", f"ofport_request={o.ofport}")
    for v in chain.all_vnfs():
        for port, ofport in zip(v.ports, v.ofports):
            sock = vnf_socket_dir(chain, v) / port
            state["ports"].append(port)
            state["sockets"].append(str(sock))
            save_state(chain, state)
            vsctl("add-port", chain.bridge, port, "--", "set", "Interface", port, "type=dpdkvhostuserclient",
                  f"options:vhost-server-path={sock}", f"ofport_request={ofport}")
    for port in state["ports"]:
        err = vsctl("get", "Interface", port, "error").strip()
        if err not in ("", "[]"):
            raise ChainError(f"OVS port {port}: {err}")
    groups, rules = flows(chain)
    for g in groups:
        state["groups"].append(int(re.match(r"group_id=(\d+)", g).group(1)))
        save_state(chain, state)
        ofctl("add-group", chain.bridge, g)
    ofctl("add-flows", chain.bridge, "-", input_text="\n".join(rules) + "\n")
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


def down(chain):
    state = load_state(chain)
    if state is None:
        # No record (up never ran, or state lost): remove what the file names, if there.
        state = {"started_ovs": False, "created_bridge": False,
                 "netns": [o.netns for o in chain.outside if o.netns and o.netns in netns_list()],
                 "veths": [o.name for o in chain.outside if o.netns],
                 "ports": [o.name for o in chain.outside] + [p for v in chain.all_vnfs() for p in v.ports],
                 "groups": [], "containers": {v.name: v.container(chain.name) for v in chain.all_vnfs()
                                              if v.run == "container"},
                 "processes": {},
                 "sockets": [str(vnf_socket_dir(chain, v) / p) for v in chain.all_vnfs() for p in v.ports]}
        if not ovs_running() and not state["netns"]:
            say(f"{chain.name} is not up")
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
    if ovs_running():
        ofctl("del-flows", chain.bridge, f"cookie={chain.cookie:#x}/-1", check=False)
        for g in state["groups"]:
            ofctl("del-groups", chain.bridge, f"group_id={g}", check=False)
        for p in state["ports"]:
            vsctl("--if-exists", "del-port", chain.bridge, p)
        if state["created_bridge"]:
            vsctl("--if-exists", "del-br", chain.bridge)
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
    if state["started_ovs"]:
        subprocess.run([str(SCRIPTS / "ovs-stop")], check=False, stdout=sys.stderr)
    for v in chain.all_vnfs():
        remove_dpdk_leftovers(v.prefix(chain.name))
    run(["rm", "-rf", str(STATE_DIR / chain.name)])
    try:
        STATE_DIR.rmdir()  # if no other chain is up
    except OSError:
        pass
    say(f"{chain.name} down")


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


def vnf_running(chain, v, state):
    if v.name in state.get("containers", {}):
        p = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", state["containers"][v.name]],
                           capture_output=True, text=True)
        return p.stdout.strip() == "true"
    info = state.get("processes", {}).get(v.name)
    return bool(info) and process_alive(info)


def ovs_counters():
    """Port counters and flow n_packets from scripts/ovs-show --counters."""
    out = run([str(SCRIPTS / "ovs-show"), "--counters"])
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


def show(chain, machine):
    state = load_state(chain)
    if state is None:
        raise ChainError(f"chain {chain.name} is not up (no {state_path(chain)})")
    ports, flow_n = ovs_counters()
    links = port_states(chain)
    a, b = chain.outside
    # Hop by hop from side a: each row a port of the switch, with what OVS
    # counted on it, the flow leaving from it, and what the VNF behind it counted.
    rows = [(a.name, a.ofport, "outside a", None, None)]
    for v in chain.vnfs:
        rows += [(v.ports[0], v.ofports[0], v.name, v, 0), (v.ports[1], v.ofports[1], v.name, v, 1)]
    rows.append((b.name, b.ofport, "outside b", None, None))
    rows += [(t.ports[0], t.ofports[0], f"tap {t.name}", t, 0) for t in chain.taps]
    vstats = {v.name: parse_vnf_stats(vnf_log(chain, v, state)) for v in chain.all_vnfs()}
    running = {v.name: vnf_running(chain, v, state) for v in chain.all_vnfs()}
    if machine:
        for name, ofport, _, v, pi in rows:
            c = ports.get(name, {})
            print(f"port {name} ofport={ofport} link={links.get(name, '?')} "
                  f"ovs_rx={c.get('rx_pkts', '?')} ovs_tx={c.get('tx_pkts', '?')} ovs_tx_drop={c.get('tx_drop', '?')} "
                  f"flow_n_packets={flow_n.get(ofport, 0)}")
        for v in chain.all_vnfs():
            for pi, (sent, recv, dropped) in sorted(vstats[v.name].items()):
                print(f"vnf {v.name} port={pi} running={str(running[v.name]).lower()} rx={recv} tx={sent} dropped={dropped}")
        return
    print(f"chain {chain.name}: {describe(chain)}")
    print("OVS counts what enters the switch on a port (rx) and what leaves by it (tx);")
    print("the VNF columns are vnf-fwd's own statistics for the port facing that OVS port.\n")
    print(f"{'port':<14} {'ofport':>6} {'link':<10} {'OVS rx':>10} {'OVS tx':>10} {'tx drop':>8} {'flow pkts':>10}   "
          f"{'VNF':<14} {'VNF rx':>10} {'VNF tx':>10} {'VNF drop':>8}")
    for name, ofport, what, v, pi in rows:
        c = ports.get(name, {})
        left = (f"{name:<14} {ofport:>6} {links.get(name, '?'):<10} {c.get('rx_pkts', '?'):>10} "
                f"{c.get('tx_pkts', '?'):>10} {c.get('tx_drop', '?'):>8} {flow_n.get(ofport, 0):>10}   ")
        if v is None:
            print(left + what)
            continue
        s = vstats[v.name].get(pi)
        label = f"{what}.p{pi}" + ("" if running[v.name] else " (down)")
        if s is None:
            print(left + f"{label:<14} {'-':>10} {'-':>10} {'-':>8}")
        else:
            print(left + f"{label:<14} {s[1]:>10} {s[0]:>10} {s[2]:>8}")


def main(argv):
    usage = ("usage: scripts/chain up|down|show [--counters] FILE\n"
             "       scripts/chain stop-vnf|start-vnf FILE VNF")
    if len(argv) < 2 or argv[0] in ("-h", "--help"):
        print(usage, file=sys.stderr if argv[:1] not in (["-h"], ["--help"]) else sys.stdout)
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    cmd, rest = argv[0], argv[1:]
    machine = "--counters" in rest
    rest = [a for a in rest if a != "--counters"]
    try:
        chain = load(rest[0])
        if cmd == "up":
            if load_state(chain) is not None:
                raise ChainError(f"chain {chain.name} is up already (state in {state_path(chain).parent}); "
                                 f"chain down first")
            try:
                up(chain)
            except BaseException:
                say("bring-up failed: taking down what was made")
                down(chain)
                raise
        elif cmd == "down":
            down(chain)
        elif cmd == "show":
            show(chain, machine)
        elif cmd in ("stop-vnf", "start-vnf") and len(rest) == 2:
            state = load_state(chain)
            if state is None:
                raise ChainError(f"chain {chain.name} is not up")
            v = next((v for v in chain.all_vnfs() if v.name == rest[1]), None)
            if v is None:
                raise ChainError(f"no VNF {rest[1]!r} in {chain.path}")
            if cmd == "stop-vnf":
                stop_vnf(chain, v, state)
            elif v.name in state["containers"]:
                run(["docker", "start", state["containers"][v.name]])
                wait_links(chain, [v], state)
            else:
                start_vnf(chain, v, state)
                wait_links(chain, [v], state)
        else:
            print(usage, file=sys.stderr)
            return 2
    except ChainError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as e:
        print(f"{PROG}: error: {' '.join(map(str, e.cmd))} failed (exit {e.returncode})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

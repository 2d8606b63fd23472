"""The VNFs and the outside hosts: vnf-fwd in containers or as host processes
(its command line, its socket directory, start, stop, links, counters), and the
network namespaces and veth pairs that play the outside hosts."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

from .base import LINK_TIMEOUT, OVS_DIR, ROOT, SCRIPTS, STATE_DIR, TAG, ChainError, run, say
from .ovs import CHAIN_KEY, port_states
from .state import save_state


# Where the containers see the vhost-user sockets (the write-up's mount point).
CONTAINER_SOCKET_DIR = "/var/run/openvswitch"
# Each VNF's sockets are in a directory of its own below this one, the only thing
# of OVS's its container mounts: not OVS's run directory, which holds db.sock,
# the control sockets and every other VNF's sockets.
VNF_SOCKET_BASE = OVS_DIR / "vnf"
LABEL = "vnf-fwd.chain"

TELEMETRY_COMMAND = "/vnf_fwd/stats"


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


def socket_path(chain, v, port):
    """The vhost-user socket of a VNF port, on the host (the VNF listens on it: server=1),
    in that VNF instance's own socket directory."""
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


def vnf_socket_dir(chain, v):
    """The host directory of this VNF's vhost-user sockets (it listens: server=1)."""
    return VNF_SOCKET_BASE / v.prefix(chain.name)


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


def vnf_command(chain, v):
    """vnf-fwd's command line (after the image, or the binary): EAL options
    with one server=1 virtio_user vdev per port, then l2fwd's options, as
    scripts/lib/forwarder-cmdline (every script's) spells them."""
    sock_dir = CONTAINER_SOCKET_DIR if v.run == "container" else str(vnf_socket_dir(chain, v))
    opts = ["--forwarder", "vnf-fwd", "--args-only", "--lcores", v.lcores, "--channels", "1",
            "--mem", f"-m {v.memory}", "--file-prefix", v.prefix(chain.name), "--no-pci"]
    for i, port in enumerate(v.ports):
        mac = f"02:00:00:01:{v.index + (0x80 if v.tap else 0):02x}:{i:02x}"
        opts += ["--vdev", f"net_virtio_user{i},mac={mac},path={sock_dir}/{port},server=1,queue_size={v.queue_size}"]
    nports = len(v.ports)
    opts += ["--portmask", f"{(1 << nports) - 1:#x}", "--queues", str(-(-nports // v.n_lcores)), "--mode", v.mode,
             "--stats-period", str(v.stats_period), "--rxd", str(v.rxd), "--txd", str(v.txd)]
    if v.mode == "l2fwd" and not v.mac_updating:
        opts.append("--no-mac-updating")
    if v.idle_yield:
        opts.append("--idle-yield")
    # One argv element per line.
    return run([str(SCRIPTS / "lib/forwarder-cmdline"), *opts, "--", *v.extra]).split("\n")[:-1]


def image(v):
    return v.image if ":" in v.image else f"{v.image}:{TAG}"


def docker_flags(security):
    out = run([str(ROOT / "containers/docker-flags"), security])
    return out.split("\n")[:-1]


def ensure_docker():
    # ROOT as an argument, not in the script: any path works.
    run(["bash", "-c", '. "$1/scripts/lib/common.sh" && SAY_FD=2 && docker_env && ensure_docker', "bash", str(ROOT)])


def image_user(img):
    """The image's user as (uid, gid): the VNF runs as it and owns its socket directory."""
    user = run(["docker", "image", "inspect", "-f", "{{.Config.User}}", img]).strip() or "0"
    m = re.fullmatch(r"(\d+)(?::(\d+))?", user)
    if not m:
        raise ChainError(f"image {img}: USER {user} is not numeric (UID[:GID]); its socket directory is chowned to it")
    return int(m.group(1)), int(m.group(2) or m.group(1))


def start_vnf(chain, v, state, into=None):
    """Starts instance v; records it in `into` (a part of state: restart-vnf's
    new instance), or in state, and saves the state."""
    into = state if into is None else into
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
        into["containers"][v.name] = name
    else:
        if not os.access(v.binary, os.X_OK):
            raise ChainError(f"{v.name}: {v.binary} is not an executable (cargo build --release, or binary = ...)")
        make_socket_dir(sock_dir, os.getuid(), os.getgid())
        log = STATE_DIR / chain.name / v.log_name()
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as f:
            p = subprocess.Popen([v.binary, *cmd], stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        into["processes"][v.name] = {"pid": p.pid, "log": str(log), "comm": Path(v.binary).name[:15],
                                     "prefix": v.prefix(chain.name)}
    for p in v.ports:
        if str(socket_path(chain, v, p)) not in state["sockets"]:
            state["sockets"].append(str(socket_path(chain, v, p)))
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


def docker_available():
    return bool(shutil.which("docker")) and subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def labelled_containers(chain):
    """The containers labelled as this chain's (any instance)."""
    if not docker_available():
        return []
    return run(["docker", "ps", "-a", "--filter", f"label={LABEL}={chain.name}", "--format", "{{.Names}}"],
               check=False).split()


def parse_vnf_stats(text):
    """vnf-fwd's (and l2fwd's) latest statistics block in a log: {port: (sent,
    received, dropped)}: for a VNF whose telemetry does not answer (stopped),
    and for the final statistics `down` prints."""
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

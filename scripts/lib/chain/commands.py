"""The commands: up, down, show (and the preflight that keeps chains apart)."""

import subprocess
import sys
import time
from pathlib import Path

from .base import SCRIPTS, STATE_DIR, ChainError, run, say
from .model import OFPORT_MAX, OUTSIDE_OFPORT_BASE, TAP_OFPORT_BASE, VNF_OFPORT_BASE, describe, vnf_named
from .ovs import (CHAIN_KEY, MADE_KEY, add_flows, add_port, allow_bundles, bridge_exists, bridge_ofports, bundle,
                  flows, group_id, move_flows, ovs_counters, ovs_running, ovs_table, ovsdb_running, port_packets,
                  port_states, remove_bridge_if_empty, remove_flows, save_flows, stop_ovs_if_unused,
                  tagged_interfaces, vsctl)
from .state import load_state, other_chains, save_state, state_path
from .vnf import (add_outside_host, alias_of, ensure_docker, host_tag, labelled_containers, netns_list,
                  parse_vnf_stats, remove_socket_dir, socket_listening, socket_path, start_vnf, stop_vnf,
                  vnf_counters, vnf_log, vnf_running, vnf_socket_dir, wait_links)


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
            if socket_path(chain, v, p).exists() or socket_path(chain, v, p).is_symlink():
                problems.append(f"{socket_path(chain, v, p)} exists")
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
              "fail_mode=secure", "protocols=OpenFlow10,OpenFlow13,OpenFlow14",
              f"external_ids:{MADE_KEY}=true")
    else:
        # Groups need OpenFlow 1.1+, restart-vnf's bundles 1.4 (an empty list allows 1.0 to 1.5).
        protocols = vsctl("get", "Bridge", chain.bridge, "protocols").strip()
        if protocols not in ("[]", "") and "OpenFlow13" not in protocols:
            vsctl("add", "Bridge", chain.bridge, "protocols", "OpenFlow13")
        allow_bundles(chain.bridge)
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
                     f"options:vhost-server-path={socket_path(chain, v, port)}")
    chain.set_ofports(state["ofports"])
    add_flows(chain, state)
    for v in chain.all_vnfs():
        start_vnf(chain, v, state)
    wait_links(chain, chain.all_vnfs(), state)
    say(f"{chain.name} up in {time.time() - t0:.1f}s: {describe(chain)}")


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
        paths = [socket_path(chain, i, p) for v in chain.all_vnfs() for i in v.instances(chain.name) for p in i.ports]
        sockets = [str(s) for s in paths if s.is_socket() and not socket_listening(s)]
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
    labelled = labelled_containers(chain)
    for v in chain.all_vnfs():
        if v.name not in state["containers"] and v.container(chain.name) in labelled:
            state["containers"][v.name] = v.container(chain.name)
    # VNFs first: docker stop / SIGTERM, so each prints its final statistics,
    # shown here before their logs go. Then the other instance a restart-vnf
    # left, if one was interrupted.
    instances = [(v, state, "") for v in chain.all_vnfs()]
    other = state.get("other")
    if other:
        v = vnf_named(chain, other["vnf"])
        instances.append((v.at(chain.name, other["generation"]), other, " (other instance)"))
    for v, where, label in instances:
        stop_vnf(chain, v, where)
        final = parse_vnf_stats(vnf_log(chain, v, where))
        if final:
            say(f"{v.name}{label} final statistics: " + "; ".join(
                f"port {p} rx {r} tx {t} dropped {d}" for p, (t, r, d) in sorted(final.items())))
    for name in {*labelled, *state["containers"].values(), *(other or {}).get("containers", {}).values()}:
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
        for i in v.instances(chain.name):
            remove_socket_dir(vnf_socket_dir(chain, i))
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


def up_state(chain):
    state = load_state(chain)
    if state is None:
        raise ChainError(f"chain {chain.name} is not up")
    return state


def stop_one(chain, name):
    stop_vnf(chain, vnf_named(chain, name), up_state(chain))


def start_one(chain, name):
    state = up_state(chain)
    v = vnf_named(chain, name)
    if v.name in state["containers"]:
        run(["docker", "start", state["containers"][v.name]])
    else:
        start_vnf(chain, v, state)
    wait_links(chain, [v], state)


def restart(chain, name, new_image=None, drain_timeout=10):
    """restart-vnf, make-before-break: the next instance of the VNF on new
    ports (new names, ofports, socket directory, DPDK prefix, container)
    beside the running one; once its links are up the chain's flows move to
    it in one OpenFlow bundle; the old instance drains (what it still holds
    comes out of its ports, whose flows stay meanwhile), then its flows go in
    a second bundle and it stops, its ports and sockets removed."""
    state = up_state(chain)
    v = vnf_named(chain, name)
    if state.get("other"):
        raise ChainError(f"an earlier restart-vnf of {state['other']['vnf']} was interrupted: "
                         f"`chain down FILE` removes both instances")
    if new_image and v.run != "container":
        raise ChainError(f"{v.name} runs as a host process (run = \"process\"): --image is for containers")
    if not ovs_running():
        raise ChainError("ovs-vswitchd is not running")
    chain.set_ofports(state["ofports"])
    new = v.at(chain.name, v.generation + 1)
    if new_image:
        new.image = new_image
    # Nothing the new instance takes may exist (another chain's, or left over).
    taken = [p for p in new.ports if p in {row["name"] for row in ovs_table("Interface", ["name"])}]
    taken += [str(d) for d in [vnf_socket_dir(chain, new)] if d.exists()]
    if new.run == "container" and new.container(chain.name) in labelled_containers(chain):
        taken.append(f"container {new.container(chain.name)}")
    if taken:
        raise ChainError(f"{v.name} not restarted, nothing changed: {', '.join(taken)} exist(s)")
    allow_bundles(chain.bridge)
    if new.run == "container":
        ensure_docker()
    ofports = free_ofports(chain, TAP_OFPORT_BASE if v.tap else VNF_OFPORT_BASE, len(new.ports))
    t0 = time.time()
    other = {"vnf": v.name, "generation": new.generation, "containers": {}, "processes": {}}
    state["other"] = other
    save_state(chain, state)
    try:
        for port, ofport in zip(new.ports, ofports):
            add_port(chain, state, port, ofport, "type=dpdkvhostuserclient",
                     f"options:vhost-server-path={socket_path(chain, new, port)}")
        new.ofports = ofports
        start_vnf(chain, new, state, into=other)
        wait_links(chain, [new], other)
    except BaseException:
        say(f"restart of {v.name} failed: removing the new instance, the old one carries on")
        retire(chain, new, other, state)
        raise
    t_links = time.time() - t0
    # One bundle: every frame takes the old path or the new one.
    before = flows(chain)
    chain.replace(v, new)
    after = flows(chain)
    switch, cleanup = move_flows(before, after)
    bundle(chain.bridge, switch)
    t_switch = time.time() - t0
    # The new instance is the VNF now; the old one is the other, draining.
    for kind in ("containers", "processes"):
        old_rec = state[kind].pop(v.name, None)
        if v.name in other[kind]:
            state[kind][v.name] = other[kind][v.name]
        other[kind] = {v.name: old_rec} if old_rec else {}
    other["generation"] = v.generation
    state.setdefault("generations", {})[v.name] = new.generation
    state.setdefault("images", {})[v.name] = new.image
    # Until the second bundle the switch holds both: so does a restore.
    state["groups"] = sorted({group_id(g) for g in before[0] + after[0]})
    save_state(chain, state)
    drained = drain(chain, v, other, drain_timeout)
    bundle(chain.bridge, cleanup)
    state["groups"] = sorted(group_id(g) for g in after[0])
    save_flows(chain, *after)
    save_state(chain, state)
    retire(chain, v, other, state)
    say(f"{v.name} restarted in {time.time() - t0:.1f}s: {new.prefix(chain.name)} "
        f"({', '.join(new.ports)}; {new.image if new.run == 'container' else new.binary}) linked up at "
        f"{t_links:.1f}s, flows moved in one bundle at {t_switch:.1f}s; {v.prefix(chain.name)} {drained}, stopped")


def free_ofports(chain, base, n):
    """The n lowest ofports free on the bridge from base."""
    used = set(bridge_ofports(chain.bridge))
    out = []
    port = base
    while len(out) < n:
        if port > OFPORT_MAX:
            raise ChainError(f"no free ofport on {chain.bridge} from {base}")
        if port not in used:
            out.append(port)
        port += 1
    return out


def drain(chain, v, where, timeout):
    """Waits until instance v (no longer fed by any flow) holds no frame: the
    switch sent it nothing more and took back everything it forwarded, by
    the switch's port counters and the VNF's own (its telemetry), two reads
    in a row. Returns what it forwarded meanwhile, as text."""
    # The datapath caches flows: once the revalidators ran, no cached flow leads to v.
    run(["ovs-appctl", "revalidator/wait"], check=False)
    start, t0 = None, time.time()
    last = None
    while True:
        ovs_rx, ovs_tx = map(sum, zip(*(port_packets(chain.bridge, p) for p in v.ofports)))
        counts, age = vnf_counters(chain, v, where)
        sent, received, dropped = (map(sum, zip(*counts.values())) if counts else (0, 0, 0))
        # Live counters: everything the switch sent, v received; everything v
        # received, it sent or dropped; everything it sent, the switch took.
        empty = age != 0 or (received == ovs_tx and sent + dropped >= received and ovs_rx == sent)
        now = (ovs_rx, ovs_tx)
        start = start or now
        if empty and now == last:
            return f"drained in {time.time() - t0:.1f}s ({ovs_rx - start[0]} frames out after the switch)"
        if time.time() - t0 > timeout:
            return (f"not drained after {timeout}s (switch sent it {ovs_tx}, took back {ovs_rx}; "
                    f"it received {received}, sent {sent}, dropped {dropped})")
        last = now
        time.sleep(0.2)


def retire(chain, v, where, state):
    """Stops instance v (recorded in `where`, state's "other") and removes
    its container, ports, sockets and socket directory; forgets it."""
    stop_vnf(chain, v, where)
    final = parse_vnf_stats(vnf_log(chain, v, where))
    if final:
        say(f"{v.prefix(chain.name)} final statistics: " + "; ".join(
            f"port {p} rx {r} tx {t} dropped {d}" for p, (t, r, d) in sorted(final.items())))
    for name in where["containers"].values():
        run(["docker", "rm", "-f", name], check=False)
    for port in v.ports:
        vsctl("--if-exists", "del-port", port)
        state["ofports"].pop(port, None)
        sock = socket_path(chain, v, port)
        if sock.is_socket():
            sock.unlink()
        if str(sock) in state["sockets"]:
            state["sockets"].remove(str(sock))
    remove_socket_dir(vnf_socket_dir(chain, v))
    state.pop("other", None)
    save_state(chain, state)

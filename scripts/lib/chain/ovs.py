"""The switch: ovs-vsctl and ovs-ofctl, the chain's ports (tagged with
external_ids:vnf-chain), its flows (one cookie per chain) and fast-failover groups."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from .base import OVS_DIR, SCRIPTS, ChainError, run, say
from .state import flow_files, load_state, other_chains, save_state


# What tags a chain's things: OVS interfaces (external_ids), the bridge a
# chain made and the OVS a chain started, containers (label), the outside
# hosts' interfaces (alias).
CHAIN_KEY = "vnf-chain"
MADE_KEY = "vnf-chain-made"


def vsctl(*args, check=True):
    # Without vswitchd a change would wait for it until the timeout: write the database only.
    wait = [] if ovs_running() else ["--no-wait"]
    return run(["ovs-vsctl", f"--timeout={os.environ.get('OVS_CMD_TIMEOUT', '30')}", *wait, *args], check=check)


def ofctl(*args, check=True, input_text=None):
    return run(["ovs-ofctl", "-O", "OpenFlow13", *args], check=check, input_text=input_text)


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


def port_states(chain):
    """link_state (up / down) of every interface, by name, as OVS sees it: for a
    vhost-user port, whether the VNF behind it is connected."""
    out = vsctl("--format=csv", "--no-headings", "--columns=name,link_state", "list", "Interface")
    states = {}
    for line in out.splitlines():
        name, _, link = line.partition(",")
        states[name.strip('"')] = link.strip('"') or "?"
    return states


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


def chain_groups_on_switch(chain):
    """Group ids the chain's flows (by cookie) point to."""
    out = ofctl("dump-flows", chain.bridge, f"cookie={chain.cookie:#x}/-1", check=False)
    return {int(g) for g in re.findall(r"group:(\d+)", out)}


def remove_flows(chain, groups):
    groups = set(groups) | chain_groups_on_switch(chain)
    ofctl("del-flows", chain.bridge, f"cookie={chain.cookie:#x}/-1", check=False)
    for g in sorted(groups):
        ofctl("del-groups", chain.bridge, f"group_id={g}", check=False)


def group_id(group):
    return int(re.match(r"group_id=(\d+)", group).group(1))


def rule_in_port(rule):
    return int(re.search(r",in_port=(\d+),", rule).group(1))


def add_flows(chain, state):
    """The groups, then the flows (they point to the groups); saved once they are on the switch."""
    groups, rules = flows(chain)
    for g in groups:
        ofctl("add-group", chain.bridge, g)
        state["groups"].append(group_id(g))
        save_state(chain, state)
    ofctl("add-flows", chain.bridge, "-", input_text="\n".join(rules) + "\n")
    save_flows(chain, groups, rules)


def save_flows(chain, groups, rules):
    """What `restore` and scripts/ovs-start --vswitchd-only re-add."""
    bridge_file, groups_file, flows_file = flow_files(chain)
    bridge_file.write_text(chain.bridge + "\n")
    groups_file.write_text("".join(g + "\n" for g in groups))
    flows_file.write_text("".join(r + "\n" for r in rules))


def move_flows(before, after):
    """The two OpenFlow bundles that move a chain's traffic from one instance
    of a VNF to another, from its (groups, rules) before to after.

    The first adds what the new instance needs (its groups, the flows from its
    ports) and changes the neighbours' flows and groups that lead to the old
    instance so that they lead to the new one (modify: their counters go on).
    The flows from the old instance's ports stay: frames still inside it come
    out there and must go on. The second, once it has drained, deletes them
    and their groups."""
    groups0 = {group_id(g): g for g in before[0]}
    groups1 = {group_id(g): g for g in after[0]}
    rules0 = {rule_in_port(r): r for r in before[1]}
    rules1 = {rule_in_port(r): r for r in after[1]}
    switch = [f"group add {g}" for i, g in groups1.items() if i not in groups0]
    switch += [f"group modify {g}" for i, g in groups1.items() if i in groups0 and groups0[i] != g]
    switch += [f"flow add {r}" for i, r in rules1.items() if i not in rules0]
    switch += [f"flow modify_strict {r}" for i, r in rules1.items() if i in rules0 and rules0[i] != r]
    # delete_strict: this chain's flow from that port alone (its cookie, all of it).
    cleanup = ["flow delete_strict " + re.sub(r"^cookie=([^,]+)", r"cookie=\1/-1", r.split(",actions=")[0])
               for i, r in rules0.items() if i not in rules1]
    cleanup += [f"group delete group_id={i}" for i in groups0 if i not in groups1]
    return switch, cleanup


def bundle(bridge, lines):
    """Flow and group changes as one OpenFlow bundle: every packet sees the
    tables as before or as after all of them, never in between (OpenFlow 1.4)."""
    if lines:
        run(["ovs-ofctl", "-O", "OpenFlow14", "bundle", bridge, "-"], input_text="\n".join(lines) + "\n")


def allow_bundles(bridge):
    """Bundles need OpenFlow 1.4 on the bridge (an empty list allows 1.0 to 1.5)."""
    protocols = vsctl("get", "Bridge", bridge, "protocols").strip()
    if protocols not in ("[]", "") and "OpenFlow14" not in protocols:
        vsctl("add", "Bridge", bridge, "protocols", "OpenFlow14")


def port_packets(bridge, ofport):
    """(rx, tx) packets OVS counts on a port now (rx: what entered the switch by it)."""
    out = ofctl("dump-ports", bridge, str(ofport))
    rx = re.search(r"rx pkts=(\d+)", out)
    tx = re.search(r"tx pkts=(\d+)", out)
    return int(rx.group(1)) if rx else 0, int(tx.group(1)) if tx else 0


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

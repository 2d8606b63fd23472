"""Service chains through OVS-DPDK: the engine of scripts/chain (which sets
the OVS_* environment of scripts/lib/common.sh (ovs_env) and runs `python3 -m chain`).

A chain file (TOML) names two outside ports (a NIC, or a veth pair into a
network namespace that plays the outside host), an ordered list of VNFs
(vnf-fwd in a container or as a host process, two vhost-user ports each) and
optional passive taps. `up` builds it: OVS ports, flows, namespaces, VNFs;
`down` removes exactly what `up` made (recorded in a state file, and tagged:
ports by external_ids, flows by cookie, containers by label, veths and
namespaces by interface alias); `show` prints the counters hop by hop;
`stop-vnf`/`start-vnf` stop and start one VNF; `restart-vnf` replaces one
make-before-break, without losing a frame; `restore` re-adds the flows and
groups after an ovs-vswitchd restart (scripts/ovs-start --vswitchd-only does
it for every chain that is up).

Chains share a bridge: everything a chain makes is named after it
(`<chain>-<vnf>-p0`) or checked to be free before anything changes.

Modules, each using only those above it:
  base      the environment, ChainError, say, run
  model     the chain file as dataclasses (tomllib), every value checked
  state     the state file, the saved flows
  ovs       ovs-vsctl/ovs-ofctl: ports, tags, flows, groups, bundles
  vnf       VNF instances (containers, host processes), their command line,
            sockets, links and counters; the outside hosts' namespaces and veths
  commands  up, down, show, stop/start/restart of one VNF
  cli       argparse
"""

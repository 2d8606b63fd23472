# Shared by scripts/ovs-*: the directories and knobs of our private OVS-DPDK
# instance, and the helpers to find and stop its daemons. Source it; every
# ovs-vsctl/ovs-ofctl/ovs-appctl call must see the same OVS_* variables, or it
# talks to (or waits for) some other OVS.
#
# Environment (defaults in brackets):
#   OVS_DIR         run directory: db.sock, pid files, vhost-user server sockets
#                   [/usr/local/var/run/openvswitch, the write-up's socket directory]
#   OVS_STATE_DIR   base of the database, log and config dirs [/usr/local/var/lib/vnf-fwd-ovs]
#   OVS_RUNDIR OVS_DBDIR OVS_LOGDIR OVS_SYSCONFDIR   [$OVS_DIR, $OVS_STATE_DIR/{db,log,etc}]
#   BRIDGE          [ovs-br0]
#   CHAIN_STATE_DIR what scripts/chain made, by chain [$OVS_STATE_DIR/chains]
#   DPDK_EXTRA      other_config:dpdk-extra ["--file-prefix=ovs --no-pci"]; without a
#                   --file-prefix, ovs-start adds --file-prefix=ovs: DPDK's default
#                   prefix "rte" is every prefix-less DPDK process's, not OVS's own
#   STOP_TIMEOUT    seconds between SIGTERM and SIGKILL [10]

OVS_DIR=${OVS_DIR:-/usr/local/var/run/openvswitch}
OVS_STATE_DIR=${OVS_STATE_DIR:-/usr/local/var/lib/vnf-fwd-ovs}
export OVS_RUNDIR=${OVS_RUNDIR:-$OVS_DIR}
export OVS_DBDIR=${OVS_DBDIR:-$OVS_STATE_DIR/db}
export OVS_LOGDIR=${OVS_LOGDIR:-$OVS_STATE_DIR/log}
export OVS_SYSCONFDIR=${OVS_SYSCONFDIR:-$OVS_STATE_DIR/etc}
BRIDGE=${BRIDGE:-ovs-br0}
DPDK_EXTRA=${DPDK_EXTRA:---file-prefix=ovs --no-pci}
STOP_TIMEOUT=${STOP_TIMEOUT:-10}

# DPDK names its runtime dir and hugepage files after --file-prefix ("rte" if none,
# shared by every DPDK process started without one). OVS always gets a prefix of
# its own, so that ovs-stop removes OVS's leftovers and nobody else's.
DPDK_PREFIX=ovs
if [[ $DPDK_EXTRA =~ --file-prefix[=\ ]+([^ ]+) ]]; then
    DPDK_PREFIX=${BASH_REMATCH[1]}
else
    DPDK_EXTRA+=" --file-prefix=$DPDK_PREFIX"
fi
# The prefix the running OVS was started with (ovs-start writes it, ovs-stop
# reads it): what ovs-stop removes even if DPDK_EXTRA changed in between.
OVS_PREFIX_FILE=$OVS_DBDIR/dpdk-file-prefix

# Flows saved by ovs-flows, re-added after a vswitchd restart (flows are not persistent).
OVS_FLOWS_FILE=$OVS_DBDIR/flows.txt
# What scripts/chain records of each chain that is up, one directory per chain;
# its bridge, groups.txt and flows.txt are re-added after a vswitchd restart too.
CHAIN_STATE_DIR=${CHAIN_STATE_DIR:-$OVS_STATE_DIR/chains}
# vhost-user sockets OVS itself created (server-kind ports), written by ovs-ports:
# OVS removes them on SIGTERM but not when killed, and a stale one makes the
# port fail ("failed to bind: Address already in use"). Only these are ours to remove.
OVS_OWNED_SOCKETS=$OVS_DBDIR/owned-sockets
# "UID[:GID] PATH" for each of those given to a VNF's user (ovs-ports --owner):
# OVS makes them anew, root 0755, whenever ovs-vswitchd starts.
OVS_SOCKET_OWNERS=$OVS_DBDIR/socket-owners

PROG=${PROG:-$(basename "$0")}
say() { printf '%s: %s\n' "$PROG" "$*"; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }

# Prints the usage comment at the top of the calling script (lines after the shebang
# that start with '#', up to the first other line).
usage() { sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; }

# elapsed T0: seconds since T0 (an $EPOCHREALTIME), for the timings we print.
elapsed() { awk -v s="$1" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.2f", e - s }'; }

# ovs-vsctl with a timeout: without one it waits forever for a vswitchd that is not there.
vsctl() { ovs-vsctl --timeout="${OVS_CMD_TIMEOUT:-30}" "$@"; }

# alive PID NAME: PID exists, is not a zombie, and its comm is NAME. The comm check
# keeps a recycled pid from a stale pid file from being mistaken for (or killed as) ours.
alive() {
    local pid=$1 name=$2 state
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]] || return 1
    state=$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || return 1
    [[ -n $state && $state != Z ]]
}

# ovs_pid NAME [RUNDIR]: prints the pid of daemon NAME from our pid file, if it runs.
ovs_pid() {
    local name=$1 f=${2:-$OVS_RUNDIR}/$1.pid pid
    [[ -r $f ]] || return 1
    pid=$(<"$f")
    alive "$pid" "$name" || return 1
    echo "$pid"
}

# ovs_kill NAME [RUNDIR]: SIGTERM the daemon from our pid file, SIGKILL after
# STOP_TIMEOUT seconds. No error if it does not run.
ovs_kill() {
    local name=$1 pid i
    pid=$(ovs_pid "$@") || return 0
    say "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
        alive "$pid" "$name" || return 0
        sleep 0.1
    done
    say "$name ignored SIGTERM for ${STOP_TIMEOUT}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        alive "$pid" "$name" || return 0
        sleep 0.1
    done
    die "$name (pid $pid) does not die"
}

# Gives the sockets listed in $OVS_SOCKET_OWNERS back to their VNFs' users, once
# OVS has made them (it does so while it sets up the ports, after start).
restore_socket_owners() {
    local owner path i
    [[ -r $OVS_SOCKET_OWNERS ]] || return 0
    while read -r owner path; do
        for ((i = 0; i < 100; i++)); do
            [[ -S $path ]] && break
            sleep 0.1
        done
        [[ -S $path ]] || die "OVS did not make $path again within 10 s"
        chown "$owner" "$path"
    done <"$OVS_SOCKET_OWNERS"
}

# Removes the vhost-user server sockets OVS created (listed by ovs-ports). A live
# ovs-vswitchd recreates them from the database; a stale one would block bind().
remove_owned_sockets() {
    local s
    [[ -r $OVS_OWNED_SOCKETS ]] || return 0
    while read -r s; do
        [[ -S $s ]] && rm -f "$s"
    done <"$OVS_OWNED_SOCKETS"
    return 0
}

# shellcheck shell=bash disable=SC2034 # the variables are the sourcing scripts'
# The one shell library of scripts/, containers/ and benches/: source it (bash).
# Every script's shared parts live here, once:
#
#   ROOT                      the checkout (this file's ../..)
#   say, die, usage, elapsed  messages (to stdout, or SAY_FD), errors, the -h text
#   ovs_env                   our private OVS-DPDK instance's directories and knobs,
#                             with vsctl, alive, ovs_pid, ovs_kill,
#                             restore_socket_owners, remove_owned_sockets
#   docker_env                the images' names and user, with ensure_docker, image_exists
#   forwarder_cmdline         the argv of vnf-fwd, dpdk-testpmd or DPDK's l2fwd, in
#                             CMDLINE (options: scripts/lib/forwarder-cmdline -h,
#                             the same function as a program, for Python callers)
#
# Sourcing sets ROOT, PROG and the functions only; ovs_env and docker_env set
# (and export) their variables when a script asks, so that a script that runs
# its own OVS (benches/run) passes none of the defaults down to its children.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# --- messages -------------------------------------------------------------------
# PROG: the prefix of every message [the script's name]. SAY_FD: where say writes
# [1; 2 where stdout is data: containers/*, benches/*, a script that prints flags].
PROG=${PROG:-$(basename "$0")}
say() { printf '%s: %s\n' "$PROG" "$*" >&"${SAY_FD:-1}"; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }

# Prints the usage comment at the top of the calling script (lines after the shebang
# that start with '#', up to the first other line).
usage() { sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; }

# elapsed T0: seconds since T0 (an $EPOCHREALTIME), for the timings we print.
elapsed() { awk -v s="$1" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.2f", e - s }'; }

# --- OVS-DPDK ---------------------------------------------------------------------
# ovs_env: the directories and knobs of our private OVS-DPDK instance. Every
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
ovs_env() {
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
}

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

# --- Docker -------------------------------------------------------------------------
# docker_env: make sure Docker's settings are ours, and the names of our images.
#
# Environment (defaults in brackets):
#   BASE            the bookworm base image [vnf-fwd-base:bookworm, built by
#                   containers/build; where a registry is reachable, debian:bookworm]
#   TAG             tag of the vnf-fwd, vnf-gen and dpdk-ref images [latest]
#                   (the tests build theirs as :test from the binaries under test)
#   DOCKERD_LOG     where a dockerd we start logs [/var/log/vnf-fwd-dockerd.log]
#
# VNF_USER: the images' own user (Dockerfile's USER), UID:GID, not root: whom
# OVS's sockets and a VNF's socket directory are given to.
docker_env() {
    BASE=${BASE:-vnf-fwd-base:bookworm}
    TAG=${TAG:-latest}
    DOCKERD_LOG=${DOCKERD_LOG:-/var/log/vnf-fwd-dockerd.log}
    VNF_USER=10001:10001
    # The legacy builder: no BuildKit frontend to fetch from a registry.
    export DOCKER_BUILDKIT=0
}

# Installs docker.io if there is no dockerd, starts dockerd (in the background,
# left running) if the daemon does not answer.
ensure_docker() {
    if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
        say "installing docker.io"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq docker.io >/dev/null ||
            { apt-get update -qq && apt-get install -y -qq docker.io >/dev/null; }
    fi
    docker info >/dev/null 2>&1 && return 0
    say "starting dockerd (log: $DOCKERD_LOG)"
    setsid dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
    local i
    for ((i = 0; i < 300; i++)); do
        docker info >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    tail -n 20 "$DOCKERD_LOG" >&2
    die "dockerd did not come up in 30 s"
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# --- the forwarder's command line ---------------------------------------------------
# forwarder_cmdline --forwarder vnf-fwd|testpmd|l2fwd [OPTION...] [-- APP_OPTION...]:
# the forwarder's argv in the array CMDLINE. The options and what each becomes
# for each app: scripts/lib/forwarder-cmdline (this function as a program).
forwarder_cmdline() {
    local fwd='' bin='' bin_set=0 tag='' args_only=0 lcores='' channels='' prefix='' no_pci=0
    local portmask='' queues='' period='' mode='' burst='' rxd='' txd='' no_mac=0 cycles=0 yield=0
    local mem=() vdevs=() eal=() extra=() words
    while (($#)); do
        case $1 in
            --forwarder | --bin | --image-tag | --lcores | --channels | --mem | --file-prefix | --vdev | --eal | \
                --portmask | --queues | --stats-period | --mode | --burst | --rxd | --txd)
                (($# >= 2)) || die "$1 needs a value"
                case $1 in
                    --forwarder) fwd=$2 ;;
                    --bin) bin=$2 bin_set=1 ;;
                    --image-tag) tag=$2 ;;
                    --lcores) lcores=$2 ;;
                    --channels) channels=$2 ;;
                    --mem) read -r -a words <<<"$2"; mem+=("${words[@]}") ;;
                    --file-prefix) prefix=$2 ;;
                    --vdev) vdevs+=(--vdev "$2") ;;
                    --eal) eal+=("$2") ;;
                    --portmask) portmask=$2 ;;
                    --queues) queues=$2 ;;
                    --stats-period) period=$2 ;;
                    --mode) mode=$2 ;;
                    --burst) burst=$2 ;;
                    --rxd) rxd=$2 ;;
                    --txd) txd=$2 ;;
                esac
                shift ;;
            --args-only) args_only=1 ;;
            --no-pci) no_pci=1 ;;
            --no-mac-updating) no_mac=1 ;;
            --record-core-cycles) cycles=1 ;;
            --idle-yield) yield=1 ;;
            --) shift; extra=("$@"); break ;;
            *) die "unknown option '$1' (see scripts/lib/forwarder-cmdline -h)" ;;
        esac
        shift
    done
    ((bin_set + args_only + (${#tag} > 0) <= 1)) || die "--bin, --image-tag and --args-only exclude each other"
    [[ $bin_set == 0 || -n $bin ]] || die "--bin needs a program (--args-only for none)"

    # The program: on the host, in an image (vnf-fwd's entrypoint runs the app
    # itself), or none. DPDK's C apps run under `stdbuf -oL` (coreutils is in the
    # image too): their stdout to a file or pipe is block-buffered otherwise, and
    # the line that says they forward would arrive late.
    local image in_image=() host_bin c_app=1
    case $fwd in
        vnf-fwd) image=vnf-fwd host_bin=${BIN:-$ROOT/target/release}/vnf-fwd c_app=0 ;;
        l2fwd) image=dpdk-ref in_image=(l2fwd) host_bin=$ROOT/target/l2fwd-ref/build/l2fwd-shared ;;
        testpmd) image=dpdk-ref in_image=(dpdk-testpmd) host_bin=dpdk-testpmd ;;
        *) die "--forwarder is vnf-fwd, testpmd or l2fwd" ;;
    esac
    CMDLINE=()
    if ((!args_only)); then
        if [[ -n $tag ]]; then
            CMDLINE=("$image:$tag")
            ((c_app)) && CMDLINE+=(stdbuf -oL "${in_image[@]}")
        else
            ((c_app)) && CMDLINE+=(stdbuf -oL)
            CMDLINE+=("${bin:-$host_bin}")
        fi
    fi

    # EAL options, always in this order.
    [[ -n $lcores ]] && CMDLINE+=(--lcores "$lcores")
    [[ -n $channels ]] && CMDLINE+=(-n "$channels")
    CMDLINE+=("${mem[@]}")
    [[ -n $prefix ]] && CMDLINE+=(--file-prefix "$prefix")
    ((no_pci)) && CMDLINE+=(--no-pci)
    CMDLINE+=("${vdevs[@]}" "${eal[@]}" --)

    # The application's options, as each app spells them.
    local no="DPDK's $fwd has no such option:"
    case $fwd in
        vnf-fwd)
            [[ -n $portmask ]] && CMDLINE+=(-p "$portmask")
            [[ -n $queues ]] && CMDLINE+=(-q "$queues")
            [[ -n $period ]] && CMDLINE+=(-T "$period")
            [[ -n $mode ]] && CMDLINE+=(--mode "$mode")
            [[ -n $burst ]] && CMDLINE+=(--burst "$burst")
            [[ -n $rxd ]] && CMDLINE+=(--rxd "$rxd")
            [[ -n $txd ]] && CMDLINE+=(--txd "$txd")
            ((no_mac)) && CMDLINE+=(--no-mac-updating)
            ((cycles)) && CMDLINE+=(--record-core-cycles)
            ((yield)) && CMDLINE+=(--idle-yield)
            ;;
        l2fwd)
            [[ -z $mode || $mode == l2fwd ]] || die "$no --mode $mode (it forwards as l2fwd only)"
            [[ -z $burst ]] || die "$no --burst (it is built with 32)"
            [[ -z $rxd$txd ]] || die "$no --rxd/--txd"
            ((!cycles)) || die "$no --record-core-cycles"
            [[ -n $portmask ]] && CMDLINE+=(-p "$portmask")
            [[ -n $queues ]] && CMDLINE+=(-q "$queues")
            [[ -n $period ]] && CMDLINE+=(-T "$period")
            ((no_mac)) && CMDLINE+=(--no-mac-updating)
            ;;
        testpmd)
            [[ -z $queues ]] || die "$no --queues (queues per lcore; give --rxq/--txq/--nb-cores after --)"
            ((!no_mac)) || die "$no --no-mac-updating"
            [[ -n $portmask ]] && CMDLINE+=(--portmask="$portmask")
            [[ -n $mode ]] && CMDLINE+=(--forward-mode="$mode")
            [[ -n $burst ]] && CMDLINE+=(--burst="$burst")
            [[ -n $rxd ]] && CMDLINE+=(--rxd="$rxd")
            [[ -n $txd ]] && CMDLINE+=(--txd="$txd")
            [[ -n $period ]] && CMDLINE+=(--stats-period "$period")
            ((cycles)) && CMDLINE+=(--record-core-cycles)
            ;;
    esac
    # --idle-yield: DPDK's testpmd and l2fwd cannot yield; dropped for them.
    CMDLINE+=("${extra[@]}")
    return 0
}

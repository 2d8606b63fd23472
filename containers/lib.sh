# Shared by containers/*: make sure Docker runs, and the names of our images.
# Source it.
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

BASE=${BASE:-vnf-fwd-base:bookworm}
TAG=${TAG:-latest}
DOCKERD_LOG=${DOCKERD_LOG:-/var/log/vnf-fwd-dockerd.log}
VNF_USER=10001:10001
# The legacy builder: no BuildKit frontend to fetch from a registry.
export DOCKER_BUILDKIT=0

PROG=${PROG:-$(basename "$0")}
say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
usage() { sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; }

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

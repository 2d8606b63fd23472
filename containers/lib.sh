# shellcheck shell=bash
# The Docker environment of scripts/lib/common.sh (docker_env, ensure_docker,
# image_exists), messages on stderr, for callers that source this file by its
# old name (scripts/lib/chain.py). New scripts source common.sh and call docker_env.
# shellcheck source=scripts/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/common.sh"
# shellcheck disable=SC2034 # read by say
SAY_FD=2
docker_env

# shellcheck shell=bash
# The OVS environment of scripts/lib/common.sh (ovs_env), for callers that
# source this file by its old name (scripts/chain). New scripts source
# common.sh and call ovs_env.
# shellcheck source=scripts/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ovs_env

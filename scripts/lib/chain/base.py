"""What every part of the package uses: the environment scripts/chain sets
(scripts/lib/common.sh's ovs_env: OVS_* variables), the one error type, and running a command."""

import os
import subprocess
import sys
from pathlib import Path


PROG = "chain"

SCRIPTS = Path(__file__).resolve().parent.parent.parent
ROOT = SCRIPTS.parent

OVS_DIR = Path(os.environ["OVS_RUNDIR"])
OVS_STATE_DIR = Path(os.environ.get("OVS_STATE_DIR", "/usr/local/var/lib/vnf-fwd-ovs"))

# scripts/lib/common.sh's ovs_env has the same default: ovs-start --vswitchd-only reads the flows saved here.
STATE_DIR = Path(os.environ.get("CHAIN_STATE_DIR", OVS_STATE_DIR / "chains"))
TAG = os.environ.get("TAG", "latest")

LINK_TIMEOUT = int(os.environ.get("CHAIN_LINK_TIMEOUT", "60"))


class ChainError(Exception):
    """A one-line reason `chain` cannot go on."""


def say(msg):
    print(f"{PROG}: {msg}", file=sys.stderr, flush=True)


def run(cmd, check=True, input_text=None, env=None):
    """Runs cmd; returns stdout. A failure (check) is a ChainError with stderr's last line."""
    p = subprocess.run(cmd, input=input_text, capture_output=True, text=True,
                       env=None if env is None else {**os.environ, **env})
    if check and p.returncode != 0:
        msg = (p.stderr or p.stdout).strip().splitlines()
        raise ChainError(f"{' '.join(cmd[:6])}{' ...' if len(cmd) > 6 else ''}: {msg[-1] if msg else f'exit {p.returncode}'}")
    return p.stdout

"""The state file: what `up` made, recorded after each step succeeds (so `down`
removes exactly that), and the flows and groups saved for `restore` and for
scripts/ovs-start --vswitchd-only."""

import json

from .base import STATE_DIR


def state_path(chain):
    return STATE_DIR / chain.name / "state.json"


def load_state(chain):
    """The chain's state, None if it is not up; the chain's VNFs become the
    instances it records (restart-vnf's generations and images)."""
    try:
        state = json.loads(state_path(chain).read_text())
    except (OSError, ValueError):
        return None
    chain.set_instances(state.get("generations", {}), state.get("images", {}))
    return state


def save_state(chain, state):
    p = state_path(chain)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    tmp.replace(p)


def other_chains(chain):
    """{name: state} of the other chains that are up (their state files)."""
    out = {}
    for p in STATE_DIR.glob("*/state.json"):
        if p.parent.name != chain.name:
            try:
                out[p.parent.name] = json.loads(p.read_text())
            except (OSError, ValueError):
                out[p.parent.name] = {}
    return out


def flow_files(chain):
    """Where `up` saves the chain's groups and flows, for `restore` and for
    scripts/ovs-start --vswitchd-only (which reads these names)."""
    d = STATE_DIR / chain.name
    return d / "bridge", d / "groups.txt", d / "flows.txt"

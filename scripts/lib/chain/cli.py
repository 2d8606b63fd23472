"""scripts/chain's command line (argparse): a failure is one line on stderr and exit 1."""

import argparse
import subprocess
import sys

from . import commands, ovs
from .base import PROG, ChainError
from .model import load


def parser():
    p = argparse.ArgumentParser(prog="scripts/chain", description="Service chains through OVS-DPDK.")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    for cmd, what in (("up", "build the chain"), ("down", "remove what up made"),
                      ("restore", "re-add the chain's flows and groups (after an ovs-vswitchd restart)")):
        sub.add_parser(cmd, help=what).add_argument("file", metavar="FILE")
    s = sub.add_parser("show", help="counters hop by hop")
    s.add_argument("--counters", action="store_true", help="one line per port and VNF port, for machines")
    s.add_argument("file", metavar="FILE")
    for cmd, what in (("stop-vnf", "stop one VNF"), ("start-vnf", "start one VNF again"),
                      ("restart-vnf", "restart (or upgrade) one VNF without losing a frame: make-before-break")):
        s = sub.add_parser(cmd, help=what)
        s.add_argument("file", metavar="FILE")
        s.add_argument("vnf", metavar="VNF")
    s.add_argument("--image", help="the new instance's container image (an upgrade); kept for later restarts")
    return p


def main(argv):
    args = parser().parse_args(argv)
    try:
        chain = load(args.file)
        if args.cmd == "up":
            commands.up(chain)
        elif args.cmd == "down":
            commands.down(chain)
        elif args.cmd == "restore":
            ovs.restore(chain)
        elif args.cmd == "show":
            commands.show(chain, args.counters)
        elif args.cmd == "stop-vnf":
            commands.stop_one(chain, args.vnf)
        elif args.cmd == "start-vnf":
            commands.start_one(chain, args.vnf)
        elif args.cmd == "restart-vnf":
            commands.restart(chain, args.vnf, args.image)
    except ChainError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as e:
        print(f"{PROG}: error: {' '.join(map(str, e.cmd))} failed (exit {e.returncode})", file=sys.stderr)
        return 1
    return 0

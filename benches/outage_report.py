#!/usr/bin/python3
"""benches/outage's arithmetic: one run's outage from the sinks' timestamps,
and the tables of a results folder.

    outage_report.py run --event E --t0 T --t1 T --tend T --gen-json JSON --row PREFIX [--note TEXT] SINK...
    outage_report.py gaps --t0 T SINK...
    outage_report.py summary RESULTS_DIR

SINK files are `tcpdump -tt` text: each line starts with the frame's kernel
timestamp (CLOCK_REALTIME, seconds). T0 is the restart command's instant, T1
the instant it returned, TEND when the stream was stopped.

Outage: the frames after T0 (up to TEND) with T0 and TEND as end points; the
longest silence between two of them is the outage, and the first frame after
it is "forwarding again": outage = that frame - T0. A silence that lasts to
TEND is "never".
"""
import argparse
import csv
import json
import math
import os
import statistics
import sys
from collections import OrderedDict

EVENTS = {"none": "none (baseline)", "ovs": "OVS restart", "vnf": "VNF restart"}
KINDS = {
    "server": "dpdkvhostuser (app is client)",
    "client": "dpdkvhostuserclient (app: server=1)",
}


def timestamps(paths):
    ts = []
    for p in paths:
        with open(p, errors="replace") as f:
            for line in f:
                head = line.split(" ", 1)[0]
                try:
                    ts.append(float(head))
                except ValueError:
                    continue
    ts.sort()
    return ts


def longest_silence(ts, t0, tend):
    """(start, end, ends_at_tend) of the longest silence in [t0, tend]."""
    pts = [t0] + [t for t in ts if t0 < t <= tend] + [tend]
    best = max(range(len(pts) - 1), key=lambda i: pts[i + 1] - pts[i])
    return pts[best], pts[best + 1], best + 1 == len(pts) - 1


def cmd_run(a):
    ts = timestamps(a.sinks)
    ports = json.loads(a.gen_json)["ports"]
    lost = sum(p["lost"] for p in ports)
    sent = sum(p["sent"] for p in ports)
    if a.event == "none":
        outage = silence = ""
    else:
        start, end, never = longest_silence(ts, a.t0, a.tend)
        outage = "never" if never else "%.1f" % ((end - a.t0) * 1000)
        silence = "never" if never else "%.1f" % ((end - start) * 1000)
    note = a.note.replace(",", ";")
    print("%s,%s,%s,%d,%d,%s" % (a.row, outage, silence, lost, sent, note))


def cmd_gaps(a):
    ts = [t for t in timestamps(a.sinks) if t > a.t0 - 1]
    pts = sorted(ts + [a.t0])
    gaps = sorted(
        ((pts[i + 1] - pts[i], pts[i], pts[i + 1]) for i in range(len(pts) - 1)),
        reverse=True,
    )[:5]
    print("frames from T0-1s: %d; after T0: %d" % (len(ts), sum(t > a.t0 for t in ts)))
    for g, s, e in gaps:
        print("silence %.1f ms: from T0%+.1f ms to T0%+.1f ms" % (g * 1000, (s - a.t0) * 1000, (e - a.t0) * 1000))


def fmt_ms(v):
    return "%.0f" % v if v >= 10 else "%.1f" % v


def cmd_summary(a):
    out = a.dir
    rows = list(csv.DictReader(open(os.path.join(out, "raw.csv"))))
    groups = OrderedDict()
    for r in rows:
        groups.setdefault((r["case"], r["kind"], r["forwarder"]), []).append(r)
    # Baselines, OVS restarts, VNF restarts; each by port kind; vnf-fwd (any
    # label) first, then testpmd and l2fwd.
    order = {"none": 0, "ovs": 1, "vnf": 2, "server": 0, "client": 1, "testpmd": 1, "l2fwd": 2}
    keys = sorted(groups, key=lambda k: (order.get(k[0], 9), order.get(k[1], 9), order.get(k[2], 0)))
    table = []
    for event, kind, fwd in keys:
        rs = groups[(event, kind, fwd)]
        ok = [r for r in rs if r["outage_ms"] != "failed"]
        failed = len(rs) - len(ok)
        vals = [math.inf if r["outage_ms"] == "never" else float(r["outage_ms"]) for r in ok if r["outage_ms"] != ""]
        finite = [v for v in vals if v != math.inf]
        nevers = len(vals) - len(finite)
        dark = [float(r["silence_ms"]) for r in ok if r["silence_ms"] not in ("", "never")]
        lost = [int(r["lost"]) for r in ok]
        sent = [int(r["sent"]) for r in ok]
        notes = sorted({r["note"] for r in ok if r["note"]})
        if event == "none" or not vals:
            shown, med = "–", ""
        else:
            med = statistics.median(vals)
            if med == math.inf:
                shown = "never (%d of %d runs)" % (nevers, len(vals))
            else:
                shown = "%s (%s–%s)" % (fmt_ms(med), fmt_ms(min(finite)), fmt_ms(max(finite)))
                if nevers:
                    shown += ", never in %d" % nevers
        table.append({
            "case": event,
            "port_kind": kind,
            "forwarder": fwd,
            "outage_ms_median": "" if med == "" else ("never" if med == math.inf else "%.1f" % med),
            "outage_ms_min": "%.1f" % min(finite) if finite else "",
            "outage_ms_max": "%.1f" % max(finite) if finite else "",
            "never_runs": nevers,
            "silence_ms_median": "%.1f" % statistics.median(dark) if dark and med != math.inf else "",
            "frames_lost_median": "%g" % statistics.median(lost) if lost else "",
            "frames_sent_median": "%g" % statistics.median(sent) if sent else "",
            "runs": len(ok),
            "failed_runs": failed,
            "notes": "; ".join(notes),
            "_shown": shown,
        })
    with open(os.path.join(out, "summary.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, [k for k in table[0] if not k.startswith("_")] if table else ["case"],
                           extrasaction="ignore")
        w.writeheader()
        w.writerows(table)
    meta = open(os.path.join(out, "meta.txt")).read() if os.path.exists(os.path.join(out, "meta.txt")) else ""
    lines = ["# Outages: OVS and VNF restarts", "", "```", meta.rstrip(), "```", "",
             "| case | port kind | forwarder | outage ms (median, min–max) | frames lost (median) | runs | dark ms (median) |",
             "|---|---|---|---|---:|---:|---:|"]
    for t in table:
        runs = str(t["runs"]) + (" (%d failed)" % t["failed_runs"] if t["failed_runs"] else "")
        fwd = t["forwarder"] + (" (%s)" % t["notes"] if t["notes"] else "")
        lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            EVENTS.get(t["case"], t["case"]), KINDS.get(t["port_kind"], t["port_kind"]), fwd,
            t["_shown"], t["frames_lost_median"] or "–", runs, t["silence_ms_median"] or "–"))
    lines += ["",
              "Outage: from the restart command to the first frame forwarded again (kernel "
              "timestamps at the sinks); \"never\": no frame until the bound, and the frames "
              "lost are those lost until then. Frames lost: vnf-gen's count of frames sent "
              "that came back on no port. Dark: the longest silence itself (the outage less the "
              "time the restart command took before forwarding stopped).", ""]
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--event", required=True)
    r.add_argument("--t0", type=float, required=True)
    r.add_argument("--t1", type=float, required=True)
    r.add_argument("--tend", type=float, required=True)
    r.add_argument("--gen-json", required=True)
    r.add_argument("--row", required=True)
    r.add_argument("--note", default="")
    r.add_argument("sinks", nargs="+")
    g = sub.add_parser("gaps")
    g.add_argument("--t0", type=float, required=True)
    g.add_argument("sinks", nargs="+")
    s = sub.add_parser("summary")
    s.add_argument("dir")
    a = ap.parse_args()
    {"run": cmd_run, "gaps": cmd_gaps, "summary": cmd_summary}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())

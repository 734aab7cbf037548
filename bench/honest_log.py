#!/usr/bin/env python3
"""Where each tool's time went in the honest scenario, from honest_cdn.py's request log (stdlib only).

Usage: honest_log.py REQUEST_LOG RESULTS_TSV

Prints a Markdown table, one line per tool run: wall time, the time before the first CDN request (process start,
Hub API and resolve requests; counted from the counter reset just before the tool starts, so a few ms early), the
CDN phase (first request's arrival to the last body byte handed to the kernel) and its rate, the time after the
last CDN byte (verification, fsync, rename, exit), and what the CDN saw: connections, requests, requests the client
cut short (it closed the connection before the end of the answer), 429s.
"""
import csv
import sys

ORDER = ["hfdl", "hf", "hf_transfer", "aria2c", "curl"]


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    walls = {}
    with open(sys.argv[2], newline="") as f:
        for r in csv.reader(f, delimiter="\t"):
            if len(r) > 4 and r[0] == "honest" and r[3] == "OK":
                walls[f"{r[0]}-{r[1]}-{r[2]}"] = (r[1], int(r[2]), float(r[4]))
    resets, reqs, label = {}, {}, None
    with open(sys.argv[1]) as f:
        for line in f:
            if line.startswith("# reset "):
                _, _, label, t = line.split()
                resets[label] = float(t)
                reqs[label] = []
                continue
            p = line.split()
            if label is None or len(p) < 8:
                continue
            reqs[label].append({"t": float(p[0]), "dur": float(p[1]), "conn": p[2], "status": p[4],
                                "bytes": int(p[6])})
    rows = []
    for label, (tool, run, wall) in sorted(
            walls.items(), key=lambda kv: (ORDER.index(kv[1][0]) if kv[1][0] in ORDER else 99, kv[1][1])):
        rs = [r for r in reqs.get(label, []) if r["status"] != "429"] or reqs.get(label, [])
        if not rs:
            continue
        r0 = resets[label]
        first = min(r["t"] for r in rs)
        last = max(r["t"] + r["dur"] for r in rs)
        nbytes = sum(r["bytes"] for r in reqs[label])
        phase = max(last - first, 1e-9)
        rows.append([tool, str(run), f"{wall:.2f}", f"{first - r0:.2f}", f"{phase:.2f}", f"{nbytes / phase / 1e6:.1f}",
                     f"{wall - (last - r0):.2f}", str(len({r['conn'] for r in reqs[label]})), str(len(reqs[label])),
                     str(sum(1 for r in reqs[label] if r["status"].startswith("-"))),
                     str(sum(1 for r in reqs[label] if r["status"] == "429"))])
    if not rows:
        return
    hdr = ["tool", "run", "wall s", "before 1st CDN request s", "CDN phase s", "CDN phase MB/s", "after last CDN byte s",
           "connections", "requests", "cut short", "429s"]
    print("Where the time went (from the CDN's request log, `bench/honest_log.py`):\n")
    print("| " + " | ".join(hdr) + " |")
    print("|" + "|".join("---" for _ in hdr) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()


if __name__ == "__main__":
    main()

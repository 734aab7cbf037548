#!/usr/bin/env python3
"""Turn bench/run.sh measurements into Markdown tables and PASS/FAIL bars (stdlib only).

Usage: report.py RESULTS_TSV SCENARIOS_TSV

RESULTS_TSV columns (one line per tool run):
  scenario tool run status wall_s user_s sys_s maxrss_kb bytes hub_reqs cdn_reqs what note
  [n429 n429_late peak_demand cdn_connections range_min/median/max]   (honest scenario: from honest_cdn.py's stats)
SCENARIOS_TSV columns:
  scenario total_bytes nfiles latency_ms cap_bytes_per_s description

When a tool ran several times (--runs N) the run with the median wall time is shown, with the min-max range.
MB is 10^6 bytes; MiB is 2^20 bytes. Exits 3 when any bar FAILs, else 0.
"""
import csv
import sys

MiB = 1 << 20
ORDER = ["hfdl", "hf", "hf_transfer", "aria2c", "curl", "hfdl-w64", "hf-w64"]
RSS_BAR_MIB = 64


def load(path):
    with open(path, newline="") as f:
        return [r for r in csv.reader(f, delimiter="\t") if r and not r[0].startswith("#")]


def fnum(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def pick(runs):
    """Representative run: median wall among successful runs, else the first failure."""
    ok = sorted((r for r in runs if r["status"] == "OK"), key=lambda r: r["wall"])
    if not ok:
        return dict(runs[0]), None
    rep = dict(ok[(len(ok) - 1) // 2])
    spread = (ok[0]["wall"], ok[-1]["wall"]) if len(ok) > 1 else None
    rep["nok"] = len(ok)
    return rep, spread


def fmt(x, nd=2):
    return "—" if x is None else f"{x:.{nd}f}"


def size_txt(n):
    n = fnum(n)
    if n is None:
        return "—"
    for unit, div in (("MiB", MiB), ("KiB", 1024)):
        if n >= div:
            return f"{n / div:.3g} {unit}"
    return f"{n:.0f} B"


def ranges_txt(s):
    parts = (s or "").split("/")
    return " / ".join(size_txt(p) for p in parts) if len(parts) == 3 else "—"


def per_run(runs, key):
    """A counter of every run, in run order: "0, 0, 3"."""
    vals = [r[key] or "—" for r in sorted(runs, key=lambda r: int(r["run"] or 0))]
    return ", ".join(vals)


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    results, scen_rows = load(sys.argv[1]), load(sys.argv[2])
    runs = {}
    for r in results:
        (sc, tool, run, status, wall, us, ss, rss, nbytes, hub, cdn, what, note,
         n429, n429_late, peak, conns, ranges) = (r + [""] * 18)[:18]
        runs.setdefault(sc, {}).setdefault(tool, []).append({
            "status": status, "wall": fnum(wall), "cpu": (fnum(us) or 0) + (fnum(ss) or 0) if fnum(us) is not None else None,
            "rss": fnum(rss) / 1024 if fnum(rss) is not None else None, "bytes": fnum(nbytes),
            "hub": hub, "cdn": cdn, "what": what, "note": note, "run": run,
            "n429": n429, "n429_late": n429_late, "peak": peak, "conns": conns, "ranges": ranges})
    any_fail = False
    out = []
    for srow in scen_rows:
        sc, total, nfiles, lat, cap, desc = (srow + [""] * 6)[:6]
        if sc not in runs:
            continue
        cap = fnum(cap)
        out.append(f"### Scenario `{sc}`: {desc}\n")
        reps = {}
        for tool in sorted(runs[sc], key=lambda t: ORDER.index(t) if t in ORDER else 99):
            rep, spread = pick(runs[sc][tool])
            if rep["status"] == "OK" and rep["wall"]:
                rep["mbps"] = rep["bytes"] / rep["wall"] / 1e6
            else:
                rep["mbps"] = None
            rep["spread"] = spread
            reps[tool] = rep
        show_wall_ratio = sc == "fast"
        honest = sc == "honest"
        hdr = ["tool", "what", "wall s", "MB/s"]
        if honest:
            hdr.append("of the cap")
        hdr += ["CPU s", "peak RSS MiB", "requests hub/CDN"]
        if honest:
            hdr += ["CDN connections", "429s (each run)", "peak at once (each run)", "request size min / median / max"]
        hdr.append("hfdl÷peer MB/s")
        if show_wall_ratio:
            hdr.append("hfdl÷peer wall")
        hdr.append("status")
        out.append("| " + " | ".join(hdr) + " |")
        out.append("|" + "|".join("---" for _ in hdr) + "|")
        h = reps.get("hfdl", {})
        for tool, r in reps.items():
            wall = fmt(r["wall"]) if r["status"] == "OK" else "—"
            if r["spread"]:
                wall += f" ({r['spread'][0]:.2f}–{r['spread'][1]:.2f})"
            ok = r["status"] == "OK"
            ratio = wratio = "—"
            # A tuned peer row is compared with hfdl tuned the same way (hf-w64 with hfdl-w64).
            base = reps.get(tool.replace("hf-", "hfdl-", 1), {}) if tool.startswith("hf-") else h
            if not tool.startswith("hfdl") and ok and base.get("mbps"):
                ratio = f"{base['mbps'] / r['mbps']:.2f}×"
                wratio = f"{base['wall'] / r['wall']:.2f}×"
            elif tool.startswith("hfdl"):
                ratio = wratio = "1.00×" if ok else "—"
            status = "ok" if ok else r["status"]
            if r.get("nok") and len(runs[sc][tool]) > r["nok"]:
                status += f" ({len(runs[sc][tool]) - r['nok']} of {len(runs[sc][tool])} runs failed)"
            if not ok and r["note"]:
                status += f": {r['note']}"
            row = [f"**{tool}**" if tool == "hfdl" else tool, r["what"], wall, fmt(r["mbps"], 1)]
            if honest:
                row.append(f"{r['mbps'] * 1e6 / cap:.3f}" if r["mbps"] and cap else "—")
            row += [fmt(r["cpu"] if ok else None), fmt(r["rss"] if ok else None, 1),
                    f"{r['hub'] or '—'}/{r['cdn'] or '—'}" if ok else "—"]
            if honest:
                row += [r["conns"] or "—", per_run(runs[sc][tool], "n429"), per_run(runs[sc][tool], "peak"),
                        ranges_txt(r["ranges"])]
            row.append(ratio)
            if show_wall_ratio:
                row.append(wratio)
            row.append(status)
            out.append("| " + " | ".join(row) + " |")
        out.append("")

        # ---- bars ---------------------------------------------------------------------------------------
        bars = []
        hok = h.get("status") == "OK"

        def bar(label, fn):
            nonlocal any_fail
            if not hok:
                res, detail = "FAIL", "hfdl did not complete"
            else:
                res, detail = fn()
            if res == "FAIL":
                any_fail = True
            bars.append(f"- **{res}** {label}: {detail}")

        def vs_peer(peer, need, kind):
            def f():
                p = reps.get(peer)
                if not p or p["status"] != "OK":
                    return "n/a", f"{peer} did not complete"
                if kind == "thr":
                    x = h["mbps"] / p["mbps"]
                    return ("PASS" if x >= need else "FAIL"), f"{x:.2f}× ({h['mbps']:.1f} vs {p['mbps']:.1f} MB/s)"
                x = p["wall"] / h["wall"]
                return ("PASS" if x >= need else "FAIL"), f"{x:.2f}× faster ({h['wall']:.2f} s vs {p['wall']:.2f} s)"
            return f

        def vs_pair(t, p, need):
            if t["status"] != "OK" or p["status"] != "OK":
                return "n/a" if t["status"] == "OK" else "FAIL", "a tuned row failed"
            x = p["wall"] / t["wall"]
            return ("PASS" if x >= need else "FAIL"), f"{x:.2f}× faster ({t['wall']:.2f} s vs {p['wall']:.2f} s)"

        if sc == "throttled":
            bar("hfdl ≥ 1.10× aria2c throughput", vs_peer("aria2c", 1.10, "thr"))
            bar("hfdl ≥ 10× hf throughput", vs_peer("hf", 10.0, "thr"))
            if cap:
                need = 0.9 * cap / 1e6
                bar(f"hfdl ≥ 90 % of the 16 × 8 MiB/s cap (≥ {need:.1f} MB/s)",
                    lambda: (("PASS" if h["mbps"] >= need else "FAIL"),
                             f"{h['mbps']:.1f} MB/s = {100 * h['mbps'] * 1e6 / cap:.1f} % of {cap / 1e6:.1f} MB/s"))
        elif sc == "fast":
            def fast_bar():
                p = reps.get("curl")
                if not p or p["status"] != "OK":
                    return "n/a", "curl did not complete"
                return (("PASS" if h["wall"] <= p["wall"] else "FAIL"),
                        f"hfdl {h['wall']:.2f} s vs curl {p['wall']:.2f} s")
            bar("hfdl wall ≤ curl wall (single stream)", fast_bar)
        elif sc == "small":
            t, p = reps.get("hfdl-w64"), reps.get("hf-w64")
            if t and p:
                bar("hfdl ≥ 8× faster than hf, both with --max-workers 64 (64 files at once)",
                    lambda: vs_pair(t, p, 8.0))
            else:
                bar("hfdl ≥ 8× faster than hf, both with --max-workers 64", lambda: ("n/a", "tuned rows not run"))
            d, q = reps.get("hf"), reps.get("hfdl-w64")
            if h["status"] == "OK" and d and d["status"] == "OK":
                out_note = f"{d['wall'] / h['wall']:.2f}× at both defaults (8 files at once)"
                if q and q["status"] == "OK":
                    out_note += f"; hfdl --max-workers 64 vs hf at its default: {d['wall'] / q['wall']:.2f}×"
                bars.append(f"- info: {out_note}")
        elif sc == "honest":
            if cap:
                bar(f"honest: hfdl ≥ 0.95 of the cap ({cap / 1e6:.1f} MB/s = 16 connections × 8 MiB/s; "
                    f"≥ {0.95 * cap / 1e6:.1f} MB/s)",
                    lambda: (("PASS" if h["mbps"] * 1e6 >= 0.95 * cap else "FAIL"),
                             f"{h['mbps']:.1f} MB/s = {h['mbps'] * 1e6 / cap:.3f} of the cap"))

            def ahead():
                p = reps.get("aria2c")
                if not p or p["status"] != "OK":
                    return "n/a", "aria2c did not complete"
                x = h["mbps"] / p["mbps"]
                return (("PASS" if x > 1.0 else "FAIL"),
                        f"{x:.2f}× ({h['mbps']:.1f} vs {p['mbps']:.1f} MB/s, wall {h['wall']:.2f} s vs {p['wall']:.2f} s)")
            bar("honest: hfdl ahead of aria2c -x16", ahead)

            def no_429():
                counts = [int(r["n429"]) for r in runs[sc]["hfdl"] if r["n429"] not in ("", None)]
                if not counts:
                    return "n/a", "no CDN counters"
                worst = max(counts)
                return (("PASS" if worst <= 1 else "FAIL"),
                        f"429s per hfdl run: {per_run(runs[sc]['hfdl'], 'n429')} "
                        f"(of them more than 1 s after the first: {per_run(runs[sc]['hfdl'], 'n429_late')}); "
                        f"the bar takes the worst run")
            bar("honest: hfdl gets no 429 after the first", no_429)
        def rss_bar():
            rows = [r for t, r in reps.items() if t.startswith("hfdl") and r["status"] == "OK"]
            top = max(rows, key=lambda r: r["rss"])
            return ("PASS" if top["rss"] <= RSS_BAR_MIB else "FAIL"), f"{top['rss']:.1f} MiB ({top['what']})"
        bar(f"hfdl peak RSS ≤ {RSS_BAR_MIB} MiB", rss_bar)
        out.append("Bars:\n")
        out.extend(bars)
        out.append("")
    print("\n".join(out))
    sys.exit(3 if any_fail else 0)


if __name__ == "__main__":
    main()

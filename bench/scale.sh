#!/usr/bin/env bash
# bench/scale.sh: how hfdl scales with the number of files: listing + planning (--dry-run), the
# download, and a no-op rerun, at 10k, 30k and 100k small files (wall time, peak RSS, requests),
# and the no-op rerun of `hf download` at the first size for the ratio.
#
# Usage: bench/scale.sh [SIZES...]        default: 10000 30000 100000
#
# Reuses what bench/run.sh sets up: its venv (bench/work/venv, with hf 2.4.0), bench/gen_repo.py
# (the `small` scenario with BENCH_SMALL_FILES files of 1–16 KiB) and bench/hub_front.py (no added
# latency). hfdl is target/release/hfdl (or $HFDL_BIN). Run bench/run.sh once first. SCALE_OUT=DIR puts
# the downloads and HF_HOME there (e.g. /dev/shm: ext4 slows down creating files right after many were
# deleted, which would penalise whichever tool runs later).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
WORK=$BENCH_DIR/work
VENV=$WORK/venv
HFDL=${HFDL_BIN:-$ROOT/target/release/hfdl}
PORT=${BENCH_PORT_BASE:-47380}
PORT=$((PORT + 5))
SIZES=("$@")
((${#SIZES[@]})) || SIZES=(10000 30000 100000)
[[ -x $HFDL && -x $VENV/bin/hf ]] || { echo "scale.sh: run bench/run.sh first (needs $HFDL and $VENV)" >&2; exit 1; }

FRONT=
trap '[[ -n $FRONT ]] && kill "$FRONT" 2>/dev/null; true' EXIT

requests() { curl -s "http://127.0.0.1:$PORT/_bench/stats" | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin).get("total", 0))'; }

# measure LABEL CMD...: one row: label, wall s, peak RSS MiB, requests to the Hub
measure() {
    local label=$1 before after t0 t1 rss
    shift
    before=$(requests)
    t0=$(date +%s.%N)
    /usr/bin/time -f '%M' -o "$WORK/scale.time" "$@" >/dev/null 2>"$WORK/scale.err" \
        || { echo "| $label | FAILED: $(tail -n 1 "$WORK/scale.err") | | |"; return; }
    t1=$(date +%s.%N)
    rss=$(tail -n 1 "$WORK/scale.time")
    after=$(requests)
    printf '| %s | %.2f | %.1f | %s |\n' "$label" "$(echo "$t1 - $t0" | bc)" "$(echo "$rss / 1024" | bc -l)" \
        "$((after - before))"
}

echo "| files, step | wall s | peak RSS MiB | Hub requests |"
echo "|---|---|---|---|"
for n in "${SIZES[@]}"; do
    repo=$WORK/repos/scale-$n
    BENCH_SMALL_FILES=$n "$VENV/bin/python" "$BENCH_DIR/gen_repo.py" small "$repo" >&2
    "$VENV/bin/python" -u "$BENCH_DIR/hub_front.py" --port "$PORT" --manifest "$repo/manifest.json" \
        --repo-dir "$repo" --cdn-base "http://127.0.0.1:1/none" >"$WORK/scale-front.log" 2>&1 &
    FRONT=$!
    for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/_bench/stats" >/dev/null && break; sleep 0.1; done
    id=$("$VENV/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["repo_id"])' "$repo/manifest.json")
    out=${SCALE_OUT:-$WORK}/scale-out-$n home=${SCALE_OUT:-$WORK}/scale-home-$n
    rm -rf "$out" "$home" "$out-hf" "$home-hf"
    export HF_ENDPOINT=http://127.0.0.1:$PORT HF_HUB_DISABLE_XET=1 HF_HUB_DISABLE_TELEMETRY=1
    HF_HOME=$home measure "$n, hfdl --dry-run (list + plan)" "$HFDL" download "$id" --local-dir "$out" --dry-run -q
    HF_HOME=$home measure "$n, hfdl download (local dir)" "$HFDL" download "$id" --local-dir "$out" -q
    HF_HOME=$home measure "$n, hfdl no-op rerun (local dir)" "$HFDL" download "$id" --local-dir "$out" -q
    HF_HOME=$home measure "$n, hfdl download (cache)" "$HFDL" download "$id" -q
    HF_HOME=$home measure "$n, hfdl no-op rerun (cache)" "$HFDL" download "$id" -q
    if [[ $n == "${SIZES[0]}" ]]; then
        HF_HOME=$home-hf measure "$n, hf download (local dir)" "$VENV/bin/hf" download "$id" --local-dir "$out-hf" -q
        HF_HOME=$home-hf measure "$n, hf no-op rerun (local dir)" "$VENV/bin/hf" download "$id" --local-dir "$out-hf" -q
        HF_HOME=$home-hf measure "$n, hf download (cache)" "$VENV/bin/hf" download "$id" -q
        HF_HOME=$home-hf measure "$n, hf no-op rerun (cache)" "$VENV/bin/hf" download "$id" -q
    fi
    kill "$FRONT"; wait "$FRONT" 2>/dev/null || true; FRONT=
    rm -rf "$out" "$home" "$out-hf" "$home-hf"
done

#!/usr/bin/env bash
# bench/run.sh: time hfdl against hf download, hf_transfer, aria2c and curl on a loopback fake Hub.
#
# Usage: bench/run.sh [--scenario throttled|fast|small|honest|all] [--quick] [--runs N] [--record FILE]
#                     [--pin|--no-pin] [--out-dir DIR] [--strict] [--help]
#
#   --scenario S   which scenario to run (default: all)
#   --tools LIST   only these tools, comma-separated (default hfdl,hf,hf_transfer,aria2c,curl,tuned;
#                  tuned = hfdl and hf both with --max-workers 32 in the small scenario)
#   --quick        small data for a smoke test (64 MiB / 128 MiB / 200 files / 64 MiB instead of
#                  1 GiB / 2 GiB / 2000 / 384 MiB)
#   --runs N       run every tool N times; the table shows the median run and the min-max wall range (default 1)
#   --record FILE  also append the tables, with date and machine, to FILE (created with a how-to header)
#   --pin          pin servers to the first half of the CPUs and clients to the rest with taskset
#   --no-pin       let the scheduler place servers and clients freely (default)
#   --out-dir DIR  where the tools write their downloads (default bench/work/out, on disk; e.g. /dev/shm/x for RAM)
#   --strict       exit 3 when a bar FAILs (default: exit 0 whenever the harness itself worked)
#
# Environment: BENCH_PORT_BASE (default 47380; uses BASE..BASE+3), HFDL_BIN (use this binary, skip cargo build),
#              HFT_MAX_FILES (hf_transfer max_files, default 16), BENCH_SMALL_FILES (files of the small
#              scenario, default 2000, 200 with --quick).
#
# What it does (details in bench/README.md): installs nginx/aria2/curl with apt-get and a venv with
# huggingface_hub==2.4.0 + hf_transfer==0.1.9 when missing, builds hfdl (cargo build --release), generates the test
# repos under bench/work/, starts nginx (the CDN), bench/honest_cdn.py (the per-connection-budget CDN of the honest
# scenario) and bench/hub_front.py (the Hub API and resolve front end) on 127.0.0.1, times every tool with GNU
# time, verifies every download, prints Markdown tables and PASS/FAIL bars.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
WORK=$BENCH_DIR/work
VENV=$WORK/venv

SCENARIO=all
QUICK=0
DEFAULT_TOOLS=hfdl,hf,hf_transfer,aria2c,curl,tuned
TOOLS=$DEFAULT_TOOLS
RUNS=1
RECORD=
PIN=0
STRICT=0
OUT_BASE=$WORK/out
while (($#)); do
    case $1 in
        --scenario) SCENARIO=${2:?--scenario needs a value}; shift 2 ;;
        --scenario=*) SCENARIO=${1#*=}; shift ;;
        --quick) QUICK=1; shift ;;
        --tools) TOOLS=${2:?--tools needs a value}; shift 2 ;;
        --tools=*) TOOLS=${1#*=}; shift ;;
        --runs) RUNS=${2:?--runs needs a value}; shift 2 ;;
        --runs=*) RUNS=${1#*=}; shift ;;
        --record) RECORD=${2:?--record needs a file}; shift 2 ;;
        --record=*) RECORD=${1#*=}; shift ;;
        --pin) PIN=1; shift ;;
        --no-pin) PIN=0; shift ;;
        --out-dir) OUT_BASE=${2:?--out-dir needs a value}; shift 2 ;;
        --out-dir=*) OUT_BASE=${1#*=}; shift ;;
        --strict) STRICT=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "run.sh: unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
done
case $SCENARIO in
    all) SCENARIOS=(throttled fast small honest) ;;
    throttled|fast|small|honest) SCENARIOS=("$SCENARIO") ;;
    *) echo "run.sh: --scenario must be throttled, fast, small, honest or all" >&2; exit 2 ;;
esac
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --runs must be a positive integer" >&2; exit 2; }
if [[ -n $RECORD && $RECORD != /* ]]; then RECORD=$PWD/$RECORD; fi
if [[ $OUT_BASE != /* ]]; then OUT_BASE=$PWD/$OUT_BASE; fi

PORT_BASE=${BENCH_PORT_BASE:-47380}
CDN_SLOW_PORT=$PORT_BASE          # nginx, limit_rate 8m + limit_conn 16 (429 above)
CDN_FAST_PORT=$((PORT_BASE + 1))  # nginx, no limits
FRONT_PORT=$((PORT_BASE + 2))     # hub_front.py
HONEST_PORT=$((PORT_BASE + 3))    # honest_cdn.py: 8 MiB/s per connection over its life, 429 above 16 requests at once
HFT_MAX_FILES=${HFT_MAX_FILES:-16}
PER_CONN_RATE=$((8 * 1024 * 1024))  # nginx "limit_rate 8m" is 8 MiB/s
CONN_CAP=16
HONEST_RATE=$((8 * 1024 * 1024))  # per connection, token bucket over the connection's whole life
HONEST_BURST=$((256 * 1024))
HONEST_MAX_IN_FLIGHT=16

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---- cleanup ----------------------------------------------------------------------------------------------------
NGINX_PID=
FRONT_PID=
HONEST_PID=
HONEST_STATS=
OUR_POLICY_RC=
SUDO=()
stop_pid() {  # stop_pid PID: TERM, then KILL after 5 s; only ever our own children
    local pid=$1 i
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    stop_pid "$FRONT_PID"; FRONT_PID=
    stop_pid "$HONEST_PID"; HONEST_PID=
    stop_pid "$NGINX_PID"; NGINX_PID=
    if [[ -n $OUR_POLICY_RC ]]; then "${SUDO[@]}" rm -f /usr/sbin/policy-rc.d || true; OUR_POLICY_RC=; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- 1. install what is missing ---------------------------------------------------------------------------------
find_nginx() {
    NGINX=$(command -v nginx || true)
    if [[ -z $NGINX && -x /usr/sbin/nginx ]]; then NGINX=/usr/sbin/nginx; fi
}
ensure_system_packages() {
    local need=()
    find_nginx
    [[ -n $NGINX ]] || need+=(nginx-light)
    command -v aria2c >/dev/null || need+=(aria2)
    command -v curl >/dev/null || need+=(curl)
    [[ -x /usr/bin/time ]] || need+=(time)
    command -v taskset >/dev/null || need+=(util-linux)
    command -v timeout >/dev/null || need+=(coreutils)
    if ! command -v python3 >/dev/null; then
        need+=(python3 python3-venv)
    elif ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
        need+=(python3-venv)
    fi
    ((${#need[@]})) || return 0
    command -v apt-get >/dev/null || die "missing ${need[*]} and no apt-get: install them by hand"
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || die "missing ${need[*]}: run as root or install them by hand"
        SUDO=(sudo)
    fi
    log "installing with apt-get: ${need[*]}"
    # keep Debian's maintainer scripts from starting a system nginx on port 80 (only if no policy is in place)
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee /usr/sbin/policy-rc.d >/dev/null
        "${SUDO[@]}" chmod 755 /usr/sbin/policy-rc.d
        OUR_POLICY_RC=1
    fi
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$RUN/apt.log" 2>&1 \
        || { tail -n 20 "$RUN/apt.log" >&2; die "apt-get update failed (see $RUN/apt.log)"; }
    if [[ " ${need[*]} " == *" nginx-light "* ]] && ! apt-cache show nginx-light >/dev/null 2>&1; then
        need=("${need[@]/nginx-light/nginx}")
    fi
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" \
        >>"$RUN/apt.log" 2>&1 || { tail -n 20 "$RUN/apt.log" >&2; die "apt-get install failed (see $RUN/apt.log)"; }
    if [[ -n $OUR_POLICY_RC ]]; then "${SUDO[@]}" rm -f /usr/sbin/policy-rc.d; OUR_POLICY_RC=; fi
    find_nginx
    [[ -n $NGINX ]] || die "nginx still not found after apt-get install"
}

ensure_venv() {
    local check='import importlib.metadata as m, sys
sys.exit(not (m.version("huggingface_hub") == "2.4.0" and m.version("hf_transfer") == "0.1.9"))'
    if [[ -x $VENV/bin/hf ]] && "$VENV/bin/python" -c "$check" 2>/dev/null; then return 0; fi
    log "creating $VENV with huggingface_hub==2.4.0 and hf_transfer==0.1.9"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "huggingface_hub==2.4.0" "hf_transfer==0.1.9" >&2
    "$VENV/bin/python" -c "$check" || die "venv packages have unexpected versions"
}

HFDL_NOTE=
HFDL_GIVEN=
build_hfdl() {
    if [[ -n ${HFDL_BIN:-} ]]; then
        HFDL_GIVEN=1
        [[ -x $HFDL_BIN ]] || { HFDL_NOTE="HFDL_BIN=$HFDL_BIN is not executable"; HFDL_BIN=; }
        return 0
    fi
    HFDL_BIN=
    if ! command -v cargo >/dev/null; then HFDL_NOTE="cargo not found"; return 0; fi
    log "cargo build --release (log: $RUN/cargo-build.log)"
    if (cd "$ROOT" && cargo build --release) >"$RUN/cargo-build.log" 2>&1; then
        HFDL_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/hfdl
        [[ $HFDL_BIN == /* ]] || HFDL_BIN=$ROOT/$HFDL_BIN
        [[ -x $HFDL_BIN ]] || { HFDL_NOTE="no binary at $HFDL_BIN"; HFDL_BIN=; }
    else
        HFDL_NOTE="cargo build failed"
        log "hfdl does not build; its rows will be FAILED (see $RUN/cargo-build.log)"
    fi
}

# ---- CPU placement ----------------------------------------------------------------------------------------------
NCPU=$(nproc)
PIN_SRV=()
PIN_CLI=()
if ((PIN)) && ((NCPU >= 2)); then
    half=$((NCPU / 2))
    SRV_CPUS="0-$((half - 1))"
    CLI_CPUS="$half-$((NCPU - 1))"
    PIN_SRV=(taskset -c "$SRV_CPUS")
    PIN_CLI=(taskset -c "$CLI_CPUS")
    NGINX_WORKERS=$half
else
    PIN=0
    NGINX_WORKERS=$NCPU
fi

# ---- 3. servers -------------------------------------------------------------------------------------------------
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {  # wait_port PORT PID
    local i
    for ((i = 0; i < 100; i++)); do
        port_busy "$1" && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

start_nginx() {
    local user_line=
    if [[ $(id -u) -eq 0 ]]; then user_line="user $(id -un) $(id -gn);"; fi
    mkdir -p "$RUN/nginx-tmp"
    cat >"$RUN/nginx.conf" <<EOF
# generated by bench/run.sh: the "CDN" that serves LFS blobs as bytes (Range handled by nginx)
$user_line
daemon off;
worker_processes $NGINX_WORKERS;
pid $RUN/nginx.pid;
error_log $RUN/nginx-error.log warn;
events { worker_connections 4096; }
http {
    log_format cdn '\$server_port \$status \$body_bytes_sent "\$http_range"';
    access_log $RUN/cdn-access.log cdn;
    sendfile on; tcp_nopush on; tcp_nodelay on;
    keepalive_requests 100000; keepalive_timeout 75s;
    open_file_cache max=64 inactive=60s;
    default_type application/octet-stream;
    client_body_temp_path $RUN/nginx-tmp; proxy_temp_path $RUN/nginx-tmp; fastcgi_temp_path $RUN/nginx-tmp;
    uwsgi_temp_path $RUN/nginx-tmp; scgi_temp_path $RUN/nginx-tmp;
    limit_conn_zone \$binary_remote_addr zone=perip:1m;
    # throttled CDN: 8 MiB/s per connection, at most $CONN_CAP connections per client IP, 429 above that
    server {
        listen 127.0.0.1:$CDN_SLOW_PORT;
        root $WORK/repos;
        location ~ "^/[^/]+/blobs/[0-9a-f]{64}\$" {
            limit_rate 8m;
            limit_conn perip $CONN_CAP;
            limit_conn_status 429;
        }
        location / { return 404; }
    }
    # fast CDN: no limits
    server {
        listen 127.0.0.1:$CDN_FAST_PORT;
        root $WORK/repos;
        location ~ "^/[^/]+/blobs/[0-9a-f]{64}\$" { }
        location / { return 404; }
    }
}
EOF
    "${PIN_SRV[@]}" "$NGINX" -p "$RUN" -e "$RUN/nginx-error.log" -c "$RUN/nginx.conf" &
    NGINX_PID=$!
    if ! wait_port "$CDN_SLOW_PORT" "$NGINX_PID" || ! wait_port "$CDN_FAST_PORT" "$NGINX_PID"; then
        die "nginx did not start (see $RUN/nginx-error.log)"
    fi
}

start_front() {  # start_front REPO_DIR CDN_PORT LATENCY_MS
    local dir=$1 cdn=$2 lat=$3
    "${PIN_SRV[@]}" "$VENV/bin/python" -u "$BENCH_DIR/hub_front.py" --port "$FRONT_PORT" \
        --manifest "$dir/manifest.json" --repo-dir "$dir" \
        --cdn-base "http://127.0.0.1:$cdn/$(basename "$dir")/blobs" --latency-ms "$lat" \
        >>"$RUN/hub_front.log" 2>&1 &
    FRONT_PID=$!
    wait_port "$FRONT_PORT" "$FRONT_PID" || die "hub_front.py did not start (see $RUN/hub_front.log)"
}

start_honest_cdn() {
    "${PIN_SRV[@]}" "$VENV/bin/python" -u "$BENCH_DIR/honest_cdn.py" --port "$HONEST_PORT" --root "$WORK/repos" \
        --rate "$HONEST_RATE" --burst "$HONEST_BURST" --max-in-flight "$HONEST_MAX_IN_FLIGHT" \
        --log "$RUN/honest-cdn-requests.log" >>"$RUN/honest-cdn.log" 2>&1 &
    HONEST_PID=$!
    wait_port "$HONEST_PORT" "$HONEST_PID" || die "honest_cdn.py did not start (see $RUN/honest-cdn.log)"
}

hub_reqs() { curl -s "http://127.0.0.1:$FRONT_PORT/_bench/stats" | sed -E 's/.*"total": *([0-9]+).*/\1/' || true; }
cdn_reqs() { if [[ -f $RUN/cdn-access.log ]]; then wc -l <"$RUN/cdn-access.log"; else echo 0; fi; }

# ---- 4. timing one tool -----------------------------------------------------------------------------------------
clean_field() { tr '\t\n\r' '   ' | cut -c1-"${1:-160}"; }
last_line() { { grep -v '^[[:space:]]*$' "$1" || true; } | tail -n 1 | clean_field 120; }  # last non-blank line

# run_tool SCENARIO TOOL RUN WHAT BYTES OUT VERIFY_ONLY -- COMMAND...
#   OUT is the fresh output dir; VERIFY_ONLY is a repo path (check OUT/<basename> against that file) or "" (the repo)
run_tool() {
    local sc=$1 tool=$2 run=$3 what=$4 nbytes=$5 out=$6 only=$7
    shift 8
    local base=$RUN/$sc-$tool-$run
    local tf=$base.time logf=$base.log rc=0 hub0 cdn0 hub1 cdn1 t0 t1 wall status note vres
    local limit=$((300 + nbytes / 2000000))  # generous: 2 MB/s plus 5 min
    local c_req='' c_429='' c_late='' c_peak='' c_conns='' c_ranges=''
    rm -rf "$out"
    mkdir -p "$out"
    hub0=$(hub_reqs); cdn0=$(cdn_reqs)
    if [[ -n $HONEST_STATS ]]; then
        curl -sf "$HONEST_STATS/reset?label=$sc-$tool-$run" >/dev/null || die "cannot reset the honest CDN's counters"
    fi
    log "$sc: $tool (run $run): $what"
    t0=$EPOCHREALTIME
    /usr/bin/time -f '%e %U %S %M' -o "$tf" timeout -k 10 "$limit" "${PIN_CLI[@]}" "$@" >"$logf" 2>&1 || rc=$?
    t1=$EPOCHREALTIME
    hub1=$(hub_reqs); cdn1=$(cdn_reqs)
    if [[ -n $HONEST_STATS ]]; then
        curl -sf "$HONEST_STATS/stats" >"$base.cdn.json" || die "cannot read the honest CDN's counters"
        IFS=$'\t' read -r c_req c_429 c_late c_peak c_conns c_ranges < <("$VENV/bin/python" - "$base.cdn.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
r = s["ranges"]
rng = f"{r['min']}/{r['median']}/{r['max']}" if r["count"] else "-"
print(s["requests"], s["refused_429"], s["refused_429_late"], s["peak_demand"], s["data_connections"], rng, sep="\t")
PY
) \
            || die "cannot parse $base.cdn.json"
        cdn0=0; cdn1=$c_req
    fi
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    local us ss rss
    read -r _ us ss rss < <(tail -n 1 "$tf") || true
    if ((rc == 0)); then
        if [[ -n $only ]]; then
            vres=$("$VENV/bin/python" "$BENCH_DIR/verify.py" "$MANIFEST" "$out/$(basename "$only")" --only "$only") || rc=-1
        else
            vres=$("$VENV/bin/python" "$BENCH_DIR/verify.py" "$MANIFEST" "$out") || rc=-1
        fi
        if ((rc == 0)); then status=OK; note=; else status=FAILED; note="verify: $vres"; fi
    else
        status=FAILED
        if ((rc == 124 || rc == 137)); then note="timeout after ${limit}s"; else note="exit $rc"; fi
        note="$note: $(last_line "$logf") (log: ${logf#"$ROOT"/})"
    fi
    log "$sc: $tool: $status wall ${wall}s ${note:+($note)}"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$sc" "$tool" "$run" \
        "$status" "$wall" "${us:-}" "${ss:-}" "${rss:-}" "$nbytes" "$((hub1 - hub0))" "$((cdn1 - cdn0))" "$what" \
        "$(printf '%s' "$note" | clean_field 200)" "$c_429" "$c_late" "$c_peak" "$c_conns" "$c_ranges" >>"$RESULTS"
    rm -rf "$out" "$RUN/home-$sc-$tool-$run"
    sync
    sleep 1
}

record_failed() {  # record_failed SCENARIO TOOL WHAT NOTE
    local r
    for ((r = 1; r <= RUNS; r++)); do
        printf '%s\t%s\t%s\tFAILED\t\t\t\t\t0\t\t\t%s\t%s\n' "$1" "$2" "$r" "$3" "$4" >>"$RESULTS"
    done
}

human_size() { awk -v b="$1" 'BEGIN { if (b >= 1073741824) printf "%g GiB", b / 1073741824; else printf "%g MiB", b / 1048576 }'; }

# ---- one scenario -----------------------------------------------------------------------------------------------
run_scenario() {
    local sc=$1 name lat cdn_port cap='' desc conn_args=() r
    name=$sc
    if ((QUICK)); then name=$sc-quick; fi
    local dir=$WORK/repos/$name
    MANIFEST=$dir/manifest.json
    case $sc in
        throttled) lat=30; cdn_port=$CDN_SLOW_PORT; cap=$((CONN_CAP * PER_CONN_RATE)); conn_args=(--connections 16) ;;
        fast) lat=0; cdn_port=$CDN_FAST_PORT ;;
        small) lat=20; cdn_port=$CDN_FAST_PORT ;;
        honest) lat=30; cdn_port=$HONEST_PORT; cap=$((HONEST_MAX_IN_FLIGHT * HONEST_RATE)) ;;
        *) die "unknown scenario $sc" ;;
    esac
    HONEST_STATS=
    if [[ $sc == honest ]]; then HONEST_STATS=http://127.0.0.1:$HONEST_PORT/_bench; fi
    local repo_id total nfiles ndirs big_path big_size big_sha
    IFS='|' read -r repo_id total nfiles ndirs big_path big_size big_sha < <("$VENV/bin/python" - "$MANIFEST" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
lfs = [e for e in m["files"] if e["lfs"]]
big = max(lfs, key=lambda e: e["size"]) if lfs else {"path": "", "size": 0, "sha256": ""}
dirs = {e["path"].rsplit("/", 1)[0] for e in m["files"] if "/" in e["path"]}
print(m["repo_id"], m["total_bytes"], len(m["files"]), len(dirs), big["path"], big["size"], big["sha256"], sep="|")
PY
) || die "cannot read $MANIFEST"
    case $sc in
        throttled) desc="1 × $(human_size "$big_size") LFS file + $((nfiles - 1)) regular files; CDN limit_rate 8 MiB/s per connection, limit_conn $CONN_CAP per IP (429 above); Hub front end +$lat ms per request" ;;
        fast) desc="1 × $(human_size "$big_size") LFS file; unthrottled loopback CDN; no added latency" ;;
        small) desc="$nfiles regular git files of 1–16 KiB in $ndirs folders, served by the Hub front end (+$lat ms per request)" ;;
        honest) desc="1 × $(human_size "$big_size") LFS file; CDN bench/honest_cdn.py: 8 MiB/s per connection counted over the connection's whole life (token bucket, burst $((HONEST_BURST / 1024)) KiB), 429 (Retry-After: 1) above $HONEST_MAX_IN_FLIGHT requests at once; Hub front end +$lat ms per request" ;;
    esac
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$sc" "$total" "$nfiles" "$lat" "$cap" "$desc" >>"$SCEN"
    log "scenario $sc: $desc"

    start_front "$dir" "$cdn_port" "$lat"
    local front=http://127.0.0.1:$FRONT_PORT
    local cdn_url=
    [[ -n $big_path ]] && cdn_url="http://127.0.0.1:$cdn_port/$name/blobs/$big_sha"

    # aria2c input file (like hfd.sh: every file's resolve URL) and curl config for the small scenario
    local a2in=$RUN/$sc-aria2.txt curlcfg=$RUN/$sc-curl.cfg
    "$VENV/bin/python" - "$MANIFEST" "$front" "$a2in" "$curlcfg" <<'PY'
import json, sys, urllib.parse
man, front, a2, cc = sys.argv[1:]
m = json.load(open(man))
with open(a2, "w") as fa, open(cc, "w") as fc:
    for e in m["files"]:
        url = f"{front}/{m['repo_id']}/resolve/main/{urllib.parse.quote(e['path'])}"
        fa.write(f"{url}\n  out={e['path']}\n")
        fc.write(f'url = "{url}"\noutput = "OUTDIR/{e["path"]}"\n')
PY
    local hft_py='import sys, hf_transfer
hf_transfer.download(url=sys.argv[1], filename=sys.argv[2], max_files=int(sys.argv[3]),
                     chunk_size=10 * 1024 * 1024, parallel_failures=3, max_retries=5)'
    local out=$OUT_BASE
    want() { [[ ",$TOOLS," == *",$1,"* ]]; }
    # Warm-up: in a VM the first write into never-touched memory (tmpfs, page cache) is several
    # times slower than later ones, which would penalise whichever tool runs first.
    mkdir -p "$out"
    head -c "$total" /dev/zero >"$out/.warmup" && rm -f "$out/.warmup"
    for ((r = 1; r <= RUNS; r++)); do
        # hfdl
        if ! want hfdl; then
            :
        elif [[ -n $HFDL_BIN ]]; then
            run_tool "$sc" hfdl "$r" "hfdl download${conn_args[*]:+ ${conn_args[*]}}" "$total" "$out/$sc-hfdl" "" -- \
                env HF_ENDPOINT="$front" HF_HOME="$RUN/home-$sc-hfdl-$r" \
                "$HFDL_BIN" download "$repo_id" --local-dir "$out/$sc-hfdl" -q "${conn_args[@]}"
        elif ((r == 1)); then
            record_failed "$sc" hfdl "hfdl download" "$HFDL_NOTE"
        fi
        # hf download (huggingface_hub 2.4.0, plain HTTP path)
        want hf && run_tool "$sc" hf "$r" "hf download (8 workers)" "$total" "$out/$sc-hf" "" -- \
            env HF_ENDPOINT="$front" HF_HOME="$RUN/home-$sc-hf-$r" HF_HUB_DISABLE_XET=1 HF_HUB_DISABLE_TELEMETRY=1 \
            "$VENV/bin/hf" download "$repo_id" --local-dir "$out/$sc-hf" -q
        if [[ -n $big_path ]] && want hf_transfer; then
            # hf_transfer 0.1.9 on the big file, straight from the CDN URL
            run_tool "$sc" hf_transfer "$r" "big file, max_files=$HFT_MAX_FILES, 10 MiB chunks" "$big_size" \
                "$out/$sc-hft" "$big_path" -- \
                "$VENV/bin/python" -c "$hft_py" "$cdn_url" "$out/$sc-hft/$(basename "$big_path")" "$HFT_MAX_FILES"
        fi
        # aria2c like hfd.sh, every resolve URL in an input file
        want aria2c && run_tool "$sc" aria2c "$r" "repo, -x16 -s16 -k1M -j16" "$total" "$out/$sc-aria2c" "" -- \
            aria2c -q -x16 -s16 -k1M -j16 --file-allocation=none --auto-file-renaming=false --allow-overwrite=true \
            --summary-interval=0 --console-log-level=error -d "$out/$sc-aria2c" -i "$a2in"
        # curl: one stream on the big file; for the small scenario one process, --parallel-max 16
        if [[ $sc == small ]] && want tuned && [[ -n $HFDL_BIN ]]; then
            # the same knob on both tools: 64 files at once
            run_tool "$sc" hfdl-w64 "$r" "hfdl download --max-workers 64" "$total" "$out/$sc-hfdl-w64" "" -- \
                env HF_ENDPOINT="$front" HF_HOME="$RUN/home-$sc-hfdl-w64-$r" \
                "$HFDL_BIN" download "$repo_id" --local-dir "$out/$sc-hfdl-w64" -q --max-workers 64
            run_tool "$sc" hf-w64 "$r" "hf download --max-workers 64" "$total" "$out/$sc-hf-w64" "" -- \
                env HF_ENDPOINT="$front" HF_HOME="$RUN/home-$sc-hf-w64-$r" HF_HUB_DISABLE_XET=1 HF_HUB_DISABLE_TELEMETRY=1 \
                "$VENV/bin/hf" download "$repo_id" --local-dir "$out/$sc-hf-w64" -q --max-workers 64
        fi
        if ! want curl; then
            :
        elif [[ -n $big_path ]]; then
            run_tool "$sc" curl "$r" "big file, 1 stream" "$big_size" "$out/$sc-curl" "$big_path" -- \
                curl -sS -f -o "$out/$sc-curl/$(basename "$big_path")" "$cdn_url"
        else
            sed "s#OUTDIR#$out/$sc-curl#" "$curlcfg" >"$curlcfg.run"
            run_tool "$sc" curl "$r" "repo, --parallel-max 16" "$total" "$out/$sc-curl" "" -- \
                curl -sS -f --parallel --parallel-max 16 --create-dirs -K "$curlcfg.run"
        fi
    done
    stop_pid "$FRONT_PID"; FRONT_PID=
}

write_record_header() {  # write_record_header FILE: the how-to header of a fresh --record file
    local bt='`'
    {
        echo "# hfdl benchmarks"
        echo
        echo "Measured with ${bt}bench/run.sh${bt} (see ${bt}bench/README.md${bt}): a loopback fake Hub (${bt}bench/hub_front.py${bt}) and an"
        echo "nginx \"CDN\", with ${bt}hfdl${bt}, ${bt}hf download${bt} (huggingface_hub 2.4.0), ${bt}hf_transfer${bt} 0.1.9, ${bt}aria2c${bt} and ${bt}curl${bt} timed"
        echo "in the same run. Reproduce with:"
        echo
        echo "    bench/run.sh --record docs/benchmarks.md            # all scenarios, full size"
        echo "    bench/run.sh --scenario throttled --runs 3 --record docs/benchmarks.md"
        echo
        echo "MB/s is 10^6 bytes per second over the wall time; CPU s is user + system; peak RSS is GNU time's maximum"
        echo "resident set size. Each section below is one run of the command, appended by ${bt}--record${bt}."
    } >"$1"
}

# ---- main -------------------------------------------------------------------------------------------------------
# everything runs inside main(), so bash has parsed the whole script before the long part starts and editing
# this file during a run cannot derail it
main() {
    STAMP=$(date -u +%Y%m%dT%H%M%SZ)
    RUN=$WORK/runs/$STAMP
    mkdir -p "$RUN" "$OUT_BASE" "$WORK/repos"
    RESULTS=$RUN/results.tsv
    SCEN=$RUN/scenarios.tsv
    : >"$RESULTS"
    : >"$SCEN"
    T_START=$EPOCHREALTIME

    ensure_system_packages
    ensure_venv
    build_hfdl
    # tools must talk to loopback directly, without tokens or a user's cache settings
    unset http_proxy https_proxy all_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY no_proxy NO_PROXY
    unset HF_TOKEN HUGGING_FACE_HUB_TOKEN HF_TOKEN_PATH HF_HOME HF_HUB_CACHE HUGGINGFACE_HUB_CACHE HF_XET_CACHE \
        HF_ENDPOINT HF_HUB_OFFLINE HF_HUB_ENABLE_HF_TRANSFER XDG_CACHE_HOME

    for sc in "${SCENARIOS[@]}"; do
        log "preparing repo for $sc$( ((QUICK)) && echo ' (quick)')"
        if ((QUICK)); then
            "$VENV/bin/python" "$BENCH_DIR/gen_repo.py" "$sc" "$WORK/repos/$sc-quick" --quick >&2
        else
            "$VENV/bin/python" "$BENCH_DIR/gen_repo.py" "$sc" "$WORK/repos/$sc" >&2
        fi
    done

    for p in "$CDN_SLOW_PORT" "$CDN_FAST_PORT" "$FRONT_PORT" "$HONEST_PORT"; do
        if port_busy "$p"; then die "port $p is in use; set BENCH_PORT_BASE to a free range"; fi
    done
    T_TIMED=$EPOCHREALTIME
    start_nginx
    log "nginx CDN on 127.0.0.1:$CDN_SLOW_PORT (throttled) and :$CDN_FAST_PORT (fast); front end on :$FRONT_PORT"
    if [[ " ${SCENARIOS[*]} " == *" honest "* ]]; then
        start_honest_cdn
        log "honest CDN on 127.0.0.1:$HONEST_PORT (request log: $RUN/honest-cdn-requests.log)"
    fi
    if ((PIN)); then log "pinned: servers on CPUs $SRV_CPUS, clients on CPUs $CLI_CPUS"; fi

    LOAD_START=$(cut -d' ' -f1 /proc/loadavg)
    if awk -v l="$LOAD_START" -v n="$NCPU" 'BEGIN { exit !(l > n / 2) }'; then
        log "WARNING: load average is $LOAD_START on $NCPU CPUs: other work is running, numbers will be noisy"
    fi
    for sc in "${SCENARIOS[@]}"; do
        run_scenario "$sc"
    done
    LOAD_END=$(cut -d' ' -f1 /proc/loadavg)
    cleanup

    # ---- 5. report --------------------------------------------------------------------------------------------------
    REPORT=$RUN/report.md
    rc=0
    "$VENV/bin/python" "$BENCH_DIR/report.py" "$RESULTS" "$SCEN" >"$REPORT" || rc=$?
    ((rc == 0 || rc == 3)) || die "report.py failed"
    if [[ -s $RUN/honest-cdn-requests.log ]]; then
        "$VENV/bin/python" "$BENCH_DIR/honest_log.py" "$RUN/honest-cdn-requests.log" "$RESULTS" >>"$REPORT" \
            || log "honest_log.py failed; the report has no time breakdown"
    fi
    ELAPSED=$(awk -v a="$T_START" -v t="$T_TIMED" -v b="$EPOCHREALTIME" \
        'BEGIN { printf "%.0f s (setup %.0f s + servers and timed runs %.0f s)", b - a, t - a, b - t }')

    hfdl_version="hfdl (not built)"
    if [[ -n $HFDL_BIN ]]; then hfdl_version=$("$HFDL_BIN" --version 2>/dev/null | head -n 1 || echo "hfdl (unknown version)"); fi
    git_rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)
    if [[ -n $(git -C "$ROOT" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null) ]]; then git_rev+="+dirty"; fi
    cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
    local pin_txt="no pinning" size_txt="full size"
    if ((PIN)); then pin_txt="taskset servers $SRV_CPUS / clients $CLI_CPUS"; fi
    if ((QUICK)); then size_txt="--quick"; fi
    local build_txt="commit $git_rev"
    if [[ -n $HFDL_GIVEN && -n $HFDL_BIN ]]; then
        # a given binary was not built from this tree: say which file it was, and when it was built
        build_txt="HFDL_BIN=$HFDL_BIN built $(date -u -r "$HFDL_BIN" '+%Y-%m-%d %H:%M:%S UTC'), sha256 $(sha256sum "$HFDL_BIN" | cut -c1-12); bench at commit $git_rev"
    fi
    CONTEXT="$(date -u '+%Y-%m-%d %H:%M UTC') · $hfdl_version ($build_txt) · $NCPU × ${cpu:-unknown CPU}"
    CONTEXT+=" · $(uname -r) · nginx $("$NGINX" -v 2>&1 | sed 's#.*/##') · $pin_txt · $size_txt · runs $RUNS"
    CONTEXT+=" · load avg $LOAD_START→$LOAD_END · bench took $ELAPSED"

    echo
    echo "## hfdl benchmark: $CONTEXT"
    echo
    cat "$REPORT"
    log "results: $RESULTS, report: $REPORT"

    if [[ -n $RECORD ]]; then
        mkdir -p "$(dirname "$RECORD")"
        if [[ ! -s $RECORD ]]; then
            write_record_header "$RECORD"
        fi
        {
            echo
            echo "## $CONTEXT"
            echo
            echo "Command: \`bench/run.sh --scenario $SCENARIO$( ((QUICK)) && echo ' --quick') --runs $RUNS$(
                [[ $TOOLS != "$DEFAULT_TOOLS" ]] && echo " --tools $TOOLS")$(
                [[ $OUT_BASE != "$WORK/out" ]] && echo " --out-dir $OUT_BASE")\`"
            echo
            cat "$REPORT"
        } >>"$RECORD"
        log "appended to $RECORD"
    fi
    if ((STRICT)) && ((rc == 3)); then return 3; fi
    return 0
}

# one line: bash never reads past it, even if this file is edited during a run
main "$@"; exit "$?"

#!/usr/bin/env bash
# bench/bucket.sh: hfdl into an S3 bucket (SeaweedFS) against hfdl into a local dir, on a loopback fake Hub.
#
# Usage: bench/bucket.sh [REPO_DIR]   (default bench/work/repos/honest, made by bench/run.sh --scenario honest)
#
# Prints, measured in one run: wall time and peak RSS into a local dir (on disk, under bench/work/out) and into
# s3://models/<prefix> with 1 writer, boto3's upload_file of the same files (the server's ingest speed); then 3 writers at once into one prefix (three spools, as three nodes);
# bytes the CDN served / repo size for each. The CDN is bench/honest_cdn.py without a rate limit (64 requests at
# once), the Hub front end bench/hub_front.py, the S3 server `weed mini` from target/py-venv-storage
# (scripts/test.sh builds it). Needs target/release/hfdl (cargo build --release) and GNU time.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
REPO=${1:-$BENCH_DIR/work/repos/honest}
HFDL=${HFDL_BIN:-$ROOT/target/release/hfdl}
WEED=$ROOT/target/py-venv-storage/bin/weed
PY=${BENCH_PYTHON:-python3}
RUN=$(mktemp -d /tmp/hfdl-bucket-bench.XXXXXX)
P=${BENCH_PORT_BASE:-47480}

[[ -x $HFDL ]] || { echo "missing $HFDL: run cargo build --release" >&2; exit 1; }
[[ -x $WEED ]] || { echo "missing $WEED: run HFDL_TEST_VENVS_ONLY=1 scripts/test.sh" >&2; exit 1; }
[[ -f $REPO/manifest.json ]] || { echo "missing $REPO: run bench/run.sh --scenario honest --quick once" >&2; exit 1; }
command -v /usr/bin/time >/dev/null || { echo "missing GNU time: apt-get install time" >&2; exit 1; }

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$RUN"; }
trap cleanup EXIT
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

"$PY" -u "$BENCH_DIR/honest_cdn.py" --port $((P + 1)) --root "$(dirname "$REPO")" --rate $((1 << 40)) \
    --burst $((64 << 20)) --piece $((1 << 20)) --max-in-flight 64 --log "$RUN/cdn.log" >"$RUN/cdn.out" 2>&1 &
pids+=($!)
"$PY" -u "$BENCH_DIR/hub_front.py" --port $P --manifest "$REPO/manifest.json" --repo-dir "$REPO" \
    --cdn-base "http://127.0.0.1:$((P + 1))/$(basename "$REPO")/blobs" >"$RUN/front.out" 2>&1 &
pids+=($!)
S3=$((P + 10))
mkdir -p "$RUN/weed"
AWS_ACCESS_KEY_ID=benchkey AWS_SECRET_ACCESS_KEY=benchsecret "$WEED" mini -dir="$RUN/weed" -ip=127.0.0.1 \
    -ip.bind=127.0.0.1 -bucket=models -master.telemetry=false -webdav=false -admin.ui=false -s3.port.iceberg=0 \
    -s3.port.lance=0 -s3.port=$S3 -filer.port=$((S3 + 1)) -master.port=$((S3 + 2)) -volume.port=$((S3 + 3)) \
    -admin.port=$((S3 + 4)) >"$RUN/weed.log" 2>&1 &
pids+=($!)
wait_port $P && wait_port $((P + 1)) && wait_port $S3 || { echo "servers did not start; see $RUN" >&2; exit 1; }
sleep 5 # weed answers on its port before its bucket is ready

export HF_ENDPOINT=http://127.0.0.1:$P HF_HUB_DISABLE_PROGRESS_BARS=1 AWS_ENDPOINT_URL=http://127.0.0.1:$S3
export AWS_ACCESS_KEY_ID=benchkey AWS_SECRET_ACCESS_KEY=benchsecret AWS_REGION=us-east-1 AWS_ALLOW_HTTP=true
REPO_ID=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["repo_id"])' "$REPO/manifest.json")
SIZE=$(du -sb --apparent-size "$REPO/files" "$REPO/blobs" | awk '{s += $1} END {print s}')
served() { curl -s "http://127.0.0.1:$((P + 1))/_bench/stats" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["bytes"])'; }

one() { # one NAME TARGET HF_HOME: prints wall seconds and peak RSS (KiB)
    local before; before=$(served)
    HF_HOME=$3 /usr/bin/time -f "%e %M" -o "$RUN/$1.time" "$HFDL" download "$REPO_ID" --local-dir "$2" \
        >"$RUN/$1.out" 2>"$RUN/$1.err" || { cat "$RUN/$1.err" >&2; exit 1; }
    echo "$(cat "$RUN/$1.time") $(( $(served) - before ))"
}

echo "repo $REPO_ID: $SIZE bytes"
read -r lw lr lb <<<"$(one local "$BENCH_DIR/work/out/bucket-bench-local" "$RUN/home-local")"
# The S3 server's own ingest speed on this machine: boto3's upload_file (multipart, 10 threads)
# of the same files from the local dir just written.
SPY=$ROOT/target/py-venv-storage/bin/python
uw=$("$SPY" - "$BENCH_DIR/work/out/bucket-bench-local" "http://127.0.0.1:$S3" <<'PY'
import os, sys, time, boto3
from botocore.config import Config
root, endpoint = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"}))
start = time.monotonic()
for dirpath, dirs, files in os.walk(root):
    dirs[:] = [d for d in dirs if d != ".cache"]
    for name in files:
        path = os.path.join(dirpath, name)
        s3.upload_file(path, "models", "boto3/" + os.path.relpath(path, root))
print(f"{time.monotonic() - start:.2f}")
PY
)
rm -rf "$BENCH_DIR/work/out/bucket-bench-local"
read -r bw br bb <<<"$(one bucket "s3://models/one" "$RUN/home-bucket")"
before=$(served)
start=$(date +%s.%N)
for i in 1 2 3; do
    HF_HOME=$RUN/node$i "$HFDL" download "$REPO_ID" --local-dir s3://models/three >"$RUN/n$i.out" 2>"$RUN/n$i.err" &
    nodes[$i]=$!
done
for i in 1 2 3; do wait "${nodes[$i]}" || { cat "$RUN/n$i.err" >&2; exit 1; }; done
tw=$(echo "$(date +%s.%N) - $start" | bc)
tb=$(( $(served) - before ))
ratio() { echo "scale=3; $1 / $2" | bc; }
printf '| target | wall s | peak RSS MiB | fetched / repo |\n|---|---|---|---|\n'
printf '| local dir (disk) | %s | %s | %s |\n' "$lw" $((lr / 1024)) "$(ratio "$lb" "$SIZE")"
printf '| s3, 1 writer | %s | %s | %s |\n' "$bw" $((br / 1024)) "$(ratio "$bb" "$SIZE")"
printf '| s3, 3 writers | %.2f | - | %s |\n' "$tw" "$(ratio "$tb" "$SIZE")"
printf '| (boto3 upload_file of the same files, no download) | %s | - | - |\n' "$uw"
echo "wall into a bucket / wall into a local dir: $(ratio "$bw" "$lw")"
echo "wall into a bucket / boto3's upload alone: $(ratio "$bw" "$uw")"

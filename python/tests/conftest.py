"""Fixtures of the Python API's tests.

These tests are run by ``tests/it/python_api.rs`` (``cargo test --test it python_api``, part of
``scripts/test.sh``), which starts the fake Hub and passes its scenario in ``HFDL_TEST_*``
variables; the venv they run in holds the built wheel and huggingface_hub 2.4.0, the judge: the
same call is made with ``hfdl`` and with ``huggingface_hub`` against the same fake Hub, and the
return values and what they leave on disk must be equal.

huggingface_hub reads its environment once, at import: calls that depend on the environment run
in a fresh interpreter (:func:`run_python`), for hfdl and the judge alike.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def _need(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(
            f"{name} is not set: run these tests through `cargo test --test it python_api` "
            "(or scripts/test.sh), which starts the fake Hub and sets it",
            pytrace=False,
        )
    return value


class Scenario:
    """What the fake Hub serves (see tests/it/python_api.rs)."""

    def __init__(self) -> None:
        self.endpoint = _need("HF_ENDPOINT")
        self.token = _need("HFDL_TEST_TOKEN")
        self.commits = json.loads(_need("HFDL_TEST_COMMITS"))
        self.minilm_dir = Path(_need("HFDL_TEST_MINILM_DIR"))
        self.closed_endpoint = _need("HFDL_TEST_CLOSED_ENDPOINT")

    def commit(self, repo: str, revision: str = "main") -> str:
        return self.commits[repo][revision]


TINY = "org/tiny"
GATED = "org/gated"
CORRUPT = "org/corrupt"
DATASET = "org/data"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture(scope="session")
def hub() -> Scenario:
    return Scenario()


def tree(root: str | os.PathLike) -> dict[str, str]:
    """Everything under ``root``: each file's sha256, each symlink's target, each folder;
    local-dir metadata without its timestamp (the third line differs by nature)."""
    root = Path(root)
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = "link -> " + os.readlink(path)
        elif path.is_dir():
            out[rel] = "dir"
        elif rel.endswith(".metadata"):
            out[rel] = "metadata " + " ".join(path.read_text().splitlines()[:2])
        else:
            out[rel] = "sha256 " + hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def repo_tree(cache: str | os.PathLike) -> dict[str, str]:
    """:func:`tree` of a hub cache, without the lock files (``.locks/``): huggingface_hub keeps
    one per blob there, hfdl takes its locks beside the partials and removes them."""
    return {k: v for k, v in tree(cache).items() if not k.startswith(".locks")}


def local_tree(local_dir: str | os.PathLike) -> dict[str, str]:
    """:func:`tree` of a local dir, without ``.cache/huggingface/refs/``: hfdl records the
    revision's commit there, where huggingface_hub 2.4 records it in the global cache instead
    (README, "Cache or local dir"); everything else must be the same."""
    return {
        k: v for k, v in tree(local_dir).items() if not k.startswith(".cache/huggingface/refs")
    }


def run_python(code: str, env: dict[str, str]) -> object:
    """Runs ``code`` in a fresh interpreter of this venv with ``env`` added to this process's
    environment; ``code`` prints one JSON document last, which is returned. A failure shows
    everything the interpreter printed."""
    full = dict(os.environ)
    full.update(env)
    proc = subprocess.run(
        [sys.executable, "-c", code], env=full, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        pytest.fail(
            f"python failed ({proc.returncode}):\n--- code\n{code}\n--- stdout\n{proc.stdout}"
            f"\n--- stderr\n{proc.stderr}",
            pytrace=False,
        )
    return json.loads(proc.stdout.strip().splitlines()[-1])

"""Ctrl-C during a download: the binary saves its progress, the call raises KeyboardInterrupt,
and the next call resumes and ends with the right bytes."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import hfdl

SCRIPT = """
import json, sys, hfdl
try:
    hfdl.snapshot_download("org/slow", cache_dir=sys.argv[1])
    print(json.dumps("finished"))
except KeyboardInterrupt:
    print(json.dumps("interrupted"))
"""


def test_ctrl_c_keeps_the_partial_and_the_next_call_resumes(hub, tmp_path):
    blobs = tmp_path / "models--org--slow" / "blobs"
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    journal = []
    while time.monotonic() < deadline and not journal:
        journal = [p for p in blobs.glob("*.journal")] if blobs.is_dir() else []
        time.sleep(0.05)
    assert journal, "no journal appeared while org/slow downloaded"
    os.kill(proc.pid, signal.SIGINT)  # what a Ctrl-C does to the Python process
    out, _ = proc.communicate(timeout=60)
    assert json.loads(out.strip().splitlines()[-1]) == "interrupted"
    partials = list(blobs.glob("*.hfdl-partial"))
    assert partials, list(blobs.iterdir())

    folder = hfdl.snapshot_download("org/slow", cache_dir=tmp_path)
    data = (tmp_path / folder / "big.bin").read_bytes()
    assert len(data) == 12 << 20
    assert "blobs/" + hashlib.sha256(data).hexdigest() in os.readlink(os.path.join(folder, "big.bin"))
    assert not list(blobs.glob("*.hfdl-partial"))

"""Finding and running the ``hfdl`` binary that the wheel installed beside this package.

The binary is run as a subprocess: its stderr is the caller's (warnings, and progress bars when
stderr is a terminal, exactly as the CLI shows them), its stdout is captured and holds the
result (a path, or JSON), or with the hidden ``--error-json`` flag a JSON report of the failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sysconfig
from typing import Mapping, Sequence

from . import errors

# How long a Ctrl-C'd run may take to save its progress before it is killed.
_STOP_GRACE_SECONDS = 15


def find_binary() -> str:
    """The ``hfdl`` executable of this installation.

    Looked for where pip put this package's scripts: the environment's scripts folder, then the
    user scheme's (``pip install --user``), then ``PATH``.
    """
    exe = "hfdl" + (sysconfig.get_config_var("EXE") or "")
    folders = [sysconfig.get_path("scripts")]
    try:
        user_scheme = sysconfig.get_preferred_scheme("user")
    except AttributeError:  # Python 3.9
        user_scheme = f"{os.name}_user"
    if user_scheme in sysconfig.get_scheme_names():
        folders.append(sysconfig.get_path("scripts", scheme=user_scheme))
    for folder in folders:
        candidate = os.path.join(folder, exe)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(exe)
    if found:
        return found
    raise FileNotFoundError(
        f"the hfdl binary was not found in {', '.join(folders)} nor on PATH; "
        "reinstall the wheel: pip install --force-reinstall target/wheels/hfdl_rs-*.whl"
    )


def run(args: Sequence[str], env: Mapping[str, str]) -> str:
    """Runs ``hfdl ARGS`` and returns its stdout; raises the exception its report names.

    The binary runs in a session of its own, so a Ctrl-C reaches this process only, which then
    sends the binary exactly one SIGINT: it stops its transfers, saves what it has (the next
    call resumes from there) and exits, and ``KeyboardInterrupt`` is raised here. (A second
    SIGINT would make it exit at once, losing up to a checkpoint's worth of data.)
    """
    cmd = [find_binary(), "--error-json", *args]
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=None,
        env=dict(env),
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate()
    except KeyboardInterrupt:
        _stop(proc)
        raise
    finally:
        if proc.poll() is None:  # anything else that left the call early
            proc.kill()
            proc.wait()
    text = out.decode("utf-8", "replace")
    if proc.returncode == 0:
        return text
    raise _failure(proc.returncode, text)


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=_STOP_GRACE_SECONDS)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):  # stuck, or Ctrl-C again: now
        proc.kill()
        proc.wait()


def _failure(returncode: int, stdout: str) -> BaseException:
    report = None
    for line in reversed(stdout.strip().splitlines()):
        try:
            report = json.loads(line)
        except ValueError:
            continue
        if isinstance(report, dict) and "kind" in report:
            break
        report = None
    if report is not None:
        return errors.from_report(report)
    # No report: clap refused the arguments (exit 2; its message is on stderr) or the binary
    # died (a signal gives a negative code).
    if returncode == 2:
        return ValueError("hfdl refused the arguments (its message is above, on stderr)")
    return errors.HfdlError(
        f"hfdl exited with status {returncode} without a report (see its stderr above)",
        exit_code=returncode,
    )

"""``snapshot_download`` and ``hf_hub_download`` with huggingface_hub 2.4's keywords, defaults and
return values, carried out by the ``hfdl`` binary.

Each keyword becomes a flag of ``hfdl download``; everything else (``HF_ENDPOINT``, ``HF_HOME``,
``HF_HUB_CACHE``, ``HF_TOKEN``, ``HF_HUB_OFFLINE``, proxies, CA bundles, timeouts) the binary reads
from the environment itself, so the API and the CLI cannot disagree about it. Where a keyword
has no flag, the binary's own variable carries it to that one run (``token=False`` is
``HF_HUB_DISABLE_IMPLICIT_TOKEN``, ``etag_timeout`` is ``HF_HUB_ETAG_TIMEOUT`` unless that is set,
as huggingface_hub lets the variable win).

Decisions where hfdl differs on purpose:

- ``max_workers=8`` (the default) lets hfdl adapt: it starts at 8 files at once and adds more
  while a run of small files is bound by round trips. Any other value fixes the number (at
  most 64).
- ``library_name``, ``library_version``, ``user_agent``, ``headers`` and ``tqdm_class`` are
  accepted and not used: hfdl sends its own User-Agent and draws its own progress on stderr.
  ``headers`` warns, since a header the caller relied on is not sent.
- The 0.x keywords huggingface_hub 2.4 still accepts and ignores (``local_dir_use_symlinks``,
  ``resume_download``, ``force_filename``, ``proxies``) are accepted and ignored with a
  ``FutureWarning`` when given a value other than ``None`` (2.4 says ``UserWarning``; 0.x said
  ``FutureWarning``, the category for deprecations users should act on). A local dir always
  holds real files, hfdl always resumes, and proxies come from ``HTTPS_PROXY`` and friends.
  So the seed's script runs unchanged.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from . import _binary

DEFAULT_ETAG_TIMEOUT = 10
DEFAULT_MAX_WORKERS = 8
_DEPRECATED = {
    "local_dir_use_symlinks": (
        "`local_dir_use_symlinks` is deprecated and ignored: a local dir holds real files "
        "(hfdl, like huggingface_hub since 0.23)."
    ),
    "resume_download": (
        "`resume_download` is deprecated and ignored: hfdl always resumes an interrupted "
        "download. Use `force_download=True` to download again."
    ),
    "force_filename": (
        "`force_filename` is deprecated and ignored: a file keeps its name on the Hub."
    ),
    "proxies": (
        "`proxies` is ignored: set HTTPS_PROXY / HTTP_PROXY / ALL_PROXY (and NO_PROXY), which "
        "hfdl reads."
    ),
}

try:
    from huggingface_hub import DryRunFileInfo  # the official class, where it exists
except ImportError:

    @dataclass
    class DryRunFileInfo:  # type: ignore[no-redef]
        """What ``dry_run=True`` tells about one file (huggingface_hub 2.4's fields)."""

        commit_hash: str
        file_size: int | None
        filename: str
        local_path: str
        is_cached: bool
        will_download: bool


def snapshot_download(
    repo_id: str,
    *,
    repo_type: str | None = None,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    local_dir: str | Path | None = None,
    library_name: str | None = None,
    library_version: str | None = None,
    user_agent: dict | str | None = None,
    etag_timeout: float = DEFAULT_ETAG_TIMEOUT,
    force_download: bool = False,
    token: bool | str | None = None,
    local_files_only: bool = False,
    allow_patterns: list[str] | str | None = None,
    ignore_patterns: list[str] | str | None = None,
    max_workers: int = DEFAULT_MAX_WORKERS,
    tqdm_class: Any = None,
    headers: dict[str, str] | None = None,
    endpoint: str | None = None,
    dry_run: bool = False,
    **deprecated: Any,
):
    """Downloads a snapshot of a repository; returns its folder (the cache's snapshot folder, or
    ``local_dir``), or with ``dry_run=True`` a list of ``DryRunFileInfo``.

    Same keywords, defaults and return values as ``huggingface_hub.snapshot_download`` 2.4;
    raises the same exception classes (see ``hfdl.errors``).
    """
    _check_deprecated("snapshot_download", deprecated)
    _check_ignored(headers)
    args = _common_args(
        repo_type, revision, cache_dir, local_dir, force_download, local_files_only, endpoint, token
    )
    args += [f"--include={p}" for p in _patterns(allow_patterns)]
    args += [f"--exclude={p}" for p in _patterns(ignore_patterns)]
    if max_workers != DEFAULT_MAX_WORKERS:
        args.append(f"--max-workers={int(max_workers)}")
    env = _child_env(cache_dir, local_dir, token, etag_timeout)
    if dry_run:
        return _dry_run(args, env, repo_id, repo_type, local_dir, force_download)
    out = _binary.run(["download", *args, "--", repo_id], env)
    return _normalized(_result_path(out), is_file=False)


def hf_hub_download(
    repo_id: str,
    filename: str,
    *,
    subfolder: str | None = None,
    repo_type: str | None = None,
    revision: str | None = None,
    library_name: str | None = None,
    library_version: str | None = None,
    cache_dir: str | Path | None = None,
    local_dir: str | Path | None = None,
    user_agent: dict | str | None = None,
    force_download: bool = False,
    etag_timeout: float = DEFAULT_ETAG_TIMEOUT,
    token: bool | str | None = None,
    local_files_only: bool = False,
    headers: dict[str, str] | None = None,
    endpoint: str | None = None,
    tqdm_class: Any = None,
    dry_run: bool = False,
    **deprecated: Any,
):
    """Downloads one file; returns its path (in the cache's snapshot folder, or in
    ``local_dir``), or with ``dry_run=True`` a ``DryRunFileInfo``.

    Same keywords, defaults and return values as ``huggingface_hub.hf_hub_download`` 2.4; raises
    the same exception classes (see ``hfdl.errors``).
    """
    _check_deprecated("hf_hub_download", deprecated)
    _check_ignored(headers)
    if subfolder:
        filename = f"{subfolder}/{filename}"
    args = _common_args(
        repo_type, revision, cache_dir, local_dir, force_download, local_files_only, endpoint, token
    )
    env = _child_env(cache_dir, local_dir, token, etag_timeout)
    if dry_run:
        infos = _dry_run(args, env, repo_id, repo_type, local_dir, force_download, filename)
        return infos[0]
    out = _binary.run(["download", *args, "--", repo_id, filename], env)
    return _normalized(_result_path(out), is_file=True)


def _check_deprecated(function: str, deprecated: Mapping[str, Any]) -> None:
    unknown = sorted(set(deprecated) - set(_DEPRECATED))
    if unknown:
        raise TypeError(f"{function}() got an unexpected keyword argument '{unknown[0]}'")
    for name, value in deprecated.items():
        if value is not None:
            warnings.warn(_DEPRECATED[name], FutureWarning, stacklevel=3)


def _check_ignored(headers: Mapping[str, str] | None) -> None:
    if headers:
        warnings.warn(
            "hfdl does not send extra `headers`; pass the token with `token=` or HF_TOKEN",
            UserWarning,
            stacklevel=3,
        )


def _resolved(path: str | Path) -> str:
    """A path as huggingface_hub 2.4 makes it: user expanded, absolute, symlinks resolved."""
    return str(Path(path).expanduser().resolve())


def _common_args(
    repo_type, revision, cache_dir, local_dir, force_download, local_files_only, endpoint, token
) -> list[str]:
    # Quiet: stdout is the result path alone (hf 2.4's `--format human` prints a summary).
    args = ["--format=quiet"]
    if repo_type is not None:
        args.append(f"--repo-type={repo_type}")
    if revision is not None:
        args.append(f"--revision={revision}")
    if local_dir is not None:
        args.append(f"--local-dir={_resolved(local_dir)}")
    elif cache_dir is not None:
        args.append(f"--cache-dir={_resolved(cache_dir)}")
    if force_download:
        args.append("--force-download")
    if local_files_only:
        args.append("--offline")
    if endpoint is not None:
        args.append(f"--endpoint={endpoint}")
    if isinstance(token, str):
        args.append(f"--token={token}")
    return args


def _child_env(cache_dir, local_dir, token, etag_timeout) -> dict[str, str]:
    env = dict(os.environ)
    if token is False:
        env["HF_HUB_DISABLE_IMPLICIT_TOKEN"] = "1"
    if local_dir is not None and cache_dir is not None:
        # `--cache-dir` goes with the cache only; a local-dir run still reads the cache's ref.
        env["HF_HUB_CACHE"] = _resolved(cache_dir)
    if etag_timeout != DEFAULT_ETAG_TIMEOUT and not env.get("HF_HUB_ETAG_TIMEOUT"):
        env["HF_HUB_ETAG_TIMEOUT"] = str(etag_timeout)
    # Quiet mode turns progress off unless this variable says otherwise; the API shows it on
    # stderr as huggingface_hub does, unless the user disabled it.
    env.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "0")
    return env


def _patterns(patterns: Iterable[str] | str | None) -> list[str]:
    if patterns is None:
        return []
    if isinstance(patterns, str):
        return [patterns]
    return list(patterns)


def _result_path(stdout: str) -> str:
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise RuntimeError("hfdl succeeded but printed no path")
    return lines[-1]


def _normalized(path: str, *, is_file: bool) -> str:
    """The printed path with its folders resolved, as huggingface_hub returns it (its cache and
    local dir are resolved first); a file's own name stays, as it is a link into ``blobs/``."""
    if is_file:
        head, name = os.path.split(path)
        return os.path.join(os.path.realpath(head), name)
    return os.path.realpath(path)


def _repo_folder(repo_id: str, repo_type: str | None) -> str:
    return f"{repo_type or 'model'}s--" + repo_id.replace("/", "--")


def _dry_run(args, env, repo_id, repo_type, local_dir, force, filename=None):
    positional = ["--", repo_id] + ([filename] if filename else [])
    args = [a for a in args if a != "--format=quiet"]
    out = _binary.run(["download", *args, "--dry-run", "--format=json", *positional], env)
    plan = json.loads(_result_path(out))
    commit = plan["commit"]
    if local_dir is not None:
        root = _resolved(local_dir)
    else:
        settings = json.loads(_result_path(_binary.run(["env", "--format=json"], env)))
        cache = next((a.split("=", 1)[1] for a in args if a.startswith("--cache-dir=")), None)
        cache = cache or _resolved(settings["hub_cache"])
        root = os.path.join(cache, _repo_folder(repo_id, repo_type), "snapshots", commit)
    return [
        DryRunFileInfo(
            commit_hash=commit,
            file_size=f["size"],
            filename=f["path"],
            local_path=os.path.join(root, f["path"]),
            is_cached=bool(f["present"]),
            will_download=force or not f["present"],
        )
        for f in plan["files"]
    ]

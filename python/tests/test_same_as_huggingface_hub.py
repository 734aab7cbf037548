"""The same calls through hfdl and through huggingface_hub 2.4 against the same fake Hub: equal
return values (relative to each one's cache or local dir) and identical trees left on disk."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import huggingface_hub
import pytest

import hfdl
from conftest import DATASET, TINY, local_tree, repo_tree

assert huggingface_hub.__version__ == "2.4.0", huggingface_hub.__version__


def both(tmp_path: Path, name: str, call):
    """Runs ``call(module, dest)`` with hfdl and with huggingface_hub, each with its own
    destination folder; returns the two results and folders."""
    out = {}
    for module in (hfdl, huggingface_hub):
        dest = tmp_path / f"{module.__name__}-{name}"
        out[module.__name__] = (call(module, dest), dest)
    return out["hfdl"], out["huggingface_hub"]


def relative(result, dest: Path):
    if isinstance(result, list):
        return [relative(r, dest) for r in result]
    assert isinstance(result, str), result
    assert result.startswith(str(dest.resolve())), (result, dest)
    return os.path.relpath(result, dest.resolve())


SNAPSHOTS = [
    {},
    {"revision": "v1"},
    {"revision": "main", "allow_patterns": "*.json"},
    {"allow_patterns": ["sub/"], "ignore_patterns": "*.bin"},
    {"ignore_patterns": ["*.bin", "*.txt"]},
    {"max_workers": 2},
]


@pytest.mark.parametrize("kwargs", SNAPSHOTS, ids=repr)
def test_snapshot_into_the_cache(hub, tmp_path, kwargs):
    (ours, ours_dir), (theirs, their_dir) = both(
        tmp_path, "cache", lambda m, d: m.snapshot_download(TINY, cache_dir=d, **kwargs)
    )
    assert relative(ours, ours_dir) == relative(theirs, their_dir)
    revision = kwargs.get("revision", "main")
    assert ours.endswith("snapshots/" + hub.commit(TINY, revision))
    assert repo_tree(ours_dir) == repo_tree(their_dir)


@pytest.mark.parametrize("kwargs", SNAPSHOTS[:4], ids=repr)
def test_snapshot_into_a_local_dir(hub, tmp_path, kwargs):
    (ours, ours_dir), (theirs, their_dir) = both(
        tmp_path, "local", lambda m, d: m.snapshot_download(TINY, local_dir=d, **kwargs)
    )
    assert ours == str(ours_dir.resolve()) and theirs == str(their_dir.resolve())
    assert local_tree(ours_dir) == local_tree(their_dir)


def test_a_dataset(hub, tmp_path):
    (ours, ours_dir), (theirs, their_dir) = both(
        tmp_path,
        "data",
        lambda m, d: m.snapshot_download(DATASET, repo_type="dataset", cache_dir=d),
    )
    assert relative(ours, ours_dir) == relative(theirs, their_dir)
    assert "datasets--org--data" in ours
    assert repo_tree(ours_dir) == repo_tree(their_dir)


FILES = [
    ("config.json", {}),
    ("model.bin", {"revision": "v1"}),
    ("a.txt", {"subfolder": "sub"}),
    ("sub/a.txt", {}),
]


@pytest.mark.parametrize("filename,kwargs", FILES, ids=repr)
@pytest.mark.parametrize("where", ["cache_dir", "local_dir"])
def test_one_file(hub, tmp_path, filename, kwargs, where):
    (ours, ours_dir), (theirs, their_dir) = both(
        tmp_path,
        where,
        lambda m, d: m.hf_hub_download(TINY, filename, **{where: d}, **kwargs),
    )
    assert relative(ours, ours_dir) == relative(theirs, their_dir)
    assert Path(ours).read_bytes() == Path(theirs).read_bytes()
    if where == "cache_dir":
        assert repo_tree(ours_dir) == repo_tree(their_dir)
    else:
        assert local_tree(ours_dir) == local_tree(their_dir)


def test_a_second_call_answers_from_the_cache(hub, tmp_path):
    first = hfdl.snapshot_download(TINY, cache_dir=tmp_path)
    # The fake Hub still answers; what matters is that the result and the tree do not move.
    before = repo_tree(tmp_path)
    assert hfdl.snapshot_download(TINY, cache_dir=tmp_path) == first
    assert hfdl.snapshot_download(TINY, cache_dir=tmp_path, force_download=True) == first
    assert repo_tree(tmp_path) == before
    # And huggingface_hub, offline, finds hfdl's copy complete.
    assert huggingface_hub.snapshot_download(TINY, cache_dir=tmp_path, local_files_only=True) == first


def test_dry_run(hub, tmp_path):
    for cached in (False, True):
        if cached:
            hfdl.snapshot_download(TINY, cache_dir=tmp_path / "c", allow_patterns="*.json")
            huggingface_hub.snapshot_download(TINY, cache_dir=tmp_path / "c", allow_patterns="*.json")
        ours = hfdl.snapshot_download(TINY, cache_dir=tmp_path / "c", dry_run=True)
        theirs = huggingface_hub.snapshot_download(TINY, cache_dir=tmp_path / "c", dry_run=True)
        key = lambda i: i.filename  # noqa: E731
        assert sorted(ours, key=key) == sorted(theirs, key=key)
        one = hfdl.hf_hub_download(TINY, "config.json", cache_dir=tmp_path / "c", dry_run=True)
        assert one == huggingface_hub.hf_hub_download(
            TINY, "config.json", cache_dir=tmp_path / "c", dry_run=True
        )
    assert not any(i.will_download for i in ours if i.filename.endswith(".json"))
    assert any(i.will_download for i in ours)


def test_the_seed_snippet(hub, tmp_path):
    """The seed's script, with only the import changed: it warns (FutureWarning) and leaves
    what huggingface_hub 2.4 leaves for it (which warns UserWarning)."""
    from hfdl import snapshot_download

    target = tmp_path / "seed"
    with pytest.warns(FutureWarning, match="local_dir_use_symlinks"):
        model_dir = snapshot_download(
            repo_id=TINY, local_dir=str(target), local_dir_use_symlinks=False
        )
    assert model_dir == str(target.resolve())
    with pytest.warns(FutureWarning, match="resume_download"):
        again = snapshot_download(repo_id=TINY, local_dir=str(target), resume_download=True)
    assert again == model_dir
    with pytest.warns(UserWarning, match="local_dir_use_symlinks"):
        theirs = huggingface_hub.snapshot_download(
            repo_id=TINY, local_dir=str(tmp_path / "judge"), local_dir_use_symlinks=False
        )
    assert os.path.relpath(model_dir, tmp_path) == "seed"
    assert os.path.relpath(theirs, tmp_path) == "judge"
    assert local_tree(model_dir) == local_tree(theirs)
    with pytest.raises(TypeError, match="no_such_keyword"):
        snapshot_download(repo_id=TINY, no_such_keyword=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        snapshot_download(repo_id=TINY, local_dir=str(target))  # no warning without them
        snapshot_download(repo_id=TINY, local_dir=str(target), resume_download=None)


def test_same_keywords_and_defaults():
    import inspect

    for name in ("snapshot_download", "hf_hub_download"):
        ours = inspect.signature(getattr(hfdl, name)).parameters
        theirs = inspect.signature(getattr(huggingface_hub, name)).parameters
        for key, param in theirs.items():
            assert key in ours, f"{name}: {key} missing"
            assert ours[key].kind == param.kind, f"{name}: {key}"
            assert ours[key].default == param.default, f"{name}: {key} default"

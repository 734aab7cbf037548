#!/usr/bin/env python3
"""Generate one benchmark repository for bench/run.sh (stdlib only).

Usage: gen_repo.py SCENARIO OUT_DIR [--quick]

Layout written under OUT_DIR:
  files/<path>      content of every regular (non-LFS) git file, as the Hub serves it from /resolve
  blobs/<sha256>    content of every LFS file, as the CDN serves it (nginx root points here)
  manifest.json     repo id, commit, and per file: path, size, git blob sha1, sha256 (LFS), pointer info

The repository is reused when OUT_DIR/manifest.json already matches the requested spec, so
repeated bench runs do not regenerate gigabytes of random data.
"""
import hashlib
import json
import os
import random
import shutil
import sys

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

GITATTRIBUTES = (
    b"*.bin filter=lfs diff=lfs merge=lfs -text\n"
    b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
    b"*.pt filter=lfs diff=lfs merge=lfs -text\n"
)


def spec_for(scenario, quick):
    """Return the list of (path, size, is_lfs) for a scenario. Sizes are deterministic."""
    rnd = random.Random(f"hfdl-bench-{scenario}")
    if scenario == "throttled":
        big = 64 * MiB if quick else 1 * GiB
        files = [("model.safetensors", big, True), (".gitattributes", len(GITATTRIBUTES), False)]
        names = ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json", "README.md", "vocab.txt", "merges.txt"]
        names += [f"extra/notes_{i:02d}.txt" for i in range(20 - 1 - len(names))]
        for n in names:
            files.append((n, rnd.randint(1 * KiB, 64 * KiB), False))
        return files  # 1 LFS + 20 regular files
    if scenario == "fast":
        big = 128 * MiB if quick else 2 * GiB
        return [("model.safetensors", big, True)]
    if scenario == "honest":
        big = 64 * MiB if quick else 384 * MiB
        return [("model.safetensors", big, True)]
    if scenario == "small":
        n = int(os.environ.get("BENCH_SMALL_FILES") or (200 if quick else 2000))
        # 100 files per folder, like sharded datasets; directories also show up in /tree
        return [(f"data/{i // 100:02d}/part-{i:05d}.bin", rnd.randint(1 * KiB, 16 * KiB), False)
                for i in range(n)]
    raise SystemExit(f"unknown scenario {scenario!r}")


def git_blob_sha1(data):
    h = hashlib.sha1()
    h.update(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def lfs_pointer(sha256, size):
    return (f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n").encode()


def write_random(path, size):
    """Write `size` random bytes to path and return the sha256 hex digest."""
    h = hashlib.sha256()
    chunk = 4 * MiB
    left = size
    with open(path, "wb") as f:
        while left:
            n = min(chunk, left)
            b = os.urandom(n)
            h.update(b)
            f.write(b)
            left -= n
    return h.hexdigest()


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    quick = "--quick" in sys.argv[1:]
    if len(args) != 2:
        raise SystemExit(__doc__)
    scenario, out = args
    files = spec_for(scenario, quick)
    spec = {"scenario": scenario, "quick": quick, "files": [[p, s, lfs] for p, s, lfs in files]}
    man_path = os.path.join(out, "manifest.json")
    if os.path.exists(man_path):
        try:
            with open(man_path) as f:
                old = json.load(f)
            if old.get("spec") == spec:
                print(f"repo {out}: up to date ({len(files)} files)")
                return
        except (OSError, ValueError):
            pass
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(os.path.join(out, "blobs"))
    os.makedirs(os.path.join(out, "files"))
    entries = []
    for path, size, is_lfs in files:
        if is_lfs:
            tmp = os.path.join(out, "blobs", ".tmp")
            sha256 = write_random(tmp, size)
            os.replace(tmp, os.path.join(out, "blobs", sha256))
            ptr = lfs_pointer(sha256, size)
            entries.append({"path": path, "size": size, "lfs": True, "sha256": sha256,
                            "oid": git_blob_sha1(ptr), "pointer_size": len(ptr)})
        else:
            data = GITATTRIBUTES if path == ".gitattributes" else os.urandom(size)
            dst = os.path.join(out, "files", path)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            with open(dst, "wb") as f:
                f.write(data)
            entries.append({"path": path, "size": size, "lfs": False, "oid": git_blob_sha1(data)})
    entries.sort(key=lambda e: e["path"])
    # a stable fake commit id derived from the content
    commit = hashlib.sha1("\n".join(f"{e['path']} {e['oid']}" for e in entries).encode()).hexdigest()
    manifest = {
        "repo_id": f"test/{scenario}",
        "commit": commit,
        "total_bytes": sum(e["size"] for e in entries),
        "files": entries,
        "spec": spec,
    }
    tmp = man_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=1)
    os.replace(tmp, man_path)
    print(f"repo {out}: generated {len(entries)} files, {manifest['total_bytes']} bytes, commit {commit}")


if __name__ == "__main__":
    main()

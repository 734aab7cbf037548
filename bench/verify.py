#!/usr/bin/env python3
"""Check a tool's download against a bench manifest (stdlib only).

Usage:
  verify.py MANIFEST OUT_DIR                 every file of the repo must be at OUT_DIR/<path>
  verify.py MANIFEST OUT_FILE --only PATH    OUT_FILE must equal the repo file PATH

LFS files are checked by SHA-256, regular files by size and git blob SHA-1. Extra files (for example the
.cache/huggingface/ metadata that `hf download --local-dir` leaves) are ignored. Prints one line starting with
"OK" or "FAIL" and exits 0 / 1.
"""
import hashlib
import json
import os
import sys


def digest(path, e):
    if e["lfs"]:
        h = hashlib.sha256()
    else:
        h = hashlib.sha1()
        h.update(b"blob %d\0" % e["size"])
    with open(path, "rb") as f:
        while True:
            b = f.read(8 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest() == (e["sha256"] if e["lfs"] else e["oid"])


def main():
    argv = sys.argv[1:]
    only = None
    if "--only" in argv:
        i = argv.index("--only")
        only = argv[i + 1]
        del argv[i:i + 2]
    if len(argv) != 2:
        raise SystemExit(__doc__)
    with open(argv[0]) as f:
        man = json.load(f)
    files = {e["path"]: e for e in man["files"]}
    if only is not None:
        checks = [(argv[1], files[only])]
    else:
        checks = [(os.path.join(argv[1], p), e) for p, e in files.items()]
    missing, badsize, badhash, nbytes = [], [], [], 0
    for path, e in checks:
        try:
            st = os.stat(path)
        except OSError:
            missing.append(e["path"])
            continue
        if st.st_size != e["size"]:
            badsize.append(e["path"])
        elif not digest(path, e):
            badhash.append(e["path"])
        else:
            nbytes += e["size"]
    if missing or badsize or badhash:
        parts = []
        for label, lst in (("missing", missing), ("wrong size", badsize), ("wrong hash", badhash)):
            if lst:
                parts.append(f"{len(lst)} {label} (e.g. {lst[0]})")
        print(f"FAIL: {', '.join(parts)} of {len(checks)} files")
        sys.exit(1)
    print(f"OK: {len(checks)} files, {nbytes} bytes verified")


if __name__ == "__main__":
    main()

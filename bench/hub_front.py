#!/usr/bin/env python3
"""Fake Hugging Face Hub front end for the hfdl benchmark (Python stdlib only, one thread per connection).

It serves ONE repository described by a manifest written by gen_repo.py:

  GET  /api/models/{repo}[/revision/{rev}]            repo info: id, sha, siblings
  GET  /api/models/{repo}/tree/{rev}[/{dir}]?recursive=true&expand=false[&limit=N]
                                                      listing, 1000 entries per page, `Link: <..>; rel="next"`
  HEAD|GET /{repo}/resolve/{rev}/{path}               LFS file: 302 to the nginx "CDN" with X-Linked-Etag,
                                                      X-Linked-Size, X-Repo-Commit, ETag (of the pointer).
                                                      Regular git file: 200 served from here with
                                                      ETag "<git blob sha1>", X-Repo-Commit, Content-Length,
                                                      Accept-Ranges (a single Range gives 206).
  GET  /_bench/stats                                  request counters (JSON), not delayed

This mirrors huggingface.co: regular (non-LFS) files are answered by the resolve URL itself, LFS files are
redirected to a CDN that only serves bytes. --latency-ms adds a fixed delay before every answer (except /_bench/),
modelling the Hub's per-request round trip and server time.

The HTTP/1.1 layer is a small keep-alive loop instead of http.server: http.server's header parsing made the
front end itself the bottleneck (~500 requests/s on one core), which would have capped every client in the
many-small-files scenario. Regular files are held in memory, and every answer goes out in one send.

Usage: hub_front.py --port P --manifest M --repo-dir D --cdn-base URL [--latency-ms MS] [--bind ADDR]
"""
import argparse
import base64
import hashlib
import json
import os
import socket
import socketserver
import threading
import time
import urllib.parse

REASONS = {200: "OK", 206: "Partial Content", 302: "Found", 400: "Bad Request", 401: "Unauthorized",
           404: "Not Found", 405: "Method Not Allowed", 416: "Range Not Satisfiable"}


class Repo:
    def __init__(self, manifest_path, repo_dir, cdn_base):
        with open(manifest_path) as f:
            m = json.load(f)
        self.repo_id = m["repo_id"]
        self.ns, self.name = self.repo_id.split("/")
        self.commit = m["commit"]
        self.files = {e["path"]: e for e in m["files"]}
        self.cdn_base = cdn_base.rstrip("/")
        # regular files are small: keep their bytes in memory
        self.data = {}
        for p, e in self.files.items():
            if not e["lfs"]:
                with open(os.path.join(repo_dir, "files", p), "rb") as f:
                    self.data[p] = f.read()
        dirs = set()
        for p in self.files:
            parts = p.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                dirs.add("/".join(parts[:i]))
        entries = [{"type": "directory", "oid": hashlib.sha1(d.encode()).hexdigest(), "size": 0, "path": d}
                   for d in dirs]
        for p, e in self.files.items():
            ent = {"type": "file", "oid": e["oid"], "size": e["size"], "path": p}
            if e["lfs"]:
                ent["lfs"] = {"oid": e["sha256"], "size": e["size"], "pointerSize": e["pointer_size"]}
            entries.append(ent)
        entries.sort(key=lambda x: x["path"])
        self.tree = entries
        self.info = json.dumps({
            "_id": "0" * 24, "id": self.repo_id, "modelId": self.repo_id, "author": self.ns,
            "sha": self.commit, "lastModified": "2026-01-01T00:00:00.000Z", "createdAt": "2026-01-01T00:00:00.000Z",
            "private": False, "disabled": False, "gated": False, "downloads": 0, "likes": 0, "tags": [],
            "library_name": None, "siblings": [{"rfilename": p} for p in sorted(self.files)],
        }).encode()

    def known_rev(self, rev):
        return rev in ("main", self.commit)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.c = {}

    def add(self, key):
        with self.lock:
            self.c[key] = self.c.get(key, 0) + 1

    def snapshot(self):
        with self.lock:
            d = dict(self.c)
        d["total"] = sum(d.values())
        return d


JSON = "application/json; charset=utf-8"
BIN = "application/octet-stream"


class Handler(socketserver.BaseRequestHandler):
    """One connection: read requests until EOF or `Connection: close`, answer each with a single send."""

    def handle(self):
        sock = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        rfile = sock.makefile("rb", buffering=65536)
        try:
            while True:
                line = rfile.readline(65537)
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    continue  # tolerate stray CRLF between requests
                try:
                    method, target, version = line.decode("latin-1").split()
                except ValueError:
                    self.send(400, b"", {}, JSON, close=True, head=False)
                    return
                headers = {}
                while True:
                    h = rfile.readline(65537)
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = h.decode("latin-1").partition(":")
                    headers[k.strip().lower()] = v.strip()
                n = int(headers.get("content-length") or 0)
                if n:
                    rfile.read(n)
                conn = headers.get("connection", "").lower()
                close = conn == "close" or (version == "HTTP/1.0" and conn != "keep-alive")
                self.method, self.target, self.headers, self.close = method, target, headers, close
                self.route()
                if self.close:
                    return
        except (ConnectionError, OSError):
            return
        finally:
            rfile.close()

    def send(self, status, body, headers, ctype, close=None, head=None, length=None):
        if close is None:
            close = self.close
        if head is None:
            head = self.method == "HEAD"
        parts = [f"HTTP/1.1 {status} {REASONS.get(status, 'OK')}\r\nServer: fake-hub/1.0\r\n"
                 f"Content-Type: {ctype}\r\nContent-Length: {len(body) if length is None else length}\r\n"]
        for k, v in headers.items():
            parts.append(f"{k}: {v}\r\n")
        if close:
            parts.append("Connection: close\r\n")
        parts.append("\r\n")
        out = "".join(parts).encode("latin-1")
        self.request.sendall(out if head else out + body)

    def error(self, status, code, msg, commit=None):
        h = {"X-Error-Code": code, "X-Error-Message": msg}
        if commit:
            h["X-Repo-Commit"] = commit
        self.send(status, json.dumps({"error": msg}).encode(), h, JSON)

    # ---- dispatch ------------------------------------------------------------------------------------
    def route(self):
        srv = self.server
        raw_path, _, query = self.target.partition("?")
        if raw_path == "/_bench/stats":
            return self.send(200, json.dumps(srv.stats.snapshot()).encode(), {}, JSON)
        if srv.latency > 0:
            time.sleep(srv.latency)
        if self.method not in ("GET", "HEAD"):
            srv.stats.add("other_405")
            return self.error(405, "MethodNotAllowed", "Method not allowed")
        seg = [urllib.parse.unquote(s) for s in raw_path.split("/")[1:]]
        repo = srv.repo
        if len(seg) >= 3 and seg[0] == "api" and seg[1] == "models":
            if seg[2:4] != [repo.ns, repo.name]:
                srv.stats.add("api_404")
                return self.error(401, "RepositoryNotFound", "Repository not found")
            rest = seg[4:]
            if not rest or (rest[0] == "revision" and len(rest) == 2):
                rev = rest[1] if rest else "main"
                srv.stats.add("api_info")
                if not repo.known_rev(rev):
                    return self.error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
                return self.send(200, repo.info, {}, JSON)
            if rest[0] == "tree" and len(rest) >= 2:
                srv.stats.add("api_tree")
                return self.tree(rest[1], "/".join(rest[2:]).strip("/"), urllib.parse.parse_qs(query))
            srv.stats.add("api_404")
            return self.error(404, "NotFound", "Not found")
        if len(seg) >= 5 and seg[2] == "resolve":
            if seg[0:2] != [repo.ns, repo.name]:
                srv.stats.add("resolve_404")
                return self.error(401, "RepositoryNotFound", "Repository not found")
            return self.resolve(seg[3], "/".join(seg[4:]))
        srv.stats.add("other_404")
        return self.error(404, "NotFound", "Not found")

    # ---- routes --------------------------------------------------------------------------------------
    def tree(self, rev, sub, q):
        repo = self.server.repo
        if not repo.known_rev(rev):
            return self.error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        recursive = q.get("recursive", ["false"])[0].lower() in ("1", "true")
        prefix = sub + "/" if sub else ""
        if sub and not any(e["path"].startswith(prefix) for e in repo.tree):
            return self.error(404, "EntryNotFound", f"{sub} does not exist on \"{rev}\"", repo.commit)
        sel = [e for e in repo.tree if e["path"].startswith(prefix)
               and (recursive or "/" not in e["path"][len(prefix):])]
        try:
            limit = max(1, min(int(q.get("limit", ["1000"])[0]), 1000))
        except ValueError:
            limit = 1000
        start = 0
        if "cursor" in q:
            try:
                start = int(base64.urlsafe_b64decode(q["cursor"][0].encode()).decode())
            except (ValueError, UnicodeDecodeError):
                return self.error(400, "BadRequest", "invalid cursor")
        page = sel[start:start + limit]
        headers = {}
        if start + limit < len(sel):
            nq = {k: v[0] for k, v in q.items()}
            nq["cursor"] = base64.urlsafe_b64encode(str(start + limit).encode()).decode()
            host = self.headers.get("host", f"127.0.0.1:{self.server.server_address[1]}")
            path = self.target.partition("?")[0]
            headers["Link"] = f'<http://{host}{path}?{urllib.parse.urlencode(nq)}>; rel="next"'
        self.send(200, json.dumps(page).encode(), headers, JSON)

    def resolve(self, rev, path):
        repo, stats = self.server.repo, self.server.stats
        if not repo.known_rev(rev):
            stats.add("resolve_404")
            return self.error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        e = repo.files.get(path)
        if e is None:
            stats.add("resolve_404")
            return self.error(404, "EntryNotFound", f"Entry not found: {path}", repo.commit)
        common = {"X-Repo-Commit": repo.commit, "Vary": "Origin, Accept"}
        if e["lfs"]:
            stats.add(f"{self.method.lower()}_lfs_302")
            expires = int(time.time()) + 3600
            sig = base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")
            loc = f"{repo.cdn_base}/{e['sha256']}?Expires={expires}&Signature={sig}&Key-Pair-Id=BENCH"
            common.update({"Location": loc, "X-Linked-Etag": f'"{e["sha256"]}"',
                           "X-Linked-Size": str(e["size"]), "ETag": f'"{e["oid"]}"'})
            return self.send(302, f"Found. Redirecting to {loc}".encode(), common, "text/plain; charset=utf-8")
        stats.add(f"{self.method.lower()}_file")
        data = repo.data[path]
        size = len(data)
        common.update({"ETag": f'"{e["oid"]}"', "Accept-Ranges": "bytes"})
        rng = self.headers.get("range")
        if rng and rng.startswith("bytes=") and "," not in rng:
            a, _, b = rng[6:].strip().partition("-")
            try:
                if a == "":
                    start, end = max(0, size - int(b)), size - 1
                else:
                    start = int(a)
                    end = min(int(b), size - 1) if b else size - 1
            except ValueError:
                return self.send(200, data, common, BIN)  # unparsable Range: ignore it, like most servers
            if start >= size or start > end:
                common["Content-Range"] = f"bytes */{size}"
                return self.send(416, b"", common, BIN)
            common["Content-Range"] = f"bytes {start}-{end}/{size}"
            return self.send(206, data[start:end + 1], common, BIN)
        self.send(200, data, common, BIN)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # the default (5) drops SYNs when clients open many connections at once


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--repo-dir", required=True, help="folder with files/ (regular git files)")
    ap.add_argument("--cdn-base", required=True, help="URL prefix under which the CDN serves <sha256>")
    ap.add_argument("--latency-ms", type=float, default=0.0)
    a = ap.parse_args()
    srv = Server((a.bind, a.port), Handler)
    srv.repo = Repo(a.manifest, a.repo_dir, a.cdn_base)
    srv.stats = Stats()
    srv.latency = a.latency_ms / 1000.0
    print(f"fake hub for {srv.repo.repo_id} on http://{a.bind}:{a.port} (latency {a.latency_ms} ms)", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

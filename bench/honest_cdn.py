#!/usr/bin/env python3
"""An "honest" throttled CDN for the hfdl benchmark (Python stdlib only, one thread per connection).

It serves the same URLs as the nginx CDN of bench/run.sh, `/<repo>/blobs/<sha256>` under --root (the query string,
a fake signature, is ignored), with `Range` (one range: 206 + `Content-Range`; unsatisfiable: 416), `Content-Length`,
`ETag: "<sha256>"`, `Accept-Ranges: bytes` and HTTP/1.1 keep-alive. It differs from nginx's `limit_rate` in the two
limits that real mirrors and CDNs apply:

* **Bandwidth per TCP connection, over the connection's whole life.** Each connection has one token bucket that
  fills at --rate bytes/s up to --burst bytes and starts full. Every body byte sent on the connection, in any
  request, takes a token; there is no fresh allowance per request (nginx's `limit_rate` restarts its count with
  every request, so many short ranges on one connection go faster than the rate). Bytes sent on a connection up
  to time t are at most burst + rate * t. Bodies go out with os.sendfile in pieces of at most --piece bytes, each
  sent once the bucket holds enough tokens (sleeping until it does).
* **Requests at once.** At most --max-in-flight data requests (GET/HEAD of a blob) are served at the same time,
  over all connections; one more is answered `429 Too Many Requests` with `Retry-After: 1` at once (the
  connection stays open). A request is in flight from the end of its headers until its last piece of body is
  handed to the kernel, or until the client closes its connection. That window lies inside the client's own
  (from sending the request to receiving the last byte), so a client that never has more than 16 requests open
  is never refused: the release happens before the last piece is sent (the client cannot see the end of a
  response before it), and before refusing, the connections of the requests in flight are polled for a close
  or reset the serving thread has not noticed yet (an abandoned response is out of the client's count at once).

Control endpoints (not throttled, not counted):

  GET /_bench/stats            counters since the last reset (JSON): connections, data requests, statuses, 429s,
                               429s more than 1 s after the first, body bytes, peak in flight, peak demand (requests that wanted
                               to be in flight at once, including the refused one), range sizes
  GET /_bench/reset?label=X    zero the counters; also writes "# reset X" into the request log

--log FILE writes one line per data request:
  <arrival unix time> <duration s> c<connection> <method> <status> <range or -> <body bytes> <in flight at arrival>

Usage: honest_cdn.py --port P --root DIR [--rate BYTES_PER_S] [--burst BYTES] [--max-in-flight N] [--log FILE]
"""
import argparse
import json
import os
import re
import select
import socket
import socketserver
import sys
import threading
import time
import urllib.parse

REASONS = {200: "OK", 206: "Partial Content", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
           416: "Range Not Satisfiable", 429: "Too Many Requests"}
BLOB = re.compile(r"^/([^/]+)/blobs/([0-9a-f]{64})$")
MiB = 1 << 20
GONE = select.POLLRDHUP | select.POLLHUP | select.POLLERR  # the client closed or reset the connection


class Stats:
    """Counters since the last reset, and the gauge of data requests in flight (which a reset keeps)."""

    def __init__(self, limit, log):
        self.lock = threading.Lock()
        self.limit = limit
        self.log = log
        self.active = {}  # socket fd -> connection number, for every data request in flight
        self.next_conn = 0
        self.reset("start")

    def reset(self, label):
        with self.lock:
            self.connections = 0            # connections accepted
            self.data_connections = set()   # connections that asked for a blob
            self.requests = 0               # data requests (GET/HEAD of a blob)
            self.status = {}
            self.refused = 0                # 429s
            self.first_refused_at = None
            self.refused_late = 0           # 429s more than 1 s (one Retry-After) after the first
            self.bytes = 0
            self.peak_in_flight = len(self.active)
            self.peak_demand = len(self.active)
            self.range_sizes = []
            if self.log:
                self.log.write(f"# reset {label} {time.time():.6f}\n")
                self.log.flush()

    def new_connection(self):
        with self.lock:
            self.connections += 1
            self.next_conn += 1
            return self.next_conn

    def _reap(self):
        """Drop requests whose client closed or reset the connection (their thread may not have noticed yet)."""
        p = select.poll()
        for fd in self.active:
            p.register(fd, GONE)
        for fd, _ in p.poll(0):
            self.active.pop(fd, None)

    def admit(self, conn, fd):
        """A data request arrived on socket fd: True if it may be served (then call release(fd)), False for a 429."""
        with self.lock:
            self.requests += 1
            self.data_connections.add(conn)
            if len(self.active) >= self.limit:
                self._reap()
            at = len(self.active)
            self.peak_demand = max(self.peak_demand, at + 1)
            if at >= self.limit:
                self.refused += 1
                now = time.monotonic()
                if self.first_refused_at is None:
                    self.first_refused_at = now
                elif now - self.first_refused_at > 1.0:
                    self.refused_late += 1
                return False, at
            self.active[fd] = conn
            self.peak_in_flight = max(self.peak_in_flight, len(self.active))
            return True, at

    def release(self, fd):
        """The request on socket fd is no longer in flight (idempotent)."""
        with self.lock:
            self.active.pop(fd, None)

    def record(self, t0, conn, method, status, rng, nbytes, at, range_size=None):
        with self.lock:
            self.status[str(status)] = self.status.get(str(status), 0) + 1
            self.bytes += nbytes
            if range_size is not None:
                self.range_sizes.append(range_size)
            if self.log:
                self.log.write(f"{t0:.6f} {time.time() - t0:.3f} c{conn} {method} {status} {rng or '-'} "
                               f"{nbytes} {at}\n")

    def snapshot(self):
        with self.lock:
            rs = sorted(self.range_sizes)
            if self.log:
                self.log.flush()
            return {
                "connections": self.connections, "data_connections": len(self.data_connections),
                "requests": self.requests, "status": dict(self.status), "refused_429": self.refused,
                "refused_429_late": self.refused_late, "bytes": self.bytes,
                "peak_in_flight": self.peak_in_flight, "peak_demand": self.peak_demand,
                "in_flight_now": len(self.active), "limit_in_flight": self.limit,
                "ranges": {"count": len(rs), "min": rs[0] if rs else None, "median": rs[len(rs) // 2] if rs else None,
                           "max": rs[-1] if rs else None},
            }


class Bucket:
    """Token bucket of one connection: `rate` bytes/s, at most `burst` saved up, starts full."""

    def __init__(self, rate, burst):
        self.rate, self.burst = rate, burst
        self.tokens = float(burst)
        self.at = time.monotonic()

    def wait(self, n):
        """Seconds until n tokens (n <= burst) are there."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        return max(0.0, (n - self.tokens) / self.rate)

    def take(self, n):
        self.wait(0)
        self.tokens -= n


class Handler(socketserver.BaseRequestHandler):
    """One connection: read requests until EOF or `Connection: close`."""

    def handle(self):
        srv = self.server
        sock = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn = srv.stats.new_connection()
        self.bucket = Bucket(srv.rate, srv.burst)  # one per connection, for its whole life
        self.gone = select.poll()  # sleeps wake up when the client closes or resets the connection
        self.gone.register(sock.fileno(), GONE)
        rfile = sock.makefile("rb", buffering=65536)
        try:
            while True:
                line = rfile.readline(65537)
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    continue
                try:
                    method, target, version = line.decode("latin-1").split()
                except ValueError:
                    self.method, self.close = "GET", True
                    self.send_head(400, {"Content-Length": "0"})
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
                self.close = conn == "close" or (version == "HTTP/1.0" and conn != "keep-alive")
                self.method, self.target, self.headers = method, target, headers
                self.route()
                if self.close:
                    return
        except (ConnectionError, OSError):
            return
        finally:
            rfile.close()

    def send_head(self, status, headers):
        parts = [f"HTTP/1.1 {status} {REASONS.get(status, 'OK')}\r\nServer: honest-cdn/1.0\r\n"]
        for k, v in headers.items():
            parts.append(f"{k}: {v}\r\n")
        if self.close:
            parts.append("Connection: close\r\n")
        parts.append("\r\n")
        self.request.sendall("".join(parts).encode("latin-1"))

    def small(self, status, body, headers=None):
        h = {"Content-Type": "text/plain; charset=utf-8", "Content-Length": str(len(body))}
        h.update(headers or {})
        self.send_head(status, h)
        if self.method != "HEAD":
            self.request.sendall(body)

    def route(self):
        srv = self.server
        path, _, query = self.target.partition("?")
        if path == "/_bench/stats":
            return self.small(200, json.dumps(srv.stats.snapshot()).encode(), {"Content-Type": "application/json"})
        if path == "/_bench/reset":
            label = urllib.parse.parse_qs(query).get("label", ["-"])[0]
            srv.stats.reset(label.replace(" ", "_"))
            return self.small(200, b"reset\n")
        m = BLOB.match(path)
        if not m:
            return self.small(404, b"not found\n")
        if self.method not in ("GET", "HEAD"):
            return self.small(405, b"method not allowed\n", {"Allow": "GET, HEAD"})
        t0 = time.time()
        fd = self.request.fileno()
        ok, at = srv.stats.admit(self.conn, fd)
        if not ok:
            self.small(429, b"too many requests at once\n", {"Retry-After": "1"})
            srv.stats.record(t0, self.conn, self.method, 429, self.headers.get("range"), 0, at)
            return
        status, sent, rsize = 500, 0, None
        try:
            status, sent, rsize = self.blob(os.path.join(srv.root, m.group(1), "blobs", m.group(2)), m.group(2))
        finally:
            srv.stats.release(fd)
            srv.stats.record(t0, self.conn, self.method, status, self.headers.get("range"), sent, at, rsize)

    def blob(self, fpath, sha):
        """Serve one blob; returns (status, body bytes sent, range size or None)."""
        try:
            fd = os.open(fpath, os.O_RDONLY)
        except OSError:
            self.small(404, b"not found\n")
            return 404, 0, None
        try:
            size = os.fstat(fd).st_size
            headers = {"Content-Type": "application/octet-stream", "ETag": f'"{sha}"', "Accept-Ranges": "bytes"}
            start, end, status = 0, size - 1, 200
            rng = self.headers.get("range", "")
            if rng.startswith("bytes=") and "," not in rng:
                a, _, b = rng[6:].strip().partition("-")
                try:
                    if a == "":
                        start, end = max(0, size - int(b)), size - 1
                    else:
                        start, end = int(a), (min(int(b), size - 1) if b else size - 1)
                    status = 206
                except ValueError:
                    start, end, status = 0, size - 1, 200  # unparsable: ignore it, like nginx
                if status == 206 and (start >= size or start > end):
                    self.small(416, b"", {"Content-Range": f"bytes */{size}"})
                    return 416, 0, None
                if status == 206:
                    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            length = end - start + 1
            headers["Content-Length"] = str(length)
            self.send_head(status, headers)
            if self.method == "HEAD":
                return status, 0, None
            out, off, left, sent = self.request.fileno(), start, length, 0
            piece = self.server.piece
            try:
                while left:
                    n = min(piece, left)
                    w = self.bucket.wait(n)
                    if w > 0 and self.gone.poll(w * 1000):
                        raise ConnectionError("client went away")
                    self.bucket.take(n)
                    if n == left:
                        # the last piece: the client can have the whole answer from now on
                        self.server.stats.release(out)
                    while n:
                        k = os.sendfile(out, fd, off, n)
                        if k == 0:
                            raise ConnectionError("client went away")
                        off, n, left, sent = off + k, n - k, left - k, sent + k
            except OSError:  # ConnectionError included
                self.close = True
                return -status, sent, length  # negative: cut short by the client
            return status, sent, length
        finally:
            os.close(fd)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--root", required=True, help="folder with <repo>/blobs/<sha256> (nginx's root)")
    ap.add_argument("--rate", type=int, default=8 * MiB, help="bytes/s per connection (default 8 MiB/s)")
    ap.add_argument("--burst", type=int, default=256 * 1024, help="bucket size in bytes (default 256 KiB)")
    ap.add_argument("--piece", type=int, default=128 * 1024, help="bytes per sendfile, <= burst (default 128 KiB)")
    ap.add_argument("--max-in-flight", type=int, default=16, help="data requests at once before 429 (default 16)")
    ap.add_argument("--log", help="append one line per data request to this file")
    a = ap.parse_args()
    if not 0 < a.piece <= a.burst:
        ap.error("--piece must be between 1 and --burst")
    log = open(a.log, "a", buffering=1 << 16) if a.log else None
    sys.setswitchinterval(0.001)  # 16 sending threads: hand the GIL over quickly, keep the pacing smooth
    srv = Server((a.bind, a.port), Handler)
    srv.root, srv.rate, srv.burst, srv.piece = a.root, a.rate, a.burst, a.piece
    srv.stats = Stats(a.max_in_flight, log)
    print(f"honest CDN on http://{a.bind}:{a.port}: {a.rate} B/s per connection (burst {a.burst} B), "
          f"{a.max_in_flight} requests at once, root {a.root}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Watching a tracker: the console's `peers`, `files` and `stats`, and
`tt tracker --http`: GET /metrics (Prometheus text, read with Debian's
python3-prometheus-client), GET / (an HTML status page, peer-chosen text
escaped), and the server's refusals: 400 for garbage, 431 for an oversized
head, 413 for a body, 404, 405, a silent connection closed after the timeout;
idle connections, however many, do not shut out a correct request (the oldest
unanswered one is closed, of the same address first); a client that
half-closes after its request gets the whole answer; --http refused before
the tracker says it runs: a bad value (exit 2), a port in use (exit 1).
"""

import os
import re
import socket
import subprocess
import sys
import time
from html.parser import HTMLParser
from types import SimpleNamespace

from harness import HOST, SeedPeer, Tap, eq, require, start_sharer, start_tracker, tempdir, tt_path

tt = tt_path()
t = Tap()
c = SimpleNamespace()
FENCE = "Please enter a valid command!"
HOSTILE_ID = "<script>alert(1)</script>"
HOSTILE_NAME = "<b>bold&<i>.txt"


def load_parser():
    """prometheus_client's text parser: installed, or Debian's copy (a python3
    other than Debian's may not see it), or installed with apt when root."""
    for attempt in range(3):
        try:
            from prometheus_client.parser import text_string_to_metric_families
            return text_string_to_metric_families
        except ImportError:
            pass
        if attempt == 0 and "/usr/lib/python3/dist-packages" not in sys.path:
            sys.path.append("/usr/lib/python3/dist-packages")
        elif attempt == 1 and os.geteuid() == 0:
            subprocess.run(["apt-get", "install", "-y", "-qq", "python3-prometheus-client"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    return None


def http_raw(data, timeout=5.0, read_timeout=None, half_close=False, rcvbuf=None):
    """Sends raw bytes (then shuts its side down when half_close), reads until
    the server closes. rcvbuf: a small receive buffer makes the answer wait on
    the reader. Returns (status, headers dict, body bytes, whole answer bytes)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    try:
        s.connect((HOST, c.http_port))
        if data:
            s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
            time.sleep(0.5)
        s.settimeout(read_timeout or timeout)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        s.close()
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.1 (\d{3}) ", lines[0]) if lines and lines[0] else None
    status = int(m.group(1)) if m else None
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body, raw


def get(path):
    return http_raw(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())


def console(cmd):
    c.tracker.settle()
    c.tracker.skip_all()
    c.tracker.send(cmd)
    c.tracker.send("no-such-command")
    return c.tracker.read_until_line(FENCE)


class Tables(HTMLParser):
    """The rows (lists of cell texts) of each table, by the table's id."""

    def __init__(self):
        super().__init__()
        self.tables = {}
        self.table = None
        self.row = None
        self.cell = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.table = self.tables.setdefault(dict(attrs).get("id"), [])
        elif tag == "tr" and self.table is not None:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = ""
        elif tag == "script":
            self.tables.setdefault("<script>", []).append(True)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.row.append(self.cell)
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.table.append(self.row)
            self.row = None
        elif tag == "table":
            self.table = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


@t.test("tracker starts with --http 127.0.0.1:0 and prints where it serves", fatal=True)
def _():
    c.tracker = start_tracker(tt, extra=["--http", "127.0.0.1:0"])
    t.watch(c.tracker)
    m = c.tracker.expect(r"^HTTP status at http://127\.0\.0\.1:(\d+)/$")
    c.http_port = int(m.group(1))
    require(c.http_port > 0, "a port")


@t.setup("two peers share files")
def _():
    c.alice = start_sharer(tt, "alice", c.tracker.port, "a.txt", b"alpha\n" * 100)
    c.bob = start_sharer(tt, "bob", c.tracker.port, "b.txt", b"bravo\n" * 200)
    t.watch(c.alice, c.bob)


@t.test("console `peers` lists both, with address, port and file count")
def _():
    lines = console("peers")
    require(lines and lines[0].split()[:2] == ["id", "address"], f"header: {lines[:1]}")
    rows = {ln.split()[0]: ln.split() for ln in lines[1:]}
    eq(sorted(rows), ["alice", "bob"], "peer ids")
    eq(rows["alice"][1], HOST, "alice's address")
    eq(int(rows["alice"][2]), c.alice.port, "alice's TCP port")
    eq(int(rows["alice"][3]), 1, "alice's files")
    require(int(rows["bob"][4]) < 60, f"bob heard recently: {rows['bob']}")


@t.test("console `files` lists both names with size, holders, complete copies")
def _():
    lines = console("files")
    require(lines and lines[0].split()[:2] == ["name", "content"], f"header: {lines[:1]}")
    rows = {ln.split()[0]: ln.split() for ln in lines[1:]}
    eq(sorted(rows), ["a.txt", "b.txt"], "names")
    eq(rows["a.txt"][2], "600", "a.txt's size")
    eq(rows["b.txt"][2], "1200", "b.txt's size")
    require(re.fullmatch(r"[0-9a-f]{12}", rows["a.txt"][1]), f"content id prefix: {rows['a.txt']}")
    eq(rows["a.txt"][3:], ["1", "1", "0"], "a.txt's holders, complete, partial")


@t.test("console `stats` shows counts, requests by action and refusals")
def _():
    lines = console("stats")
    text = "\n".join(lines)
    require("peers: 2, files: 2, registrations: 2" in text, text)
    m = re.search(r"^requests join: [\d.]+/s over the last minute \((\d+)\), (\d+) in all$",
                  text, re.M)
    require(m and int(m.group(2)) >= 2, f"join requests: {text}")
    require(re.search(r"^refusals: malformed \d+,", text, re.M), text)
    require(re.search(r"^memory: [\d.]+ MiB resident", text, re.M), text)
    require(re.search(r"^uptime: \d+ s$", text, re.M), text)


@t.test("console `help` lists the new commands; the seed's still work")
def _():
    lines = console("help")
    text = "\n".join(lines)
    for cmd in ("logs request", "all-logs", "file_logs", "peers", "files", "stats", "exit"):
        require(cmd in text, f"{cmd} in help: {text}")
    c.tracker.send("all-logs")
    c.tracker.expect(r"Peer alice shared file: a\.txt, status: success")


@t.test("GET /metrics parses as Prometheus text and matches what happened")
def _():
    parse = load_parser()
    if parse is None:
        t.skip("metrics parsed", "python3-prometheus-client cannot be imported or installed")
        return
    # A refused request, to be counted by reason.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    s.sendto(b'{"action":"share_file","peer_id":"nobody","file":"x"}', (HOST, c.tracker.port))
    s.recvfrom(2048)
    s.close()
    status, headers, body, _ = get("/metrics")
    eq(status, 200, "status")
    require(headers.get("content-type", "").startswith("text/plain; version=0.0.4"),
            f"content type {headers}")
    eq(headers.get("connection"), "close", "Connection header")
    samples = {}
    families = {}
    for fam in parse(body.decode()):
        families[fam.name] = fam
        for smp in fam.samples:
            samples[(smp.name, tuple(sorted(smp.labels.items())))] = smp.value
    require(samples[("tt_requests_total", (("action", "join"),))] >= 2, "joins counted")
    require(samples[("tt_requests_total", (("action", "share_file"),))] >= 3, "shares counted")
    eq(samples[("tt_refusals_total", (("reason", "not_found"),))], 1, "not_found refusals")
    eq(samples[("tt_peers", ())], 2, "tt_peers")
    eq(samples[("tt_files", ())], 2, "tt_files")
    eq(samples[("tt_registrations", ())], 2, "tt_registrations")
    require(samples[("tt_resident_memory_bytes", ())] > 1 << 20, "resident memory")
    require(samples[("tt_uptime_seconds", ())] >= 0, "uptime")
    eq(families["tt_requests"].type, "counter", "tt_requests_total's type")
    eq(families["tt_peers"].type, "gauge", "tt_peers' type")


@t.test("GET / is an HTML page whose tables list the files and peers")
def _():
    status, headers, body, _ = get("/")
    eq(status, 200, "status")
    require(headers.get("content-type", "").startswith("text/html"), f"content type {headers}")
    p = Tables()
    p.feed(body.decode())
    require(body.startswith(b"<!DOCTYPE html>"), "HTML5 doctype")
    peers = p.tables.get("peers", [])
    files = p.tables.get("files", [])
    eq(sorted(r[0] for r in peers[1:]), ["alice", "bob"], "peer rows")
    eq(sorted(r[0] for r in files[1:]), ["a.txt", "b.txt"], "file rows")


@t.test("a hostile peer id and file name appear escaped on the page")
def _():
    c.hostile = SeedPeer(c.tracker.port, HOSTILE_ID)
    c.hostile.join([HOSTILE_NAME])
    status, _, body, _ = get("/")
    eq(status, 200, "status")
    require(b"<script>" not in body and b"<b>" not in body, "raw markup on the page")
    p = Tables()
    p.feed(body.decode())
    require("<script>" not in p.tables, "a script element")
    ids = [r[0] for r in p.tables.get("peers", [])[1:]]
    names = [r[0] for r in p.tables.get("files", [])[1:]]
    require(HOSTILE_ID in ids, f"the id, unescaped by the parser: {ids}")
    require(HOSTILE_NAME in names, f"the name, unescaped by the parser: {names}")


@t.test("404 for an unknown path, 405 for another method")
def _():
    status, _, _, _ = get("/nothing-here")
    eq(status, 404, "unknown path")
    status, headers, _, _ = http_raw(b"POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    eq(status, 405, "POST")
    eq(headers.get("allow"), "GET", "Allow header")
    status, _, _, _ = http_raw(b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n")
    eq(status, 405, "DELETE")


@t.test("garbage gets 400 and the connection closed")
def _():
    status, headers, _, raw = http_raw(b"\x16\x03\x01 this is not http\r\n\r\n")
    eq(status, 400, f"status of {raw[:80]!r}")
    eq(headers.get("connection"), "close", "Connection header")


@t.test("a head over 8 KiB gets 431; a body gets 413")
def _():
    big = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10000 + b"\r\n\r\n"
    status, _, _, _ = http_raw(big)
    eq(status, 431, "oversized header")
    long_url = b"GET /" + b"b" * 9000 + b" HTTP/1.1\r\n\r\n"
    status, _, _, _ = http_raw(long_url)
    eq(status, 431, "oversized request line")
    status, _, _, _ = http_raw(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
    eq(status, 413, "a body")


@t.test("a connection that sends nothing is closed after the timeout (3 s)")
def _():
    start = time.monotonic()
    _, _, _, raw = http_raw(b"", read_timeout=30)
    eq(raw, b"", "nothing answered")
    require(time.monotonic() - start < 30, "closed by the server")


def idle_conn(src=HOST):
    """A connection from src (any 127.x address is this machine) that sends the
    start of a request and never its end."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(5)
    s.connect((HOST, c.http_port))
    s.sendall(b"GET / HTTP/1.1\r\n")
    return s


def closed_unanswered(s):
    try:
        return s.recv(100) == b""
    except ConnectionResetError:
        return True


@t.test("70 idle connections from one address do not shut out a correct request")
def _():
    other = None
    held = []
    try:
        # One from another address first: the oldest of all, but not of 127.0.0.1.
        other = idle_conn("127.0.0.2")
        for _ in range(70):
            held.append(idle_conn())
        status, _, body, _ = get("/metrics")
        eq(status, 200, "a correct request's answer")
        require(b"tt_peers" in body, "the metrics")
        require(closed_unanswered(held[0]), "the oldest idle connection of 127.0.0.1 closed")
        # Only 127.0.0.1's connections made room: the other address's is still served.
        other.sendall(b"Host: x\r\n\r\n")
        chunks = []
        while True:
            chunk = other.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        require(b"".join(chunks).startswith(b"HTTP/1.1 200 "),
                "the other address's request answered")
    finally:
        for s in held + ([other] if other else []):
            s.close()


@t.test("a client that half-closes after its request gets the whole answer")
def _():
    _, headers, body, _ = get("/")
    size = int(headers.get("content-length", "-1"))
    eq(len(body), size, "a whole page first")
    status, _, body, _ = http_raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", half_close=True,
                                  rcvbuf=2048)
    eq(status, 200, "status")
    eq(len(body), size, "the page's bytes after a half-close")


@t.test("bad --http values are refused with a clear message")
def _():
    for bad in ("nosuchhost.invalid:8080", "127.0.0.1", "127.0.0.1:99999", "127.0.0.1:x",
                "127.0.0.1: 1", "127.0.0.1:+0", "127.0.0.1:-1", "127.0.0.1:", ":8080",
                "127.0.0.1:0x10", "127.0.0.1:1 ", "127.0.0.1:000065536"):
        d = tempdir("bad")
        r = subprocess.run([tt, "tracker", "--port", "0", "--http", bad], capture_output=True,
                           text=True, timeout=10, stdin=subprocess.DEVNULL, cwd=d)
        eq(r.returncode, 2, f"exit code for {bad!r}")
        eq(len(r.stderr.splitlines()), 1, f"one line for {bad!r}: {r.stderr!r}")
        require("bad --http" in r.stderr, f"message for {bad!r}: {r.stderr!r}")
        eq(r.stdout, "", f"nothing on stdout for {bad!r}")
        require(not os.path.exists(os.path.join(d, ".tracker.log")), f"no log for {bad!r}")


@t.test("--http on a port in use: one error line, exit 1, never 'Tracker running'")
def _():
    busy = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    busy.bind((HOST, 0))
    busy.listen(1)
    try:
        d = tempdir("busy")
        r = subprocess.run([tt, "tracker", "--port", "0", "--http",
                            f"{HOST}:{busy.getsockname()[1]}"], capture_output=True, text=True,
                           timeout=10, stdin=subprocess.DEVNULL, cwd=d)
    finally:
        busy.close()
    eq(r.returncode, 1, "exit code")
    eq(len(r.stderr.splitlines()), 1, f"one line: {r.stderr!r}")
    require("cannot listen for HTTP" in r.stderr, f"message: {r.stderr!r}")
    require("Tracker" not in r.stdout, f"stdout: {r.stdout!r}")
    log = os.path.join(d, ".tracker.log")
    text = open(log).read() if os.path.exists(log) else ""
    require("Tracker started" not in text, f"the log: {text!r}")


@t.test("the tracker exits cleanly")
def _():
    c.tracker.send("exit")
    eq(c.tracker.popen.wait(timeout=10), 0, "exit code")


t.done()

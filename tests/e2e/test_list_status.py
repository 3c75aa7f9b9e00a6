#!/usr/bin/env python3
"""What the network has (`list`, the tracker's list action) and what a peer is
doing (`status`).

(a) three sharers: alpha.bin held by two of them (one content), shared.bin
    under two contents, beta.txt; a fourth peer's `list` prints every (name,
    content) with its size, content id prefix and holders; `list SUBSTRING`
    keeps the names that contain it.
(b) one peer shares 120 small files: `list` shows all of them (more than one
    page from the real tracker), and so does paging by hand over UDP, every
    answer within 1024 bytes.
(c) `status` on a sharer lists its shares.
(d) during a download held back by --max-download-rate, `status` on the
    downloader shows the download (pieces, bytes, its source) and on the source
    it shows the upload to the downloader's address.
(e) list datagrams with a bad cursor or limit get an error answer, and the
    tracker keeps answering.
(f) `tt peer --quiet` still prints `status` and `list`; a tracker whose list
    never ends gets one `tt: list: ...` line on stderr, and the peer goes on.
"""

import json
import os
import re
import socket
import threading
from types import SimpleNamespace

from harness import (HOST, Content, Proc, Tap, eq, is_error, require, start_peer, start_sharer,
                     start_tracker, tempdir, tt_path, udp_ask, udp_ask_json, udp_socket,
                     write_bytes)

tt = tt_path()
t = Tap()
c = SimpleNamespace()

LISTED = re.compile(r"^(\d+) files? listed \((\d+) names?\)\.$")


def list_rows(peer, command="list"):
    """Runs `list` on a peer; returns {(name, id12): (size, bytes, holders)} and
    the closing line."""
    peer.skip_all()
    peer.send(command)
    peer.expect(r"^ID +SIZE +BYTES +HOLDERS +NAME$")
    rows = {}
    while True:
        m = peer.expect(r"^.+$", timeout=30)
        line = m.group(0)
        if LISTED.match(line) or line.startswith("No files") or line.startswith("Error"):
            return rows, line
        parts = line.split(None, 4)
        require(len(parts) == 5, f"a list row has five fields: {line!r}")
        key = (parts[4], parts[0])
        require(key not in rows, f"{key} listed twice")
        rows[key] = (parts[1], parts[2], parts[3])


def status_lines(peer):
    peer.skip_all()
    peer.send("status")
    m = peer.expect(r"^Peer \S+: TCP port \d+, tracker .+$")
    lines = []
    while True:
        line = peer.expect(r"^.+$").group(0)
        lines.append(line)
        if line.startswith("upload") or line == "No uploads.":
            peer.settle(0.3)
            return lines + peer.unread().splitlines()


def wait_status(peer, pattern, tries=40):
    """Runs `status` until one of its lines matches; returns the match."""
    rx = re.compile(pattern)
    lines = []
    for _ in range(tries):
        lines = status_lines(peer)
        for l in lines:
            m = rx.match(l)
            if m:
                return m
        peer.settle(0.25)
    raise AssertionError(f"no status line matches {pattern}: {lines}")


@t.setup("tracker and three sharers start")
def _():
    c.tracker = start_tracker(tt)
    t.watch(c.tracker)
    c.alpha = Content(os.urandom(300 * 1024 + 5))
    c.shared_a = Content(os.urandom(5000))
    c.shared_b = Content(os.urandom(7000))
    c.beta = Content(b"hello beta\n")
    c.s1 = start_sharer(tt, 11, c.tracker.port, "alpha.bin", c.alpha.data)
    t.watch(c.s1)
    write_bytes(f"{c.s1.dir}/shared.bin", c.shared_a.data)
    c.s1.send("share shared.bin")
    c.s1.expect_line("Peer 11 shared a new files: shared.bin")
    c.s2 = start_sharer(tt, 12, c.tracker.port, "alpha.bin", c.alpha.data)
    t.watch(c.s2)
    c.s3 = start_sharer(tt, 13, c.tracker.port, "shared.bin", c.shared_b.data)
    t.watch(c.s3)
    write_bytes(f"{c.s3.dir}/beta.txt", c.beta.data)
    c.s3.send("share beta.txt")
    c.s3.expect_line("Peer 13 shared a new files: beta.txt")
    c.viewer = start_peer(tt, 14, c.tracker.port)
    t.watch(c.viewer)


# ---------------------------------------------------------------- (a)


@t.test("(a) list shows every name and content with its size, id prefix and holders")
def _():
    rows, end = list_rows(c.viewer)
    expected = {
        ("alpha.bin", c.alpha.id[:12]): (str(len(c.alpha.data)), "2/0"),
        ("shared.bin", c.shared_a.id[:12]): (str(len(c.shared_a.data)), "1/0"),
        ("shared.bin", c.shared_b.id[:12]): (str(len(c.shared_b.data)), "1/0"),
        ("beta.txt", c.beta.id[:12]): (str(len(c.beta.data)), "1/0"),
    }
    eq({k: (v[1], v[2]) for k, v in rows.items()}, expected, "rows")
    eq(rows[("alpha.bin", c.alpha.id[:12])][0], "300.0KiB", "human size of alpha.bin")
    eq(end, "4 files listed (3 names).", "closing line")


@t.test("(a) list SUBSTRING keeps the names that contain it")
def _():
    rows, end = list_rows(c.viewer, "list shared")
    eq(sorted(rows), sorted([("shared.bin", c.shared_a.id[:12]),
                             ("shared.bin", c.shared_b.id[:12])]), "rows")
    eq(end, "2 files listed (1 name).", "closing line")
    c.viewer.skip_all()
    c.viewer.send("list nothing-like-this")
    eq(c.viewer.expect(r"^.+$").group(0), "No files on the tracker match 'nothing-like-this'.",
       "the first line of a list that matches nothing (no column header)")


# ---------------------------------------------------------------- (b)


@t.test("(b) 120 files of one peer are all listed (several pages)")
def _():
    d = tempdir("many")
    for i in range(120):
        write_bytes(f"{d}/many-{i:03d}.dat", f"file {i}\n".encode())
    c.many = start_peer(tt, 15, c.tracker.port, d)
    t.watch(c.many)
    for i in range(120):
        c.many.send(f"share many-{i:03d}.dat")
    c.many.expect_line("Peer 15 shared a new files: many-119.dat", timeout=60)
    rows, end = list_rows(c.viewer)
    names = {k[0] for k in rows}
    eq(sum(1 for n in names if n.startswith("many-")), 120, "many-* names listed")
    eq(end, f"{len(rows)} files listed ({len(names)} names).", "closing line")
    eq(len(rows), 124, "rows")
    rows, end = list_rows(c.viewer, "list many-11")
    eq(sorted(k[0] for k in rows), [f"many-{i}.dat" for i in range(110, 120)], "filtered")


class HandLister:
    """A peer id "hand" joined with "v":1 from one UDP socket: its list
    requests carry its token from the address that joined."""

    def __init__(self, port):
        self.port, self.sock, self.seq = port, udp_socket(), 1
        a = udp_ask_json(port, {"action": "join", "v": 1, "seq": 1, "peer_id": "hand",
                                "files": [], "tcp_port": 9}, sock=self.sock)
        eq(a.get("status"), "ok", "the hand lister's join")
        self.token = a["token"]

    def ask(self, fields):
        self.seq += 1
        req = {"action": "list", "v": 1, "seq": self.seq, "peer_id": "hand",
               "token": self.token, **fields}
        raw = udp_ask(self.port, req, sock=self.sock)
        require(raw is not None, f"no answer to {req}")
        require(len(raw) <= 8192, f"answer is {len(raw)} bytes, more than 8192")
        return json.loads(raw)


@t.test("(b) paging by hand over UDP with a token: every name once, answers within 8192 bytes; "
        "without a token, a short refusal and no rows")
def _():
    c.hand = HandLister(c.tracker.port)
    cursor, pages, seen = 0, 0, []
    while True:
        a = c.hand.ask({"cursor": cursor, "limit": 50})
        eq(a.get("status"), "ok", "status")
        eq(a.get("total"), 123, "total names")
        seen += [(f["name"], f["id"]) for f in a["files"]]
        pages += 1
        cursor = a["next"]
        if cursor == 0:
            break
        require(pages < 100, "the list ends")
    require(pages >= 2, f"more than one page ({pages})")
    eq(len(seen), len(set(seen)), "no row twice")
    eq(len(seen), 124, "rows")
    for anon in ({"action": "list"}, {"action": "list", "peer_id": "hand", "limit": 200},
                 {"action": "list", "v": 1, "seq": 3, "peer_id": "hand", "token": c.hand.token}):
        raw = udp_ask(c.tracker.port, anon)  # another socket: not the address that joined
        require(raw is not None and len(raw) < 128, f"{anon} -> {raw!r}")
        a = json.loads(raw)
        require(is_error(a) and "files" not in a, f"{anon} -> {a}")


# ---------------------------------------------------------------- (c)


@t.test("(c) status on a sharer lists its shares")
def _():
    lines = status_lines(c.s1)
    share = [l.split(None, 5) for l in lines if l.startswith("share ")]
    eq(sorted((s[5], s[1], s[3], s[4]) for s in share),
       sorted([("alpha.bin", c.alpha.id[:12], str(len(c.alpha.data)), "2/2"),
               ("shared.bin", c.shared_a.id[:12], str(len(c.shared_a.data)), "1/1")]),
       "share lines (name, id, bytes, pieces)")
    require("No download running." in lines, f"no download: {lines}")


# ---------------------------------------------------------------- (d)


@t.test("(d) status during a download shows it on both sides")
def _():
    big = Content(os.urandom(2 << 20))
    src = start_sharer(tt, 16, c.tracker.port, "big.bin", big.data)
    t.watch(src)
    dl = start_peer(tt, 17, c.tracker.port, extra=["--max-download-rate", "256K"])
    t.watch(dl)
    dl.send("get big.bin")
    dl.expect(r"^Downloading big\.bin ")
    dl.expect(rf"^Connecting to peer at 127\.0\.0\.1:{src.port}$")
    m = wait_status(dl, rf"^download  (\d+)/(\d+) pieces  (\d+)/(\d+) bytes  \S+/s  1 sources  "
                            rf"127\.0\.0\.1:{src.port}  big\.bin$")
    eq(int(m.group(4)), len(big.data), "size")
    require(int(m.group(1)) < int(m.group(2)), f"the download is under way: {m.group(0)}")
    up = wait_status(src, r"^upload  127\.0\.0\.1:(\d+)  (\d+) bytes  \S+/s  big\.bin$")
    require(int(up.group(2)) > 0, f"bytes sent: {up.group(0)}")
    dl.expect_line("Downloaded file big.bin successfully.", timeout=60)
    wait_status(dl, r"^No download running\.$")  # (once the tracker heard of it)
    after = status_lines(dl)
    require(any(l.startswith("share ") and l.endswith("big.bin") and " 8/8 " in l
                for l in after), f"the downloaded file is shared: {after}")


# ---------------------------------------------------------------- (e)


@t.test("(e) a bad cursor or limit gets an error; the tracker keeps answering")
def _():
    for bad in ({"action": "list", "cursor": -1}, {"action": "list", "cursor": "x"},
                {"action": "list", "limit": 0}, {"action": "list", "limit": 1.5},
                {"action": "list", "cursor": 2 ** 70}):
        a = c.hand.ask({k: v for k, v in bad.items() if k != "action"})
        require(is_error(a), f"{bad} -> {a}")
        require("cursor" in a.get("message", "") or "limit" in a.get("message", ""),
                f"the message names the field: {a}")
    a = c.hand.ask({"limit": 1})
    eq(a.get("status"), "ok", "status after bad requests")
    eq(len(a["files"]), 1, "rows with limit 1")
    rows, end = list_rows(c.viewer, "list alpha")
    eq(end, "1 file listed (1 name).", "a peer still lists")


# ---------------------------------------------------------------- (f)


@t.test("(f) tt peer --quiet still prints what status and list were asked for; only the "
        "other lines are quiet")
def _():
    d = tempdir("quiet-viewer")
    p = Proc([tt, "peer", "--id", "18", "--tracker", f"{HOST}:{c.tracker.port}", "--dir", d,
              "--host", HOST, "--port", "0", "--quiet"], d, "quiet-viewer")
    t.watch(p)
    p.send("status")
    p.send("list alpha")
    p.close_stdin()
    eq(p.wait(30), 0, "exit code")
    out = p.lines()
    require(any(re.match(r"^Peer 18: TCP port \d+, tracker ", l) for l in out),
            f"no status line on stdout: {out!r}")
    require("Sharing nothing." in out and "No download running." in out, f"stdout: {out!r}")
    require(any(l.startswith("ID ") for l in out), f"no list header on stdout: {out!r}")
    require(any(l.endswith(" alpha.bin") and l.startswith(c.alpha.id[:12]) for l in out),
            f"no alpha.bin row on stdout: {out!r}")
    require("1 file listed (1 name)." in out, f"stdout: {out!r}")
    require(not any("joined" in l or "leaving" in l for l in out),
            f"--quiet printed other lines: {out!r}")


class EndlessListTracker:
    """Answers join with ok and every list with an empty page whose `next`
    never ends."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.lists = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
                msg = json.loads(data)
            except (socket.timeout, ValueError):
                continue
            except OSError:
                return
            answer = {"status": "ok"}
            if msg.get("action") == "list":
                self.lists += 1
                answer = {"status": "ok", "files": [], "next": self.lists + 1, "total": 1}
            self.sock.sendto(json.dumps(answer).encode(), addr)

    def close(self):
        self._stop.set()
        self._thread.join()
        self.sock.close()


@t.test("(f) a tracker whose list never ends: 'tt: list: ...' on stderr (not 'Error:' on "
        "stdout), and the peer goes on with the next command")
def _():
    stub = EndlessListTracker()
    try:
        p = start_peer(tt, 19, stub.port)
        t.watch(p)
        p.send("list")
        m = p.expect_stderr(r"^tt: list: the tracker's list did not end after (\d+) pages; "
                            r"stopped$", timeout=120)
        eq(int(m.group(1)), stub.lists, "pages asked for")
        p.send("status")
        p.expect(r"^Peer 19: TCP port \d+, tracker ")
        p.close_stdin()
        eq(p.wait(30), 1, "exit code (a command failed)")
        out = p.lines()
        require(not any(l.startswith("Error") for l in out), f"stdout: {out!r}")
        require(not any(l.startswith("ID ") for l in out), f"a header with no rows: {out!r}")
    finally:
        stub.close()


t.done()

#!/usr/bin/env python3
"""Bad datagrams get an error answer and change nothing; the tracker keeps
serving. Each bad request is checked for: an answer of at most 1024 bytes
that is a JSON error with a message, the console line `Error handling
request from IP:PORT: reason`, and an unchanged peer list for a.txt."""

import json
from types import SimpleNamespace

from harness import (HOST, SeedPeer, Tap, eq, is_error, log_messages, peer_list, require,
                     start_tracker, tt_path, udp_ask, udp_socket, wait_for)

tt = tt_path()
t = Tap()
c = SimpleNamespace()


@t.test("tracker starts; seed peers 51 and 52 join with a.txt; 53 sees both", fatal=True)
def _():
    c.tracker = start_tracker(tt)
    t.watch(c.tracker)
    c.a = SeedPeer(c.tracker.port, "51")
    c.b = SeedPeer(c.tracker.port, "52")
    c.r = SeedPeer(c.tracker.port, "53")
    for p, files in ((c.a, ["a.txt"]), (c.b, ["a.txt"]), (c.r, [])):
        eq(p.join(files), {"status": "ok"}, f"join answer for {p.peer_id}")
    c.state = peer_list(c.r.get_peers("a.txt"))
    eq(c.state, [(HOST, c.a.port), (HOST, c.b.port)], "sources of a.txt")


def state_unchanged():
    eq(peer_list(c.r.get_peers("a.txt")), c.state, "sources of a.txt afterwards")


def obj(**fields):
    return json.dumps(fields).encode()


def bad_join(**fields):
    """A join from a new id 54 that would add it as a source of a.txt."""
    base = {"action": "join", "peer_id": "54", "files": ["a.txt"], "tcp_port": c.a.port}
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not OMIT}).encode()


OMIT = object()
LONG = "x" * 300


def share(name):
    return obj(action="share_file", peer_id="51", file=name)


# (description, datagram, who sends it: "a" = peer 51's own socket, None = a fresh socket)
CASES = [
    ("not JSON", lambda: b"hello tracker", None),
    ("a JSON array", lambda: b'["join", "54", ["a.txt"], 7000]', None),
    ("a JSON number", lambda: b"42", None),
    ("truncated JSON object", lambda: bad_join()[:-5], None),
    ("unknown action", lambda: obj(action="dance", peer_id="53"), None),
    ("action missing", lambda: obj(peer_id="54", files=["a.txt"], tcp_port=c.a.port), None),
    ("join without peer_id", lambda: bad_join(peer_id=OMIT), None),
    ("join with peer_id a list", lambda: bad_join(peer_id=["54"]), None),
    ("join with peer_id null", lambda: bad_join(peer_id=None), None),
    ("join with tcp_port as a string", lambda: bad_join(tcp_port=str(c.a.port)), None),
    ("join with tcp_port 70000", lambda: bad_join(tcp_port=70000), None),
    ("join with tcp_port -1", lambda: bad_join(tcp_port=-1), None),
    ("join without tcp_port", lambda: bad_join(tcp_port=OMIT), None),
    ("join with files a string", lambda: bad_join(files="a.txt"), None),
    ("join listing ../etc/passwd beside a.txt", lambda: bad_join(files=["a.txt", "../etc/passwd"]), None),
    ("share_file ../etc/passwd", lambda: share("../etc/passwd"), "a"),
    ("share_file a/b", lambda: share("a/b"), "a"),
    ("share_file a\\b", lambda: share("a\\b"), "a"),
    ("share_file ..", lambda: share(".."), "a"),
    ("share_file .", lambda: share("."), "a"),
    ("share_file empty name", lambda: share(""), "a"),
    ("share_file 300-byte name", lambda: share(LONG), "a"),
    ("share_file name with a newline", lambda: share("a\nb.txt"), "a"),
    ("share_file name with NUL", lambda: share("a\x00b.txt"), "a"),
    ("share_file without file", lambda: obj(action="share_file", peer_id="51"), "a"),
    ("share_file with file a number", lambda: obj(action="share_file", peer_id="51", file=7), "a"),
    ("share_file name with invalid UTF-8 bytes",
     lambda: b'{"action":"share_file","peer_id":"51","file":"\xff\xfe.txt"}', "a"),
    ("get_peers without file_name", lambda: obj(action="get_peers", peer_id="53"), None),
    ("get_peers with file_name a list", lambda: obj(action="get_peers", peer_id="53", file_name=["a.txt"]), None),
    ("get_peers for ../a.txt", lambda: obj(action="get_peers", peer_id="53", file_name="../a.txt"), None),
    ("got_the_file for a/../a.txt", lambda: obj(action="got_the_file", peer_id="53", file_name="a/../a.txt"), "r"),
    ("8000 nested arrays", lambda: b"[" * 8000, None),
    ("a join whose files are 4000 nested arrays",
     lambda: b'{"action":"join","peer_id":"54","files":' + b"[" * 4000 + b"]" * 4000 + b"}", None),
    ("a 12 KB datagram (share_file with a 12000-byte name)", lambda: share("n" * 12000), "a"),
]

# Over the tracker's 16 KiB request limit: dropped unanswered (no amplification,
# no parsing), logged, state unchanged.
OVERSIZED = [
    ("60000 nested arrays", lambda: b"[" * 60000),
    ("a join whose files are 30000 nested arrays",
     lambda: b'{"action":"join","peer_id":"54","files":' + b"[" * 30000 + b"]" * 30000 + b"}"),
    ("a 60 KB share_file with a 60000-byte name", lambda: share("n" * 60000)),
]


def sender(who):
    return {"a": c.a.sock, "r": c.r.sock}.get(who) or udp_socket()


for desc, payload, who in CASES:
    @t.test(f"{desc}: error answer, 'Error handling request' line, state unchanged")
    def _():
        sock = sender(who)
        port = sock.getsockname()[1]
        raw = udp_ask(c.tracker.port, payload(), sock=sock)
        require(raw is not None, "no answer")
        require(len(raw) <= 1024, f"answer is {len(raw)} bytes")
        try:
            answer = json.loads(raw)
        except ValueError:
            raise AssertionError(f"answer is not JSON: {raw[:200]!r}")
        require(is_error(answer), f"answer {answer!r} is not an error with a message")
        c.tracker.expect(rf"^Error handling request from 127\.0\.0\.1:{port}: \S")
        state_unchanged()


for desc, payload in OVERSIZED:
    @t.test(f"{desc}: dropped without an answer, logged, state unchanged")
    def _():
        sock = udp_socket()
        port = sock.getsockname()[1]
        raw = udp_ask(c.tracker.port, payload(), sock=sock, timeout=1.0)
        require(raw is None, f"got an answer of {len(raw or b'')} bytes")
        wait_for(lambda: any(f"Dropped a datagram" in m and f"127.0.0.1:{port}" in m
                             for m in log_messages(c.tracker.log_path)),
                 what="a 'Dropped a datagram' log line")
        state_unchanged()


@t.test("an empty datagram is ignored or answered with an error; state unchanged")
def _():
    raw = udp_ask(c.tracker.port, b"", timeout=1.0)
    if raw is not None:
        require(is_error(json.loads(raw)), f"answer {raw!r}")
    state_unchanged()


@t.test("a leave for peer 51 from another address is refused; 51 stays listed")
def _():
    answer = json.loads(udp_ask(c.tracker.port, obj(action="leave", peer_id="51")) or b"null")
    require(is_error(answer), f"answer {answer!r}")
    state_unchanged()


@t.test("after all that, the tracker still serves: a new peer joins and is listed")
def _():
    d = SeedPeer(c.tracker.port, "55")
    eq(d.join(["a.txt"]), {"status": "ok"}, "join answer")
    c.tracker.expect_line(f"Peer 55 joined on TCP port {d.port}")
    sources = peer_list(c.r.get_peers("a.txt"))
    require(sources and sources[-1] == (HOST, d.port), f"peer 55 is not last in {sources}")
    require(c.tracker.alive(), "tracker exited")


t.done()

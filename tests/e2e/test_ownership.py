#!/usr/bin/env python3
"""Ownership and abuse of the control plane, with python clients only.

(a) a seed-form holder S: leave and share_file for S's id from another socket
    (same IP, other port) and from a socket bound to 127.0.0.2 are refused with
    `peer id S belongs to another address` and logged; S keeps its files.
(b) an extended holder E ("v":1, keeps its join token): from its own socket,
    share_file without a token, with a wrong token, or in seed form is refused;
    with the right token it is ok, and so is heartbeat; every extended answer
    echoes seq.
(c) numwant: with 250 seed-form sources of z.bin, an authenticated get_peers
    with numwant 10 lists exactly 10 distinct sources, chosen at random;
    numwant 1000 lists at most 200 in at most 8192 bytes; answers to
    unauthenticated requests are valid JSON of at most 1024 bytes.
(d) a 20000-byte datagram gets no answer, and the tracker keeps serving.

The tracker runs with --peer-ttl 600 (probes every 200 s), so nothing here
expires or is probed while the file runs.
"""

import json
import re
from types import SimpleNamespace

from harness import (HOST, ExtClient, SeedPeer, Tap, eq, is_error, log_messages, peer_list,
                     recv_answer, require, start_tracker, tcp_listener, tt_path, udp_ask,
                     udp_socket, udp_socket_on, wait_for)

tt = tt_path()
t = Tap()
c = SimpleNamespace()

HEX32 = re.compile(r"^[0-9a-f]{32}$")
NSOURCES = 250


def refused_from(sock, reason_rx):
    """The tracker printed `Error handling request from IP:PORT: reason` for sock."""
    ip, port = sock.getsockname()
    c.tracker.expect(rf"^Error handling request from {re.escape(ip)}:{port}: {reason_rx}$",
                     timeout=5)


def seed_ask(sock, obj):
    raw = udp_ask(c.tracker.port, obj, sock=sock)
    require(raw is not None, f"no answer to {obj}")
    require(len(raw) <= 1024, f"answer of {len(raw)} bytes")
    return json.loads(raw)


def check_seq(answer, client, what):
    require(isinstance(answer, dict), f"{what}: no answer")
    eq(answer.get("v"), 1, f"{what}: v")
    eq(answer.get("seq"), client.seq, f"{what}: seq")


@t.setup("tracker starts (--peer-ttl 600)")
def _():
    c.tracker = start_tracker(tt, extra=["--peer-ttl", "600"])
    t.watch(c.tracker)
    c.watcher = SeedPeer(c.tracker.port, "watcher")


# ---------------------------------------------------------------- (a)


@t.test("(a) seed-form peer S joins from its socket s1 with s.txt", fatal=True)
def _():
    c.s = SeedPeer(c.tracker.port, "S", {"s.txt": b"s\n"})
    eq(c.s.join(["s.txt"]), {"status": "ok"}, "join answer")
    eq(peer_list(c.watcher.get_peers("s.txt")), [(HOST, c.s.port)], "sources of s.txt")


for where, make in (("another socket on 127.0.0.1", udp_socket),
                    ("a socket on 127.0.0.2", lambda: udp_socket_on("127.0.0.2"))):
    for what, req in (("leave", {"action": "leave", "peer_id": "S"}),
                      ("share_file evil.txt", {"action": "share_file", "peer_id": "S",
                                               "file": "evil.txt"}),
                      ("got_the_file evil.txt", {"action": "got_the_file", "peer_id": "S",
                                                 "file_name": "evil.txt"})):
        @t.test(f"(a) {what} for S from {where}: refused 'peer id S belongs to another "
                "address', logged, S unchanged")
        def _(make=make, req=req):
            sock = make()
            answer = seed_ask(sock, req)
            eq(answer, {"status": "error", "message": "peer id S belongs to another address"},
               "answer")
            refused_from(sock, re.escape("peer id S belongs to another address"))
            eq(peer_list(c.watcher.get_peers("s.txt")), [(HOST, c.s.port)], "sources of s.txt")
            eq(peer_list(c.watcher.get_peers("evil.txt")), [], "sources of evil.txt")


@t.test("(a) the refusals are in the tracker log too")
def _():
    msgs = [m for m in log_messages(c.tracker.log_path)
            if m.startswith("Error handling request from ") and "belongs to another address" in m]
    eq(len(msgs), 6, f"log lines about the refusals ({msgs!r})")
    require(any(m.startswith("Error handling request from 127.0.0.2:") for m in msgs),
            "no refusal logged for 127.0.0.2")


@t.test("(a) a join with S's id from another socket (other TCP port) is refused: S is alive")
def _():
    lst = tcp_listener()
    sock = udp_socket()
    answer = seed_ask(sock, {"action": "join", "peer_id": "S", "files": ["evil.txt"],
                             "tcp_port": lst.getsockname()[1]})
    require(is_error(answer) and "held by a live peer" in answer["message"], f"answer {answer!r}")
    eq(peer_list(c.watcher.get_peers("s.txt")), [(HOST, c.s.port)], "sources of s.txt")
    eq(peer_list(c.watcher.get_peers("evil.txt")), [], "sources of evil.txt")


@t.test("(a) S itself, from s1, still shares and leaves")
def _():
    eq(c.s.share("s2.txt"), {"status": "ok"}, "share_file answer")
    eq(peer_list(c.watcher.get_peers("s2.txt")), [(HOST, c.s.port)], "sources of s2.txt")
    eq(c.s.leave(), {"status": "ok"}, "leave answer")
    eq(peer_list(c.watcher.get_peers("s.txt")), [], "sources of s.txt after the leave")


# ---------------------------------------------------------------- (b)


@t.test("(b) extended peer E joins: {status ok, v 1, seq, interval, token of 32 hex}", fatal=True)
def _():
    c.e_lst = tcp_listener()
    c.e = ExtClient(c.tracker.port, "E", tcp_port=c.e_lst.getsockname()[1])
    answer, raw = c.e.join([])
    check_seq(answer, c.e, "join answer")
    eq(sorted(answer), ["interval", "seq", "status", "token", "v"], "keys of the join answer")
    eq(answer["status"], "ok", "status")
    eq(answer["interval"], 200, "interval (ttl 600 / 3)")
    require(isinstance(answer["token"], str) and HEX32.match(answer["token"]),
            f"token {answer['token']!r}")


TOKEN_REFUSAL = "missing or wrong token for peer E (join again)"


@t.test("(b) share_file from E's own socket without a token: refused, seq echoed, logged")
def _():
    answer, _ = c.e.request("share_file", token=None, file="e1.txt")
    check_seq(answer, c.e, "answer")
    eq(answer.get("status"), "error", "status")
    eq(answer.get("message"), TOKEN_REFUSAL, "message")
    refused_from(c.e.sock, re.escape(TOKEN_REFUSAL))


@t.test("(b) share_file with a wrong token (32 other hex digits): refused, seq echoed")
def _():
    wrong = "0" * 32 if c.e.token != "0" * 32 else "1" * 32
    answer, _ = c.e.request("share_file", token=wrong, file="e1.txt")
    check_seq(answer, c.e, "answer")
    eq(answer.get("message"), TOKEN_REFUSAL, "message")
    refused_from(c.e.sock, re.escape(TOKEN_REFUSAL))


@t.test("(b) share_file with a malformed token: refused with an error that says so")
def _():
    answer, _ = c.e.request("share_file", token="xyz", file="e1.txt")
    require(is_error(answer), f"answer {answer!r}")
    require("token" in answer["message"], f"message {answer['message']!r}")


@t.test("(b) share_file in seed form (no v, no token) from E's socket: refused")
def _():
    answer, raw = c.e.request("share_file", extended=False, file="e1.txt")
    eq(answer, {"status": "error", "message": TOKEN_REFUSAL}, "answer (seed form: no v, no seq)")
    refused_from(c.e.sock, re.escape(TOKEN_REFUSAL))


@t.test("(b) nothing was registered by the refused requests")
def _():
    eq(peer_list(c.watcher.get_peers("e1.txt")), [], "sources of e1.txt")


@t.test("(b) share_file with the right token from another socket: refused (address)")
def _():
    other = ExtClient(c.tracker.port, "E")
    other.token = c.e.token
    answer, _ = other.request("share_file", file="e1.txt")
    check_seq(answer, other, "answer")
    eq(answer.get("message"), "peer id E belongs to another address", "message")
    eq(peer_list(c.watcher.get_peers("e1.txt")), [], "sources of e1.txt")


@t.test("(b) share_file with the right token from E's socket: ok, seq echoed, E listed")
def _():
    answer, _ = c.e.request("share_file", file="e1.txt")
    check_seq(answer, c.e, "answer")
    eq(answer, {"status": "ok", "v": 1, "seq": c.e.seq}, "answer")
    eq(peer_list(c.watcher.get_peers("e1.txt")), [(HOST, c.e_lst.getsockname()[1])],
       "sources of e1.txt")


@t.test("(b) heartbeat with the right token: ok, seq echoed; without a token: refused")
def _():
    answer, _ = c.e.request("heartbeat")
    eq(answer, {"status": "ok", "v": 1, "seq": c.e.seq}, "answer with the token")
    answer, _ = c.e.request("heartbeat", token=None)
    check_seq(answer, c.e, "answer without a token")
    eq(answer.get("message"), TOKEN_REFUSAL, "message")


@t.test("(b) heartbeat for an unknown peer: 'Peer not found', seq echoed")
def _():
    ghost = ExtClient(c.tracker.port, "ghost")
    answer, _ = ghost.request("heartbeat", token="0" * 32)
    check_seq(answer, ghost, "answer")
    eq(answer.get("status"), "error", "status")
    eq(answer.get("message"), "Peer not found", "message")


@t.test("(b) got_the_file with the right token: ok, seq echoed")
def _():
    answer, _ = c.e.request("got_the_file", file_name="e2.txt")
    eq(answer, {"status": "ok", "v": 1, "seq": c.e.seq}, "answer")


@t.test("(b) a retransmitted request (same seq) is answered again with the same seq, no duplicate")
def _():
    msg = {"action": "share_file", "peer_id": "E", "file": "e1.txt", "v": 1, "seq": 4242,
           "token": c.e.token}
    for _ in range(3):
        raw = udp_ask(c.tracker.port, msg, sock=c.e.sock)
        eq(json.loads(raw or b"null"), {"status": "ok", "v": 1, "seq": 4242}, "answer")
    eq(peer_list(c.watcher.get_peers("e1.txt")), [(HOST, c.e_lst.getsockname()[1])],
       "sources of e1.txt")


# ---------------------------------------------------------------- (c)


@t.test(f"(c) {NSOURCES} seed-form peers, each with its own socket and listener, join with z.bin",
        fatal=True)
def _():
    c.zports = {}
    for i in range(NSOURCES):
        lst = tcp_listener()
        port = lst.getsockname()[1]
        sock = udp_socket()
        answer = seed_ask(sock, {"action": "join", "peer_id": f"z{i}", "files": ["z.bin"],
                                 "tcp_port": port})
        eq(answer, {"status": "ok"}, f"join answer of z{i}")
        c.zports[f"z{i}"] = port


def ext_sources(answer, raw, limit):
    require(isinstance(answer, dict), f"no answer")
    require(len(raw) <= limit, f"answer is {len(raw)} bytes, more than {limit}")
    eq(answer.get("status"), "ok", "status")
    srcs = answer.get("sources")
    require(isinstance(srcs, list), f"no sources list in {str(answer)[:200]}")
    ids = []
    for s in srcs:
        require(isinstance(s, dict) and s.get("ip") == HOST and s.get("complete") is True,
                f"bad source {s!r}")
        pid = s.get("peer_id")
        require(c.zports.get(pid) == s.get("port"), f"source {s!r} is not one of the z peers")
        ids.append(pid)
    require(len(set(ids)) == len(ids), f"duplicates among {ids}")
    eq(peer_list(answer), [(HOST, c.zports[i]) for i in ids], "peers beside sources")
    return ids


@t.test("(c) authenticated get_peers (E, token) with numwant 10: exactly 10 distinct sources, "
        "a different selection across calls")
def _():
    picks = set()
    for _ in range(6):
        answer, raw = c.e.request("get_peers", file_name="z.bin", numwant=10)
        check_seq(answer, c.e, "answer")
        ids = ext_sources(answer, raw, 8192)
        eq(len(ids), 10, "number of sources")
        picks.add(frozenset(ids))
    t.diag(f"{len(picks)} different selections in 6 calls")
    require(len(picks) >= 2, "the same 10 sources every time")


@t.test("(c) authenticated get_peers with numwant 1000: at most 200 sources, answer <= 8192 "
        "bytes and longer than 1024")
def _():
    answer, raw = c.e.request("get_peers", file_name="z.bin", numwant=1000)
    check_seq(answer, c.e, "answer")
    ids = ext_sources(answer, raw, 8192)
    t.diag(f"{len(ids)} sources in {len(raw)} bytes")
    require(0 < len(ids) <= 200, f"{len(ids)} sources")
    require(len(raw) > 1024, f"an authenticated answer of only {len(raw)} bytes")


@t.test("(c) authenticated get_peers without numwant: at most 50 sources (the default)")
def _():
    answer, raw = c.e.request("get_peers", file_name="z.bin")
    ids = ext_sources(answer, raw, 8192)
    t.diag(f"{len(ids)} sources in {len(raw)} bytes")
    require(0 < len(ids) <= 50, f"{len(ids)} sources")


@t.test("(c) numwant 0, -5, '10' or 2.5: an error answer that names numwant")
def _():
    for bad in (0, -5, "10", 2.5):
        answer, raw = c.e.request("get_peers", file_name="z.bin", numwant=bad)
        require(is_error(answer), f"numwant {bad!r}: answer {str(answer)[:200]}")
        require("numwant" in answer["message"], f"numwant {bad!r}: message {answer['message']!r}")
        check_seq(answer, c.e, f"numwant {bad!r}")


@t.test("(c) unauthenticated extended get_peers (no token, numwant 1000): valid JSON, <= 1024 bytes")
def _():
    x = ExtClient(c.tracker.port, "stranger")
    answer, raw = x.request("get_peers", file_name="z.bin", numwant=1000)
    check_seq(answer, x, "answer")
    ids = ext_sources(answer, raw, 1024)
    t.diag(f"{len(ids)} sources in {len(raw)} bytes")
    require(ids, "no sources listed")


@t.test("(c) E's own token sent from another address gets no long answer (<= 1024 bytes)")
def _():
    other = ExtClient(c.tracker.port, "E")
    other.token = c.e.token
    answer, raw = other.request("get_peers", file_name="z.bin", numwant=1000)
    ext_sources(answer, raw, 1024)


@t.test("(c) seed-form get_peers: valid JSON {'peers': [...]}, <= 1024 bytes, at most 30 peers")
def _():
    sock = udp_socket()
    raw = udp_ask(c.tracker.port, {"action": "get_peers", "peer_id": "watcher",
                                   "file_name": "z.bin"}, sock=sock)
    require(raw is not None, "no answer")
    t.diag(f"{len(raw)} bytes")
    require(len(raw) <= 1024, f"answer of {len(raw)} bytes")
    answer = json.loads(raw)
    eq(sorted(answer), ["peers"], "keys")
    peers = peer_list(answer)
    require(0 < len(peers) <= 30, f"{len(peers)} peers")
    ports = set(c.zports.values())
    require(all(ip == HOST and port in ports for ip, port in peers), f"unknown entries {peers}")
    require(len(set(peers)) == len(peers), "duplicates")


# ---------------------------------------------------------------- (d)


@t.test("(d) a 20000-byte datagram gets no answer and is logged as dropped")
def _():
    sock = udp_socket()
    port = sock.getsockname()[1]
    blob = json.dumps({"action": "get_peers", "peer_id": "big", "file_name": "z.bin",
                       "pad": "p" * 20000})[:20000].encode()
    eq(len(blob), 20000, "datagram size")
    sock.sendto(blob, (HOST, c.tracker.port))
    raw = recv_answer(sock, timeout=1.5)
    require(raw is None, f"got an answer of {len(raw or b'')} bytes")
    wait_for(lambda: any("Dropped a datagram" in m and f"127.0.0.1:{port}" in m
                         for m in log_messages(c.tracker.log_path)),
             timeout=5, what="a 'Dropped a datagram' log line")


@t.test("(d) the tracker keeps serving: sources of e1.txt and z.bin, E's heartbeat")
def _():
    require(c.tracker.alive(), "tracker exited")
    eq(peer_list(c.watcher.get_peers("e1.txt")), [(HOST, c.e_lst.getsockname()[1])],
       "sources of e1.txt")
    require(peer_list(c.watcher.get_peers("z.bin")), "no sources of z.bin")
    answer, _ = c.e.request("heartbeat")
    eq(answer, {"status": "ok", "v": 1, "seq": c.e.seq}, "E's heartbeat")


t.done()

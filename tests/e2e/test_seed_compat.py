#!/usr/bin/env python3
"""Compatibility with the seed, both ways, using plain python sockets that
speak only the seed forms (peer_id as a string, bare-name TCP requests).

(a) a seed-style peer against `tt tracker`   (b) a seed-style client downloads
from `tt peer`   (c) `tt peer` downloads from a seed-style server
(d) `tt peer` against a seed-style tracker   (e) get_peers answers with 100
peers fit the seed's 1024-byte buffer.
"""

import json
import os
import socket
from types import SimpleNamespace

from harness import (HOST, SeedPeer, SeedTracker, Tap, eq, is_error, joined_seed_source, peer_list,
                     require, same_file, seed_download, sha256, start_peer, start_sharer,
                     start_tracker, tempdir, tt_path, udp_ask, write_bytes)

tt = tt_path()
t = Tap()
c = SimpleNamespace()

S_DATA = b"seed peer 61 has this file\n" * 1000
B_DATA = os.urandom(3 << 20)
C_DATA = os.urandom(2 << 20)
D_DATA = os.urandom(1 << 20)
A_DATA = b"shared by tt peer 66 through a seed tracker\n" * 500


@t.setup("tracker starts")
def _():
    c.tracker = start_tracker(tt)
    t.watch(c.tracker)


# ---------------------------------------------------------------- (a)


@t.test("(a) seed peer 61 joins: {'status': 'ok'}, console 'Peer 61 joined on TCP port P'")
def _():
    c.s = SeedPeer(c.tracker.port, "61", {"s.txt": S_DATA})
    eq(c.s.join([]), {"status": "ok"}, "join answer")
    c.tracker.expect_line(f"Peer 61 joined on TCP port {c.s.port}")


@t.test("(a) share_file: ok, console 'Peer 61 updated files: s.txt'")
def _():
    eq(c.s.share("s.txt"), {"status": "ok"}, "share_file answer")
    c.tracker.expect_line("Peer 61 updated files: s.txt")


@t.test("(a) get_peers by another seed peer lists [['127.0.0.1', P]]; the owner itself gets []")
def _():
    c.u = SeedPeer(c.tracker.port, "62")
    eq(c.u.join([]), {"status": "ok"}, "join answer of 62")
    eq(c.u.get_peers("s.txt"), {"peers": [[HOST, c.s.port]]}, "answer to 62")
    eq(c.s.get_peers("s.txt"), {"peers": []}, "answer to 61")


@t.test("(a) got_the_file: ok, console line, the downloader becomes a source")
def _():
    eq(c.u.got_the_file("s.txt"), {"status": "ok"}, "got_the_file answer")
    c.tracker.expect_line("Peer 62 downloaded the file file: s.txt")
    eq(c.s.get_peers("s.txt"), {"peers": [[HOST, c.u.port]]}, "answer to 61")


@t.test("(a) repeated join, share_file and got_the_file add no duplicates")
def _():
    eq(c.s.join(["s.txt"]), {"status": "ok"}, "second join answer")
    eq(c.s.share("s.txt"), {"status": "ok"}, "second share_file answer")
    eq(c.s.share("s.txt"), {"status": "ok"}, "third share_file answer")
    eq(c.u.got_the_file("s.txt"), {"status": "ok"}, "second got_the_file answer")
    probe = SeedPeer(c.tracker.port, "60")
    eq(probe.join([]), {"status": "ok"}, "join answer of 60")
    eq(peer_list(probe.get_peers("s.txt")), [(HOST, c.s.port), (HOST, c.u.port)], "sources")
    c.probe = probe


@t.test("(a) peer_id 63 as an integer and '63' as a string are the same peer")
def _():
    v = SeedPeer(c.tracker.port, 63)
    eq(v.join([]), {"status": "ok"}, "join answer")
    c.tracker.expect_line(f"Peer 63 joined on TCP port {v.port}")
    v.peer_id = "63"
    eq(v.share("s.txt"), {"status": "ok"}, "share_file answer for '63'")
    eq(v.share("s.txt"), {"status": "ok"}, "repeated share_file answer")
    eq(peer_list(c.probe.get_peers("s.txt")),
       [(HOST, c.s.port), (HOST, c.u.port), (HOST, v.port)], "sources")
    c.v = v


@t.test("(a) leave: ok, console 'Peer 61 left the network.', 61 no longer listed")
def _():
    eq(c.s.leave(), {"status": "ok"}, "leave answer")
    c.tracker.expect_line("Peer 61 left the network.")
    eq(peer_list(c.probe.get_peers("s.txt")), [(HOST, c.u.port), (HOST, c.v.port)], "sources")


@t.test("(a) unknown peer: share_file, got_the_file and leave answer 'Peer not found'")
def _():
    ghost = SeedPeer(c.tracker.port, "nobody")
    for answer in (ghost.share("s.txt"), ghost.got_the_file("s.txt"), ghost.leave()):
        eq(answer, {"status": "error", "message": "Peer not found"}, "answer")


# ---------------------------------------------------------------- (b)


@t.test("(b) tt peer 64 shares b.bin; a seed-form client (bare name, read to EOF) gets it intact",
        fatal=True)
def _():
    c.p64 = start_sharer(tt, 64, c.tracker.port, "b.bin", B_DATA)
    t.watch(c.p64)
    write_bytes(f"{c.p64.dir}/secret.txt", b"not shared\n")
    data = seed_download(c.p64.port, "b.bin")
    eq(len(data), len(B_DATA), "bytes received")
    require(sha256(data) == sha256(B_DATA), "content differs")


@t.test("(b) a trailing newline after the name is tolerated")
def _():
    data = seed_download(c.p64.port, "b.bin", send_bytes=b"b.bin\n")
    require(sha256(data) == sha256(B_DATA), f"got {len(data)} bytes, not the file")


@t.test("(b) names it did not share get no data: unknown name, unshared file in its dir, a path")
def _():
    for name in ("nope.bin", "secret.txt", "../b.bin", f"{c.p64.dir}/b.bin", ".peer_64.log"):
        eq(seed_download(c.p64.port, name), b"", f"bytes sent for {name!r}")


@t.test("(b) an extended-form request ('{' first) gets one JSON error line")
def _():
    with socket.create_connection((HOST, c.p64.port), timeout=10) as s:
        s.sendall(b'{"action":"manifest","file":"secret.txt"}\n')
        buf = b""
        while b"\n" not in buf:
            block = s.recv(4096)
            if not block:
                break
            buf += block
    require(b"\n" in buf, f"no complete line: {buf[:200]!r}")
    answer = json.loads(buf.split(b"\n")[0])
    require(is_error(answer), f"answer {answer!r}")


# ---------------------------------------------------------------- (c)


@t.test("(c) tt peer 65 downloads from a seed-style server joined at the tt tracker")
def _():
    src = joined_seed_source(c.tracker.port, "66s", "c.bin", C_DATA)
    p = start_peer(tt, 65, c.tracker.port)
    t.watch(p)
    p.send("get c.bin")
    p.expect_line(f"1: ip: {HOST}, port: {src.port}")
    p.expect_line(f"Connecting to peer at {HOST}:{src.port}")
    p.expect_line("Downloaded file c.bin successfully.")
    same_file(f"{p.dir}/c.bin", sha256(C_DATA))
    require("c.bin" in src.server.requests, f"server saw requests {src.server.requests!r}")
    c.tracker.expect_line("Peer 65 downloaded the file file: c.bin")
    p.close_stdin()
    eq(p.wait(), 0, "exit code")


# ---------------------------------------------------------------- (d)


@t.test("(d) tt peer 66 joins a seed-style tracker with the seed's join fields", fatal=True)
def _():
    c.st = SeedTracker()
    d = tempdir("peer66")
    write_bytes(f"{d}/a.txt", A_DATA)
    c.p66 = start_peer(tt, 66, c.st.port, d)
    t.watch(c.p66)
    join = c.st.wait_request(lambda r: r.get("action") == "join", what="join")
    eq(join.get("tcp_port"), c.p66.port, "tcp_port in join")
    eq(str(join.get("peer_id")), "66", "peer_id in join")
    eq(c.st.problems, [], "requests the seed tracker could not have handled")


@t.test("(d) 'share a.txt' reaches the seed tracker as share_file; a seed client downloads it")
def _():
    c.p66.send("share a.txt")
    c.p66.expect_line("Peer 66 shared a new files: a.txt")
    c.st.wait_request(lambda r: r.get("action") == "share_file" and r.get("file") == "a.txt",
                      what="share_file a.txt")
    client = SeedPeer(c.st.port, "68")
    eq(client.join([]), {"status": "ok"}, "join answer")
    peers = peer_list(client.get_peers("a.txt"))
    eq(len(peers), 1, "number of sources")
    eq(seed_download(peers[0][1], "a.txt"), A_DATA, "downloaded a.txt")


@t.test("(d) 'get d.bin' through the seed tracker downloads from a seed server, sends got_the_file")
def _():
    src = joined_seed_source(c.st.port, "67", "d.bin", D_DATA)
    c.p66.send("get d.bin")
    c.p66.expect_line(f"1: ip: {HOST}, port: {src.port}")
    c.p66.expect_line("Downloaded file d.bin successfully.")
    same_file(f"{c.p66.dir}/d.bin", sha256(D_DATA))
    c.st.wait_request(lambda r: r.get("action") == "got_the_file" and r.get("file_name") == "d.bin",
                      what="got_the_file d.bin")


@t.test("(d) 'get' of a file the seed tracker does not know: 'No peers found with file x.bin'")
def _():
    c.p66.send("get x.bin")
    c.p66.expect_line("No peers found with file x.bin")


@t.test("(d) 'exit' sends leave to the seed tracker; nothing it could not handle was sent")
def _():
    c.p66.send("exit")
    c.p66.expect_line("Peer 66 is leaving the network.")
    c.st.wait_request(lambda r: r.get("action") == "leave", what="leave")
    code = c.p66.wait()
    require(code in (0, 1), f"exit code {code}")  # 1: the failed 'get x.bin'
    eq(c.st.problems, [], "requests the seed tracker could not have handled")


# ---------------------------------------------------------------- (e)


@t.test("(e) with 100 peers sharing many.txt, get_peers answers valid JSON in <= 1024 bytes")
def _():
    ports = set()
    for i in range(100):
        p = SeedPeer(c.tracker.port, f"m{i}")
        eq(p.join(["many.txt"]), {"status": "ok"}, f"join answer of m{i}")
        ports.add(p.port)
    raw = udp_ask(c.tracker.port, {"action": "get_peers", "peer_id": "60", "file_name": "many.txt"},
                  sock=c.probe.sock)
    require(raw is not None, "no answer")
    t.diag(f"answer is {len(raw)} bytes")
    require(len(raw) <= 1024, f"answer is {len(raw)} bytes")
    peers = peer_list(json.loads(raw))
    t.diag(f"{len(peers)} peers listed")
    require(peers, "no peers listed")
    require(len(set(peers)) == len(peers), "duplicates in the list")
    require(all(ip == HOST and port in ports for ip, port in peers), f"unknown entries in {peers}")


t.done()

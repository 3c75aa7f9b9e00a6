#!/usr/bin/env python3
"""BitTorrent clients on the tracker's UDP port (BEP 15), with a small client
written here from the BEP's byte layouts (struct.pack): connect, announce as a
seeder and as a leecher (the leecher gets the seeder's compact address), scrape
counts, a stale or forged connection id gets an error and no peers, stopped
removes the peer, bad datagrams get nothing harmful, the JSON actions still
work beside it, and the console's stats and /metrics count it all."""

import os
import re
import socket
import struct
import urllib.request
from types import SimpleNamespace

from harness import (HOST, SeedPeer, Tap, eq, peer_list, require, start_tracker, tt_path,
                     udp_ask, udp_socket)

tt = tt_path()
t = Tap()
c = SimpleNamespace()
MAGIC = 0x41727101980
HASH = bytes(range(20))
OTHER = b"\xee" * 20


def connect(sock, tid=1):
    raw = udp_ask(c.port, struct.pack(">QII", MAGIC, 0, tid), sock=sock)
    require(raw is not None, "no answer to connect")
    eq(len(raw), 16, "connect answer length")
    action, rtid, cid = struct.unpack(">IIQ", raw)
    eq((action, rtid), (0, tid), "connect answer action and transaction id")
    return cid


def announce_req(cid, tid, info_hash, peer_id, left, event, port, numwant=-1, key=7):
    return struct.pack(">QII20s20sQQQIIIiH", cid, 1, tid, info_hash, peer_id, 0, left, 0,
                       event, 0, key, numwant, port)


def parse_announce(raw, tid):
    require(raw is not None, "no answer to announce")
    action, rtid = struct.unpack(">II", raw[:8])
    if action == 3:
        raise AssertionError(f"announce refused: {raw[8:]!r}")
    eq((action, rtid), (1, tid), "announce answer action and transaction id")
    require((len(raw) - 20) % 6 == 0, f"announce answer of {len(raw)} bytes")
    interval, leechers, seeders = struct.unpack(">III", raw[8:20])
    peers = [(socket.inet_ntoa(raw[i:i + 4]), struct.unpack(">H", raw[i + 4:i + 6])[0])
             for i in range(20, len(raw), 6)]
    return interval, leechers, seeders, peers


def scrape(sock, cid, hashes, tid=5):
    raw = udp_ask(c.port, struct.pack(">QII", cid, 2, tid) + b"".join(hashes), sock=sock)
    require(raw is not None, "no answer to scrape")
    eq(struct.unpack(">II", raw[:8]), (2, tid), "scrape answer action and transaction id")
    eq(len(raw), 8 + 12 * len(hashes), "scrape answer length")
    return [struct.unpack(">III", raw[i:i + 12]) for i in range(8, len(raw), 12)]


def error_of(raw, tid):
    require(raw is not None, "no error answer")
    eq(struct.unpack(">II", raw[:8]), (3, tid), "error answer action and transaction id")
    return raw[8:].decode("utf-8", "replace")


@t.setup("tracker starts with an HTTP status server")
def _():
    c.tracker = start_tracker(tt, extra=["--http", f"{HOST}:0", "--bt-interval", "600"])
    t.watch(c.tracker)
    m = c.tracker.expect(r"^HTTP status at http://127\.0\.0\.1:(\d+)/$")
    c.http = int(m.group(1))
    c.port = c.tracker.port
    c.seed_sock, c.leech_sock = udp_socket(), udp_socket()


@t.test("connect: each client gets a connection id of its own", fatal=True)
def _():
    c.seed_cid = connect(c.seed_sock, 11)
    c.leech_cid = connect(c.leech_sock, 12)
    require(c.seed_cid != c.leech_cid, "two senders got the same connection id")


@t.test("a seeder announces; a leecher gets the seeder's compact address", fatal=True)
def _():
    raw = udp_ask(c.port, announce_req(c.seed_cid, 21, HASH, b"S" * 20, 0, 2, 5141),
                  sock=c.seed_sock)
    interval, leechers, seeders, peers = parse_announce(raw, 21)
    eq(interval, 600, "interval (--bt-interval)")
    eq((seeders, leechers, peers), (1, 0, []), "the seeder's answer: itself counted, not listed")
    raw = udp_ask(c.port, announce_req(c.leech_cid, 22, HASH, b"L" * 20, 1000, 2, 6881),
                  sock=c.leech_sock)
    _, leechers, seeders, peers = parse_announce(raw, 22)
    eq((seeders, leechers), (1, 1), "counts in the leecher's answer")
    eq(peers, [(HOST, 5141)], "peers given to the leecher")


@t.test("scrape counts seeders, completed and leechers; an unknown hash is zeros")
def _():
    eq(scrape(c.leech_sock, c.leech_cid, [HASH, OTHER]), [(1, 0, 1), (0, 0, 0)], "scrape")
    raw = udp_ask(c.port, announce_req(c.leech_cid, 23, HASH, b"L" * 20, 0, 1, 6881),
                  sock=c.leech_sock)
    _, leechers, seeders, peers = parse_announce(raw, 23)
    eq((seeders, leechers), (2, 0), "counts after the leecher completed")
    eq(scrape(c.leech_sock, c.leech_cid, [HASH]), [(2, 1, 0)], "scrape after completed")


@t.test("a forged or stale connection id gets a short error and no peers")
def _():
    stranger = udp_socket()
    for what, cid in (("another sender's id", c.seed_cid), ("a made-up id", 0x1234),
                      ("the connect magic", MAGIC)):
        req = announce_req(cid, 31, HASH, b"X" * 20, 5, 2, 7000)
        raw = udp_ask(c.port, req, sock=stranger)
        msg = error_of(raw, 31)
        require("connection id" in msg, f"{what}: error message {msg!r}")
        require(len(raw) <= len(req), f"{what}: answer of {len(raw)} bytes for {len(req)}")
        scrape_req = struct.pack(">QII", cid, 2, 32) + HASH
        raw = udp_ask(c.port, scrape_req, sock=stranger)
        error_of(raw, 32)
        require(len(raw) <= len(scrape_req), f"{what}: scrape error longer than the request")
    eq(scrape(c.leech_sock, c.leech_cid, [HASH]), [(2, 1, 0)], "the swarm is unchanged")


@t.test("stopped removes the peer")
def _():
    raw = udp_ask(c.port, announce_req(c.seed_cid, 41, HASH, b"S" * 20, 0, 3, 5141),
                  sock=c.seed_sock)
    _, leechers, seeders, peers = parse_announce(raw, 41)
    eq(seeders, 1, "seeders after one stopped")
    raw = udp_ask(c.port, announce_req(c.leech_cid, 42, HASH, b"L" * 20, 0, 0, 6881, numwant=50),
                  sock=c.leech_sock)
    _, _, _, peers = parse_announce(raw, 42)
    eq(peers, [], "the stopped seeder is not given out")


@t.test("bad BitTorrent datagrams get at most a short error; nothing changes")
def _():
    s = udp_socket()
    cases = [
        ("a short announce", struct.pack(">QII", c.leech_cid, 1, 51) + b"x" * 40),
        ("a scrape of 75 hashes", struct.pack(">QII", c.leech_cid, 2, 52) + b"h" * 20 * 75),
        ("a scrape with a torn hash", struct.pack(">QII", c.leech_cid, 2, 53) + b"h" * 30),
        ("an announce with event 9",
         announce_req(c.leech_cid, 54, HASH, b"L" * 20, 0, 9, 6881)),
        ("random bytes", os.urandom(200)),
        ("a connect of 12 bytes", struct.pack(">QI", MAGIC, 0)),
    ]
    for what, req in cases:
        raw = udp_ask(c.port, req, sock=s, timeout=1.0)
        if raw is not None:
            require(len(raw) <= max(len(req), 1024),
                    f"{what}: answer of {len(raw)} bytes for {len(req)}")
            require(not raw.startswith(b"\x00\x00\x00\x01"), f"{what}: answered with peers")
    eq(scrape(c.leech_sock, c.leech_cid, [HASH]), [(1, 1, 0)], "the swarm is unchanged")


@t.test("JSON actions still work beside BitTorrent")
def _():
    p = SeedPeer(c.port, "71")
    eq(p.join(["a.txt"]), {"status": "ok"}, "join answer")
    q = SeedPeer(c.port, "72")
    eq(q.join([]), {"status": "ok"}, "join answer")
    eq(peer_list(q.get_peers("a.txt")), [(HOST, p.port)], "sources of a.txt")


@t.test("console stats and /metrics count BitTorrent apart")
def _():
    c.tracker.send("stats")
    m = c.tracker.expect(r"^bittorrent: (\d+) swarms, (\d+) peers; requests: connect (\d+), "
                         r"announce (\d+), scrape (\d+), error (\d+)$")
    eq((int(m.group(1)), int(m.group(2)), int(m.group(3))), (1, 1, 2), "swarms, peers, connects")
    require(int(m.group(4)) >= 6, f"announces counted: {m.group(4)}")
    require(int(m.group(6)) >= 9, f"errors counted: {m.group(6)}")
    with urllib.request.urlopen(f"http://{HOST}:{c.http}/metrics", timeout=5) as r:
        text = r.read().decode()
    for line in ("tt_bt_swarms 1", "tt_bt_peers 1", 'tt_bt_requests_total{action="connect"} 2'):
        require(line + "\n" in text, f"/metrics lacks {line!r}")


@t.test("BitTorrent announces are counted, not logged one by one")
def _():
    with open(c.tracker.log_path, encoding="utf-8", errors="replace") as f:
        log = f.read()
    for port in ("5141", "6881"):
        require(re.search(rf"\b{port}\b", log) is None, f"an announce from port {port} was logged")


t.done()

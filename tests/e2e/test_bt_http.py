#!/usr/bin/env python3
"""BitTorrent clients over HTTP: `tt tracker --http` answers GET /announce
(BEP 3, compact peer lists as in BEP 23) and GET /scrape with bencoded
dictionaries. A seeder and a leecher announce with binary, percent-encoded
info_hash and peer_id; each sees the other as 6 compact bytes at the
connection's address (an `ip` parameter is ignored); scrape counts seeders,
leechers and unknown swarms; bad requests get a bencoded failure reason
with status 200 and change nothing; `stopped` leaves the swarm; / and
/metrics still work and /metrics counts the requests.
"""

import re
import socket
import struct
import urllib.parse
import urllib.request
from types import SimpleNamespace

from harness import HOST, Tap, eq, require, start_tracker, tt_path

tt = tt_path()
t = Tap()
c = SimpleNamespace()

# Bytes that need escaping (NUL, '&', '%', '+', '=', ' ', high bytes).
INFO_HASH = b"\x00&%+= \xff\x80tt-http-test-hash"[:20]
OTHER_HASH = b"\x01" * 20
SEEDER_ID = b"-TT0001-seeder\x00\xfe&=%+"[:20]
LEECHER_ID = b"-TT0001-leecher\x00+%&="
SEEDER_PORT = 6881
LEECHER_PORT = 51413
assert len(INFO_HASH) == len(SEEDER_ID) == len(LEECHER_ID) == 20


def bdecode(data):
    """A tiny strict bencode decoder: returns the value; raises on bad input."""
    def value(i):
        ch = data[i:i + 1]
        if ch == b"i":
            end = data.index(b"e", i)
            text = data[i + 1:end].decode()
            require(re.fullmatch(r"0|-?[1-9][0-9]*", text), f"integer {text!r}")
            return int(text), end + 1
        if ch == b"l":
            i += 1
            out = []
            while data[i:i + 1] != b"e":
                v, i = value(i)
                out.append(v)
            return out, i + 1
        if ch == b"d":
            i += 1
            out = {}
            last = None
            while data[i:i + 1] != b"e":
                k, i = value(i)
                require(isinstance(k, bytes), "dictionary key is a string")
                require(last is None or last < k, f"keys sorted: {last!r} < {k!r}")
                last = k
                out[k], i = value(i)
            return out, i + 1
        if ch.isdigit():
            colon = data.index(b":", i)
            n = int(data[i:colon])
            s = data[colon + 1:colon + 1 + n]
            require(len(s) == n, "string within the data")
            return s, colon + 1 + n
        raise AssertionError(f"bad bencode at {i}: {data[i:i + 10]!r}")

    v, end = value(0)
    eq(end, len(data), "the whole answer is one value")
    return v


def get(path):
    """GET path on the tracker's HTTP port: (status, body bytes)."""
    with urllib.request.urlopen(f"http://{HOST}:{c.http_port}{path}", timeout=10) as r:
        return r.status, r.read()


def q(b):
    return urllib.parse.quote_from_bytes(b, safe="")


def announce(peer_id, port, left, event=None, extra=""):
    query = (f"info_hash={q(INFO_HASH)}&peer_id={q(peer_id)}&port={port}&uploaded=0"
             f"&downloaded=0&left={left}&compact=1&numwant=50&key=1a2b3c4d")
    if event:
        query += f"&event={event}"
    status, body = get("/announce?" + query + extra)
    eq(status, 200, "HTTP status")
    return bdecode(body)


def scrape(*hashes):
    status, body = get("/scrape?" + "&".join(f"info_hash={q(h)}" for h in hashes))
    eq(status, 200, "HTTP status")
    return bdecode(body)


def compact_peers(answer):
    peers = answer[b"peers"]
    require(isinstance(peers, bytes), f"compact peers is a string: {peers!r}")
    eq(len(peers) % 6, 0, "compact peers length")
    return [(socket.inet_ntoa(peers[i:i + 4]), struct.unpack(">H", peers[i + 4:i + 6])[0])
            for i in range(0, len(peers), 6)]


def failure(path):
    status, body = get(path)
    eq(status, 200, "HTTP status of a failure")
    d = bdecode(body)
    eq(list(d), [b"failure reason"], f"only a failure reason: {body!r}")
    return d[b"failure reason"].decode()


@t.setup("tracker starts with --http 127.0.0.1:0")
def _():
    c.tracker = start_tracker(tt, extra=["--http", "127.0.0.1:0"])
    t.watch(c.tracker)
    m = c.tracker.expect(r"^HTTP status at http://127\.0\.0\.1:(\d+)/$")
    c.http_port = int(m.group(1))


@t.test("a seeder announces (started, left=0): counted, no peers yet", fatal=True)
def _():
    a = announce(SEEDER_ID, SEEDER_PORT, 0, "started", extra="&ip=10.9.9.9")
    eq(a[b"complete"], 1, "seeders")
    eq(a[b"incomplete"], 0, "leechers")
    require(a[b"interval"] > 0 and 0 < a[b"min interval"] <= a[b"interval"],
            f"intervals: {a}")
    eq(compact_peers(a), [], "peers")


@t.test("a leecher announces and gets the seeder at the connection's address")
def _():
    a = announce(LEECHER_ID, LEECHER_PORT, 12345, "started")
    eq(a[b"complete"], 1, "seeders")
    eq(a[b"incomplete"], 1, "leechers")
    eq(compact_peers(a), [(HOST, SEEDER_PORT)], "peers (the ip parameter is ignored)")


@t.test("the seeder's next announce gets the leecher")
def _():
    a = announce(SEEDER_ID, SEEDER_PORT, 0)
    eq(compact_peers(a), [(HOST, LEECHER_PORT)], "peers")


@t.test("scrape counts the swarm, and an unknown info hash as zeros")
def _():
    d = scrape(INFO_HASH, OTHER_HASH)
    files = d[b"files"]
    eq(sorted(files), sorted([INFO_HASH, OTHER_HASH]), "info hashes")
    eq(files[INFO_HASH][b"complete"], 1, "seeders")
    eq(files[INFO_HASH][b"incomplete"], 1, "leechers")
    require(b"downloaded" in files[INFO_HASH], "downloaded")
    eq(files[OTHER_HASH], {b"complete": 0, b"downloaded": 0, b"incomplete": 0}, "unknown")


@t.test("bad requests get a failure reason and change nothing")
def _():
    base = f"peer_id={q(b'-TT0001-intruder0000')}&left=5&uploaded=0&downloaded=0"
    good_hash = f"info_hash={q(INFO_HASH)}"
    cases = [
        (f"/announce?{base}&port=1", "missing info_hash"),
        (f"/announce?info_hash={q(INFO_HASH[:19])}&{base}&port=1",
         "info_hash must be 20 bytes (percent-encoded), got 19"),
        (f"/announce?{good_hash}&{base}&port=0", "port must be a number from 1 to 65535"),
        (f"/announce?{good_hash}&{base}&port=70000", "port must be a number from 1 to 65535"),
        (f"/announce?{good_hash}&{base}&port=1&compact=0",
         "only compact peer lists are served: ask with compact=1"),
        (f"/announce?{good_hash}&{base}&port=1&event=bogus",
         "event must be started, completed, stopped or empty"),
        (f"/announce?{good_hash}&{base}&port=1&left=x", "left given twice"),
        (f"/announce?info_hash=%zz&{base}&port=1", "bad percent-encoding in the query"),
        ("/scrape", "scrape needs info_hash (a scrape of every swarm is not served)"),
        (f"/scrape?info_hash={q(b'short')}", "info_hash must be 20 bytes (percent-encoded), got 5"),
    ]
    for path, why in cases:
        eq(failure(path), why, f"failure reason of {path}")
    files = scrape(INFO_HASH)[b"files"]
    eq((files[INFO_HASH][b"complete"], files[INFO_HASH][b"incomplete"]), (1, 1),
       "the swarm after the refusals")


@t.test("a leecher that stops leaves the swarm")
def _():
    announce(LEECHER_ID, LEECHER_PORT, 12345, "stopped")
    files = scrape(INFO_HASH)[b"files"]
    eq((files[INFO_HASH][b"complete"], files[INFO_HASH][b"incomplete"]), (1, 0), "counts")
    eq(compact_peers(announce(SEEDER_ID, SEEDER_PORT, 0)), [], "the seeder's peers")


@t.test("/ and /metrics still work; /metrics counts the BitTorrent HTTP requests")
def _():
    status, body = get("/")
    eq(status, 200, "status of /")
    require(b"<h1>tt tracker</h1>" in body, "the status page")
    status, body = get("/metrics")
    eq(status, 200, "status of /metrics")
    text = body.decode()
    require("tt_requests_total" in text, "the tracker's counters")
    counts = dict(re.findall(r'^tt_bt_http_requests_total\{answer="(\w+)"\} (\d+)$', text, re.M))
    eq(counts, {"announce": "5", "scrape": "3", "failure": "10"}, "BitTorrent HTTP counts")
    # The console's stats says the same.
    c.tracker.send("stats")
    c.tracker.expect(r"^bittorrent over http: announce 5, scrape 3, failure 10$")


@t.test("the tracker exits cleanly")
def _():
    c.tracker.send("exit")
    eq(c.tracker.popen.wait(timeout=10), 0, "exit code")


t.done()

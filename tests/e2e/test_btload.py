#!/usr/bin/env python3
"""The BEP 15 load generator tests/bench/btload (scripts/bench.sh bep15): its
flags, its null responder, its info hashes, and that it checks every answer:
servers written here answer connects well and announces badly in one way each
(a wrong length, a peer elsewhere than 127.0.0.1, an error, JSON), and btload
must name the fault. Short runs only: this checks that the tool works, not how
fast."""

import os
import re
import signal
import socket
import struct
import sys
import threading

from harness import Proc, Tap, eq, require, run, tempdir

btload = os.path.abspath(sys.argv[2])
t = Tap()
MAGIC = 0x41727101980


def result(res):
    m = re.search(r"^btload: window=.*$", res.stdout, re.M)
    require(res.returncode == 0 and m, f"exit {res.returncode}: {res.stdout!r} {res.stderr!r}")
    return {k: float(v) for k, v in re.findall(r"(\w+)=([0-9.]+)", m.group(0))}


class FakeTracker:
    """A BEP 15 server on 127.0.0.1: connects answered by the book, announces
    by announce(request) -> bytes (or None: no answer); records the info
    hashes announced."""

    def __init__(self, announce, connect_ok=True):
        self.announce = announce
        self.connect_ok = connect_ok
        self.hashes = set()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop:
            try:
                d, addr = self.sock.recvfrom(2048)
            except socket.timeout:
                continue
            if not self.connect_ok:
                self.sock.sendto(b'{"status":"error","message":"not JSON"}', addr)
                continue
            if len(d) >= 16 and struct.unpack(">QI", d[:12]) == (MAGIC, 0):
                self.sock.sendto(struct.pack(">II", 0, struct.unpack(">I", d[12:16])[0]) +
                                 struct.pack(">Q", 0xC0FFEE), addr)
            elif len(d) >= 98 and struct.unpack(">I", d[8:12])[0] == 1:
                require(struct.unpack(">Q", d[:8])[0] == 0xC0FFEE, "the connection id echoed")
                self.hashes.add(d[16:36].hex())
                out = self.announce(d)
                if out is not None:
                    self.sock.sendto(out, addr)

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


def announce_answer(req, peers=((0x7F000001, 6881),), extra=b""):
    tid = struct.unpack(">I", req[12:16])[0]
    out = struct.pack(">IIIII", 1, tid, 1800, len(peers), 1)
    for ip, port in peers:
        out += struct.pack(">IH", ip, port)
    return out + extra


def load_args(port, pairs=50, hashes=5):
    return [btload, "load", "--server", f"127.0.0.1:{port}", "--window", "4", "--duration",
            "0.3", "--warmup", "0.1", "--pairs", str(pairs), "--hashes", str(hashes)]


@t.test("'btload --help' exits 0; bad flags are one line on stderr and exit 2")
def _():
    eq(run([btload, "--help"]).returncode, 0, "--help exit code")
    for bad in (["load", "--server", "127.0.0.1:9", "--window", "0", "--duration", "1"],
                ["load", "--window", "1", "--duration", "1"],
                ["null", "--port", "0", "--answer-peers", "201"],
                ["load", "--server", "127.0.0.1:9", "--window", "1", "--duration", "1",
                 "--pairs", "70000", "--hashes", "1"],
                ["scrape"]):
        res = run([btload] + bad)
        eq(res.returncode, 2, f"exit code for {bad}")
        eq(res.stderr.count("\n"), 1, f"one line on stderr for {bad}: {res.stderr!r}")


@t.test("the null responder answers a load run: all well formed, 9 peers each; SIGTERM ends it")
def _():
    null = Proc([btload, "null", "--port", "0"], tempdir("null"), "null")
    port = null.expect(r"^listening on 127\.0\.0\.1:(\d+)$").group(1)
    r = result(run(load_args(port, 1000, 100) + ["--server-pid", str(null.popen.pid)]))
    require(r["answered"] > 0 and r["lost"] == 0 and r["errors"] == 0 and r["malformed"] == 0,
            f"result {r}")
    eq(r["peers_per_answer"], 9, "peers per answer")
    require(0 < r["server_cpu"] <= 1.1 and r["rss1_kb"] > 0 and "bytes_per_pair" in r,
            f"server figures {r}")
    null.signal(signal.SIGTERM)
    eq(null.wait(), 0, "null exit code")


@t.test("'btload hashes' lists exactly the info hashes a load run announces")
def _():
    res = run([btload, "hashes", "--hashes", "5"])
    eq(res.returncode, 0, "exit code")
    listed = res.stdout.split()
    eq(len(listed), 5, "lines")
    require(all(re.fullmatch(r"[0-9a-f]{40}", h) for h in listed), res.stdout)
    eq(len(set(listed)), 5, "distinct hashes")
    eq(run([btload, "hashes", "--hashes", "5"]).stdout, res.stdout, "the same in every run")
    ft = FakeTracker(announce_answer)
    try:
        result(run(load_args(ft.port, 50, 5)))
        eq(ft.hashes, set(listed), "hashes announced")
    finally:
        ft.close()


@t.test("a bad announce answer stops the run with the fault named")
def _():
    cases = [
        (lambda req: announce_answer(req, extra=b"x"), "an announce answer of 27 bytes"),
        (lambda req: announce_answer(req, peers=((0x0A000001, 6881),)), "peer 10.0.0.1:6881"),
        (lambda req: announce_answer(req, peers=((0x7F000001, 1),) * 3)[:8] +
         struct.pack(">III", 1800, 1, 1) + announce_answer(req, peers=((0x7F000001, 1),) * 3)[20:],
         "3 peers listed, 1 leechers + 1 seeders"),
        (lambda req: struct.pack(">II", 3, struct.unpack(">I", req[12:16])[0]) + b"tracker full",
         "error answer: tracker full"),
        (lambda req: struct.pack(">IIIII", 2, struct.unpack(">I", req[12:16])[0], 0, 0, 0),
         "action 2 answering an announce"),
    ]
    for announce, fault in cases:
        ft = FakeTracker(announce)
        try:
            res = run(load_args(ft.port))
        finally:
            ft.close()
        eq(res.returncode, 2, f"exit code for '{fault}' ({res.stdout!r})")
        require(fault in res.stderr and res.stderr.count("\n") <= 2, f"{fault!r} in {res.stderr!r}")


@t.test("a server that answers connects with JSON is named as not speaking BEP 15")
def _():
    ft = FakeTracker(announce_answer, connect_ok=False)
    try:
        res = run(load_args(ft.port), timeout=30)
    finally:
        ft.close()
    eq(res.returncode, 2, "exit code")
    require("did not answer a BEP 15 connect" in res.stderr and
            "'{\"status\":\"error\"" in res.stderr and "does not speak BEP 15" in res.stderr,
            res.stderr)


t.done()
